"""Insight and retrieval tools: what one assistant learned, shared with every other one, each
with a confidence the model can read (and the reasons for it), and the context package for a task.

The assistant defaults to the MCP client's name (``mcp:<name>`` → ``<name>``), so a client that
says nothing about itself still gets its own reliability.
"""

from __future__ import annotations

from typing import Any, Literal

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

from infinity_matrix.core.insights.records import Evidence, InsightRecord, NewInsight
from infinity_matrix.gateway.mcp.caller import Caller, Callers, tool_errors
from infinity_matrix.hub import Hub

_READ = ToolAnnotations(readOnlyHint=True, openWorldHint=False)
_WRITE = ToolAnnotations(
    readOnlyHint=False, destructiveHint=False, idempotentHint=False, openWorldHint=False
)

InsightKind = Literal["pattern", "decision", "pitfall", "convention", "fact", "todo"]
Verdict = Literal["accepted", "rejected", "outdated"]


class ScorePart(BaseModel):
    name: str
    value: float = Field(description="this part's contribution")
    detail: str = Field(description="why, in words")


class Confidence(BaseModel):
    value: float = Field(description="0..1; the parts add up to it")
    parts: list[ScorePart]


class EvidenceRef(BaseModel):
    type: Literal["context", "entity", "insight"] = Field(
        description="context (ref = entry key), entity (ref = entity name), insight (ref = id)"
    )
    ref: str


class Insight(BaseModel):
    id: int
    kind: str
    title: str
    body: str
    tags: list[str]
    topic: str | None
    status: str = Field(description="active, superseded or outdated")
    superseded_by: int | None
    conflicts: list[int] = Field(description="ids of insights that contradict this one")
    actor: str
    assistant: str | None
    model: str | None
    evidence: list[EvidenceRef]
    feedback: dict[str, int] = Field(description="accepted / rejected / outdated counts")
    corroborations: int = Field(description="independent sources that said the same")
    confidence: Confidence | None
    created_at: str
    updated_at: str


class Recorded(BaseModel):
    outcome: Literal["recorded", "corroborated"] = Field(
        description="corroborated: a near-duplicate existed; your source now backs it"
    )
    insight: Insight
    superseded: list[int] = Field(description="ids of insights this one replaced")
    seq: int


class InsightList(BaseModel):
    insights: list[Insight]
    next_cursor: str | None = Field(description="pass back as cursor for the next page")


class Rated(BaseModel):
    insight: Insight
    seq: int


class RetrievedItem(BaseModel):
    type: Literal["context", "insight", "fact"]
    key: str | None = Field(None, description="context key, or graph entity name of a fact")
    id: int | None = Field(None, description="insight id")
    title: str
    kind: str | None = None
    text: str
    score: Confidence = Field(description="relevance * confidence * recency, with the parts")
    source: dict[str, Any]
    tokens: int
    status: str


class Retrieved(BaseModel):
    items: list[RetrievedItem]
    tokens_used: int
    budget_tokens: int


def insight_model(record: InsightRecord) -> Insight:
    return Insight.model_validate(record.to_json())


