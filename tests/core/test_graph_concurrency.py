"""Concurrent graph writes are all kept, and "does this name exist?" never races: the log decides
each command with the workspace's head row locked, in one hub or across hubs on one database.
(The reference server, rewriting its file per call, keeps 1 of 20 pipelined creations.)"""

from __future__ import annotations

import asyncio

import pytest
from tests.world import started_hub

from infinity_matrix.config import Settings
from infinity_matrix.core.knowledge.records import NewEntity, NewObservations
from infinity_matrix.hub import Hub
from infinity_matrix.security.principals import Principal

WS = "default"
ADMIN = Principal.user("root", is_admin=True)
CALLS = 20


async def _live_names(hub: Hub) -> list[str]:
    return [e.name for e in (await hub.graph.read_graph(ADMIN, WS, limit=1000)).entities]


@pytest.mark.anyio
async def test_twenty_concurrent_creations_of_distinct_names_are_all_kept(hub: Hub) -> None:
    changes = await asyncio.gather(
        *(
            hub.graph.create_entities(ADMIN, WS, [NewEntity(f"e{i}", "t", (f"o{i}",))])
            for i in range(CALLS)
        )
    )
    assert sorted(c.items[0].name for c in changes) == sorted(f"e{i}" for i in range(CALLS))
    assert sorted(await _live_names(hub)) == sorted(f"e{i}" for i in range(CALLS))


@pytest.mark.anyio
async def test_twenty_concurrent_creations_of_one_name_create_it_once(hub: Hub) -> None:
    changes = await asyncio.gather(
        *(
            hub.graph.create_entities(ADMIN, WS, [NewEntity("same", "t", (f"o{i}",))])
            for i in range(CALLS)
        )
    )
    assert sum(len(c.items) for c in changes) == 1
    assert await _live_names(hub) == ["same"]


@pytest.mark.anyio
async def test_concurrent_observations_of_one_entity_are_all_added_once(hub: Hub) -> None:
    await hub.graph.create_entities(ADMIN, WS, [NewEntity("e", "t", ())])
    await asyncio.gather(
        *(
            hub.graph.add_observations(ADMIN, WS, [NewObservations("e", (f"o{i % 10}",))])
            for i in range(CALLS)
        )
    )
    page = await hub.graph.open_nodes(ADMIN, WS, ["e"])
    assert sorted(o.content for o in page.entities[0].observations) == [f"o{i}" for i in range(10)]


@pytest.mark.anyio
async def test_two_hubs_on_one_database_keep_every_creation_and_create_a_name_once(
    hub: Hub, settings: Settings
) -> None:
    async with started_hub(settings) as other:
        hubs = (hub, other)
        distinct = await asyncio.gather(
            *(
                hubs[i % 2].graph.create_entities(ADMIN, WS, [NewEntity(f"e{i}", "t", ())])
                for i in range(CALLS)
            )
        )
        same = await asyncio.gather(
            *(
                hubs[i % 2].graph.create_entities(ADMIN, WS, [NewEntity("same", "t", ())])
                for i in range(CALLS)
            )
        )
        assert sorted(await _live_names(other)) == sorted(
            [f"e{i}" for i in range(CALLS)] + ["same"]
        )
    assert sum(len(c.items) for c in distinct) == CALLS
    assert sum(len(c.items) for c in same) == 1
