"""SqlGraphStore: reads of the knowledge graph's live facts, paged, on indexes.

Substring search runs on indexes: FTS5 trigram tables on SQLite (kept in step by the triggers of
migration 0003), pg_trgm GIN indexes on PostgreSQL. A query shorter than three characters has no
trigram to look up and scans the workspace's live rows instead; on SQLite that scan folds ASCII
case only (``lower()``), where the trigram index folds all of Unicode.

A page is found in two steps inside one statement: the seqs of the page (from the search indexes
or the name index), then the rows by seq. Asking for rows "in seq order, filtered" in one step
lets a planner without statistics walk the whole workspace in seq order. The statements are
built once per database and kind of read, then run with parameters: building one costs more
than running it.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from infinity_matrix.core.knowledge.records import (
    EntityRecord,
    ObservationRecord,
    Provenance,
    Relation,
    RelationRecord,
    Selection,
)
from infinity_matrix.storage import tables as t
from infinity_matrix.storage.database import Database

Kind = Literal["all", "names", "fts", "like"]
_TRIGRAM = 3

_e = t.graph_entities.c
_o = t.graph_observations.c
_r = t.graph_relations.c

_WS: sa.BindParameter[str] = sa.bindparam("ws", type_=sa.String())
_AFTER: sa.BindParameter[int] = sa.bindparam("after", type_=sa.BigInteger())
_LIMIT: sa.BindParameter[int] = sa.bindparam("limit", type_=sa.Integer())
_NAMES: sa.BindParameter[str] = sa.bindparam("names", type_=sa.String(), expanding=True)
_PHRASE: sa.BindParameter[str] = sa.bindparam("phrase", type_=sa.String())
_PATTERN: sa.BindParameter[str] = sa.bindparam("pattern", type_=sa.String())


class SqlGraphStore:
    """Implements ``core.ports.GraphStore`` on SQLite or PostgreSQL."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def page(
        self,
        workspace: str,
        selection: Selection,
        *,
        entities_after: int | None,
        relations_after: int,
        limit: int,
    ) -> tuple[list[EntityRecord], list[RelationRecord]]:
        async with self._db.read() as conn:
            entities = []
            if entities_after is not None:
                entities = await _entities(conn, workspace, selection, entities_after, limit)
            relations = []
            if len(entities) < limit:
                if entities_after == 0 and selection.query is not None:
                    # Every match is in hand: look their relations up by name, without
                    # searching again.
                    selection = Selection(names=tuple(e.name for e in entities))
                room = limit - len(entities)
                relations = await _relations(conn, workspace, selection, relations_after, room)
        return entities, relations

    async def entities(
        self, workspace: str, selection: Selection, *, after: int = 0, limit: int = 100
    ) -> list[EntityRecord]:
        async with self._db.read() as conn:
            return await _entities(conn, workspace, selection, after, limit)

    async def relations(
        self, workspace: str, selection: Selection, *, after: int = 0, limit: int = 100
    ) -> list[RelationRecord]:
        async with self._db.read() as conn:
            return await _relations(conn, workspace, selection, after, limit)


async def _entities(
    conn: AsyncConnection, workspace: str, selection: Selection, after: int, limit: int
) -> list[EntityRecord]:
    """The entities with their live observations, fetched together (a row per observation)."""
    if selection.names == ():
        return []
    kind = _kind(conn, selection)
    params = _params(workspace, selection, kind, after, limit)
    rows = await conn.execute(_entities_statement(conn.dialect.name, kind), params)
    entities: dict[int, tuple[Any, list[ObservationRecord]]] = {}
    for r in rows:
        if r.seq <= after:
            continue
        _first, observations = entities.setdefault(r.seq, (r, []))
        if r.o_seq is not None:
            observations.append(ObservationRecord(r.o_content, _provenance(r, "o_")))
    return [
        EntityRecord(r.name, r.entity_type, tuple(observations), _provenance(r))
        for r, observations in list(entities.values())[:limit]
    ]


async def _relations(
    conn: AsyncConnection, workspace: str, selection: Selection, after: int, limit: int
) -> list[RelationRecord]:
    """All live relations, or those from or to a live entity of ``selection``."""
    if selection.names == ():
        return []
    kind = _kind(conn, selection)
    params = _params(workspace, selection, kind, after, limit)
    rows = await conn.execute(_relations_statement(conn.dialect.name, kind), params)
    ordered = sorted((r for r in rows if r.seq > after), key=lambda r: r.seq)[:limit]
    return [
        RelationRecord(Relation(r.from_name, r.to_name, r.relation_type), _provenance(r))
        for r in ordered
    ]


def _kind(conn: AsyncConnection, selection: Selection) -> Kind:
    if selection.names is not None:
        return "names"
    if selection.query is None:
        return "all"
    if conn.dialect.name == "sqlite" and len(selection.query) >= _TRIGRAM:
        return "fts"
    return "like"


