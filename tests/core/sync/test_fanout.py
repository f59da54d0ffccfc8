"""The fan-out offers each local subscriber every event once, in seq order, whatever the bus does.

The bus here is a ``ManualBus``: it swallows what the log publishes and delivers only what a
test hands it, dropped, repeated or out of order on purpose. The events come from a real hub's
log on SQLite and on PostgreSQL, and gaps are filled from that hub's store.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from tests.storage.bus.harness import Recorder

from infinity_matrix.core.ports import EventBus, EventHandler, PresenceHandler
from infinity_matrix.core.protocol.events import Event
from infinity_matrix.core.sync.fanout import Fanout
from infinity_matrix.errors import Unavailable
from infinity_matrix.hub import Hub
from infinity_matrix.security.principals import Principal
from infinity_matrix.storage.bus.memory import MemoryBus
from infinity_matrix.storage.events import SqlEventStore

WS = "team"
ADMIN = Principal.user("root", is_admin=True)
NEVER = 3600.0  # a reconcile interval no test outlives: repairs then come from gap filling


class ManualBus:
    """A bus that delivers only what the test hands it; optionally it retains some events and
    answers ``replay`` with whatever it holds in the range, complete or not."""

    def __init__(self, retained: Sequence[Event] = ()) -> None:
        self.retained = list(retained)
        self._on_events: EventHandler | None = None
        self._on_presence: PresenceHandler | None = None

    async def start(self, on_events: EventHandler, on_presence: PresenceHandler) -> None:
        self._on_events, self._on_presence = on_events, on_presence

    async def deliver(self, *batches: Sequence[Event]) -> None:
        assert self._on_events is not None
        for batch in batches:
            await self._on_events(batch)

    async def publish(self, events: Sequence[Event]) -> None:
        return None  # lost on the way

    async def replay(self, workspace: str, after: int, until: int) -> list[Event] | None:
        held = [e for e in self.retained if e.workspace == workspace and after < e.seq <= until]
        return held or None

    async def publish_presence(self, workspace: str, message: dict[str, Any]) -> None:
        assert self._on_presence is not None
        await self._on_presence(workspace, message)

    async def ready(self) -> None:
        return None

    async def close(self) -> None:
        return None


@asynccontextmanager
async def running(
    hub: Hub, bus: EventBus, *, reconcile_seconds: float = NEVER, presence_ttl: float = 30.0
) -> AsyncIterator[Fanout]:
    fanout = Fanout(hub.store, bus, reconcile_seconds=reconcile_seconds, presence_ttl=presence_ttl)
    await fanout.start()
    try:
        yield fanout
    finally:
        await fanout.close()


async def write(hub: Hub, count: int, start: int = 0) -> list[Event]:
    """``count`` committed changes to workspace WS (created on first use), as logged."""
    if await hub.store.get_workspace(WS) is None:
        await hub.workspaces.create_as_system(WS, None, owner=None)
    head = (await hub.store.get_workspace(WS)).head  # type: ignore[union-attr]
    for n in range(start, start + count):
        await hub.context.put(ADMIN, WS, f"notes/{n}", text=f"version {n}")
    return await hub.store.read_events(WS, after=head, limit=1000)


async def subscribed(fanout: Fanout, hub: Hub) -> tuple[Recorder, int]:
    await write(hub, 0)
    recorder = Recorder()
    return recorder, await fanout.subscribe(WS, recorder)


def chaos(events: Sequence[Event], rng: random.Random) -> list[list[Event]]:
    """The events as a lossy pub/sub might bring them: in batches, some batches lost, some
    repeated, the order shuffled within a window."""
    batches: list[list[Event]] = []
    position = 0
    while position < len(events):
        size = rng.randint(1, 3)
        batches.append(list(events[position : position + size]))
        position += size
    kept = [b for b in batches if rng.random() > 0.3]
    kept += [rng.choice(batches) for _ in range(len(batches) // 2)]  # repeats, late
    for i in range(0, len(kept), 4):
        window = kept[i : i + 4]
        rng.shuffle(window)
        kept[i : i + 4] = window
    return [rng.sample(b, len(b)) for b in kept]


@pytest.mark.anyio
async def test_subscribers_get_every_event_once_in_order_despite_loss_repeats_and_reordering(
    hub: Hub,
) -> None:
    bus = ManualBus()
    async with running(hub, bus) as fanout:
        first, cursor = await subscribed(fanout, hub)
        second = Recorder()
        assert await fanout.subscribe(WS, second) == cursor
        written = await write(hub, 30)
        messages = chaos(written, random.Random(20260101))
        await bus.deliver(*messages)
        # The last event, delivered after everything else, proves the channel got through it all.
        last = await write(hub, 1, start=30)
        await bus.deliver(last)
        await first.wait_for_seq(last[0].seq)
        await second.wait_for_seq(last[0].seq)

    delivered = [e.seq for batch in messages for e in batch]
    assert set(delivered) < {e.seq for e in written}, "the bus lost some"
    assert len(delivered) > len(set(delivered)), "the bus repeated some"
    assert delivered != sorted(delivered), "the bus reordered some"
    assert written[0].seq == cursor + 1
    assert first.events == second.events == [*written, *last]


@pytest.mark.anyio
async def test_a_gap_is_filled_from_the_store_when_the_bus_keeps_nothing(hub: Hub) -> None:
    bus = ManualBus()
    async with running(hub, bus) as fanout:
        recorder, _cursor = await subscribed(fanout, hub)
        written = await write(hub, 5)

        await bus.deliver(written[-1:])
        await recorder.wait_for_seq(written[-1].seq)

    assert recorder.events == written
    assert (fanout.filled_from_bus, fanout.filled_from_store) == (0, 4)


@pytest.mark.anyio
async def test_a_gap_is_filled_from_the_bus_when_it_still_holds_the_events(hub: Hub) -> None:
    bus = ManualBus()
    async with running(hub, bus) as fanout:
        recorder, _cursor = await subscribed(fanout, hub)
        written = await write(hub, 5)
        bus.retained = written

        await bus.deliver(written[-1:])
        await recorder.wait_for_seq(written[-1].seq)

    assert recorder.events == written
    assert (fanout.filled_from_bus, fanout.filled_from_store) == (4, 0)


@pytest.mark.anyio
async def test_a_bus_that_holds_only_part_of_a_gap_is_not_trusted(hub: Hub) -> None:
    bus = ManualBus()
    async with running(hub, bus) as fanout:
        recorder, _cursor = await subscribed(fanout, hub)
        written = await write(hub, 5)
        bus.retained = written[2:]  # the older part was trimmed away

        await bus.deliver(written[-1:])
        await recorder.wait_for_seq(written[-1].seq)

    assert recorder.events == written
    assert (fanout.filled_from_bus, fanout.filled_from_store) == (0, 4)


@pytest.mark.anyio
async def test_reconcile_delivers_a_last_event_whose_publish_was_lost(hub: Hub) -> None:
    async with running(hub, ManualBus(), reconcile_seconds=0.01) as fanout:
        recorder, _cursor = await subscribed(fanout, hub)
        written = await write(hub, 2)  # published to a bus that delivers nothing

        await recorder.wait_for_seq(written[-1].seq)

    assert recorder.events == written
    assert fanout.filled_from_store == 2


@pytest.mark.anyio
async def test_events_of_the_memory_bus_reach_subscribers_of_their_workspace_only(
    hub: Hub,
) -> None:
    bus = MemoryBus()
    async with running(hub, bus) as fanout:
        recorder, _cursor = await subscribed(fanout, hub)
        await hub.workspaces.create_as_system("elsewhere", None, owner=None)
        written = await write(hub, 3)
        other = await hub.store.read_events("elsewhere")

        await bus.publish([*other, *written])
        await recorder.wait_for_seq(written[-1].seq)

    assert recorder.events == written


@pytest.mark.anyio
async def test_presence_is_relayed_to_subscribers_and_shown_to_later_ones(hub: Hub) -> None:
    async with running(hub, MemoryBus()) as fanout:
        early, _cursor = await subscribed(fanout, hub)
        here = {"client": "c1", "state": {"cursor": 4}}
        gone = {"client": "c2", "state": None}

        await fanout.publish_presence(WS, here)
        await fanout.publish_presence(WS, {"client": "c2", "state": {"cursor": 9}})
        await fanout.publish_presence(WS, gone)
        late = Recorder()
        await fanout.subscribe(WS, late)

    assert early.presences == [here, {"client": "c2", "state": {"cursor": 9}}, gone]
    assert late.presences == [here]  # who is here now; c2 has left


@pytest.mark.anyio
async def test_presence_that_is_not_renewed_expires(hub: Hub) -> None:
    async with running(hub, MemoryBus(), reconcile_seconds=0.01, presence_ttl=0.02) as fanout:
        recorder, _cursor = await subscribed(fanout, hub)
        here = {"client": "c1", "state": {"cursor": 4}}

        await fanout.publish_presence(WS, here)
        await recorder.wait_until(lambda: len(recorder.presences) >= 2)
        late = Recorder()
        await fanout.subscribe(WS, late)

    assert recorder.presences == [here, {"client": "c1", "state": None}]
    assert late.presences == []


@pytest.mark.anyio
async def test_unsubscribing_the_last_subscriber_stops_the_channel(hub: Hub) -> None:
    bus = MemoryBus()
    async with running(hub, bus) as fanout:
        first, _cursor = await subscribed(fanout, hub)
        second = Recorder()
        await fanout.subscribe(WS, second)

        fanout.unsubscribe(WS, first)
        still_open = fanout.channels
        fanout.unsubscribe(WS, second)
        closed = fanout.channels
        written = await write(hub, 2)
        await bus.publish(written)  # nobody on this node listens any more
        third = Recorder()
        cursor = await fanout.subscribe(WS, third)

    assert (still_open, closed) == (frozenset({WS}), frozenset[str]())
    assert (first.events, second.events) == ([], [])
    assert cursor == written[-1].seq  # a new channel starts at the head; the rest is replay


@pytest.mark.anyio
async def test_a_subscribe_fails_rather_than_hangs_when_the_store_is_down(hub: Hub) -> None:
    class UnreachableStore(SqlEventStore):
        async def get_workspace(self, workspace: str) -> Any:
            raise Unavailable("storage is down", code="storage.unavailable")

    fanout = Fanout(UnreachableStore(hub.database), MemoryBus(), reconcile_seconds=NEVER)
    await fanout.start()
    try:
        with anyio.fail_after(5), pytest.raises(Unavailable) as refused:
            await fanout.subscribe(WS, Recorder())
        channels = fanout.channels
    finally:
        await fanout.close()

    assert refused.value.code == "storage.unavailable"
    assert channels == frozenset()
