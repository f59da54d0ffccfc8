"""The knowledge graph: the reference memory server's operations over REST, paged reads, the
history of a name, and import/export of ``memory.jsonl`` (NDJSON).

Bodies and answers use the reference's field names (``entityType``, ``relationType``,
``entityName``, ``from``, ``to``), so its JSON can be sent as is.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import Field

from infinity_matrix.core.knowledge.records import (
    GraphChange,
    GraphPage,
    NewEntity,
    NewObservations,
    NewRelation,
    ObservationDeletion,
    Relation,
)
from infinity_matrix.gateway.deps import HubDep, IdempotencyKey, PrincipalDep, Source
from infinity_matrix.gateway.schemas import Body

router = APIRouter(prefix="/api/v1/workspaces/{ws}/graph", tags=["graph"])

NDJSON = "application/x-ndjson"
Limit = Annotated[int, Query(ge=1, le=1000, description="At most this many items")]
Cursor = Annotated[str | None, Query(description="The `next_cursor` of the previous page")]
Details = Annotated[bool, Query(description="Add provenance, confidence and validity")]


class EntityIn(Body):
    name: str
    entityType: str
    observations: list[str] = Field(default_factory=list)
    confidence: float | None = None


class RelationIn(Body):
    from_: str = Field(alias="from")
    to: str
    relationType: str
    confidence: float | None = None


class ObservationsIn(Body):
    entityName: str
    contents: list[str]
    confidence: float | None = None


class DeletionIn(Body):
    entityName: str
    observations: list[str]


class CreateEntities(Body):
    entities: list[EntityIn]


class CreateRelations(Body):
    relations: list[RelationIn]


class AddObservations(Body):
    observations: list[ObservationsIn]


class DeleteEntities(Body):
    entityNames: list[str]


class DeleteObservations(Body):
    deletions: list[DeletionIn]


class DeleteRelations(Body):
    relations: list[RelationIn]


@router.get("")
async def read_graph(
    ws: str,
    hub: HubDep,
    principal: PrincipalDep,
    cursor: Cursor = None,
    limit: Limit = 100,
    details: Details = False,
) -> dict[str, Any]:
    """The whole graph a page at a time: entities, then relations, each once over all pages."""
    page = await hub.graph.read_graph(principal, ws, cursor=cursor, limit=limit)
    return page.to_json(details=details)


@router.get("/search")
async def search_nodes(
    ws: str,
    q: str,
    hub: HubDep,
    principal: PrincipalDep,
    cursor: Cursor = None,
    limit: Limit = 100,
    details: Details = False,
) -> dict[str, Any]:
    """Entities whose name, type or an observation contains `q` (any case), then the
    relations from or to them."""
    page = await hub.graph.search_nodes(principal, ws, q, cursor=cursor, limit=limit)
    return page.to_json(details=details)


@router.get("/entities")
async def open_nodes(
    ws: str,
    hub: HubDep,
    principal: PrincipalDep,
    names: Annotated[list[str], Query(description="Entity names (repeat the parameter)")],
    cursor: Cursor = None,
    limit: Limit = 100,
    details: Details = False,
) -> dict[str, Any]:
    """The entities of these names that exist, then the relations from or to them."""
    page: GraphPage = await hub.graph.open_nodes(principal, ws, names, cursor=cursor, limit=limit)
    return page.to_json(details=details)


@router.get("/history")
async def history(
    ws: str,
    name: str,
    hub: HubDep,
    principal: PrincipalDep,
    before: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    """Events about a name, newest first; page with `before` = the last seq you got."""
    events = await hub.graph.history(principal, ws, name, before=before, limit=limit)
    return {"name": name, "events": [e.to_json() for e in events]}


@router.post("/entities")
async def create_entities(
    ws: str,
    body: CreateEntities,
    hub: HubDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
    source: Source = None,
) -> dict[str, Any]:
    """Create the entities whose names are new; answers those created."""
    entities = [
        NewEntity(e.name, e.entityType, tuple(e.observations), e.confidence) for e in body.entities
    ]
    change = await hub.graph.create_entities(
        principal, ws, entities, source=source, client_msg_id=idempotency_key
    )
    return _change("entities", change)


@router.post("/relations")
async def create_relations(
    ws: str,
    body: CreateRelations,
    hub: HubDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
    source: Source = None,
) -> dict[str, Any]:
    """Create the relations that do not exist yet; answers those created."""
    relations = [NewRelation(r.from_, r.to, r.relationType, r.confidence) for r in body.relations]
    change = await hub.graph.create_relations(
        principal, ws, relations, source=source, client_msg_id=idempotency_key
    )
    return _change("relations", change)


@router.post("/observations")
async def add_observations(
    ws: str,
    body: AddObservations,
    hub: HubDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
    source: Source = None,
) -> dict[str, Any]:
    """Add new observations to existing entities (404 `graph.entity_not_found` otherwise)."""
    items = [
        NewObservations(o.entityName, tuple(o.contents), o.confidence) for o in body.observations
    ]
    change = await hub.graph.add_observations(
        principal, ws, items, source=source, client_msg_id=idempotency_key
    )
    return _change("results", change)


@router.post("/entities/delete")
async def delete_entities(
    ws: str,
    body: DeleteEntities,
    hub: HubDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
    source: Source = None,
) -> dict[str, Any]:
    """Delete entities with their observations and relations (history stays)."""
    change = await hub.graph.delete_entities(
        principal, ws, body.entityNames, source=source, client_msg_id=idempotency_key
    )
    return {"deleted": change.items, "seq": change.seq, "duplicate": change.duplicate}


@router.post("/observations/delete")
async def delete_observations(
    ws: str,
    body: DeleteObservations,
    hub: HubDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
    source: Source = None,
) -> dict[str, Any]:
    items = [ObservationDeletion(d.entityName, tuple(d.observations)) for d in body.deletions]
    change = await hub.graph.delete_observations(
        principal, ws, items, source=source, client_msg_id=idempotency_key
    )
    return _change("deleted", change)


@router.post("/relations/delete")
async def delete_relations(
    ws: str,
    body: DeleteRelations,
    hub: HubDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
    source: Source = None,
) -> dict[str, Any]:
    relations = [Relation(r.from_, r.to, r.relationType) for r in body.relations]
    change = await hub.graph.delete_relations(
        principal, ws, relations, source=source, client_msg_id=idempotency_key
    )
    return _change("deleted", change)


@router.post(
    "/import",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {NDJSON: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def import_graph(
    ws: str, request: Request, hub: HubDep, principal: PrincipalDep, source: Source = None
) -> dict[str, Any]:
    """Merge a reference `memory.jsonl` (one JSON object per line); importing it again adds
    nothing. Bodies are bounded by the request size limit: send a large file in parts."""
    report = await hub.graph.import_jsonl(principal, ws, await request.body(), source=source)
    return report.to_json()


@router.get("/export", response_class=StreamingResponse, responses={200: {"content": {NDJSON: {}}}})
async def export_graph(ws: str, hub: HubDep, principal: PrincipalDep) -> StreamingResponse:
    """The live graph as a reference `memory.jsonl`, streamed line by line."""
    lines = await hub.graph.export_jsonl(principal, ws)
    return StreamingResponse(lines, media_type=NDJSON)


def _change(name: str, change: GraphChange[Any]) -> dict[str, Any]:
    return {
        name: [item.to_json() for item in change.items],
        "seq": change.seq,
        "duplicate": change.duplicate,
    }
