"""What only the Redis bus does: several nodes, retention in streams, and surviving Redis."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import anyio
import pytest
import redis.asyncio
from tests.storage.bus.harness import Inbox, event, events, start

from infinity_matrix.core.protocol.codec import event_from_wire
from infinity_matrix.core.protocol.events import Event
from infinity_matrix.errors import Unavailable
from infinity_matrix.storage.bus.redis import RedisBus
from infinity_matrix.testing import services

# Nothing listens on port 1, so a connection is refused at once.
DEAD_REDIS_URL = "redis://127.0.0.1:1/0"


@pytest.fixture
async def bus(redis_prefix: str) -> AsyncIterator[RedisBus]:
    bus = RedisBus(services.REDIS_URL, prefix=redis_prefix)
    yield bus
    await bus.close()


@pytest.mark.redis
@pytest.mark.anyio
async def test_two_nodes_receive_each_others_events_and_presence(redis_prefix: str) -> None:
    node_a = RedisBus(services.REDIS_URL, prefix=redis_prefix)
    node_b = RedisBus(services.REDIS_URL, prefix=redis_prefix)
    inbox_a, inbox_b = await start(node_a), await start(node_b)
    try:
        await node_a.publish(events(1, 2))
        await node_b.publish(events(3, 4))
        await node_b.publish_presence("team", {"client": "b1", "state": {"typing": True}})
        await inbox_a.wait_until(lambda: len(inbox_a.events) >= 4 and bool(inbox_a.presence))
        await inbox_b.wait_until(lambda: len(inbox_b.events) >= 4 and bool(inbox_b.presence))
    finally:
        await node_a.close()
        await node_b.close()

    presence = [("team", {"client": "b1", "state": {"typing": True}})]
    assert (inbox_a.events, inbox_a.presence) == (events(1, 4), presence)
    assert (inbox_b.events, inbox_b.presence) == (events(1, 4), presence)


@pytest.mark.redis
@pytest.mark.anyio
async def test_a_node_with_another_prefix_hears_nothing(redis_prefix: str) -> None:
    ours = RedisBus(services.REDIS_URL, prefix=redis_prefix)
    theirs = RedisBus(services.REDIS_URL, prefix=f"{redis_prefix}:other")
    our_inbox, their_inbox = await start(ours), await start(theirs)
    try:
        await theirs.publish(events(1, 1))
        await ours.publish(events(1, 2))
        await our_inbox.wait_until(lambda: len(our_inbox.events) >= 2)
        await their_inbox.wait_until(lambda: len(their_inbox.events) >= 1)
    finally:
        await ours.close()
        await theirs.close()

    assert (our_inbox.events, their_inbox.events) == (events(1, 2), events(1, 1))


@pytest.mark.redis
@pytest.mark.anyio
async def test_the_stream_keeps_each_event_under_its_seq(
    bus: RedisBus, redis_prefix: str, raw_redis: redis.asyncio.Redis
) -> None:
    await start(bus)
    await bus.publish(events(1, 3))

    entries = await raw_redis.xrange(f"{redis_prefix}:ws:team:events") or []

    assert [entry_id for entry_id, _ in entries] == [b"1-0", b"2-0", b"3-0"]
    assert [(fields or {})[b"id"] for _, fields in entries] == [b"team-1", b"team-2", b"team-3"]
    assert [event_from_wire((fields or {})[b"e"]) for _, fields in entries] == events(1, 3)


@pytest.mark.redis
@pytest.mark.anyio
async def test_a_trimmed_stream_replays_only_what_it_still_holds(
    redis_prefix: str, raw_redis: redis.asyncio.Redis
) -> None:
    bus = RedisBus(services.REDIS_URL, prefix=redis_prefix, stream_maxlen=10)
    published = events(1, 300)
    try:
        for first in range(0, 300, 50):
            await bus.publish(published[first : first + 50])
        kept = await raw_redis.xlen(f"{redis_prefix}:ws:team:events")
        answers = [await bus.replay("team", 0, 300), await bus.replay("team", 290, 300)]
    finally:
        await bus.close()

    assert 10 <= kept < 300  # trimmed approximately ("~"), never below the bound
    assert answers == [None, published[290:]]


@pytest.mark.redis
@pytest.mark.anyio
async def test_a_stream_that_was_deleted_is_written_again_from_the_next_publish(
    bus: RedisBus, redis_prefix: str, raw_redis: redis.asyncio.Redis
) -> None:
    await bus.publish(events(1, 3))
    await raw_redis.delete(f"{redis_prefix}:ws:team:events")

    await bus.publish(events(4, 5))

    assert await bus.replay("team", 0, 5) is None
    assert await bus.replay("team", 3, 5) == events(4, 5)


@pytest.mark.redis
@pytest.mark.anyio
async def test_a_workspace_created_again_under_its_old_id_replaces_the_old_history(
    bus: RedisBus,
) -> None:
    await bus.publish(events(1, 5))
    again = [dataclasses.replace(e, id=f"again-{e.seq}") for e in events(1, 2)]

    await bus.publish(again)
    await bus.publish(again[1:])  # a repeat of the new history is still a no-op

    assert await bus.replay("team", 0, 2) == again
    assert await bus.replay("team", 2, 5) is None


@pytest.mark.redis
@pytest.mark.anyio
async def test_an_undecodable_message_is_skipped_and_delivery_goes_on(
    bus: RedisBus, redis_prefix: str, raw_redis: redis.asyncio.Redis
) -> None:
    inbox = await start(bus)

    await raw_redis.publish(f"{redis_prefix}:ev:team", b"{not json")
    await raw_redis.publish(f"{redis_prefix}:ev:team", b'[{"v": 99}]')
    await raw_redis.publish(f"{redis_prefix}:pr:team", b"[1, 2]")
    await bus.publish(events(1, 1))
    await bus.publish_presence("team", {"client": "c1", "state": None})
    await inbox.wait_until(lambda: bool(inbox.events and inbox.presence))

    assert inbox.events == events(1, 1)
    assert inbox.presence == [("team", {"client": "c1", "state": None})]


@pytest.mark.redis
@pytest.mark.anyio
async def test_a_failing_handler_does_not_stop_the_reader(bus: RedisBus) -> None:
    inbox = Inbox()

    async def fail_on_first(batch: Sequence[Event]) -> None:
        if batch[0].seq == 1:
            raise RuntimeError("a broken subscriber")
        await inbox.on_events(batch)

    await bus.start(fail_on_first, inbox.on_presence)
    await bus.publish(events(1, 1))
    await bus.publish(events(2, 3))
    await inbox.wait_until(lambda: len(inbox.events) >= 2)

    assert inbox.events == events(2, 3)


@pytest.mark.redis
@pytest.mark.anyio
async def test_the_reader_comes_back_after_its_connection_is_killed(
    bus: RedisBus, redis_prefix: str, raw_redis: redis.asyncio.Redis
) -> None:
    inbox = await start(bus)
    clients = await raw_redis.client_list(_type="pubsub")
    ours = [c["id"] for c in clients if c["name"] == f"{redis_prefix}:bus"]
    assert len(ours) == 1
    await raw_redis.client_kill_filter(_id=ours[0])

    # Pub/sub drops what is published while the reader is away, so probe until it hears again.
    seq = 0
    with anyio.fail_after(10):
        while not inbox.events:
            seq += 1
            await bus.publish([event(seq)])
            with anyio.move_on_after(0.2):
                await inbox.wait_until(lambda: bool(inbox.events))
    heard = len(inbox.events)
    await bus.publish(events(seq + 1, seq + 3))
    await inbox.wait_until(lambda: len(inbox.events) >= heard + 3)

    assert inbox.events[heard:] == events(seq + 1, seq + 3)
    assert inbox.seqs == sorted(inbox.seqs)


@pytest.mark.anyio
async def test_a_dead_redis_fails_writes_and_readiness_with_bus_unavailable() -> None:
    bus = RedisBus(DEAD_REDIS_URL, prefix="imx-test-dead")
    await start(bus)  # the reader keeps trying in the background; starting does not fail
    try:
        failures = []
        attempts: list[Callable[[], Awaitable[None]]] = [
            bus.ready,
            lambda: bus.publish(events(1, 1)),
            lambda: bus.publish_presence("team", {"client": "c1", "state": {}}),
        ]
        for attempt in attempts:
            with pytest.raises(Unavailable) as refused:
                await attempt()
            failures.append(refused.value.code)
        replayed = await bus.replay("team", 0, 1)
    finally:
        with anyio.fail_after(5):
            await bus.close()

    assert failures == ["bus.unavailable"] * 3
    assert replayed is None