def _params(
    workspace: str, selection: Selection, kind: Kind, after: int, limit: int
) -> dict[str, Any]:
    params: dict[str, Any] = {"ws": workspace, "after": after, "limit": limit}
    if kind == "names":
        params["names"] = list(selection.names or ())
    elif kind == "fts":
        # An FTS5 string is a phrase: a run of the text's trigrams, any case.
        params["phrase"] = '"' + (selection.query or "").replace('"', '""') + '"'
    elif kind == "like":
        text = (selection.query or "").replace("\\", "\\\\")
        params["pattern"] = "%" + text.replace("%", "\\%").replace("_", "\\_") + "%"
    return params


# Statements, built once per (database, kind).


@cache
def _entities_statement(dialect: str, kind: Kind) -> sa.Select[Any]:
    query = sa.select(t.graph_entities).where(_e.workspace_id == _WS, _e.valid_to.is_(None))
    if kind == "names":
        # Few names (the service caps them): found by name, put in order by the caller.
        query = query.where(_e.name.in_(_NAMES))
    elif kind == "all":
        query = query.where(_e.seq > _AFTER).order_by(_e.seq).limit(_LIMIT)
    else:
        query = query.where(_e.seq.in_(_first_seqs(_matching(dialect, kind))))
    found = query.subquery()
    joined = found.outerjoin(
        t.graph_observations,
        sa.and_(
            _o.workspace_id == found.c.workspace_id,
            _o.entity_seq == found.c.seq,
            _o.valid_to.is_(None),
        ),
    )
    observation = [
        column.label(f"o_{column.name}")
        for column in (_o.content, *(_o[name] for name in _PROVENANCE))
    ]
    return sa.select(found, *observation).select_from(joined).order_by(found.c.seq, _o.seq, _o.ord)


@cache
def _relations_statement(dialect: str, kind: Kind) -> sa.Select[Any]:
    query = sa.select(t.graph_relations).where(_r.workspace_id == _WS, _r.valid_to.is_(None))
    if kind == "all":
        return query.where(_r.seq > _AFTER).order_by(_r.seq).limit(_LIMIT)
    names = sa.select(_e.name).where(_e.workspace_id == _WS, _e.valid_to.is_(None))
    if kind == "names":
        names = names.where(_e.name.in_(_NAMES))
    else:
        names = names.where(_e.seq.in_(_matching(dialect, kind)))
    touching = sa.union(
        _live_relations(_r.from_name.in_(names)), _live_relations(_r.to_name.in_(names))
    )
    return query.where(_r.seq.in_(_first_seqs(touching)))


def _first_seqs(seqs: Any) -> sa.Select[tuple[int]]:
    """The first ``limit`` seqs above ``after`` of a subquery of seqs (a column ``seq``)."""
    found = seqs.subquery()
    return sa.select(found.c.seq).where(found.c.seq > _AFTER).order_by(found.c.seq).limit(_LIMIT)


def _live_relations(condition: sa.ColumnElement[bool]) -> sa.Select[tuple[int]]:
    return sa.select(_r.seq).where(_r.workspace_id == _WS, _r.valid_to.is_(None), condition)


# The seqs of the live entities whose name, type or a live observation contains the text,
# ignoring case. SQLite looks the text up in the FTS5 tables, which hold live rows only; "CROSS
# JOIN" makes it start from the index (its planner would otherwise walk the workspace's rows
# and probe the index once per row).
_SQLITE_MATCHING = """
SELECT e.seq AS seq FROM graph_entities_fts CROSS JOIN graph_entities AS e
  ON e.id = graph_entities_fts.rowid
  WHERE graph_entities_fts MATCH :phrase AND e.workspace_id = :ws
UNION
SELECT o.entity_seq AS seq FROM graph_observations_fts CROSS JOIN graph_observations AS o
  ON o.id = graph_observations_fts.rowid
  WHERE graph_observations_fts MATCH :phrase AND o.workspace_id = :ws
"""


def _matching(dialect: str, kind: Kind) -> Any:
    if kind == "fts":
        return sa.text(_SQLITE_MATCHING).bindparams(_PHRASE, _WS).columns(seq=sa.BigInteger())
    name: sa.ColumnElement[str] = _e.name
    if dialect == "postgresql":
        # The trigram index is on the name in the default collation, which folds all of
        # Unicode; the column's "C" collation would fold ASCII only.
        name = _e.name.collate("default")
    return sa.union(
        _live_entities(name.ilike(_PATTERN, escape="\\")),
        _live_entities(_e.entity_type.ilike(_PATTERN, escape="\\")),
        sa.select(_o.entity_seq.label("seq")).where(
            _o.workspace_id == _WS,
            _o.valid_to.is_(None),
            _o.content.ilike(_PATTERN, escape="\\"),
        ),
    )


def _live_entities(condition: sa.ColumnElement[bool]) -> sa.Select[tuple[int]]:
    return sa.select(_e.seq).where(_e.workspace_id == _WS, _e.valid_to.is_(None), condition)


_PROVENANCE = ("seq", "actor", "source", "confidence", "valid_from", "valid_to", "superseded_seq")


def _provenance(r: Any, prefix: str = "") -> Provenance:
    """The provenance columns of a row (``prefix``-ed ones for a joined observation)."""
    return Provenance(*(getattr(r, prefix + name) for name in _PROVENANCE))
