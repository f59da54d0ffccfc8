"""The knowledge graph in SQL: the log transaction's graph statements, and ``SqlGraphStore``.

Every write is one statement for a whole batch of rows (executemany), never a round trip per
row. Substring search runs on indexes: FTS5 trigram tables on SQLite (kept in step by the
triggers of migration 0003), pg_trgm GIN indexes on PostgreSQL. A query shorter than three
characters has no trigram to look up and scans the workspace's live rows instead; that scan
folds ASCII case only on SQLite (``lower()``), where the trigram index folds all of Unicode.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from infinity_matrix.core.knowledge.records import (
    EntityEnd,
    EntityRecord,
    EntityRow,
    ObservationEnd,
    ObservationRecord,
    ObservationRow,
    Provenance,
    Relation,
    RelationEnd,
    RelationRecord,
    RelationRow,
    Selection,
)
from infinity_matrix.storage import tables as t
from infinity_matrix.storage.database import Database

T = TypeVar("T")
Seqs = sa.CompoundSelect[tuple[int]] | sa.TextualSelect  # a subquery of entity seqs
_CHUNK = 500  # values per IN list: far below SQLite's and asyncpg's parameter limits
_TRIGRAM = 3

_e = t.graph_entities.c
_o = t.graph_observations.c
_r = t.graph_relations.c


class SqlGraphStore:
    """Implements ``core.ports.GraphStore`` on SQLite or PostgreSQL.

    A page is found in two steps inside one statement: the seqs of the page (from the search
    indexes, or the name index), then the rows by seq. Asking for rows "in seq order, filtered"
    in one step would let a planner without statistics walk the whole workspace in seq order.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def entities(
        self, workspace: str, selection: Selection, *, after: int = 0, limit: int = 100
    ) -> list[EntityRecord]:
        query = sa.select(t.graph_entities).where(
            _e.workspace_id == workspace, _e.valid_to.is_(None)
        )
        async with self._db.read() as conn:
            if selection.names is not None:
                # Few names (the service caps them): found by name, ordered below.
                query = query.where(_e.name.in_(selection.names))
            elif selection.query is not None:
                seqs = _page(_matching(conn, workspace, selection.query), after, limit)
                query = query.where(_e.seq.in_(seqs))
            else:
                query = query.where(_e.seq > after).order_by(_e.seq).limit(limit)
            rows = _in_order(await conn.execute(query), after, limit)
            observations = await _observations(conn, workspace, [r.seq for r in rows])
        return [
            EntityRecord(r.name, r.entity_type, tuple(observations.get(r.seq, ())), _provenance(r))
            for r in rows
        ]

    async def relations(
        self, workspace: str, selection: Selection, *, after: int = 0, limit: int = 100
    ) -> list[RelationRecord]:
        query = sa.select(t.graph_relations).where(
            _r.workspace_id == workspace, _r.valid_to.is_(None)
        )
        async with self._db.read() as conn:
            if selection.names is None and selection.query is None:
                query = query.where(_r.seq > after).order_by(_r.seq).limit(limit)
            else:
                names = _selected_names(conn, workspace, selection)
                touching = sa.union(
                    _live_relations(workspace, _r.from_name.in_(names)),
                    _live_relations(workspace, _r.to_name.in_(names)),
                )
                query = query.where(_r.seq.in_(_page(touching, after, limit)))
            rows = _in_order(await conn.execute(query), after, limit)
        return [RelationRecord(_relation(r), _provenance(r)) for r in rows]


# The log transaction's statements (``SqlLogTransaction`` delegates here).


async def load_entities(
    conn: AsyncConnection, workspace: str, names: Sequence[str]
) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(names):
        rows = await conn.execute(
            sa.select(_e.name, _e.seq).where(
                _e.workspace_id == workspace, _e.valid_to.is_(None), _e.name.in_(chunk)
            )
        )
        found.update({r.name: r.seq for r in rows})
    return found


async def load_observations(
    conn: AsyncConnection, workspace: str, entity_seqs: Sequence[int]
) -> dict[int, list[str]]:
    found = await _observations(conn, workspace, entity_seqs)
    return {seq: [o.content for o in observations] for seq, observations in found.items()}


async def load_relations(
    conn: AsyncConnection, workspace: str, relations: Sequence[Relation]
) -> set[Relation]:
    found: set[Relation] = set()
    key = sa.tuple_(_r.from_name, _r.to_name, _r.relation_type)
    for chunk in _chunks(relations):
        rows = await conn.execute(
            sa.select(_r.from_name, _r.to_name, _r.relation_type).where(
                _r.workspace_id == workspace,
                _r.valid_to.is_(None),
                key.in_([(r.from_, r.to, r.relation_type) for r in chunk]),
            )
        )
        found.update(_relation(r) for r in rows)
    return found


