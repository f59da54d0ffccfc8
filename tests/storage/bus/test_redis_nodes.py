"""Two hub nodes on one PostgreSQL and one Redis (DESIGN §4): what one node commits, a
subscriber on the other gets in order; what pub/sub loses on the way is refilled from the Redis
stream, and from the database once Redis no longer has it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio
from redis.typing import EncodableT, FieldT
from tests.storage.bus.harness import Recorder
from tests.world import fast_hasher

from infinity_matrix.config import Settings
from infinity_matrix.core.authorization import Authorizer
from infinity_matrix.core.protocol.codec import event_to_wire
from infinity_matrix.core.protocol.events import Event
from infinity_matrix.core.sync.context import ContextService
from infinity_matrix.core.sync.fanout import Fanout
from infinity_matrix.core.sync.log import EventLog
from infinity_matrix.hub import Hub
from infinity_matrix.security.principals import Principal
from infinity_matrix.testing import services

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.anyio]

WS = "team"
ADMIN = Principal.user("root", is_admin=True)


def _settings(home: Path, database_url: str, prefix: str) -> Settings:
    return Settings(
        home=home,
        database_url=database_url,
        redis_url=services.REDIS_URL,
        redis_prefix=prefix,
        secret_key="s" * 64,
        rate_limit="100000/minute",
        login_rate_limit="1000/minute",
        _env_file=None,
    )


@pytest.fixture
async def nodes(
    tmp_path: Path, postgres_url: str, redis_prefix: str
) -> AsyncIterator[tuple[Hub, Hub]]:
    """Hubs A and B sharing the database and the Redis prefix, with workspace WS."""
    await services.truncate_all(postgres_url)
    node_a = Hub.build(_settings(tmp_path / "a", postgres_url, redis_prefix), hasher=fast_hasher())
    node_b = Hub.build(_settings(tmp_path / "b", postgres_url, redis_prefix), hasher=fast_hasher())
    # B's reconcile would also repair the gaps these tests make, racing the gap filling they
    # show; slowed down, every repair here comes from gap filling.
    node_b.fanout = Fanout(node_b.store, node_b.bus, reconcile_seconds=3600)
    await node_a.start()
    await node_b.start()
    try:
        await node_a.workspaces.create_as_system(WS, None, owner=None)
        yield node_a, node_b
    finally:
        await node_b.close()
        await node_a.close()


async def _logged(hub: Hub, after: int) -> list[Event]:
    return await hub.store.read_events(WS, after=after, limit=1000)


async def test_a_subscriber_on_one_node_gets_what_another_node_writes_in_order(
    nodes: tuple[Hub, Hub],
) -> None:
    node_a, node_b = nodes
    recorder = Recorder()
    cursor = await node_b.fanout.subscribe(WS, recorder)

    for n in range(20):
        await node_a.context.put(ADMIN, WS, f"notes/{n}", text=f"version {n}")
    last = await node_a.context.put(ADMIN, WS, "notes/0", text="again")
    await node_a.fanout.publish_presence(WS, {"client": "a1", "state": {"line": 3}})
    await recorder.wait_for_seq(last.seq)
    await recorder.wait_until(lambda: bool(recorder.presences))

    assert recorder.events == await _logged(node_a, cursor)
    assert recorder.presences == [{"client": "a1", "state": {"line": 3}}]
    assert (node_b.fanout.filled_from_bus, node_b.fanout.filled_from_store) == (0, 0)


async def test_events_pub_sub_lost_are_filled_from_the_stream_then_from_the_database(
    nodes: tuple[Hub, Hub], redis_prefix: str, raw_redis: redis.asyncio.Redis
) -> None:
    node_a, node_b = nodes
    recorder = Recorder()
    cursor = await node_b.fanout.subscribe(WS, recorder)
    stream = f"{redis_prefix}:ws:{WS}:events"
    # Writes through a log that publishes nothing: committed, but no node hears of them.
    unheard = ContextService(
        node_a.store, EventLog(node_a.store), Authorizer(node_a.store), max_value_bytes=1024
    )

    # Lost on pub/sub, still in the stream: B fills the gap from Redis.
    for n in range(3):
        await unheard.put(ADMIN, WS, f"quiet/{n}", text="psst")
    for event in await _logged(node_a, cursor):
        entry: dict[FieldT, EncodableT] = {"id": event.id, "e": event_to_wire(event)}
        await raw_redis.xadd(stream, entry, id=f"{event.seq}-0")
    heard = await node_a.context.put(ADMIN, WS, "loud/0", text="hello")
    await recorder.wait_for_seq(heard.seq)
    from_bus = (node_b.fanout.filled_from_bus, node_b.fanout.filled_from_store)

    # Lost on pub/sub and trimmed out of the stream: B fills the gap from the database.
    for n in range(3, 7):
        await unheard.put(ADMIN, WS, f"quiet/{n}", text="psst")
    await raw_redis.delete(stream)
    heard = await node_a.context.put(ADMIN, WS, "loud/1", text="hello again")
    await recorder.wait_for_seq(heard.seq)

    assert from_bus == (3, 0)
    assert (node_b.fanout.filled_from_bus, node_b.fanout.filled_from_store) == (3, 4)
    assert recorder.events == await _logged(node_a, cursor)
