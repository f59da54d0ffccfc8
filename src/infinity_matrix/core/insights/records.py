"""Insight records: what callers send (``validate`` checks it), what the projection holds, what
reads answer, and the rows the projector writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from infinity_matrix.core.insights.confidence import Score

KINDS = ("pattern", "decision", "pitfall", "convention", "fact", "todo")
STATUSES = ("active", "superseded", "outdated")
VERDICTS = ("accepted", "rejected", "outdated")
EVIDENCE_TYPES = ("context", "entity", "insight")

Verdict = Literal["accepted", "rejected", "outdated"]
Outcome = Literal["recorded", "corroborated"]
# An insight's judged truth, set by feedback: "true" once accepted, "false" once rejected or once
# a conflicting insight is accepted; the last judgement wins.
Judged = Literal["true", "false"]


def source_key(actor: str, assistant: str | None, model: str | None) -> str:
    """The key a source's reliability is learned under: ``actor/assistant/model``, ``-`` for a
    missing part (a person writing by hand is ``user:ann/-/-``)."""
    return "/".join(part or "-" for part in (actor, assistant, model))


@dataclass(frozen=True, slots=True)
class Evidence:
    """What an insight rests on: a context entry (``ref`` = its key), a graph entity (its
    name) or another insight (its id, as text)."""

    type: str
    ref: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Occurrence:
    """Where a pattern occurs: a context entry's key and a line range (1-based, inclusive)."""

    key: str
    start_line: int
    end_line: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class NewInsight:
    kind: str
    title: str
    body: str
    tags: Sequence[str] = ()
    evidence: Sequence[Evidence] = ()
    topic: str | None = None
    contradicts: Sequence[int] = ()
    assistant: str | None = None
    model: str | None = None
    confidence: float | None = None  # the writer's own estimate, kept for reference only


@dataclass(frozen=True, slots=True)
class SupportRecord:
    """One source standing behind an insight: its author (``seq`` = the insight's id,
    ``similarity`` 1.0) or a corroborator."""

    source_key: str
    actor: str
    assistant: str | None
    model: str | None
    seq: int
    at: datetime
    similarity: float

    def to_json(self) -> dict[str, Any]:
        return {
            "source_key": self.source_key,
            "actor": self.actor,
            "assistant": self.assistant,
            "model": self.model,
            "seq": self.seq,
            "at": self.at.isoformat(),
            "similarity": self.similarity,
        }


@dataclass(frozen=True, slots=True)
class InsightRecord:
    """An insight as the projection holds it; ``confidence`` is computed when read."""

    workspace: str
    id: int  # the seq of its insight.recorded event
    kind: str
    title: str
    body: str
    tags: list[str]
    topic: str | None
    evidence: list[Evidence]
    status: str
    superseded_by: int | None
    actor: str
    assistant: str | None
    model: str | None
    source: str | None
    source_key: str
    created_at: datetime
    updated_at: datetime
    seq: int  # the last event that changed it
    accepted: int
    rejected: int
    outdated: int
    corroborations: int
    occurrences: list[Occurrence]
    stated_confidence: float | None
    conflicts: list[int] = field(default_factory=list)
    supports: list[SupportRecord] = field(default_factory=list)
    confidence: Score | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "title": self.title,
            "body": self.body,
            "tags": self.tags,
            "topic": self.topic,
            "evidence": [e.to_json() for e in self.evidence],
            "status": self.status,
            "superseded_by": self.superseded_by,
            "conflicts": self.conflicts,
            "actor": self.actor,
            "assistant": self.assistant,
            "model": self.model,
            "source": self.source,
            "source_key": self.source_key,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "seq": self.seq,
            "feedback": {
                "accepted": self.accepted,
                "rejected": self.rejected,
                "outdated": self.outdated,
            },
            "corroborations": self.corroborations,
            "supports": [s.to_json() for s in self.supports],
            "occurrences": [o.to_json() for o in self.occurrences],
            "stated_confidence": self.stated_confidence,
            "confidence": score_json(self.confidence),
        }


def score_json(score: Score | None) -> dict[str, Any] | None:
    if score is None:
        return None
    parts = [{"name": p.name, "value": p.value, "detail": p.detail} for p in score.parts]
    return {"value": score.value, "parts": parts}


@dataclass(frozen=True, slots=True)
class RecordResult:
    """What ``record`` did: ``recorded`` a new insight (and ``superseded`` these ids) or
    ``corroborated`` an existing one; ``seq`` of the last event (of the head when a repeat by
    the same source changed nothing; of the first write when ``duplicate``)."""

    insight: InsightRecord
    outcome: Outcome
    superseded: list[int]
    seq: int
    duplicate: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "insight": self.insight.to_json(),
            "outcome": self.outcome,
            "superseded": self.superseded,
            "seq": self.seq,
            "duplicate": self.duplicate,
        }


