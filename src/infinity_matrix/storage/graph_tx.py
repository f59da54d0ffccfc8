"""The knowledge graph's statements inside a log transaction (``SqlLogTransaction`` delegates
here): the reads ``decide`` makes, and the projector's batched writes.

Every write is one statement for a whole batch of rows (executemany), never a round trip per
row. The search indexes follow the rows by themselves (triggers on SQLite, GIN indexes on
PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from infinity_matrix.core.knowledge.records import (
    EntityEnd,
    EntityRow,
    ObservationEnd,
    ObservationRow,
    Relation,
    RelationEnd,
    RelationRow,
)
from infinity_matrix.storage import tables as t

T = TypeVar("T")
_CHUNK = 500  # values per IN list: far below SQLite's and asyncpg's parameter limits
_BULK = 500  # rows in one insert that make it a bulk load

_e = t.graph_entities.c
_o = t.graph_observations.c
_r = t.graph_relations.c


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
    conn: AsyncConnection, workspace: str, names: Sequence[str]
) -> dict[str, tuple[int, list[str]]]:
    found: dict[str, tuple[int, list[str]]] = {}
    for chunk in _chunks(names):
        joined = t.graph_entities.outerjoin(
            t.graph_observations,
            sa.and_(
                _o.workspace_id == _e.workspace_id,
                _o.entity_seq == _e.seq,
                _o.valid_to.is_(None),
            ),
        )
        rows = await conn.execute(
            sa.select(_e.name, _e.seq, _o.content)
            .select_from(joined)
            .where(_e.workspace_id == workspace, _e.valid_to.is_(None), _e.name.in_(chunk))
            .order_by(_e.seq, _o.seq, _o.ord)
        )
        for r in rows:
            _seq, contents = found.setdefault(r.name, (r.seq, []))
            if r.content is not None:
                contents.append(r.content)
    return found


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
    await _insert(
        conn,
        t.graph_entities,
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
    await _insert(
        conn,
        t.graph_observations,
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
    await _insert(
        conn,
        t.graph_relations,
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


async def _insert(conn: AsyncConnection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    await conn.execute(table.insert(), rows)
    if len(rows) >= _BULK and conn.dialect.name == "postgresql":
        # After a bulk load (an import, a replay) the planner's statistics are far off until
        # autovacuum comes by, and plans made for a tiny table are ruinous on a large one.
        # ANALYZE samples this transaction's own rows too; it blocks no reader or writer.
        await conn.exec_driver_sql(f"ANALYZE {table.name}")


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


def _relation(r: Any) -> Relation:  # a row with from_name, to_name, relation_type
    return Relation(r.from_name, r.to_name, r.relation_type)


def _chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]
