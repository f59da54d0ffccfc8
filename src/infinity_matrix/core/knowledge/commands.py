"""Graph commands: each decides its events from the live graph inside the log transaction.

The head row lock serialises them, so "does this name exist?" cannot race: of 20 concurrent
creations of one name exactly one creates it. Semantics follow the reference memory server:
creating what exists, deleting what does not, and adding a known observation change nothing.
A command records what it did in ``outcome`` (what the reference would answer); it is reset on
every ``decide``, since the log may decide a command again when its batch had to be retried.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from infinity_matrix.core.knowledge.projection import DEFAULT_CONFIDENCE
from infinity_matrix.core.knowledge.records import (
    EntityRecord,
    NewEntity,
    NewObservations,
    NewRelation,
    ObservationDeletion,
    ObservationRecord,
    ObservationsAdded,
    Provenance,
    Relation,
    RelationRecord,
)
from infinity_matrix.core.ports import LogTransaction, PriorMessage
from infinity_matrix.core.protocol import events as ev
from infinity_matrix.core.sync.projector import Projection
from infinity_matrix.errors import NotFound

GRAPH_SUBJECT = "graph"
T = TypeVar("T")


class _GraphCommand:
    """What every graph command shares: its subject and how a retry is recognised."""

    __slots__ = ()

    @property
    def subject(self) -> str:
        return GRAPH_SUBJECT

    def repeats(self, prior: PriorMessage) -> bool:
        # The events' subjects name entities, not the command: any graph write logged under
        # the same idempotency key is this one done before.
        return prior.type in ev.GRAPH_EVENTS or prior.subject == GRAPH_SUBJECT


@dataclass(slots=True)
class CreateEntities(_GraphCommand):
    entities: tuple[NewEntity, ...]

    async def decide(self, projection: Projection, tx: LogTransaction) -> list[ev.NewEvent]:
        taken = set(await projection.graph.entities(unique(e.name for e in self.entities)))
        events = []
        for entity in self.entities:
            if entity.name not in taken:
                taken.add(entity.name)
                events.append(entity_created(entity))
        return events


@dataclass(slots=True)
class CreateRelations(_GraphCommand):
    relations: tuple[NewRelation, ...]

    async def decide(self, projection: Projection, tx: LogTransaction) -> list[ev.NewEvent]:
        taken = await projection.graph.relations(unique(r.key for r in self.relations))
        events = []
        for relation in self.relations:
            if relation.key not in taken:
                taken.add(relation.key)
                events.append(relation_created(relation))
        return events


@dataclass(slots=True)
class AddObservations(_GraphCommand):
    """Adds the new contents to each entity; every entity must exist, or nothing is added."""

    items: tuple[NewObservations, ...]
    outcome: list[ObservationsAdded] = field(default_factory=list)

    async def decide(self, projection: Projection, tx: LogTransaction) -> list[ev.NewEvent]:
        self.outcome.clear()
        names = unique(i.entity_name for i in self.items)
        live, known = await _live_with_observations(projection, names)
        for item in self.items:
            if item.entity_name not in live:
                # The reference server's wording, which prompts and clients may look for.
                raise NotFound(
                    f"Entity with name {item.entity_name} not found",
                    code="graph.entity_not_found",
                    name=item.entity_name,
                )
        events = []
        for item in self.items:
            seq = live[item.entity_name]
            added = _new_contents(item.contents, known[seq])
            self.outcome.append(ObservationsAdded(item.entity_name, added))
            if added:
                events.append(_observations_added(item.entity_name, seq, added, item.confidence))
        return events


@dataclass(slots=True)
class DeleteEntities(_GraphCommand):
    """Supersedes the entities, their observations and every relation from or to their names
    (also relations to a name that has no entity, as the reference does); unknown names are
    ignored."""

    names: tuple[str, ...]
    outcome: list[str] = field(default_factory=list)

    async def decide(self, projection: Projection, tx: LogTransaction) -> list[ev.NewEvent]:
        self.outcome.clear()
        names = unique(self.names)
        live = await projection.graph.entities(names)
        events = []
        for name in names:
            if name in live:
                self.outcome.append(name)
                payload = {"name": name, "entity": live[name]}
                events.append(ev.NewEvent(ev.ENTITY_DELETED, ev.entity_subject(name), payload))
        # An entity's deletion supersedes its relations; those of names without one are
        # deleted one by one.
        loose = [n for n in names if n not in live]
        for relation in await projection.graph.relations_touching(loose):
            if relation.from_ not in live and relation.to not in live:
                events.append(relation_deleted(relation))
        return events


@dataclass(slots=True)
class DeleteObservations(_GraphCommand):
    """Supersedes the given observations where they exist; unknown entities are ignored."""

    items: tuple[ObservationDeletion, ...]
    outcome: list[ObservationDeletion] = field(default_factory=list)

    async def decide(self, projection: Projection, tx: LogTransaction) -> list[ev.NewEvent]:
        self.outcome.clear()
        names = unique(i.entity_name for i in self.items)
        live, known = await _live_with_observations(projection, names)
        events = []
        for item in self.items:
            seq = live.get(item.entity_name)
            if seq is None:
                continue
            gone = tuple(c for c in unique(item.observations) if c in known[seq])
            known[seq].difference_update(gone)
            if gone:
                self.outcome.append(ObservationDeletion(item.entity_name, gone))
                payload = {"name": item.entity_name, "entity": seq, "contents": list(gone)}
                subject = ev.entity_subject(item.entity_name)
                events.append(ev.NewEvent(ev.OBSERVATION_DELETED, subject, payload))
        return events


@dataclass(slots=True)
class DeleteRelations(_GraphCommand):
    relations: tuple[Relation, ...]
    outcome: list[Relation] = field(default_factory=list)

    async def decide(self, projection: Projection, tx: LogTransaction) -> list[ev.NewEvent]:
        self.outcome.clear()
        relations = unique(self.relations)
        live = await projection.graph.relations(relations)
        self.outcome.extend(r for r in relations if r in live)
        return [relation_deleted(r) for r in self.outcome]


@dataclass(slots=True)
class ImportCounts:
    entities: int = 0
    observations: int = 0
    relations: int = 0


@dataclass(slots=True)
class ImportBatch(_GraphCommand):
    """Merges part of a memory file: missing entities are created, missing observations of
    existing ones added, missing relations created. Names and relations are unique within a
    batch (``memoryfile.parse`` merges repeats)."""

    entities: tuple[NewEntity, ...]
    relations: tuple[NewRelation, ...]
    outcome: ImportCounts = field(default_factory=ImportCounts)

    async def decide(self, projection: Projection, tx: LogTransaction) -> list[ev.NewEvent]:
        self.outcome = counts = ImportCounts()
        live, known = await _live_with_observations(projection, [e.name for e in self.entities])
        events = []
        for entity in self.entities:
            seq = live.get(entity.name)
            if seq is None:
                events.append(entity_created(entity))
                counts.entities += 1
                counts.observations += len(entity.observations)
                continue
            added = _new_contents(entity.observations, known[seq])
            if added:
                events.append(_observations_added(entity.name, seq, added, entity.confidence))
                counts.observations += len(added)
        taken = await projection.graph.relations([r.key for r in self.relations])
        for relation in self.relations:
            if relation.key not in taken:
                events.append(relation_created(relation))
                counts.relations += 1
        return events


def entity_created(entity: NewEntity) -> ev.NewEvent:
    payload = {
        "name": entity.name,
        "entity_type": entity.entity_type,
        "observations": unique(entity.observations),
        "confidence": _confidence(entity.confidence),
    }
    return ev.NewEvent(ev.ENTITY_CREATED, ev.entity_subject(entity.name), payload)


def relation_created(relation: NewRelation) -> ev.NewEvent:
    payload = {**_relation_payload(relation.key), "confidence": _confidence(relation.confidence)}
    return ev.NewEvent(ev.RELATION_CREATED, ev.entity_subject(relation.from_), payload)


def relation_deleted(relation: Relation) -> ev.NewEvent:
    payload = _relation_payload(relation)
    return ev.NewEvent(ev.RELATION_DELETED, ev.entity_subject(relation.from_), payload)


def entity_of(event: ev.Event) -> EntityRecord:
    """The entity an ``entity.created`` event created, as the projection now holds it."""
    p = event.payload
    provenance = _provenance(event, p)
    observations = tuple(ObservationRecord(c, provenance) for c in p["observations"])
    return EntityRecord(p["name"], p["entity_type"], observations, provenance)


def relation_of(event: ev.Event) -> RelationRecord:
    """The relation a ``relation.created`` event created."""
    p = event.payload
    return RelationRecord(Relation(p["from"], p["to"], p["relation_type"]), _provenance(event, p))


def unique(values: Iterable[T]) -> list[T]:
    """``values`` without repeats, in first-seen order."""
    return list(dict.fromkeys(values))


def _observations_added(
    name: str, entity_seq: int, contents: tuple[str, ...], confidence: float | None
) -> ev.NewEvent:
    payload = {
        "name": name,
        "entity": entity_seq,
        "contents": list(contents),
        "confidence": _confidence(confidence),
    }
    return ev.NewEvent(ev.OBSERVATION_ADDED, ev.entity_subject(name), payload)


async def _live_with_observations(
    projection: Projection, names: list[str]
) -> tuple[dict[str, int], dict[int, set[str]]]:
    """The live entities among ``names`` (name → seq) and their observations (seq → set)."""
    found = await projection.graph.observations(names)
    live = {name: seq for name, (seq, _contents) in found.items()}
    known = {seq: set(contents) for seq, contents in found.values()}
    return live, known


def _new_contents(contents: Iterable[str], known: set[str]) -> tuple[str, ...]:
    """The contents not in ``known`` (each once), which are then added to ``known``."""
    added = tuple(c for c in unique(contents) if c not in known)
    known.update(added)
    return added


def _relation_payload(relation: Relation) -> dict[str, Any]:
    return {"from": relation.from_, "to": relation.to, "relation_type": relation.relation_type}


def _confidence(value: float | None) -> float:
    return DEFAULT_CONFIDENCE if value is None else value


def _provenance(event: ev.Event, payload: dict[str, Any]) -> Provenance:
    return Provenance(
        seq=event.seq,
        actor=event.actor,
        source=event.source,
        confidence=payload.get("confidence", DEFAULT_CONFIDENCE),
        valid_from=event.recorded_at,
    )
