"""Insights as retrieval candidates, read through the insight service (which checks access).

``InsightReader`` is the part of ``core.insights.service.InsightService`` that retrieval uses;
the hub passes the service itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from infinity_matrix.core.insights.records import InsightHit, InsightPage, InsightRecord
from infinity_matrix.core.retrieval.records import Candidate, ItemType, Source
from infinity_matrix.security.principals import Principal

SCAN_PAGE = 200


class InsightReader(Protocol):
    async def search(
        self,
        principal: Principal,
        workspace: str,
        query: str,
        *,
        limit: int = 50,
        include_superseded: bool = True,
    ) -> list[InsightHit]: ...

    async def get_many(
        self, principal: Principal, workspace: str, ids: Sequence[int]
    ) -> list[InsightRecord]: ...

    async def note_served(self, workspace: str, ids: Sequence[int], target: str) -> None: ...

    async def list(
        self,
        principal: Principal,
        workspace: str,
        *,
        status: str = "active",
        cursor: str | None = None,
        limit: int = 50,
    ) -> InsightPage: ...


class InsightSource:
    """Implements ``CandidateSource`` over an ``InsightReader``."""

    type: ItemType = "insight"

    def __init__(self, insights: InsightReader) -> None:
        self._insights = insights

    async def search(
        self, principal: Principal, workspace: str, words: Sequence[str], *, limit: int
    ) -> list[tuple[Candidate, float]]:
        if not words:
            return []
        hits = await self._insights.search(
            principal, workspace, " ".join(words) + " ", limit=limit, include_superseded=True
        )
        return [(insight_candidate(h.insight), h.rank) for h in hits]

    async def fetch(
        self, principal: Principal, workspace: str, refs: Sequence[str]
    ) -> list[Candidate]:
        ids = [int(r) for r in refs if r.isascii() and r.isdigit()]
        if not ids:
            return []
        return [
            insight_candidate(r) for r in await self._insights.get_many(principal, workspace, ids)
        ]

    async def scan(self, principal: Principal, workspace: str) -> AsyncIterator[list[Candidate]]:
        cursor: str | None = None
        while True:
            page = await self._insights.list(
                principal, workspace, status="all", cursor=cursor, limit=SCAN_PAGE
            )
            if page.items:
                yield [insight_candidate(i) for i in page.items]
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def note_served(self, workspace: str, refs: Sequence[str], target: str) -> None:
        await self._insights.note_served(workspace, [int(r) for r in refs], target)


def insight_candidate(record: InsightRecord) -> Candidate:
    score = record.confidence
    return Candidate(
        type="insight",
        ref=str(record.id),
        title=record.title,
        text=f"{record.title}\n{record.body}",
        updated_at=record.updated_at,
        source=Source(
            actor=record.actor,
            client=record.source,
            assistant=record.assistant,
            model=record.model,
        ),
        confidence=score.value if score is not None else 0.5,
        confidence_parts=tuple((p.name, p.value, p.detail) for p in score.parts)
        if score is not None
        else (),
        status=record.status,
        superseded_by=f"insight:{record.superseded_by}" if record.superseded_by else None,
        kind=record.kind,
    )
