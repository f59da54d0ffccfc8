"""Every EventBus behaves alike: the memory bus of one node and the Redis bus of many.

The one difference the port allows is retention: ``replay`` answers from Redis's streams, and
always None from the memory bus, which keeps nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from tests.storage.bus.harness import Inbox, event, events, start

from infinity_matrix.core.ports import EventBus
from infinity_matrix.storage.bus.memory import MemoryBus
from infinity_matrix.storage.bus.redis import RedisBus
from infinity_matrix.testing import services


@dataclass
class Bus:
    """A started bus, what it handed over so far, and whether it retains events."""

    bus: EventBus
    inbox: Inbox
    retains: bool


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def started(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    make: Callable[[], EventBus] = MemoryBus
    if request.param == "redis":
        prefix: str = request.getfixturevalue("redis_prefix")
        make = lambda: RedisBus(services.REDIS_URL, prefix=prefix)  # noqa: E731
    bus = make()
    inbox = await start(bus)
    try:
        yield Bus(bus, inbox, retains=request.param == "redis")
    finally:
        await bus.close()


@pytest.mark.anyio
async def test_published_events_reach_the_started_handler_in_order(started: Bus) -> None:
    published = events(1, 7)

    await started.bus.publish(published[:3])
    await started.bus.publish(published[3:])
    await started.inbox.wait_until(lambda: len(started.inbox.events) >= 7)

    assert started.inbox.events == published


@pytest.mark.anyio
async def test_a_batch_of_several_workspaces_reaches_the_handler_whole(started: Bus) -> None:
    published = [event(1, "alpha"), event(1, "beta"), event(2, "alpha")]

    await started.bus.publish(published)
    await started.inbox.wait_until(lambda: len(started.inbox.events) >= 3)

    by_workspace = {
        ws: [e for e in started.inbox.events if e.workspace == ws] for ws in ("alpha", "beta")
    }
    assert by_workspace == {"alpha": [published[0], published[2]], "beta": [published[1]]}


@pytest.mark.anyio
async def test_presence_reaches_the_presence_handler(started: Bus) -> None:
    message = {"client": "c1", "state": {"cursor": [3, 5], "name": "Ada"}}

    await started.bus.publish_presence("team", message)
    await started.inbox.wait_until(lambda: bool(started.inbox.presence))

    assert started.inbox.presence == [("team", message)]
    assert started.inbox.events == []


@pytest.mark.anyio
async def test_replay_answers_exactly_the_retained_range_or_none(started: Bus) -> None:
    published = events(1, 6)
    await started.bus.publish(published)
    await started.inbox.wait_until(lambda: len(started.inbox.events) >= 6)

    answers = [
        await started.bus.replay("team", 0, 6),
        await started.bus.replay("team", 2, 4),
        await started.bus.replay("team", 5, 9),  # beyond what was published
        await started.bus.replay("other", 0, 2),
    ]

    if started.retains:
        assert answers == [published, published[2:4], None, None]
        assert await started.bus.replay("team", 4, 4) == []
    else:
        assert answers == [None, None, None, None]


@pytest.mark.anyio
async def test_republishing_the_same_seqs_is_harmless(started: Bus) -> None:
    published = events(1, 4)

    await started.bus.publish(published[:3])
    await started.bus.publish(published[:3])  # a retry after an unclear failure
    await started.bus.publish(published[1:])
    await started.inbox.wait_until(lambda: 4 in started.inbox.seqs)

    assert sorted(set(started.inbox.seqs)) == [1, 2, 3, 4]  # repeats are the fan-out's to drop
    if started.retains:
        assert await started.bus.replay("team", 0, 4) == published


@pytest.mark.anyio
async def test_a_ready_bus_says_so(started: Bus) -> None:
    await started.bus.ready()
