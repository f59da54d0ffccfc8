"""Knowledge-graph memory tools, drop-in compatible with the reference memory server
(``@modelcontextprotocol/server-memory``): the same nine tool names, argument shapes, result
shapes (``structuredContent`` and the JSON text beside it), titles and annotations, so prompts
written for it work unchanged.

Beneath, every change goes through the event log with its provenance (the principal and the
client's name), so several assistants share one graph. Unlike the reference, reads never answer
an unbounded graph: ``read_graph``, ``search_nodes`` and ``open_nodes`` take optional ``cursor``
and ``limit`` and add ``nextCursor`` when there is more.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field

from infinity_matrix.core.knowledge.records import (
    GraphPage,
    NewEntity,
    NewObservations,
    NewRelation,
    ObservationDeletion,
    Relation,
)
from infinity_matrix.gateway.mcp.caller import Callers, tool_errors
from infinity_matrix.hub import Hub


class Entity(BaseModel):
    name: str = Field(description="The name of the entity")
    entityType: str = Field(description="The type of the entity")
    observations: list[str] = Field(
        description="An array of observation contents associated with the entity"
    )


class NewEntityIn(Entity):
    confidence: float | None = Field(
        None, ge=0, le=1, description="Optional: how sure you are, 0 to 1 (default 1)"
    )


class RelationModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from", description="The name of the entity where the relation starts")
    to: str = Field(description="The name of the entity where the relation ends")
    relationType: str = Field(description="The type of the relation")


class NewRelationIn(RelationModel):
    confidence: float | None = Field(
        None, ge=0, le=1, description="Optional: how sure you are, 0 to 1 (default 1)"
    )


class ObservationsIn(BaseModel):
    entityName: str = Field(description="The name of the entity to add the observations to")
    contents: list[str] = Field(description="An array of observation contents to add")


class DeletionIn(BaseModel):
    entityName: str = Field(description="The name of the entity containing the observations")
    observations: list[str] = Field(description="An array of observations to delete")


class AddedOut(BaseModel):
    entityName: str
    addedObservations: list[str]


class EntitiesOut(BaseModel):
    entities: list[Entity]


class RelationsOut(BaseModel):
    relations: list[RelationModel]


class ResultsOut(BaseModel):
    results: list[AddedOut]


class DoneOut(BaseModel):
    success: bool
    message: str


class GraphOut(BaseModel):
    entities: list[Entity]
    relations: list[RelationModel]
    nextCursor: str | None = Field(
        None, description="Present when there is more: pass it back as cursor"
    )


def _write(destructive: bool) -> ToolAnnotations:
    return ToolAnnotations(
        readOnlyHint=False,
        destructiveHint=destructive,
        idempotentHint=destructive,
        openWorldHint=False,
    )


_READ = ToolAnnotations(
    readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=False
)
_CURSOR = Field(None, description="Optional: the nextCursor of the previous page")
_LIMIT = Field(None, description="Optional: at most this many entities and relations (1-1000)")


def _result(text_value: Any, structured: dict[str, Any]) -> CallToolResult:
    """The reference's answer: its JSON text (``JSON.stringify(x, null, 2)``) and
    ``structuredContent``."""
    text = text_value if isinstance(text_value, str) else json.dumps(text_value, indent=2)
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=structured
    )


def _graph(page: GraphPage) -> CallToolResult:
    graph: dict[str, Any] = {
        "entities": [e.to_json() for e in page.entities],
        "relations": [r.to_json() for r in page.relations],
    }
    if page.next_cursor is not None:
        graph["nextCursor"] = page.next_cursor
    return _result(graph, graph)


def _done(message: str) -> CallToolResult:
    return _result(message, {"success": True, "message": message})


def _page_options(limit: int | None) -> dict[str, Any]:
    return {} if limit is None else {"limit": limit}


def register(mcp: MCPServer, hub: Hub, callers: Callers) -> None:
    graph = hub.graph

    @mcp.tool(
        name="create_entities",
        title="Create Entities",
        description="Create multiple new entities in the knowledge graph",
        annotations=_write(False),
    )
    async def create_entities(
        entities: list[NewEntityIn], ctx: Context
    ) -> Annotated[CallToolResult, EntitiesOut]:
        with tool_errors():
            caller = await callers(ctx)
            change = await graph.create_entities(
                caller.principal,
                caller.workspace,
                [
                    NewEntity(e.name, e.entityType, tuple(e.observations), e.confidence)
                    for e in entities
                ],
                source=caller.source,
            )
        created = [e.to_json() for e in change.items]
        return _result(created, {"entities": created})

    @mcp.tool(
        name="create_relations",
        title="Create Relations",
        description="Create multiple new relations between entities in the knowledge graph."
        " Relations should be in active voice",
        annotations=_write(False),
    )
    async def create_relations(
        relations: list[NewRelationIn], ctx: Context
    ) -> Annotated[CallToolResult, RelationsOut]:
        with tool_errors():
            caller = await callers(ctx)
            change = await graph.create_relations(
                caller.principal,
                caller.workspace,
                [NewRelation(r.from_, r.to, r.relationType, r.confidence) for r in relations],
                source=caller.source,
            )
        created = [r.to_json() for r in change.items]
        return _result(created, {"relations": created})

    @mcp.tool(
        name="add_observations",
        title="Add Observations",
        description="Add new observations to existing entities in the knowledge graph",
        annotations=_write(False),
    )
    async def add_observations(
        observations: list[ObservationsIn], ctx: Context
    ) -> Annotated[CallToolResult, ResultsOut]:
        with tool_errors():
            caller = await callers(ctx)
            change = await graph.add_observations(
                caller.principal,
                caller.workspace,
                [NewObservations(o.entityName, tuple(o.contents)) for o in observations],
                source=caller.source,
            )
        results = [a.to_json() for a in change.items]
        return _result(results, {"results": results})

    @mcp.tool(
        name="delete_entities",
        title="Delete Entities",
        description="Delete multiple entities and their associated relations from the"
        " knowledge graph",
        annotations=_write(True),
    )
    async def delete_entities(
        entityNames: list[str],
        ctx: Context,
    ) -> Annotated[CallToolResult, DoneOut]:
        with tool_errors():
            caller = await callers(ctx)
            await graph.delete_entities(
                caller.principal, caller.workspace, entityNames, source=caller.source
            )
        return _done("Entities deleted successfully")

    @mcp.tool(
        name="delete_observations",
        title="Delete Observations",
        description="Delete specific observations from entities in the knowledge graph",
        annotations=_write(True),
    )
    async def delete_observations(
        deletions: list[DeletionIn], ctx: Context
    ) -> Annotated[CallToolResult, DoneOut]:
        with tool_errors():
            caller = await callers(ctx)
            await graph.delete_observations(
                caller.principal,
                caller.workspace,
                [ObservationDeletion(d.entityName, tuple(d.observations)) for d in deletions],
                source=caller.source,
            )
        return _done("Observations deleted successfully")

    @mcp.tool(
        name="delete_relations",
        title="Delete Relations",
        description="Delete multiple relations from the knowledge graph",
        annotations=_write(True),
    )
    async def delete_relations(
        relations: list[RelationModel], ctx: Context
    ) -> Annotated[CallToolResult, DoneOut]:
        with tool_errors():
            caller = await callers(ctx)
            await graph.delete_relations(
                caller.principal,
                caller.workspace,
                [Relation(r.from_, r.to, r.relationType) for r in relations],
                source=caller.source,
            )
        return _done("Relations deleted successfully")

    @mcp.tool(
        name="read_graph",
        title="Read Graph",
        description="Read the entire knowledge graph (a page at a time: when the answer has"
        " nextCursor, call again with it as cursor for the rest)",
        annotations=_READ,
    )
    async def read_graph(
        ctx: Context, cursor: str | None = _CURSOR, limit: int | None = _LIMIT
    ) -> Annotated[CallToolResult, GraphOut]:
        with tool_errors():
            caller = await callers(ctx)
            page = await graph.read_graph(
                caller.principal, caller.workspace, cursor=cursor, **_page_options(limit)
            )
        return _graph(page)

    @mcp.tool(
        name="search_nodes",
        title="Search Nodes",
        description="Search for nodes in the knowledge graph based on a query",
        annotations=_READ,
    )
    async def search_nodes(
        query: Annotated[
            str,
            Field(
                description="The search query to match against entity names, types, and"
                " observation content"
            ),
        ],
        ctx: Context,
        cursor: str | None = _CURSOR,
        limit: int | None = _LIMIT,
    ) -> Annotated[CallToolResult, GraphOut]:
        with tool_errors():
            caller = await callers(ctx)
            page = await graph.search_nodes(
                caller.principal, caller.workspace, query, cursor=cursor, **_page_options(limit)
            )
        return _graph(page)

    @mcp.tool(
        name="open_nodes",
        title="Open Nodes",
        description="Open specific nodes in the knowledge graph by their names",
        annotations=_READ,
    )
    async def open_nodes(
        names: Annotated[list[str], Field(description="An array of entity names to retrieve")],
        ctx: Context,
        cursor: str | None = _CURSOR,
        limit: int | None = _LIMIT,
    ) -> Annotated[CallToolResult, GraphOut]:
        with tool_errors():
            caller = await callers(ctx)
            page = await graph.open_nodes(
                caller.principal, caller.workspace, names, cursor=cursor, **_page_options(limit)
            )
        return _graph(page)