async def load_relations_touching(
    conn: AsyncConnection, workspace: str, names: Sequence[str]
) -> list[Relation]:
    found: dict[int, Relation] = {}
    for chunk in _chunks(names):
        rows = await conn.execute(
            sa.select(_r.seq, _r.from_name, _r.to_name, _r.relation_type).where(
                _r.workspace_id == workspace,
                _r.valid_to.is_(None),
                sa.or_(_r.from_name.in_(chunk), _r.to_name.in_(chunk)),
            )
        )
        found.update({r.seq: _relation(r) for r in rows})
    return [found[seq] for seq in sorted(found)]


async def insert_entities(conn: AsyncConnection, workspace: str, rows: Sequence[EntityRow]) -> None:
    await conn.execute(
        t.graph_entities.insert(),
        [
            {
                "workspace_id": workspace,
                "seq": r.seq,
                "name": r.name,
                "entity_type": r.entity_type,
                **_provenance_row(r.confidence, r.actor, r.source, r.valid_from),
            }
            for r in rows
        ],
    )


async def insert_observations(
    conn: AsyncConnection, workspace: str, rows: Sequence[ObservationRow]
) -> None:
    await conn.execute(
        t.graph_observations.insert(),
        [
            {
                "workspace_id": workspace,
                "entity_seq": r.entity_seq,
                "seq": r.seq,
                "ord": r.ord,
                "content": r.content,
                **_provenance_row(r.confidence, r.actor, r.source, r.valid_from),
            }
            for r in rows
        ],
    )


async def insert_relations(
    conn: AsyncConnection, workspace: str, rows: Sequence[RelationRow]
) -> None:
    await conn.execute(
        t.graph_relations.insert(),
        [
            {
                "workspace_id": workspace,
                "seq": r.seq,
                "from_name": r.relation.from_,
                "to_name": r.relation.to,
                "relation_type": r.relation.relation_type,
                **_provenance_row(r.confidence, r.actor, r.source, r.valid_from),
            }
            for r in rows
        ],
    )


async def end_entities(conn: AsyncConnection, workspace: str, ends: Sequence[EntityEnd]) -> None:
    """Supersede each entity, then its observations, then the relations touching its name."""
    params = _with(
        workspace,
        [{"b_entity": e.entity_seq, "b_name": e.name, "b_seq": e.seq, "b_at": e.at} for e in ends],
    )
    entity: sa.BindParameter[int] = sa.bindparam("b_entity")
    name: sa.BindParameter[str] = sa.bindparam("b_name")
    await conn.execute(_end(t.graph_entities, _e.seq == entity), params)
    await conn.execute(_end(t.graph_observations, _o.entity_seq == entity), params)
    touching = sa.or_(_r.from_name == name, _r.to_name == name)
    await conn.execute(_end(t.graph_relations, touching), params)


async def end_observations(
    conn: AsyncConnection, workspace: str, ends: Sequence[ObservationEnd]
) -> None:
    condition = sa.and_(
        _o.entity_seq == sa.bindparam("b_entity"), _o.content == sa.bindparam("b_content")
    )
    params = [
        {"b_entity": e.entity_seq, "b_content": e.content, "b_seq": e.seq, "b_at": e.at}
        for e in ends
    ]
    await conn.execute(_end(t.graph_observations, condition), _with(workspace, params))


async def end_relations(conn: AsyncConnection, workspace: str, ends: Sequence[RelationEnd]) -> None:
    condition = sa.and_(
        _r.from_name == sa.bindparam("b_from"),
        _r.to_name == sa.bindparam("b_to"),
        _r.relation_type == sa.bindparam("b_type"),
    )
    params = [
        {
            "b_from": e.relation.from_,
            "b_to": e.relation.to,
            "b_type": e.relation.relation_type,
            "b_seq": e.seq,
            "b_at": e.at,
        }
        for e in ends
    ]
    await conn.execute(_end(t.graph_relations, condition), _with(workspace, params))


async def clear(conn: AsyncConnection, workspace: str) -> None:
    """Delete the workspace's graph rows (a replay rebuilds them)."""
    for table in (t.graph_relations, t.graph_observations, t.graph_entities):
        await conn.execute(table.delete().where(table.c.workspace_id == workspace))


# Helpers


def _end(table: sa.Table, condition: sa.ColumnElement[bool]) -> sa.Update:
    """UPDATE that supersedes the live rows of ``table`` matching ``condition`` (executemany
    parameters: ``b_ws``, ``b_seq``, ``b_at`` and the condition's own)."""
    return (
        table.update()
        .where(
            table.c.workspace_id == sa.bindparam("b_ws"),
            table.c.valid_to.is_(None),
            condition,
        )
        .values(
            valid_to=sa.bindparam("b_at", type_=t.UTCDateTime()),
            superseded_seq=sa.bindparam("b_seq"),
        )
    )


def _with(workspace: str, params: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**p, "b_ws": workspace} for p in params]


