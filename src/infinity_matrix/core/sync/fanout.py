"""Node-local delivery: every local subscriber of a workspace gets its events once, in seq order.

Events reach a node through the bus, which may lose, repeat or reorder them. Each workspace with
local subscribers has a channel holding ``cursor``, the last seq it delivered: a repeat
(``seq <= cursor``) is dropped, a gap (``seq > cursor + 1``) is filled from the bus's retained
stream or, failing that, from the database, before the event itself is delivered. A reconcile
loop compares each channel's cursor with the database head, which repairs a lost last message
and a node that crashed between commit and publish.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from infinity_matrix.core.ports import EventBus, EventStore
from infinity_matrix.core.protocol.events import Event

log = structlog.get_logger(__name__)

PRESENCE_TTL_SECONDS = 30.0
_FILL_PAGE = 1000


class Subscriber(Protocol):
    """A local consumer (a WebSocket connection, a watcher). ``offer`` must not block: one that
    cannot keep up closes itself and resumes by seq."""

    def offer(self, event: Event) -> None: ...

    def presence(self, message: dict[str, Any]) -> None: ...


@dataclass(eq=False)
class _Channel:
    workspace: str
    cursor: int = -1
    subscribers: set[Subscriber] = field(default_factory=set)
    inbox: asyncio.Queue[Sequence[Event] | int] = field(default_factory=asyncio.Queue)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    failure: Exception | None = None  # why the channel could not open (told to subscribers)
    # Presence of every client of this workspace on any node: client id → (message, expires).
    present: dict[str, tuple[dict[str, Any], float]] = field(default_factory=dict)


class Fanout:
    """Owns the channels of one node. ``start`` hooks it to the bus; ``close`` stops it."""

    def __init__(
        self,
        store: EventStore,
        bus: EventBus,
        *,
        reconcile_seconds: float = 1.0,
        presence_ttl: float = PRESENCE_TTL_SECONDS,
    ) -> None:
        self._store = store
        self._bus = bus
        self._reconcile_seconds = reconcile_seconds
        self._presence_ttl = presence_ttl
        self._channels: dict[str, _Channel] = {}
        self._listeners: list[Callable[[Sequence[Event]], None]] = []
        self._reconciler: asyncio.Task[None] | None = None
        self.filled_from_bus = 0
        self.filled_from_store = 0

    async def start(self) -> None:
        await self._bus.start(self._on_events, self._on_presence)
        self._reconciler = asyncio.create_task(self._reconcile_forever())

    async def close(self) -> None:
        tasks = [c.task for c in self._channels.values() if c.task]
        if self._reconciler:
            tasks.append(self._reconciler)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._channels.clear()
        await self._bus.close()

    @property
    def channels(self) -> frozenset[str]:
        """The workspaces that have local subscribers now (for metrics and tests)."""
        return frozenset(self._channels)

    def listen(self, listener: Callable[[Sequence[Event]], None]) -> None:
        """Call ``listener`` with every batch this node receives, of every workspace (caches
        and other node-wide state that must follow changes made on any node)."""
        self._listeners.append(listener)

    async def subscribe(self, workspace: str, subscriber: Subscriber) -> int:
        """Register ``subscriber``; answers the cursor C: it will be offered every event with
        seq > C, and should read events up to C from the store itself (replay).

        Raises what the store raises (``Unavailable``) if the workspace's head cannot be read.
        """
        channel = self._channels.get(workspace)
        if channel is None:
            channel = self._channels[workspace] = _Channel(workspace)
            channel.task = asyncio.create_task(self._run(channel))
        channel.subscribers.add(subscriber)
        await channel.ready.wait()
        if channel.failure is not None:
            raise channel.failure
        for message, _expires in channel.present.values():
            subscriber.presence(message)
        return channel.cursor

    def unsubscribe(self, workspace: str, subscriber: Subscriber) -> None:
        channel = self._channels.get(workspace)
        if channel is None:
            return
        channel.subscribers.discard(subscriber)
        if not channel.subscribers and channel.task is not None:
            channel.task.cancel()
            del self._channels[workspace]

    async def publish_presence(self, workspace: str, message: dict[str, Any]) -> None:
        """Broadcast ``message`` (with ``client`` and ``state``; state None = left)."""
        await self._bus.publish_presence(workspace, message)

    async def _on_events(self, events: Sequence[Event]) -> None:
        for listener in self._listeners:
            try:
                listener(events)
            except Exception:  # a broken listener must not stop delivery
                log.exception("fanout.listener_failed")
        by_workspace: dict[str, list[Event]] = {}
        for event in events:
            by_workspace.setdefault(event.workspace, []).append(event)
        for workspace, batch in by_workspace.items():
            channel = self._channels.get(workspace)
            if channel is not None:
                channel.inbox.put_nowait(batch)

    async def _on_presence(self, workspace: str, message: dict[str, Any]) -> None:
        channel = self._channels.get(workspace)
        if channel is None:
            return
        client = str(message.get("client", ""))
        if message.get("state") is None:
            channel.present.pop(client, None)
        else:
            channel.present[client] = (message, time.monotonic() + self._presence_ttl)
        for subscriber in list(channel.subscribers):
            subscriber.presence(message)

    async def _run(self, channel: _Channel) -> None:
        try:
            record = await self._store.get_workspace(channel.workspace)
        except Exception as exc:  # handed to the waiting subscribers rather than hanging them
            channel.failure = exc
            if self._channels.get(channel.workspace) is channel:
                del self._channels[channel.workspace]
            channel.ready.set()
            return
        channel.cursor = record.head if record else 0
        channel.ready.set()
        while True:
            item = await channel.inbox.get()
            try:
                if isinstance(item, int):
                    await self._fill(channel, item)
                else:
                    await self._deliver(channel, item)
            except Exception:  # a supervisor: log, keep the channel alive; reconcile repairs
                log.exception("fanout.delivery_failed", workspace=channel.workspace)

    async def _deliver(self, channel: _Channel, events: Sequence[Event]) -> None:
        for event in sorted(events, key=lambda e: e.seq):
            if event.seq <= channel.cursor:
                continue
            if event.seq > channel.cursor + 1:
                await self._fill(channel, event.seq - 1)
            self._dispatch(channel, event)

    async def _fill(self, channel: _Channel, until: int) -> None:
        """Deliver the missing events (cursor, until]: from the bus if it has them all."""
        if until <= channel.cursor:
            return
        missing = await self._bus.replay(channel.workspace, channel.cursor, until)
        if missing is not None and _complete(missing, channel.cursor, until):
            self.filled_from_bus += len(missing)
            for event in missing:
                self._dispatch(channel, event)
            return
        while channel.cursor < until:
            page = await self._store.read_events(
                channel.workspace,
                after=channel.cursor,
                limit=min(_FILL_PAGE, until - channel.cursor),
            )
            if not page:
                return
            self.filled_from_store += len(page)
            for event in page:
                self._dispatch(channel, event)

    def _dispatch(self, channel: _Channel, event: Event) -> None:
        channel.cursor = event.seq
        for subscriber in list(channel.subscribers):
            subscriber.offer(event)

    async def _reconcile_forever(self) -> None:
        while True:
            await asyncio.sleep(self._reconcile_seconds)
            try:
                await self._reconcile()
            except Exception:  # a supervisor: the next round tries again
                log.exception("fanout.reconcile_failed")

    async def _reconcile(self) -> None:
        channels = [c for c in self._channels.values() if c.ready.is_set()]
        if not channels:
            return
        records = await self._store.list_workspaces([c.workspace for c in channels])
        heads = {r.id: r.head for r in records}
        now = time.monotonic()
        for channel in channels:
            if heads.get(channel.workspace, 0) > channel.cursor:
                channel.inbox.put_nowait(heads[channel.workspace])
            for client, (message, expires) in list(channel.present.items()):
                if expires < now:
                    await self._on_presence(channel.workspace, {**message, "state": None})
                    channel.present.pop(client, None)


def _complete(events: list[Event], after: int, until: int) -> bool:
    return [e.seq for e in events] == list(range(after + 1, until + 1))
