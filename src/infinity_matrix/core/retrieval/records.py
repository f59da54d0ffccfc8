"""What retrieval works with: candidates from each source, scored items, and the packed result."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

ItemType = Literal["context", "insight", "fact"]
ITEM_TYPES: tuple[ItemType, ...] = ("context", "insight", "fact")


@dataclass(frozen=True, slots=True)
class EntryHit:
    """A context entry found by full text, with its whole value as text (JSON compacted)."""

    key: str
    text: str
    score: float
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True, slots=True)
class Source:
    """Who wrote an item: the principal, the client, the assistant and its model."""

    actor: str
    client: str | None = None
    assistant: str | None = None
    model: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "actor": self.actor,
            "client": self.client,
            "assistant": self.assistant,
            "model": self.model,
        }


@dataclass(frozen=True, slots=True)
class Candidate:
    """One retrievable item, as a source reports it.

    ``ref`` is the key (context), the id (insight) or the entity name (fact). ``confidence``
    is in [0, 1] (1 for context entries, which nobody rates); ``confidence_parts`` its
    breakdown when the source has one. ``superseded_by`` names the ``uid`` of the item that
    replaced this one.
    """

    type: ItemType
    ref: str
    title: str
    text: str
    updated_at: datetime
    source: Source
    confidence: float = 1.0
    confidence_parts: tuple[tuple[str, float, str], ...] = ()
    status: str = "active"
    superseded_by: str | None = None
    kind: str | None = None  # an insight's kind (decision, pitfall, …)

    @property
    def uid(self) -> str:
        return f"{self.type}:{self.ref}"


@dataclass(frozen=True, slots=True)
class Part:
    """One factor of an item's score, readable by a person: ``value`` and what it came from."""

    name: str
    value: float
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": round(self.value, 4), "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Score:
    """``value`` is the product of the parts' values."""

    value: float
    parts: tuple[Part, ...]

    def to_json(self) -> dict[str, Any]:
        return {"value": round(self.value, 6), "parts": [p.to_json() for p in self.parts]}


@dataclass(frozen=True, slots=True)
class RetrievedItem:
    """One item of the package: its text (possibly cut at a line or sentence), its score with
    the parts, its source and the tokens its text costs for the target."""

    candidate: Candidate
    score: Score
    text: str
    tokens: int
    truncated: bool = False

    def to_json(self) -> dict[str, Any]:
        c = self.candidate
        body: dict[str, Any] = {"type": c.type}
        if c.type == "insight":
            body["id"] = int(c.ref) if c.ref.isdigit() else c.ref
        else:
            body["key"] = c.ref
        body.update(
            title=c.title,
            score=self.score.to_json(),
            text=self.text,
            source=c.source.to_json(),
            tokens=self.tokens,
            truncated=self.truncated,
            status=c.status,
            updated_at=c.updated_at.isoformat(),
        )
        if c.kind is not None:
            body["kind"] = c.kind
        if c.superseded_by is not None:
            body["superseded_by"] = c.superseded_by
        return body


@dataclass(frozen=True, slots=True)
class RetrievalResult:
    """The package for one task: items best first, and the tokens they use of the budget."""

    items: list[RetrievedItem] = field(default_factory=list)
    tokens_used: int = 0
    budget_tokens: int = 0
    target: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "items": [i.to_json() for i in self.items],
            "tokens_used": self.tokens_used,
            "budget_tokens": self.budget_tokens,
            "target": self.target,
        }