def register(mcp: MCPServer, hub: Hub, callers: Callers) -> None:
    @mcp.tool(name="insight_record", title="Record an insight", annotations=_WRITE)
    async def insight_record(
        kind: InsightKind,
        title: str,
        body: str,
        ctx: Context,
        tags: list[str] | None = None,
        topic: str | None = None,
        evidence: list[EvidenceRef] | None = None,
        contradicts: list[int] | None = None,
        model: str | None = None,
        assistant: str | None = None,
    ) -> Recorded:
        """Share something you learned about this project so every other assistant can use
        it: a `decision` (and why), a `convention`, a `pitfall` you hit, a `fact`, a recurring
        `pattern`, or a `todo`. `title` is one line; `body` the details. Give `topic` (a short
        path like "db/staging-port") when the insight answers a specific question: a differing
        insight on the same topic contradicts and supersedes the older one. Link `evidence`
        (context keys, entity names, insight ids). If the same thing was already recorded, your
        call corroborates it instead of adding a copy. Say which `model` you are."""
        with tool_errors():
            caller = await callers(ctx)
            new = NewInsight(
                kind=kind,
                title=title,
                body=body,
                tags=tuple(tags or ()),
                evidence=tuple(Evidence(e.type, e.ref) for e in evidence or ()),
                topic=topic,
                contradicts=tuple(contradicts or ()),
                assistant=assistant or _assistant(caller),
                model=model,
            )
            result = await hub.insights.record(
                caller.principal, caller.workspace, new, source=caller.source
            )
            return Recorded(
                outcome=result.outcome,
                insight=insight_model(result.insight),
                superseded=result.superseded,
                seq=result.seq,
            )

    @mcp.tool(name="insight_list", title="List or search insights", annotations=_READ)
    async def insight_list(
        ctx: Context,
        query: str | None = None,
        kind: InsightKind | None = None,
        tag: str | None = None,
        topic: str | None = None,
        status: Literal["active", "superseded", "outdated", "all"] = "active",
        cursor: str | None = None,
        limit: int = 20,
    ) -> InsightList:
        """Insights other assistants and people recorded, newest first, each with its
        confidence. `query` searches title, body and tags (every word must occur); narrow by
        `kind`, `tag` or `topic`. Prefer high-confidence insights; check `conflicts` and
        `status` before relying on one. Pass `next_cursor` back as `cursor` (limit 1-200)."""
        with tool_errors():
            caller = await callers(ctx)
            page = await hub.insights.list(
                caller.principal,
                caller.workspace,
                kind=kind,
                tag=tag,
                topic=topic,
                status=status,
                query=query,
                cursor=cursor,
                limit=limit,
            )
            return InsightList(
                insights=[insight_model(i) for i in page.items], next_cursor=page.next_cursor
            )

    @mcp.tool(name="insight_get", title="Read an insight", annotations=_READ)
    async def insight_get(id: int, ctx: Context) -> Insight:
        """One insight with its confidence broken down into parts (source reliability,
        corroboration, contradictions, evidence, feedback, age) so you can judge how far to
        trust it."""
        with tool_errors():
            caller = await callers(ctx)
            return insight_model(await hub.insights.get(caller.principal, caller.workspace, id))

    @mcp.tool(
        name="insight_feedback",
        title="Judge an insight",
        annotations=ToolAnnotations(
            readOnlyHint=False, destructiveHint=False, idempotentHint=False, openWorldHint=False
        ),
    )
    async def insight_feedback(
        id: int,
        verdict: Verdict,
        ctx: Context,
        note: str | None = None,
        model: str | None = None,
    ) -> Rated:
        """Say whether an insight held up when you used it: `accepted` (it was right and
        helped), `rejected` (it was wrong), `outdated` (it was right once, no longer). This
        teaches the hub how far each source can be trusted, so give it honestly; `note` says
        why."""
        with tool_errors():
            caller = await callers(ctx)
            result = await hub.insights.feedback(
                caller.principal,
                caller.workspace,
                id,
                verdict,
                note=note,
                assistant=_assistant(caller),
                model=model,
                source=caller.source,
            )
            return Rated(insight=insight_model(result.insight), seq=result.seq)

    @mcp.tool(name="retrieve_context", title="Context for a task", annotations=_READ)
    async def retrieve_context(
        task: str, ctx: Context, budget_tokens: int = 2000, target: str | None = None
    ) -> Retrieved:
        """The shared context most useful for `task` — context entries, insights and
        knowledge-graph facts — ranked by relevance * confidence * recency and packed into
        `budget_tokens`, each with its source. Call it when you start on a task, then read
        further with context_get or insight_get. `target` is the model the text is for
        (defaults to this client)."""
        with tool_errors():
            caller = await callers(ctx)
            result = await hub.retrieval.retrieve(
                caller.principal,
                caller.workspace,
                task,
                target=target or _assistant(caller) or "default",
                budget_tokens=budget_tokens,
            )
            return Retrieved.model_validate(result.to_json())


def _assistant(caller: Caller) -> str | None:
    """The MCP client's name, from the source ``mcp:<name>`` its writes are recorded with."""
    if caller.source and caller.source.startswith("mcp:"):
        return caller.source.removeprefix("mcp:")[:100] or None
    return None