def _provenance_row(
    confidence: float, actor: str, source: str | None, valid_from: Any
) -> dict[str, Any]:
    return {
        "confidence": confidence,
        "actor": actor,
        "source": source,
        "valid_from": valid_from,
        "valid_to": None,
        "superseded_seq": None,
    }


async def _observations(
    conn: AsyncConnection, workspace: str, entity_seqs: Sequence[int]
) -> dict[int, list[ObservationRecord]]:
    found: dict[int, list[ObservationRecord]] = {}
    for chunk in _chunks(entity_seqs):
        rows = await conn.execute(
            sa.select(t.graph_observations)
            .where(
                _o.workspace_id == workspace,
                _o.entity_seq.in_(chunk),
                _o.valid_to.is_(None),
            )
            .order_by(_o.entity_seq, _o.seq, _o.ord)
        )
        for r in rows:
            found.setdefault(r.entity_seq, []).append(ObservationRecord(r.content, _provenance(r)))
    return found


def _page(seqs: Seqs, after: int, limit: int) -> sa.Select[tuple[int]]:
    """The first ``limit`` seqs above ``after`` of a subquery of seqs (a column ``seq``)."""
    found = seqs.subquery()
    return sa.select(found.c.seq).where(found.c.seq > after).order_by(found.c.seq).limit(limit)


def _in_order(rows: Iterable[Any], after: int, limit: int) -> list[Any]:
    return sorted((r for r in rows if r.seq > after), key=lambda r: r.seq)[:limit]


def _selected_names(conn: AsyncConnection, workspace: str, selection: Selection) -> Any:
    """The names of the live entities ``selection`` selects (a subquery)."""
    query = sa.select(_e.name).where(_e.workspace_id == workspace, _e.valid_to.is_(None))
    if selection.names is not None:
        return query.where(_e.name.in_(selection.names))
    assert selection.query is not None  # the caller selects by names or by query
    return query.where(_e.seq.in_(_matching(conn, workspace, selection.query)))


def _live_relations(workspace: str, condition: sa.ColumnElement[bool]) -> sa.Select[tuple[int]]:
    return sa.select(_r.seq).where(_r.workspace_id == workspace, _r.valid_to.is_(None), condition)


# Substring matches: the seqs of live entities whose name, type or a live observation contains
# the text, ignoring case. SQLite looks the text up as a phrase of trigrams in the FTS5 tables,
# which hold live rows only; "CROSS JOIN" makes it start from the index (its planner would
# otherwise walk the workspace's rows and probe the index once per row).
_SQLITE_MATCHING = """
SELECT e.seq AS seq FROM graph_entities_fts CROSS JOIN graph_entities AS e
  ON e.id = graph_entities_fts.rowid
  WHERE graph_entities_fts MATCH :graph_phrase AND e.workspace_id = :graph_ws
UNION
SELECT o.entity_seq AS seq FROM graph_observations_fts CROSS JOIN graph_observations AS o
  ON o.id = graph_observations_fts.rowid
  WHERE graph_observations_fts MATCH :graph_phrase AND o.workspace_id = :graph_ws
"""


def _matching(conn: AsyncConnection, workspace: str, text: str) -> Seqs:
    if conn.dialect.name == "sqlite" and len(text) >= _TRIGRAM:
        phrase = '"' + text.replace('"', '""') + '"'  # an FTS5 string: a run of trigrams
        return (
            sa.text(_SQLITE_MATCHING)
            .bindparams(graph_phrase=phrase, graph_ws=workspace)
            .columns(seq=sa.BigInteger())
        )
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    name: sa.ColumnElement[str] = _e.name
    if conn.dialect.name == "postgresql":
        # The trigram index is on the name in the default collation, which folds all of
        # Unicode; the column's "C" collation would fold ASCII only.
        name = _e.name.collate("default")
    return sa.union(
        _live_entities(workspace, name.ilike(pattern, escape="\\")),
        _live_entities(workspace, _e.entity_type.ilike(pattern, escape="\\")),
        sa.select(_o.entity_seq.label("seq")).where(
            _o.workspace_id == workspace,
            _o.valid_to.is_(None),
            _o.content.ilike(pattern, escape="\\"),
        ),
    )


def _live_entities(workspace: str, condition: sa.ColumnElement[bool]) -> sa.Select[tuple[int]]:
    return sa.select(_e.seq).where(_e.workspace_id == workspace, _e.valid_to.is_(None), condition)


def _provenance(r: sa.Row[Any]) -> Provenance:
    return Provenance(
        seq=r.seq,
        actor=r.actor,
        source=r.source,
        confidence=r.confidence,
        valid_from=r.valid_from,
        valid_to=r.valid_to,
        superseded_seq=r.superseded_seq,
    )


def _relation(r: Any) -> Relation:  # a row with from_name, to_name, relation_type
    return Relation(r.from_name, r.to_name, r.relation_type)


def _chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]
