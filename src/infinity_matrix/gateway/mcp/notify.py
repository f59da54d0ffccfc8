"""Resource change notifications for MCP clients, on every node.

Each node already receives every committed event through the hub's bus and ``Fanout`` (Redis
when configured, in-process otherwise), in seq order with gaps repaired. ``ResourceNotifier``
subscribes to the workspaces MCP clients watch and turns their events into
``notifications/resources/updated``: to legacy sessions that called ``resources/subscribe``,
and through the SDK's subscription bus to 2026-07-28 ``subscriptions/listen`` streams (which
filter by URI themselves). Nothing is sent for a workspace nobody on this node watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import structlog
from mcp.server.connection import Connection
from mcp.server.subscriptions import InMemorySubscriptionBus, ResourceUpdated

from infinity_matrix.core.protocol.events import Event
from infinity_matrix.core.sync.fanout import Fanout
from infinity_matrix.gateway.mcp.uris import changed_by, workspace_of

log = structlog.get_logger(__name__)

_QUEUE_LIMIT = 10_000
_SEND_SECONDS = 2.0
_STATE_KEY = "imx.resource_subscriptions"


@dataclass(eq=False)
class _Watch:
    """One workspace's fan-out subscription, shared by every MCP watcher of it on this node."""

    notifier: ResourceNotifier
    workspace: str
    users: int = 0
    opened: asyncio.Task[int] | None = None

    def offer(self, event: Event) -> None:
        uris = changed_by(event)
        if uris:
            self.notifier.enqueue(uris)

    def presence(self, message: dict[str, Any]) -> None:
        pass


class ResourceNotifier:
    def __init__(self, fanout: Fanout) -> None:
        self._fanout = fanout
        self.bus = InMemorySubscriptionBus()  # the SDK's listen streams read from it
        self._watches: dict[str, _Watch] = {}
        # Legacy connections with resources/subscribe; each keeps its URIs in its state.
        self._connections: weakref.WeakSet[Connection] = weakref.WeakSet()
        self._queue: asyncio.Queue[list[str]] = asyncio.Queue(_QUEUE_LIMIT)
        self._task: asyncio.Task[None] | None = None

    def enqueue(self, uris: list[str]) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._deliver_forever())
        try:
            self._queue.put_nowait(uris)
        except asyncio.QueueFull:  # hints only: a client refetches on the next one
            log.warning("mcp.notifications_dropped", count=len(uris))

    async def acquire(self, workspace: str) -> None:
        """Start following ``workspace`` (counted: ``release`` once per ``acquire``)."""
        watch = self._watches.get(workspace)
        if watch is None:
            watch = self._watches[workspace] = _Watch(self, workspace)
            watch.opened = asyncio.create_task(self._fanout.subscribe(workspace, watch))
        watch.users += 1
        assert watch.opened is not None
        try:
            await asyncio.shield(watch.opened)
        except Exception:
            self.release(workspace)
            raise

    def release(self, workspace: str) -> None:
        watch = self._watches.get(workspace)
        if watch is None:
            return
        watch.users -= 1
        if watch.users <= 0:
            del self._watches[workspace]
            self._fanout.unsubscribe(workspace, watch)

    @contextlib.asynccontextmanager
    async def watching(self, workspaces: Iterable[str]) -> AsyncIterator[None]:
        held: list[str] = []
        try:
            for workspace in sorted(set(workspaces)):
                await self.acquire(workspace)
                held.append(workspace)
            yield
        finally:
            for workspace in held:
                self.release(workspace)

    async def subscribe_connection(self, connection: Connection, uri: str) -> None:
        """A legacy connection's ``resources/subscribe`` (the caller checked it may read);
        released by ``unsubscribe_connection`` or when the connection closes."""
        workspace = workspace_of(uri)
        uris = _uris(connection)
        if workspace is None or uri in uris:
            return
        await self.acquire(workspace)
        if not uris and connection not in self._connections:
            connection.exit_stack.callback(self._forget, connection)
        uris[uri] = workspace
        self._connections.add(connection)

    def unsubscribe_connection(self, connection: Connection, uri: str) -> None:
        workspace = _uris(connection).pop(uri, None)
        if workspace is not None:
            self.release(workspace)

    def _forget(self, connection: Connection) -> None:
        for workspace in _uris(connection).values():
            self.release(workspace)
        _uris(connection).clear()
        self._connections.discard(connection)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for workspace, watch in list(self._watches.items()):
            self._fanout.unsubscribe(workspace, watch)
        self._watches.clear()

    async def _deliver_forever(self) -> None:
        while True:
            uris = await self._queue.get()
            for uri in dict.fromkeys(uris):
                await self.bus.publish(ResourceUpdated(uri=uri))
                for connection in list(self._connections):
                    if uri in _uris(connection):
                        await _notify(connection, uri)


def _uris(connection: Connection) -> dict[str, str]:
    """The URIs a legacy connection subscribed to, with their workspaces."""
    uris: dict[str, str] = connection.state.setdefault(_STATE_KEY, {})
    return uris


async def _notify(connection: Connection, uri: str) -> None:
    try:
        async with asyncio.timeout(_SEND_SECONDS):
            await connection.send_resource_updated(uri)  # best effort: never raises
    except TimeoutError:  # a client that stopped reading its stream
        log.warning("mcp.notify_timeout", uri=uri)
