"""Reading insights: pages newest first through a cursor, filters, full-text search ranked with
the title first, usage counters flushed into the statistics, and authorization (members read,
editors and up write, a viewer writing is Forbidden, another workspace is NotFound)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from tests.world import ROLES, add_team, create_user

from infinity_matrix.core.insights.records import NewInsight
from infinity_matrix.core.insights.service import InsightService
from infinity_matrix.errors import Forbidden, InvalidInput, NotFound
from infinity_matrix.hub import Hub
from infinity_matrix.security.principals import Principal

WS = "default"
ADMIN = Principal.user("root", is_admin=True)


async def seed(hub: Hub, count: int) -> list[int]:
    ids = []
    for i in range(count):
        new = NewInsight(
            "todo" if i % 2 else "pitfall",
            f"Item {i}",
            f"Body number {i} about module{i}",
            tags=("odd",) if i % 2 else ("even",),
            topic=f"items/{i}",
        )
        ids.append((await hub.insights.record(ADMIN, WS, new)).insight.id)
    return ids


@pytest.mark.anyio
async def test_pages_list_every_insight_once_newest_first(hub: Hub) -> None:
    ids = await seed(hub, 7)
    seen: list[int] = []
    cursor = None
    while True:
        page = await hub.insights.list(ADMIN, WS, cursor=cursor, limit=3)
        seen.extend(i.id for i in page.items)
        assert all(i.confidence is not None for i in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == sorted(ids, reverse=True)


@pytest.mark.anyio
async def test_filters_by_kind_tag_topic_status_and_words(hub: Hub) -> None:
    ids = await seed(hub, 6)
    await hub.insights.feedback(ADMIN, WS, ids[0], "outdated")

    async def listed(**filters: Any) -> list[int]:
        return [i.id for i in (await hub.insights.list(ADMIN, WS, **filters)).items]

    assert await listed(kind="todo") == [ids[5], ids[3], ids[1]]
    assert await listed(tag="even") == [ids[4], ids[2]]
    assert await listed(tag="even", status="all") == [ids[4], ids[2], ids[0]]
    assert await listed(status="outdated") == [ids[0]]
    assert await listed(topic="items/3") == [ids[3]]
    assert await listed(query="module4") == [ids[4]]
    assert await listed(query="body number", kind="pitfall") == [ids[4], ids[2]]


@pytest.mark.parametrize(
    ("filters", "code"),
    [
        ({"cursor": "e12"}, "insight.invalid_cursor"),
        ({"status": "gone"}, "insight.invalid_status"),
        ({"kind": "rumour"}, "insight.invalid_kind"),
        ({"topic": "a//b"}, "insight.invalid_topic"),
        ({"tag": "two words"}, "insight.invalid_tag"),
        ({"limit": 0}, "request.invalid_limit"),
        ({"query": "   "}, "search.invalid_query"),
    ],
)
@pytest.mark.anyio
async def test_bad_list_parameters_are_refused_with_their_code(
    hub: Hub, filters: dict[str, Any], code: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await hub.insights.list(ADMIN, WS, **filters)
    assert caught.value.code == code


@pytest.mark.anyio
async def test_search_ranks_a_title_match_above_a_body_match(hub: Hub) -> None:
    body = await hub.insights.record(
        ADMIN,
        WS,
        NewInsight("fact", "Deployment notes", "The cache is warmed by the redis preload job"),
    )
    title = await hub.insights.record(
        ADMIN, WS, NewInsight("pitfall", "Redis preload", "It runs before the web nodes start")
    )
    await hub.insights.record(ADMIN, WS, NewInsight("fact", "Unrelated", "Nothing to see"))

    hits = await hub.insights.search(ADMIN, WS, "redis preload")

    assert [h.insight.id for h in hits] == [title.insight.id, body.insight.id]
    assert hits[0].rank > hits[1].rank
    assert hits[0].insight.confidence is not None


@pytest.mark.anyio
async def test_search_matches_any_word_by_default_and_every_word_on_request(hub: Hub) -> None:
    both = await hub.insights.record(
        ADMIN, WS, NewInsight("fact", "Alembic and asyncpg", "Migrations run on asyncpg")
    )
    one = await hub.insights.record(
        ADMIN, WS, NewInsight("fact", "Alembic heads", "Branches are merged by the lead")
    )
    anyword = await hub.insights.search(ADMIN, WS, "alembic asyncpg ")
    every = await hub.insights.search(ADMIN, WS, "alembic asyncpg ", match="all")
    pitfalls = await hub.insights.search(ADMIN, WS, "alembic", kinds=["pitfall"])
    assert [h.insight.id for h in anyword] == [both.insight.id, one.insight.id]
    assert [h.insight.id for h in every] == [both.insight.id]
    assert pitfalls == []


@pytest.mark.anyio
async def test_search_leaves_superseded_insights_out_on_request(hub: Hub) -> None:
    old = await hub.insights.record(
        ADMIN, WS, NewInsight("fact", "Redis port", "Redis listens on 6379", topic="redis/port")
    )
    new = await hub.insights.record(
        ADMIN, WS, NewInsight("fact", "Redis port", "Redis listens on 6380", topic="redis/port")
    )
    everything = await hub.insights.search(ADMIN, WS, "redis")
    live = await hub.insights.search(ADMIN, WS, "redis", include_superseded=False)
    assert {h.insight.id for h in everything} == {old.insight.id, new.insight.id}
    assert [h.insight.id for h in live] == [new.insight.id]


@pytest.mark.anyio
async def test_served_counts_are_aggregated_and_shown_per_kind_source_and_target(hub: Hub) -> None:
    ids = await seed(hub, 2)
    for _ in range(3):
        await hub.insights.note_served(WS, [ids[0], ids[1]], "claude")
    await hub.insights.note_served(WS, [ids[0]], "copilot")
    await hub.insights.flush_usage()
    await hub.insights.note_served(WS, [ids[0]], "claude")  # pending: stats flush it

    stats = await hub.insights.stats(ADMIN, WS)

    assert stats.served == 8
    assert {k.kind: k.served for k in stats.kinds} == {"pitfall": 5, "todo": 3}
    assert [(s.key, s.served, s.insights) for s in stats.sources] == [("user:root/-/-", 8, 2)]
    assert stats.served_to == {"claude": 7, "copilot": 1}  # what was served to whom
    assert stats.by_status == {"active": 2, "superseded": 0, "outdated": 0}
    assert stats.total == 2


Call = Callable[[InsightService, Principal, int], Awaitable[Any]]
READS: dict[str, Call] = {
    "get": lambda s, p, i: s.get(p, "team", i),
    "list": lambda s, p, i: s.list(p, "team"),
    "search": lambda s, p, i: s.search(p, "team", "redis"),
    "stats": lambda s, p, i: s.stats(p, "team"),
}
WRITES: dict[str, Call] = {
    "record": lambda s, p, i: s.record(p, "team", NewInsight("fact", "T", f"Written by {p.id}")),
    "feedback": lambda s, p, i: s.feedback(p, "team", i, "accepted"),
}


@pytest.fixture
async def team(hub: Hub) -> int:
    for name in (*ROLES, "outsider"):
        await create_user(hub, name)
    await add_team(hub, "team")
    owner = Principal.user("owner")
    recorded = await hub.insights.record(owner, "team", NewInsight("fact", "Redis", "Redis 7"))
    return recorded.insight.id


@pytest.mark.parametrize("call", [*READS, *WRITES])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.anyio
async def test_members_read_and_editors_write_but_a_viewer_writing_is_forbidden(
    hub: Hub, team: int, call: str, role: str
) -> None:
    operation = {**READS, **WRITES}[call]
    principal = Principal.user(role)
    if role == "viewer" and call in WRITES:
        with pytest.raises(Forbidden) as caught:
            await operation(hub.insights, principal, team)
        assert caught.value.code == "auth.forbidden"
    else:
        await operation(hub.insights, principal, team)


@pytest.mark.parametrize("call", [*READS, *WRITES])
@pytest.mark.anyio
async def test_a_workspace_the_caller_cannot_see_is_not_found(
    hub: Hub, team: int, call: str
) -> None:
    operation = {**READS, **WRITES}[call]
    with pytest.raises(NotFound) as caught:
        await operation(hub.insights, Principal.user("outsider"), team)
    assert caught.value.code == "workspace.not_found"


@pytest.mark.anyio
async def test_an_insight_of_another_workspace_is_not_found(hub: Hub, team: int) -> None:
    with pytest.raises(NotFound) as caught:
        await hub.insights.get(ADMIN, WS, team)
    assert caught.value.code == "insight.not_found"


@pytest.mark.anyio
async def test_a_source_correcting_itself_is_not_its_own_rival_but_another_source_is(
    hub: Hub,
) -> None:
    def port(value: str) -> NewInsight:
        return NewInsight("fact", f"Port is {value}", value, topic="db/port", assistant="a")

    alone = (await hub.insights.record(ADMIN, WS, NewInsight("fact", "Alone", "x"))).insight
    old = (await hub.insights.record(ADMIN, WS, port("5432"))).insight
    new = (await hub.insights.record(ADMIN, WS, port("5433"))).insight
    corrected = await hub.insights.get(ADMIN, WS, new.id)
    withdrawn = await hub.insights.get(ADMIN, WS, old.id)
    other = NewInsight("fact", "Port is 6543", "6543", topic="db/port", assistant="b")
    await hub.insights.record(ADMIN, WS, other)
    challenged = await hub.insights.get(ADMIN, WS, new.id)

    assert corrected.confidence is not None
    assert withdrawn.confidence is not None
    assert challenged.confidence is not None
    assert alone.confidence is not None
    rivals = {p.name: p.value for p in corrected.confidence.parts}["rivals"]
    assert rivals == 0.0  # its author's older claim does not count against it
    assert corrected.confidence.value == pytest.approx(alone.confidence.value)
    assert withdrawn.confidence.value < corrected.confidence.value
    assert challenged.confidence.value < corrected.confidence.value


@pytest.mark.anyio
async def test_several_insights_read_at_once_come_in_the_order_asked_with_their_confidence(
    hub: Hub,
) -> None:
    ids = await seed(hub, 4)

    found = await hub.insights.get_many(ADMIN, WS, [ids[2], 999_999, ids[0], ids[2]])

    assert [i.id for i in found] == [ids[2], ids[0]]
    assert all(i.confidence is not None for i in found)
    single = await hub.insights.get(ADMIN, WS, ids[0])
    assert found[1].confidence is not None
    assert single.confidence is not None
    assert found[1].confidence.value == pytest.approx(single.confidence.value, abs=1e-6)
    with pytest.raises(NotFound) as exc:
        await hub.insights.get_many(ADMIN, "elsewhere", ids)
    assert exc.value.code == "workspace.not_found"
