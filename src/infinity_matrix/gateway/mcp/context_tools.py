"""Context tools: read, write, list, search and follow the workspace's shared context entries.

Descriptions are written for the model that calls them: what the tool is for, when to use it,
and what comes back.
"""

from __future__ import annotations

from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

from infinity_matrix.core.records import EntryRecord
from infinity_matrix.gateway.mcp.caller import Callers, tool_errors
from infinity_matrix.hub import Hub

_READ = ToolAnnotations(readOnlyHint=True, openWorldHint=False)


class Entry(BaseModel):
    key: str
    kind: str = Field(description="text or json")
    text: str | None = Field(None, description="the value of a text entry")
    data: dict[str, Any] | None = Field(None, description="the value of a json entry")
    tags: list[str]
    seq: int = Field(description="seq of the entry's last change")
    updated_at: str
    updated_by: str


class Written(BaseModel):
    key: str
    seq: int = Field(
        description="seq of the event that holds this change (or of the unchanged entry)"
    )


class EntrySummary(BaseModel):
    key: str
    kind: str
    size: int = Field(description="bytes of the value")
    tags: list[str]
    seq: int
    updated_at: str
    updated_by: str


class EntryList(BaseModel):
    entries: list[EntrySummary]
    next_cursor: str | None = Field(
        description="pass as cursor to get the next page; null when this is the last page"
    )


class SearchResult(BaseModel):
    key: str
    kind: str
    snippet: str
    score: float
    seq: int
    updated_at: str


class SearchResults(BaseModel):
    results: list[SearchResult]


class HistoryItem(BaseModel):
    seq: int
    type: str
    actor: str
    source: str | None
    recorded_at: str
    size: int | None = None


class History(BaseModel):
    key: str
    events: list[HistoryItem]


class ChangeItem(BaseModel):
    seq: int
    type: str
    subject: str
    actor: str
    source: str | None
    recorded_at: str
    summary: dict[str, Any]


class Changes(BaseModel):
    head: int = Field(description="the workspace's latest seq")
    changes: list[ChangeItem]
    next_after: int = Field(description="pass as after to continue; equals head when caught up")


def _entry(record: EntryRecord) -> Entry:
    return Entry(
        key=record.key,
        kind=record.kind,
        text=record.text if record.kind == "text" else None,
        data=record.data if record.kind == "json" else None,
        tags=record.tags,
        seq=record.seq,
        updated_at=record.updated_at.isoformat(),
        updated_by=record.updated_by,
    )


