"""The insights' storage on SQLite (FTS5) and PostgreSQL (tsvector): the full-text index follows
records and replays, user text never breaks a query, and usage counters add up by UPSERT."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from infinity_matrix.core.insights.records import NewInsight, ServedCount
from infinity_matrix.core.sync.replay import replay
from infinity_matrix.errors import InvalidInput
from infinity_matrix.hub import Hub
from infinity_matrix.security.principals import Principal
from infinity_matrix.storage.insights import SqlInsightStore

WS = "default"
ADMIN = Principal.user("root", is_admin=True)
HOSTILE = [
    'foo"',
    "AND (",
    "NEAR(a b)",
    "title:redis",
    "redis*",
    "a & b | !c",
    "a <-> b",
    "redis:*",
    "'; DROP TABLE insights; --",
    "-redis cache",
    "日本語",
    "x" * 500,
]


async def ids(hub: Hub, query: str, **options: object) -> list[int]:
    hits = await hub.insights.search(ADMIN, WS, query, **options)  # type: ignore[arg-type]
    return [h.insight.id for h in hits]


@pytest.mark.anyio
async def test_the_index_finds_titles_bodies_tags_and_topics_and_survives_replay(
    hub: Hub,
) -> None:
    a = await hub.insights.record(
        ADMIN,
        WS,
        NewInsight(
            "decision",
            "Use asyncpg",
            "The driver of src/storage/database.py",
            tags=("postgres-driver",),
            topic="storage/driver",
        ),
    )
    b = await hub.insights.record(
        ADMIN, WS, NewInsight("fact", "Caching", "The cache is warmed before the web nodes start")
    )
    found = {
        "title": await ids(hub, "asyncpg"),
        "path": await ids(hub, "database py"),
        "tag": await ids(hub, "driver"),
        "topic": await ids(hub, "storage"),
        "prefix": await ids(hub, "asyn"),
        "body": await ids(hub, "warmed web", match="all"),
    }
    assert found == {
        "title": [a.insight.id],
        "path": [a.insight.id],
        "tag": [a.insight.id],
        "topic": [a.insight.id],
        "prefix": [a.insight.id],
        "body": [b.insight.id],
    }

    await replay(hub.store, WS)

    assert await ids(hub, "asyncpg") == [a.insight.id]
    assert await ids(hub, "warmed") == [b.insight.id]


@pytest.mark.parametrize("query", HOSTILE)
@pytest.mark.anyio
async def test_user_text_never_breaks_the_search(hub: Hub, query: str) -> None:
    await hub.insights.record(ADMIN, WS, NewInsight("fact", "Redis cache", "Redis holds it"))
    await hub.insights.search(ADMIN, WS, query)
    await hub.insights.search(ADMIN, WS, query, match="all")
    await hub.insights.list(ADMIN, WS, query=query)


@pytest.mark.parametrize("query", ["\\", "%_%", "-", '""'])
@pytest.mark.anyio
async def test_a_query_without_a_word_is_refused(hub: Hub, query: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        await hub.insights.search(ADMIN, WS, query)
    assert caught.value.code == "search.invalid_query"


@pytest.mark.anyio
async def test_usage_counters_add_up_per_insight_and_target(hub: Hub) -> None:
    recorded = await hub.insights.record(ADMIN, WS, NewInsight("fact", "T", "B"))
    store = SqlInsightStore(hub.database)
    at = datetime(2026, 11, 25, tzinfo=UTC)
    one = ServedCount(WS, recorded.insight.id, "claude", 2, at)
    await store.add_served([one, ServedCount(WS, recorded.insight.id, "copilot", 1, at)])
    await store.add_served([ServedCount(WS, recorded.insight.id, "claude", 3, at + timedelta(1))])

    stats = await store.stats(WS)

    assert [(k.kind, k.served) for k in stats.kinds] == [("fact", 6)]
    assert [(s.key, s.served) for s in stats.sources] == [("user:root/-/-", 6)]
    await replay(hub.store, WS)  # usage is no projection: a replay keeps it
    assert [(k.kind, k.served) for k in (await store.stats(WS)).kinds] == [("fact", 6)]


@pytest.mark.anyio
async def test_any_text_can_be_recorded_and_looked_up_for_duplicates(hub: Hub) -> None:
    texts = [*HOSTILE, "x\u00b2 \u00bd \u0663 \u2460 ﬁ", "\U0001f642 emoji only"]
    for i, text in enumerate(texts):
        new = NewInsight("fact", f"Hostile {i}", text, topic="hostile/text")
        first = await hub.insights.record(ADMIN, WS, new)
        again = await hub.insights.record(ADMIN, WS, new)
        assert again.insight.id == first.insight.id
