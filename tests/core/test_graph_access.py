"""The graph service checks authorization itself: members read, editors and up write, a viewer
writing is Forbidden, and a workspace the caller cannot see is NotFound for every operation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from tests.world import ROLES, add_team, create_user

from infinity_matrix.core.knowledge.graph import GraphService
from infinity_matrix.core.knowledge.records import (
    NewEntity,
    NewObservations,
    NewRelation,
    ObservationDeletion,
    Relation,
)
from infinity_matrix.errors import Forbidden, NotFound
from infinity_matrix.hub import Hub
from infinity_matrix.security.principals import Principal

WS = "team"
Call = Callable[[GraphService, Principal], Awaitable[Any]]


async def _export(g: GraphService, p: Principal) -> list[str]:
    return [line async for line in await g.export_jsonl(p, WS)]


READS: dict[str, Call] = {
    "read_graph": lambda g, p: g.read_graph(p, WS),
    "search_nodes": lambda g, p: g.search_nodes(p, WS, "a"),
    "open_nodes": lambda g, p: g.open_nodes(p, WS, ["a"]),
    "history": lambda g, p: g.history(p, WS, "a"),
    "export_jsonl": _export,
}
WRITES: dict[str, Call] = {
    "create_entities": lambda g, p: g.create_entities(p, WS, [NewEntity("n", "t", ())]),
    "create_relations": lambda g, p: g.create_relations(p, WS, [NewRelation("a", "b", "t")]),
    "add_observations": lambda g, p: g.add_observations(p, WS, [NewObservations("a", ("x",))]),
    "delete_entities": lambda g, p: g.delete_entities(p, WS, ["a"]),
    "delete_observations": lambda g, p: g.delete_observations(
        p, WS, [ObservationDeletion("a", ("x",))]
    ),
    "delete_relations": lambda g, p: g.delete_relations(p, WS, [Relation("a", "b", "t")]),
    "import_jsonl": lambda g, p: g.import_jsonl(
        p, WS, '{"type":"entity","name":"i","entityType":"t","observations":[]}'
    ),
}


@pytest.fixture
async def team(hub: Hub) -> Hub:
    await create_user(hub, "owner")
    for role in (*ROLES[1:], "outsider"):
        await create_user(hub, role)
    await add_team(hub, WS)
    await hub.graph.create_entities(Principal.user("owner"), WS, [NewEntity("a", "t", ("x",))])
    return hub


async def _head(hub: Hub) -> int:
    record = await hub.store.get_workspace(WS)
    assert record is not None
    return record.head


@pytest.mark.anyio
@pytest.mark.parametrize("operation", list(READS))
async def test_a_viewer_reads_the_graph(team: Hub, operation: str) -> None:
    await READS[operation](team.graph, Principal.user("viewer"))


@pytest.mark.anyio
@pytest.mark.parametrize("operation", list(WRITES))
async def test_a_viewer_cannot_write_the_graph(team: Hub, operation: str) -> None:
    head = await _head(team)
    with pytest.raises(Forbidden) as caught:
        await WRITES[operation](team.graph, Principal.user("viewer"))
    assert caught.value.code == "auth.forbidden"
    assert await _head(team) == head


@pytest.mark.anyio
@pytest.mark.parametrize("operation", list(WRITES))
async def test_an_editor_writes_the_graph(team: Hub, operation: str) -> None:
    await WRITES[operation](team.graph, Principal.user("editor"))


@pytest.mark.anyio
@pytest.mark.parametrize("operation", [*READS, *WRITES])
async def test_a_non_member_finds_no_workspace_for_any_graph_operation(
    team: Hub, operation: str
) -> None:
    call = {**READS, **WRITES}[operation]
    head = await _head(team)
    with pytest.raises(NotFound) as caught:
        await call(team.graph, Principal.user("outsider"))
    assert caught.value.code == "workspace.not_found"
    assert await _head(team) == head