def register(mcp: MCPServer, hub: Hub, callers: Callers) -> None:
    @mcp.tool(
        name="context_get",
        title="Read a context entry",
        annotations=_READ,
    )
    async def context_get(key: str, ctx: Context) -> Entry:
        """Read one shared context entry by its key (e.g. "notes/architecture.md",
        "decisions/0007", "editor/active"). Text entries answer `text`, JSON entries `data`.
        Use context_list or context_search first if you do not know the key."""
        with tool_errors():
            caller = await callers(ctx)
            record = await hub.context.get(caller.principal, caller.workspace, key)
            return _entry(record)

    @mcp.tool(
        name="context_put",
        title="Write a context entry",
        annotations=ToolAnnotations(
            readOnlyHint=False, destructiveHint=True, idempotentHint=True, openWorldHint=False
        ),
    )
    async def context_put(
        key: str,
        ctx: Context,
        text: str | None = None,
        data: dict[str, Any] | None = None,
        tags: list[str] | None = None,
    ) -> Written:
        """Create or replace a shared context entry that every assistant and person on this
        project will see. Give exactly one of `text` (notes, decisions, conventions, code) or
        `data` (a JSON object). Keys are paths like "notes/testing.md" or "decisions/0012";
        reuse an existing key to update it (concurrent edits merge). `tags` replaces the tags
        when given. Writing the same value again changes nothing."""
        with tool_errors():
            caller = await callers(ctx)
            receipt = await hub.context.put(
                caller.principal,
                caller.workspace,
                key,
                text=text,
                data=data,
                tags=tags,
                source=caller.source,
            )
            return Written(key=key, seq=receipt.seq)

    @mcp.tool(
        name="context_delete",
        title="Delete a context entry",
        annotations=ToolAnnotations(
            readOnlyHint=False, destructiveHint=True, idempotentHint=False, openWorldHint=False
        ),
    )
    async def context_delete(key: str, ctx: Context) -> Written:
        """Delete a shared context entry. Its history stays in the log (context_history).
        Only do this when the entry is wrong or obsolete, not to tidy up."""
        with tool_errors():
            caller = await callers(ctx)
            receipt = await hub.context.delete(
                caller.principal, caller.workspace, key, source=caller.source
            )
            return Written(key=key, seq=receipt.seq)

    @mcp.tool(name="context_list", title="List context entries", annotations=_READ)
    async def context_list(
        ctx: Context, prefix: str = "", cursor: str | None = None, limit: int = 100
    ) -> EntryList:
        """List the keys of shared context entries in key order, optionally under a `prefix`
        such as "notes/" or "decisions/". Answers summaries (no values); read an entry with
        context_get. Pass `next_cursor` back as `cursor` for the next page (limit 1-1000)."""
        with tool_errors():
            caller = await callers(ctx)
            page = await hub.context.list_entries(
                caller.principal, caller.workspace, prefix=prefix, cursor=cursor, limit=limit
            )
            return EntryList(
                entries=[
                    EntrySummary(
                        key=r.key,
                        kind=r.kind,
                        size=r.size,
                        tags=r.tags,
                        seq=r.seq,
                        updated_at=r.updated_at.isoformat(),
                        updated_by=r.updated_by,
                    )
                    for r in page.items
                ],
                next_cursor=page.next_cursor,
            )

    @mcp.tool(name="context_search", title="Search context entries", annotations=_READ)
    async def context_search(
        query: str, ctx: Context, prefix: str = "", limit: int = 10
    ) -> SearchResults:
        """Full-text search over the keys and values of shared context entries; best matches
        first, each with a snippet around the match. Use words you expect in the entry
        ("retry backoff", "database migration"); the last word also matches as a prefix.
        Narrow with `prefix` (e.g. "decisions/"); `limit` 1-100."""
        with tool_errors():
            caller = await callers(ctx)
            hits = await hub.context.search(
                caller.principal, caller.workspace, query, prefix=prefix, limit=limit
            )
            return SearchResults(
                results=[
                    SearchResult(
                        key=h.key,
                        kind=h.kind,
                        snippet=h.snippet,
                        score=h.score,
                        seq=h.seq,
                        updated_at=h.updated_at.isoformat(),
                    )
                    for h in hits
                ]
            )

    @mcp.tool(name="context_history", title="History of a context entry", annotations=_READ)
    async def context_history(
        key: str, ctx: Context, before: int | None = None, limit: int = 20
    ) -> History:
        """Who changed a context entry, when, and through which client: its events newest
        first (also after it was deleted). Continue with `before` = the smallest seq seen."""
        with tool_errors():
            caller = await callers(ctx)
            events = await hub.context.history(
                caller.principal, caller.workspace, key, before=before, limit=limit
            )
            return History(
                key=key,
                events=[
                    HistoryItem(
                        seq=e.seq,
                        type=e.type,
                        actor=e.actor,
                        source=e.source,
                        recorded_at=e.recorded_at.isoformat(),
                        size=e.payload.get("size"),
                    )
                    for e in events
                ],
            )

    @mcp.tool(name="changes_since", title="What changed since a seq", annotations=_READ)
    async def changes_since(
        ctx: Context, after: int = 0, limit: int = 100, prefix: str = ""
    ) -> Changes:
        """What changed in this project's shared context and memory since seq `after`: each
        change with its subject (e.g. "context/notes/api.md", "entity/Alice"), who made it and
        through which client. Remember `next_after` and pass it next time to get only newer
        changes. `prefix` narrows the subjects ("context/decisions/")."""
        with tool_errors():
            caller = await callers(ctx)
            page = await hub.changes.since(
                caller.principal, caller.workspace, after=after, limit=limit, prefix=prefix
            )
            return Changes(
                head=page.head,
                changes=[ChangeItem(**c.to_json()) for c in page.changes],
                next_after=page.next_after,
            )
