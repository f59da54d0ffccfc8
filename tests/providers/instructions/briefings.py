"""A fixed briefing for the instruction-file tests, made by the real briefing renderer from
fixed entries and insights, so the golden files follow the briefing's actual shape."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from infinity_matrix.core.briefing import render
from infinity_matrix.core.insights.confidence import Score
from infinity_matrix.core.insights.records import InsightRecord
from infinity_matrix.core.records import EntryRecord
from infinity_matrix.providers.instructions import RenderOptions, Source

WS = "demo"
SEQ = 42
HUB = "http://127.0.0.1:8765"
OPTIONS = RenderOptions(hub_url=HUB, apply_to={"notes": "docs/**"})
AT = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


def entry(key: str, text: str | None = None, data: dict[str, Any] | None = None) -> EntryRecord:
    return EntryRecord(
        workspace=WS,
        key=key,
        kind="json" if data is not None else "text",
        text=text,
        data=data,
        tags=[],
        state=b"",
        seq=1,
        size=0,
        created_at=AT,
        updated_at=AT,
        updated_by="user:ann",
    )


def insight(id: int, kind: str, title: str, body: str, confidence: float) -> InsightRecord:
    return InsightRecord(
        workspace=WS,
        id=id,
        kind=kind,
        title=title,
        body=body,
        tags=[],
        topic=None,
        evidence=[],
        status="active",
        superseded_by=None,
        actor="user:ann",
        assistant="claude",
        model=None,
        source=None,
        source_key="user:ann/claude/-",
        created_at=AT,
        updated_at=AT,
        seq=id,
        accepted=0,
        rejected=0,
        outdated=0,
        corroborations=0,
        occurrences=[],
        stated_confidence=None,
        confidence=Score(confidence, ()),
    )


def briefing_text(notes: str = "SQLite by default; PostgreSQL in production.") -> str:
    entries = [
        entry("conventions/style", "Line length 100.\n\n## A heading inside a note\n\nStays put."),
        entry("notes/db", notes),
        entry("editor/active", data={"file": "src/app.py", "line": 12}),
    ]
    insights = [
        insight(7, "pitfall", "Migrations lock the table", "Run them off-peak.", 0.81),
        insight(9, "decision", "Use Helm for deploys", "Every release is tagged first.", 0.74),
    ]
    return render(WS, entries, budget_chars=16_000, insights=insights).text


def source(seq: int = SEQ, **kwargs: str) -> Source:
    return Source(WS, briefing_text(**kwargs), seq)
