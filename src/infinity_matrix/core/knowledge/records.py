"""Knowledge-graph records: what callers send, what the graph holds, and the rows the projector
writes.

``to_json`` gives the reference memory server's shapes (``name``, ``entityType``,
``observations``; ``from``, ``to``, ``relationType``); ``to_json(details=True)`` adds our
provenance, confidence and validity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class NewEntity:
    name: str
    entity_type: str
    observations: tuple[str, ...] = ()
    confidence: float | None = None  # of the entity and its initial observations; None = 1.0


@dataclass(frozen=True, slots=True)
class Relation:
    """A relation as the reference names it; also the key that makes one unique."""

    from_: str
    to: str
    relation_type: str

    def to_json(self) -> dict[str, Any]:
        return {"from": self.from_, "to": self.to, "relationType": self.relation_type}


@dataclass(frozen=True, slots=True)
class NewRelation:
    from_: str
    to: str
    relation_type: str
    confidence: float | None = None

    @property
    def key(self) -> Relation:
        return Relation(self.from_, self.to, self.relation_type)


@dataclass(frozen=True, slots=True)
class NewObservations:
    entity_name: str
    contents: tuple[str, ...]
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class ObservationDeletion:
    """Observations to delete from one entity; also what a deletion answers it removed."""

    entity_name: str
    observations: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"entityName": self.entity_name, "observations": list(self.observations)}


@dataclass(frozen=True, slots=True)
class ObservationsAdded:
    """One ``add_observations`` item's answer: the contents that were new."""

    entity_name: str
    added: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"entityName": self.entity_name, "addedObservations": list(self.added)}


@dataclass(frozen=True, slots=True)
class Provenance:
    """Who recorded a fact through what, how sure it is, and when it held.

    ``seq`` is the event that recorded it; ``valid_to`` and ``superseded_seq`` are set once a
    deletion superseded it (the row stays: history is never erased).
    """

    seq: int
    actor: str
    source: str | None
    confidence: float
    valid_from: datetime
    valid_to: datetime | None = None
    superseded_seq: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "actor": self.actor,
            "source": self.source,
            "confidence": self.confidence,
            "valid_from": self.valid_from.isoformat(),
            "valid_to": self.valid_to.isoformat() if self.valid_to else None,
        }


@dataclass(frozen=True, slots=True)
class ObservationRecord:
    content: str
    provenance: Provenance

    def to_json(self) -> dict[str, Any]:
        return {"content": self.content, **self.provenance.to_json()}


@dataclass(frozen=True, slots=True)
class EntityRecord:
    name: str
    entity_type: str
    observations: tuple[ObservationRecord, ...]
    provenance: Provenance

    def to_json(self, *, details: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "entityType": self.entity_type,
            "observations": [o.content for o in self.observations],
        }
        if details:
            body.update(self.provenance.to_json())
            body["observation_details"] = [o.to_json() for o in self.observations]
        return body


@dataclass(frozen=True, slots=True)
class RelationRecord:
    relation: Relation
    provenance: Provenance

    def to_json(self, *, details: bool = False) -> dict[str, Any]:
        body = self.relation.to_json()
        if details:
            body.update(self.provenance.to_json())
        return body


@dataclass(frozen=True, slots=True)
class GraphPage:
    """A bounded slice of a graph answer and the cursor that continues it (None at the end).

    Pages list entities first (in creation order), then relations (in creation order), at most
    ``limit`` items in all.
    """

    entities: list[EntityRecord] = field(default_factory=list)
    relations: list[RelationRecord] = field(default_factory=list)
    next_cursor: str | None = None

    def to_json(self, *, details: bool = False) -> dict[str, Any]:
        return {
            "entities": [e.to_json(details=details) for e in self.entities],
            "relations": [r.to_json(details=details) for r in self.relations],
            "next_cursor": self.next_cursor,
        }


@dataclass(frozen=True, slots=True)
class GraphChange(Generic[T]):
    """What a graph write did: the items the reference server would answer, and the log's seq
    (of the last event; of the head when nothing changed; of the first write when
    ``duplicate``, whose items are then empty)."""

    items: list[T]
    seq: int
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What ``import_jsonl`` read and what it added (a re-import adds nothing)."""

    lines: int
    entities: int
    observations: int
    relations: int
    seq: int

    def to_json(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "entities": self.entities,
            "observations": self.observations,
            "relations": self.relations,
            "seq": self.seq,
        }


@dataclass(frozen=True, slots=True)
class Selection:
    """Which live entities a read is about: all (neither set), these ``names``, or those whose
    name, type or an observation contains ``query`` (case-insensitive)."""

    names: tuple[str, ...] | None = None
    query: str | None = None


# Rows the projector hands to the log transaction (one list per statement).


@dataclass(frozen=True, slots=True)
class EntityRow:
    seq: int
    name: str
    entity_type: str
    confidence: float
    actor: str
    source: str | None
    valid_from: datetime


@dataclass(frozen=True, slots=True)
class ObservationRow:
    entity_seq: int
    seq: int
    ord: int
    content: str
    confidence: float
    actor: str
    source: str | None
    valid_from: datetime


@dataclass(frozen=True, slots=True)
class RelationRow:
    seq: int
    relation: Relation
    confidence: float
    actor: str
    source: str | None
    valid_from: datetime


@dataclass(frozen=True, slots=True)
class EntityEnd:
    """Supersede a live entity, its live observations and every live relation touching its
    name."""

    entity_seq: int
    name: str
    seq: int
    at: datetime


@dataclass(frozen=True, slots=True)
class ObservationEnd:
    entity_seq: int
    content: str
    seq: int
    at: datetime


@dataclass(frozen=True, slots=True)
class RelationEnd:
    relation: Relation
    seq: int
    at: datetime
