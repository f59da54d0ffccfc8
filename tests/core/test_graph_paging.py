"""No graph answer is unbounded: reads come in pages of at most ``limit`` items whose union is the
whole answer, each entity and relation exactly once, in creation order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from infinity_matrix.core.knowledge.records import GraphPage, NewEntity, NewRelation
from infinity_matrix.hub import Hub
from infinity_matrix.security.principals import Principal

WS = "default"
ADMIN = Principal.user("root", is_admin=True)

Read = Callable[[str | None, int], Awaitable[GraphPage]]


async def _all_pages(read: Read, limit: int) -> tuple[dict[str, Any], int]:
    """The pages' items concatenated, and how many pages it took."""
    union: dict[str, Any] = {"entities": [], "relations": []}
    cursor, pages = None, 0
    while True:
        page = await read(cursor, limit)
        pages += 1
        assert len(page.entities) + len(page.relations) <= limit
        body = page.to_json()
        union["entities"] += body["entities"]
        union["relations"] += body["relations"]
        cursor = page.next_cursor
        if cursor is None:
            return union, pages


async def _build(hub: Hub, entities: int, relations: int) -> None:
    await hub.graph.create_entities(
        ADMIN,
        WS,
        [
            NewEntity(f"node {i:03}", "kind even" if i % 2 else "kind odd", (f"obs {i}",))
            for i in range(entities)
        ],
    )
    await hub.graph.create_relations(
        ADMIN,
        WS,
        [
            NewRelation(f"node {i % entities:03}", f"node {(i * 7) % entities:03}", f"r{i}")
            for i in range(relations)
        ],
    )


@pytest.mark.anyio
@pytest.mark.parametrize("limit", [1, 7, 30, 37, 1000])
async def test_the_pages_of_the_graph_are_the_whole_graph_with_each_item_once(
    hub: Hub, limit: int
) -> None:
    await _build(hub, 30, 45)
    whole = (await hub.graph.read_graph(ADMIN, WS, limit=1000)).to_json()
    assert (len(whole["entities"]), len(whole["relations"])) == (30, 45)

    async def read(cursor: str | None, n: int) -> GraphPage:
        return await hub.graph.read_graph(ADMIN, WS, cursor=cursor, limit=n)

    union, pages = await _all_pages(read, limit)

    assert union == {"entities": whole["entities"], "relations": whole["relations"]}
    assert pages == max(1, -(-75 // limit))


@pytest.mark.anyio
async def test_pages_stay_stable_when_the_graph_changes_between_them(hub: Hub) -> None:
    await _build(hub, 10, 0)
    first = await hub.graph.read_graph(ADMIN, WS, limit=5)
    # Deleting what was already read and adding more: the rest still comes, nothing twice.
    await hub.graph.delete_entities(ADMIN, WS, ["node 000"])
    await hub.graph.create_entities(ADMIN, WS, [NewEntity("late", "t", ())])
    rest = await hub.graph.read_graph(ADMIN, WS, cursor=first.next_cursor, limit=100)

    names = [e.name for e in first.entities + rest.entities]
    assert names == [f"node {i:03}" for i in range(10)] + ["late"]


@pytest.mark.anyio
@pytest.mark.parametrize("limit", [1, 4, 100])
async def test_the_pages_of_a_search_are_the_whole_answer(hub: Hub, limit: int) -> None:
    await _build(hub, 30, 45)
    whole = (await hub.graph.search_nodes(ADMIN, WS, "even", limit=1000)).to_json()
    assert len(whole["entities"]) == 15

    async def read(cursor: str | None, n: int) -> GraphPage:
        return await hub.graph.search_nodes(ADMIN, WS, "EVEN", cursor=cursor, limit=n)

    union, _pages = await _all_pages(read, limit)
    assert union == {"entities": whole["entities"], "relations": whole["relations"]}


@pytest.mark.anyio
async def test_the_pages_of_open_nodes_are_the_whole_answer(hub: Hub) -> None:
    await _build(hub, 30, 45)
    names = [f"node {i:03}" for i in range(0, 30, 3)] + ["nobody"]
    whole = (await hub.graph.open_nodes(ADMIN, WS, names, limit=1000)).to_json()
    assert len(whole["entities"]) == 10

    async def read(cursor: str | None, n: int) -> GraphPage:
        return await hub.graph.open_nodes(ADMIN, WS, names, cursor=cursor, limit=n)

    union, _pages = await _all_pages(read, 6)
    assert union == {"entities": whole["entities"], "relations": whole["relations"]}