@dataclass(frozen=True, slots=True)
class FeedbackResult:
    insight: InsightRecord
    seq: int
    duplicate: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"insight": self.insight.to_json(), "seq": self.seq, "duplicate": self.duplicate}


@dataclass(frozen=True, slots=True)
class InsightPage:
    items: list[InsightRecord]
    next_cursor: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"items": [i.to_json() for i in self.items], "next_cursor": self.next_cursor}


@dataclass(frozen=True, slots=True)
class InsightHit:
    """A full-text match: ``rank`` is higher for better matches, comparable within one answer."""

    insight: InsightRecord
    rank: float

    def to_json(self) -> dict[str, Any]:
        return {"insight": self.insight.to_json(), "rank": self.rank}


@dataclass(frozen=True, slots=True)
class SourceStats:
    key: str
    accepted: float
    rejected: float
    outdated: float
    count: int  # verdicts standing on this source (one per insight judged, + outdated ones)
    served: int  # times its insights (as author) were served
    insights: int  # insights it authored
    reliability: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class KindStats:
    kind: str
    count: int
    active: int
    served: int
    accepted: int
    rejected: int
    outdated: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class InsightStats:
    total: int
    by_status: dict[str, int]
    kinds: list[KindStats]
    served: int
    accepted: int
    rejected: int
    outdated: int
    sources: list[SourceStats]
    served_to: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "by_status": self.by_status,
            "by_kind": {k.kind: k.count for k in self.kinds},
            "kinds": [k.to_json() for k in self.kinds],
            "served": self.served,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "outdated": self.outdated,
            "sources": [s.to_json() for s in self.sources],
            "served_to": self.served_to,
        }


# What commands read inside the log transaction, and the rows the projector writes.


@dataclass(frozen=True, slots=True)
class InsightState:
    """An insight as a command sees it while deciding."""

    id: int
    kind: str
    title: str
    body: str
    topic: str | None
    status: str
    occurrences: list[Occurrence]
    sources: frozenset[str]  # source keys of its author and corroborators
    judged: Judged | None = None  # its judged truth, from feedback (None: not judged)


@dataclass(frozen=True, slots=True)
class InsightRow:
    id: int
    kind: str
    title: str
    body: str
    tags: list[str]
    topic: str | None
    evidence: list[dict[str, Any]]
    actor: str
    assistant: str | None
    model: str | None
    source: str | None
    source_key: str
    at: datetime
    occurrences: list[dict[str, Any]]
    stated_confidence: float | None


@dataclass(frozen=True, slots=True)
class InsightChange:
    """A change to one insight row by the event ``seq``: counters add, the rest replace; with
    ``when_status`` only if the insight has that status."""

    id: int
    seq: int
    at: datetime
    status: str | None = None
    superseded_by: int | None = None
    clear_superseded_by: bool = False
    when_status: str | None = None
    occurrences: list[dict[str, Any]] | None = None
    accepted: int = 0
    rejected: int = 0
    outdated: int = 0
    corroborations: int = 0
    judged: Judged | None = None  # set the insight's judged truth


@dataclass(frozen=True, slots=True)
class SupportRow:
    insight_id: int
    source_key: str
    actor: str
    assistant: str | None
    model: str | None
    seq: int
    at: datetime
    similarity: float


@dataclass(frozen=True, slots=True)
class ConflictRow:
    """One direction of a conflict; the projector writes both."""

    insight_id: int
    other_id: int
    seq: int


@dataclass(frozen=True, slots=True)
class TallyRow:
    source_key: str
    accepted: float
    rejected: float
    outdated: float
    count: int
    clock: float = 0.0


@dataclass(frozen=True, slots=True)
class JudgementRow:
    """What the tally of one source holds for one insight it supports (or opposes, as a
    supporter of a rival): its standing verdict (``accepted`` or ``rejected``; None when none)
    with the tally's clock right after it was folded in, and whether ``outdated`` was counted."""

    insight_id: int
    source_key: str
    verdict: str | None = None
    folded_at: float = 0.0
    outdated: bool = False


@dataclass(frozen=True, slots=True)
class SourceFigures:
    """What storage knows of one source: its tally (None before any feedback reached it), how
    often the insights it authored were served, and how many it authored."""

    key: str
    tally: TallyRow | None
    served: int
    insights: int


@dataclass(frozen=True, slots=True)
class StatsFigures:
    """The raw figures behind ``InsightStats`` (reliabilities are computed by the service)."""

    by_status: dict[str, int]
    kinds: list[KindStats]
    sources: list[SourceFigures]
    served_to: dict[str, int] = field(default_factory=dict)  # target -> insights served


@dataclass(frozen=True, slots=True)
class ServedCount:
    """An increment of the usage counters of one insight served to one target."""

    workspace: str
    insight_id: int
    target: str
    served: int
    last_served_at: datetime
