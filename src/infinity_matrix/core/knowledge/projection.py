"""How graph events change the graph's projection, staged inside one log transaction.

Writes are queued and sent as few statements as possible: a run of inserts (20,000 entities of
an import, or of a replay) becomes one batched statement per table, entities before their
observations; supersessions keep their order, and inserts queued after one are sent after it.
Every read made for a command's ``decide`` first sends what is queued, so a command sees the
effects of the commands before it in the same transaction, exactly as if each had committed
alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from infinity_matrix.core.knowledge.records import (
    EntityEnd,
    EntityRow,
    ObservationEnd,
    ObservationRow,
    Relation,
    RelationEnd,
    RelationRow,
)
from infinity_matrix.core.ports import LogTransaction
from infinity_matrix.core.protocol import events as ev

DEFAULT_CONFIDENCE = 1.0


class GraphProjection:
    """Staged graph writes of one transaction, and the reads ``decide`` makes through them."""

    def __init__(self, tx: LogTransaction) -> None:
        self._tx = tx
        # In order: runs of inserts (rows per table) and runs of one kind of supersession.
        self._queue: list[_Inserts | tuple[str, list[Any]]] = []

    def apply(self, event: ev.Event) -> None:
        """Stage the projection of one graph event (any type in ``events.GRAPH_EVENTS``)."""
        p = event.payload
        if event.type == ev.ENTITY_CREATED:
            confidence = p.get("confidence", DEFAULT_CONFIDENCE)
            self._inserts().entities.append(
                EntityRow(
                    event.seq,
                    p["name"],
                    p["entity_type"],
                    confidence,
                    event.actor,
                    event.source,
                    event.recorded_at,
                ),
            )
            self._stage_observations(event, event.seq, p["observations"], confidence)
        elif event.type == ev.OBSERVATION_ADDED:
            confidence = p.get("confidence", DEFAULT_CONFIDENCE)
            self._stage_observations(event, p["entity"], p["contents"], confidence)
        elif event.type == ev.OBSERVATION_DELETED:
            for content in p["contents"]:
                ended = ObservationEnd(p["entity"], content, event.seq, event.recorded_at)
                self._end("end_graph_observations", ended)
        elif event.type == ev.ENTITY_DELETED:
            gone = EntityEnd(p["entity"], p["name"], event.seq, event.recorded_at)
            self._end("end_graph_entities", gone)
        elif event.type == ev.RELATION_CREATED:
            row = RelationRow(
                event.seq,
                _relation(p),
                p.get("confidence", DEFAULT_CONFIDENCE),
                event.actor,
                event.source,
                event.recorded_at,
            )
            self._inserts().relations.append(row)
        elif event.type == ev.RELATION_DELETED:
            end_relation = RelationEnd(_relation(p), event.seq, event.recorded_at)
            self._end("end_graph_relations", end_relation)

    async def flush(self) -> None:
        """Send every queued write, one statement per table per run."""
        queue, self._queue = self._queue, []
        for item in queue:
            if isinstance(item, _Inserts):
                await item.send(self._tx)
            else:
                method, rows = item
                await getattr(self._tx, method)(rows)

    async def entities(self, names: Sequence[str]) -> dict[str, int]:
        """Live entities among ``names``: name → the seq that created it."""
        await self.flush()
        return await self._tx.load_graph_entities(names) if names else {}

    async def observations(self, names: Sequence[str]) -> dict[str, tuple[int, list[str]]]:
        """Live entities among ``names`` with their live observations: name → (seq,
        contents in the order they were added)."""
        await self.flush()
        return await self._tx.load_graph_observations(names) if names else {}

    async def relations(self, relations: Sequence[Relation]) -> set[Relation]:
        """Which of ``relations`` are live."""
        await self.flush()
        return await self._tx.load_graph_relations(relations) if relations else set()

    async def relations_touching(self, names: Sequence[str]) -> list[Relation]:
        await self.flush()
        return await self._tx.load_graph_relations_touching(names) if names else []

    def _inserts(self) -> _Inserts:
        last = self._queue[-1] if self._queue else None
        if isinstance(last, _Inserts):
            return last
        run = _Inserts()
        self._queue.append(run)
        return run

    def _end(self, method: str, row: Any) -> None:
        last = self._queue[-1] if self._queue else None
        if isinstance(last, tuple) and last[0] == method:
            last[1].append(row)
        else:
            self._queue.append((method, [row]))

    def _stage_observations(
        self, event: ev.Event, entity_seq: int, contents: list[str], confidence: float
    ) -> None:
        for ord_, content in enumerate(contents):
            row = ObservationRow(
                entity_seq,
                event.seq,
                ord_,
                content,
                confidence,
                event.actor,
                event.source,
                event.recorded_at,
            )
            self._inserts().observations.append(row)


@dataclass(slots=True)
class _Inserts:
    """A run of inserts; they are independent of each other but for observations needing
    their entity, so each table's rows go in one statement, entities first."""

    entities: list[EntityRow] = field(default_factory=list)
    observations: list[ObservationRow] = field(default_factory=list)
    relations: list[RelationRow] = field(default_factory=list)

    async def send(self, tx: LogTransaction) -> None:
        if self.entities:
            await tx.insert_graph_entities(self.entities)
        if self.observations:
            await tx.insert_graph_observations(self.observations)
        if self.relations:
            await tx.insert_graph_relations(self.relations)


def _relation(payload: dict[str, Any]) -> Relation:
    return Relation(payload["from"], payload["to"], payload["relation_type"])
