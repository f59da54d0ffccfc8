"""Resources: every context entry as ``imx://{ws}/context/{key}``, the project briefing, and
(once the graph lands) the knowledge graph; with subscriptions for change notifications."""

from __future__ import annotations

import json
from typing import Any

from mcp.server import MCPServer
from mcp.server.connection import Connection
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context
from mcp.server.subscriptions import ListenHandler
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    EmptyResult,
    ListResourcesResult,
    PaginatedRequestParams,
    Resource,
    SubscribeRequestParams,
    SubscriptionsListenRequestParams,
    SubscriptionsListenResult,
    UnsubscribeRequestParams,
)

from infinity_matrix.core.records import EntryRecord
from infinity_matrix.errors import InfinityMatrixError
from infinity_matrix.gateway.mcp.caller import Caller, Callers, describe, resource_errors
from infinity_matrix.gateway.mcp.notify import ResourceNotifier
from infinity_matrix.gateway.mcp.uris import (
    BRIEFING_TEMPLATE,
    CONTEXT_TEMPLATE,
    GRAPH_TEMPLATE,
    briefing_uri,
    context_uri,
    graph_uri,
    workspace_of,
)
from infinity_matrix.hub import Hub

LIST_PAGE = 200
GRAPH_RESOURCE_ITEMS = 1000


def register(mcp: MCPServer, hub: Hub, callers: Callers, notifier: ResourceNotifier) -> None:
    @mcp.resource(
        CONTEXT_TEMPLATE,
        name="context-entry",
        title="Context entry",
        description="A shared context entry: text as text/plain or text/markdown, JSON as"
        " application/json.",
    )
    async def read_entry(ws: str, key: str, ctx: Context) -> str:
        with resource_errors():
            caller = await callers(ctx)
            record = await hub.context.get(caller.principal, ws, key)
        return _content(record)

    @mcp.resource(
        BRIEFING_TEMPLATE,
        name="project-briefing",
        title="Project briefing",
        description="The workspace's current context assembled into one Markdown text.",
        mime_type="text/markdown",
    )
    async def read_briefing(ws: str, ctx: Context) -> str:
        with resource_errors():
            caller = await callers(ctx)
            briefing = await hub.briefing.build(caller.principal, ws)
        return briefing.text

    @mcp.resource(
        GRAPH_TEMPLATE,
        name="knowledge-graph",
        title="Knowledge graph",
        description="The knowledge graph as JSON: entities, then relations, at most"
        f" {GRAPH_RESOURCE_ITEMS} items; when there is more, nextCursor says to page on with"
        " the read_graph tool.",
        mime_type="application/json",
    )
    async def read_graph(ws: str, ctx: Context) -> str:
        with resource_errors():
            caller = await callers(ctx)
            page = await hub.graph.read_graph(caller.principal, ws, limit=GRAPH_RESOURCE_ITEMS)
        body: dict[str, Any] = {
            "entities": [e.to_json() for e in page.entities],
            "relations": [r.to_json() for r in page.relations],
        }
        if page.next_cursor is not None:
            body["nextCursor"] = page.next_cursor
        return json.dumps(body, ensure_ascii=False, indent=2)

    lowlevel = mcp._lowlevel_server  # the SDK has no public hook for these three methods

    async def list_resources(
        ctx: ServerRequestContext[Any], params: PaginatedRequestParams
    ) -> ListResourcesResult:
        caller = await _caller(callers, mcp, ctx)
        try:
            page = await hub.context.list_entries(
                caller.principal, caller.workspace, cursor=params.cursor, limit=LIST_PAGE
            )
        except InfinityMatrixError as exc:
            raise MCPError(INVALID_PARAMS, describe(exc)) from exc
        resources = [_resource(caller.workspace, r) for r in page.items]
        if params.cursor is None:
            resources[:0] = [
                Resource(
                    uri=briefing_uri(caller.workspace),
                    name="project-briefing",
                    title="Project briefing",
                    mime_type="text/markdown",
                ),
                Resource(
                    uri=graph_uri(caller.workspace),
                    name="knowledge-graph",
                    title="Knowledge graph",
                    mime_type="application/json",
                ),
            ]
        return ListResourcesResult(resources=resources, next_cursor=page.next_cursor)

    async def subscribe(
        ctx: ServerRequestContext[Any], params: SubscribeRequestParams
    ) -> EmptyResult:
        uri = str(params.uri)
        await _check_readable(hub, await _caller(callers, mcp, ctx), [uri])
        await notifier.subscribe_connection(_connection(ctx), uri)
        return EmptyResult()

    async def unsubscribe(
        ctx: ServerRequestContext[Any], params: UnsubscribeRequestParams
    ) -> EmptyResult:
        notifier.unsubscribe_connection(_connection(ctx), str(params.uri))
        return EmptyResult()

    listen_handler = ListenHandler(notifier.bus)

    async def listen(
        ctx: ServerRequestContext[Any], params: SubscriptionsListenRequestParams
    ) -> SubscriptionsListenResult:
        caller = await _caller(callers, mcp, ctx)
        uris = [str(u) for u in params.notifications.resource_subscriptions or ()]
        workspaces = await _check_readable(hub, caller, uris)
        async with notifier.watching(workspaces):
            return await listen_handler(ctx, params)

    lowlevel.add_request_handler("resources/list", PaginatedRequestParams, list_resources)
    lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, subscribe)
    lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, unsubscribe)
    lowlevel.add_request_handler("subscriptions/listen", SubscriptionsListenRequestParams, listen)


async def _caller(callers: Callers, mcp: MCPServer, ctx: ServerRequestContext[Any]) -> Caller:
    try:
        return await callers(Context(request_context=ctx, mcp_server=mcp))
    except InfinityMatrixError as exc:
        raise MCPError(INVALID_PARAMS, describe(exc)) from exc


def _connection(ctx: ServerRequestContext[Any]) -> Connection:
    """The long-lived connection behind a request (``ctx.session`` lives for one request)."""
    connection: Connection = ctx.session._connection
    return connection


async def _check_readable(hub: Hub, caller: Caller, uris: list[str]) -> set[str]:
    """The workspaces of ``uris``, each checked readable by the caller (MCPError if not), so
    nobody learns when another workspace's entries change."""
    workspaces: set[str] = set()
    for uri in uris:
        workspace = workspace_of(uri)
        if workspace is None:
            raise MCPError(INVALID_PARAMS, f"not an imx:// resource: {uri}")
        workspaces.add(workspace)
    for workspace in sorted(workspaces):
        try:
            await hub.workspaces.get(caller.principal, workspace)
        except InfinityMatrixError as exc:
            raise MCPError(INVALID_PARAMS, describe(exc)) from exc
    return workspaces


def _content(record: EntryRecord) -> str:
    if record.kind == "json":
        return json.dumps(record.data, ensure_ascii=False, indent=2, sort_keys=True)
    return record.text or ""


def _mime(record: EntryRecord) -> str:
    if record.kind == "json":
        return "application/json"
    return "text/markdown" if record.key.endswith(".md") else "text/plain"


def _resource(workspace: str, record: EntryRecord) -> Resource:
    return Resource(
        uri=context_uri(workspace, record.key),
        name=record.key,
        mime_type=_mime(record),
        size=record.size,
    )
