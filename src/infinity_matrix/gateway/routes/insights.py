"""Insights: record (201, or 200 when it corroborated an existing one), list, read with the
confidence breakdown, feedback, and statistics."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import Field

from infinity_matrix.core.insights.records import Evidence, NewInsight
from infinity_matrix.gateway.deps import HubDep, IdempotencyKey, PrincipalDep, Source
from infinity_matrix.gateway.schemas import Body

router = APIRouter(prefix="/api/v1/workspaces/{ws}/insights", tags=["insights"])


class EvidenceIn(Body):
    type: str = Field(description="context, entity or insight")
    ref: str | int = Field(description="A context key, an entity name or an insight id")


class InsightIn(Body):
    kind: str = Field(description="pattern, decision, pitfall, convention, fact or todo")
    title: str
    body: str
    tags: list[str] = Field(default_factory=list)
    evidence: list[EvidenceIn] = Field(default_factory=list)
    topic: str | None = Field(default=None, description="Path-like key, e.g. db/staging-port")
    contradicts: list[int] = Field(default_factory=list)
    assistant: str | None = None
    model: str | None = None
    confidence: float | None = Field(default=None, description="The writer's own estimate")


class FeedbackIn(Body):
    verdict: str = Field(description="accepted, rejected or outdated")
    note: str | None = None
    assistant: str | None = None
    model: str | None = None


@router.post("", status_code=201)
async def record_insight(
    ws: str,
    body: InsightIn,
    response: Response,
    hub: HubDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
    source: Source = None,
) -> dict[str, Any]:
    """Record an insight; a near-duplicate corroborates the existing one instead (200,
    `outcome` "corroborated"), a contradiction supersedes (`superseded`)."""
    new = NewInsight(
        kind=body.kind,
        title=body.title,
        body=body.body,
        tags=tuple(body.tags),
        evidence=tuple(Evidence(e.type, str(e.ref)) for e in body.evidence),
        topic=body.topic,
        contradicts=tuple(body.contradicts),
        assistant=body.assistant,
        model=body.model,
        confidence=body.confidence,
    )
    result = await hub.insights.record(
        principal, ws, new, source=source, client_msg_id=idempotency_key
    )
    if result.outcome == "corroborated":
        response.status_code = 200
    return result.to_json()


@router.get("")
async def list_insights(
    ws: str,
    hub: HubDep,
    principal: PrincipalDep,
    kind: str | None = None,
    tag: str | None = None,
    topic: str | None = None,
    status: Annotated[str, Query(description="active, superseded, outdated or all")] = "active",
    q: Annotated[str | None, Query(description="Keep those matching these words")] = None,
    cursor: Annotated[str | None, Query(description="The `next_cursor` of the last page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    """Insights newest first, a page at a time, each with its confidence."""
    page = await hub.insights.list(
        principal,
        ws,
        kind=kind,
        tag=tag,
        topic=topic,
        status=status,
        query=q,
        cursor=cursor,
        limit=limit,
    )
    return page.to_json()


@router.get("/stats")
async def insight_stats(ws: str, hub: HubDep, principal: PrincipalDep) -> dict[str, Any]:
    """Counts per kind and status, served and feedback totals, reliability per source."""
    return (await hub.insights.stats(principal, ws)).to_json()


@router.get("/{id}")
async def get_insight(ws: str, id: int, hub: HubDep, principal: PrincipalDep) -> dict[str, Any]:
    """One insight with its confidence and the parts it is made of."""
    return (await hub.insights.get(principal, ws, id)).to_json()


@router.post("/{id}/feedback")
async def insight_feedback(
    ws: str,
    id: int,
    body: FeedbackIn,
    hub: HubDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
    source: Source = None,
) -> dict[str, Any]:
    """Rate the insight; the reliabilities of the sources behind it learn from it."""
    result = await hub.insights.feedback(
        principal,
        ws,
        id,
        body.verdict,
        note=body.note,
        assistant=body.assistant,
        model=body.model,
        source=source,
        client_msg_id=idempotency_key,
    )
    return result.to_json()
