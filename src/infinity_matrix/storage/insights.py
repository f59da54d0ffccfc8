"""SqlInsightStore: reads of the insights' projection (paged, full text) and the usage counters.

A read of several insights makes a fixed number of statements whatever their number: the rows,
then their supports, then their conflicts. Full text is the index of migration 0004: FTS5
bm25 on SQLite (title weighted 4, tags and topic 2, body 1), ``ts_rank_cd`` on PostgreSQL
(title A, tags and topic B, body D).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from infinity_matrix.core.insights.records import (
    Evidence,
    InsightRecord,
    KindStats,
    Occurrence,
    ServedCount,
    SourceFigures,
    StatsFigures,
    SupportRecord,
    TallyRow,
)
from infinity_matrix.core.search import Phrase, SearchQuery
from infinity_matrix.storage import tables as t
from infinity_matrix.storage.database import Database
from infinity_matrix.storage.insights_tx import load_tallies, tally_columns, tally_row
from infinity_matrix.storage.search import fts5_match, tsquery

_i = t.insights.c
_s = t.insight_supports.c
_c = t.insight_conflicts.c
_u = t.insight_usage.c
_CHUNK = 500

_SQLITE_SEARCH = """
    SELECT i.id AS id, -bm25(insights_search, 4.0, 1.0, 2.0, 2.0) AS rank
    FROM insights_search CROSS JOIN insights AS i ON i.row_id = insights_search.rowid
    WHERE insights_search MATCH :match AND i.workspace_id = :ws {filters}
    ORDER BY rank DESC, i.id DESC
    LIMIT :limit
"""
_POSTGRES_SEARCH = """
    SELECT i.id AS id, ts_rank_cd(i.search_vector, q, 1) AS rank
    FROM insights AS i, to_tsquery('simple', :match) AS q
    WHERE i.workspace_id = :ws AND i.search_vector @@ q {filters}
    ORDER BY rank DESC, i.id DESC
    LIMIT :limit
"""


class SqlInsightStore:
    """Implements ``core.ports.InsightStore`` on SQLite or PostgreSQL."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, workspace: str, ids: Sequence[int]) -> dict[int, InsightRecord]:
        async with self._db.read() as conn:
            return await _records(conn, workspace, list(ids))

    async def page(
        self,
        workspace: str,
        *,
        kind: str | None,
        tag: str | None,
        topic: str | None,
        statuses: Sequence[str],
        match: SearchQuery | None,
        before: int | None,
        limit: int,
    ) -> list[InsightRecord]:
        sqlite_db = self._db.is_sqlite
        query = sa.select(_i.id).where(_i.workspace_id == workspace, _i.status.in_(statuses))
        if kind is not None:
            query = query.where(_i.kind == kind)
        if topic is not None:
            query = query.where(_i.topic == topic)
        if before is not None:
            query = query.where(_i.id < before)
        if tag is not None:
            query = query.where(_has_tag(sqlite_db, tag))
        if match is not None:
            query = query.where(_matches(sqlite_db, match))
        async with self._db.read() as conn:
            ids = [r.id for r in await conn.execute(query.order_by(_i.id.desc()).limit(limit))]
            found = await _records(conn, workspace, ids)
        return [found[i] for i in ids if i in found]

    async def search(
        self,
        workspace: str,
        query: SearchQuery,
        *,
        any_word: bool,
        statuses: Sequence[str],
        kinds: Sequence[str] | None,
        limit: int,
    ) -> list[tuple[InsightRecord, float]]:
        params: dict[str, Any] = {"ws": workspace, "limit": limit}
        filters = " AND i.status IN :statuses"
        params["statuses"] = list(statuses)
        binds: list[sa.BindParameter[Any]] = [sa.bindparam("statuses", expanding=True)]
        if kinds is not None:
            filters += " AND i.kind IN :kinds"
            params["kinds"] = list(kinds)
            binds.append(sa.bindparam("kinds", expanding=True))
        if self._db.is_sqlite:
            sql = _SQLITE_SEARCH
            params["match"] = _fts5_any(query) if any_word else fts5_match(query)
        else:
            sql = _POSTGRES_SEARCH
            params["match"] = _ts_any(query) if any_word else tsquery(query)
        statement = sa.text(sql.format(filters=filters)).bindparams(*binds)
        async with self._db.read() as conn:
            ranked = [(r.id, float(r.rank)) for r in await conn.execute(statement, params)]
            found = await _records(conn, workspace, [i for i, _ in ranked])
        return [(found[i], rank) for i, rank in ranked if i in found]

    async def supports(self, workspace: str, ids: Sequence[int]) -> dict[int, list[SupportRecord]]:
        async with self._db.read() as conn:
            return await _supports(conn, workspace, list(ids))

    async def tallies(self, workspace: str, keys: Sequence[str]) -> dict[str, TallyRow]:
        async with self._db.read() as conn:
            return await load_tallies(conn, workspace, keys)

    async def stats(self, workspace: str) -> StatsFigures:
        async with self._db.read() as conn:
            return await _stats(conn, workspace)

    async def add_served(self, counts: Sequence[ServedCount]) -> None:
        if not counts:
            return
        rows = [
            {
                "workspace_id": c.workspace,
                "insight_id": c.insight_id,
                "target": c.target,
                "served": c.served,
                "last_served_at": c.last_served_at,
            }
            for c in counts
        ]
        async with self._db.write() as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            insert = dialect.insert(t.insight_usage)
            statement = insert.on_conflict_do_update(
                index_elements=["workspace_id", "insight_id", "target"],
                set_={
                    "served": _u.served + insert.excluded.served,
                    "last_served_at": insert.excluded.last_served_at,
                },
            )
            await conn.execute(statement, rows)


async def _records(
    conn: AsyncConnection, workspace: str, ids: list[int]
) -> dict[int, InsightRecord]:
    rows: list[Any] = []
    for chunk in _chunks(ids):
        query = sa.select(t.insights).where(_i.workspace_id == workspace, _i.id.in_(chunk))
        rows.extend(await conn.execute(query))
    found = [r.id for r in rows]
    supports = await _supports(conn, workspace, found)
    conflicts: dict[int, list[int]] = {}
    for chunk in _chunks(found):
        query = (
            sa.select(_c.insight_id, _c.other_id)
            .where(_c.workspace_id == workspace, _c.insight_id.in_(chunk))
            .order_by(_c.insight_id, _c.other_id)
        )
        for r in await conn.execute(query):
            conflicts.setdefault(r.insight_id, []).append(r.other_id)
    return {
        r.id: _record(workspace, r, supports.get(r.id, []), conflicts.get(r.id, [])) for r in rows
    }


async def _supports(
    conn: AsyncConnection, workspace: str, ids: list[int]
) -> dict[int, list[SupportRecord]]:
    found: dict[int, list[SupportRecord]] = {}
    for chunk in _chunks(ids):
        query = (
            sa.select(t.insight_supports)
            .where(_s.workspace_id == workspace, _s.insight_id.in_(chunk))
            .order_by(_s.insight_id, _s.seq, _s.source_key)
        )
        for r in await conn.execute(query):
            support = SupportRecord(
                r.source_key, r.actor, r.assistant, r.model, r.seq, r.at, r.similarity
            )
            found.setdefault(r.insight_id, []).append(support)
    return found


async def _stats(conn: AsyncConnection, workspace: str) -> StatsFigures:
    mine = _i.workspace_id == workspace
    active = sa.func.sum(sa.case((_i.status == "active", 1), else_=0))
    kinds_rows = await conn.execute(
        sa.select(
            _i.kind,
            sa.func.count().label("n"),
            active.label("active"),
            sa.func.sum(_i.accepted).label("accepted"),
            sa.func.sum(_i.rejected).label("rejected"),
            sa.func.sum(_i.outdated).label("outdated"),
        )
        .where(mine)
        .group_by(_i.kind)
    )
    kinds = {r.kind: r for r in kinds_rows}
    statuses = await conn.execute(
        sa.select(_i.status, sa.func.count().label("n")).where(mine).group_by(_i.status)
    )
    served_by = t.insight_usage.join(
        t.insights, sa.and_(_i.workspace_id == _u.workspace_id, _i.id == _u.insight_id)
    )
    served_kind = dict(
        (r.kind, int(r.served))
        for r in await conn.execute(
            sa.select(_i.kind, sa.func.sum(_u.served).label("served"))
            .select_from(served_by)
            .where(_u.workspace_id == workspace)
            .group_by(_i.kind)
        )
    )
    served_to = {
        r.target: int(r.served)
        for r in await conn.execute(
            sa.select(_u.target, sa.func.sum(_u.served).label("served"))
            .where(_u.workspace_id == workspace)
            .group_by(_u.target)
            .order_by(_u.target)
        )
    }
    served_source = {
        r.source_key: int(r.served)
        for r in await conn.execute(
            sa.select(_i.source_key, sa.func.sum(_u.served).label("served"))
            .select_from(served_by)
            .where(_u.workspace_id == workspace)
            .group_by(_i.source_key)
        )
    }
    authored = {
        r.source_key: int(r.n)
        for r in await conn.execute(
            sa.select(_i.source_key, sa.func.count().label("n")).where(mine).group_by(_i.source_key)
        )
    }
    # Corroborating sources are listed too, before any feedback reached them.
    supporters = {
        r.source_key
        for r in await conn.execute(
            sa.select(_s.source_key).where(_s.workspace_id == workspace).distinct()
        )
    }
    tc = t.source_tallies.c
    tallies = {
        r.source_key: tally_row(r)
        for r in await conn.execute(tally_columns().where(tc.workspace_id == workspace))
    }
    return StatsFigures(
        served_to=served_to,
        by_status={r.status: int(r.n) for r in statuses},
        kinds=[
            KindStats(
                kind,
                int(r.n),
                int(r.active or 0),
                served_kind.get(kind, 0),
                int(r.accepted or 0),
                int(r.rejected or 0),
                int(r.outdated or 0),
            )
            for kind, r in sorted(kinds.items())
        ],
        sources=[
            SourceFigures(key, tallies.get(key), served_source.get(key, 0), authored.get(key, 0))
            for key in sorted({*tallies, *authored, *supporters})
        ],
    )


def _record(
    workspace: str, r: Any, supports: list[SupportRecord], conflicts: list[int]
) -> InsightRecord:
    return InsightRecord(
        workspace=workspace,
        id=r.id,
        kind=r.kind,
        title=r.title,
        body=r.body,
        tags=list(r.tags),
        topic=r.topic,
        evidence=[Evidence(e["type"], e["ref"]) for e in r.evidence],
        status=r.status,
        superseded_by=r.superseded_by,
        actor=r.actor,
        assistant=r.assistant,
        model=r.model,
        source=r.source,
        source_key=r.source_key,
        created_at=r.created_at,
        updated_at=r.updated_at,
        seq=r.seq,
        accepted=r.accepted,
        rejected=r.rejected,
        outdated=r.outdated,
        corroborations=r.corroborations,
        occurrences=[Occurrence(**o) for o in r.occurrences],
        stated_confidence=r.stated_confidence,
        conflicts=conflicts,
        supports=supports,
    )


def _has_tag(sqlite_db: bool, tag: str) -> sa.ColumnElement[bool]:
    if sqlite_db:
        clause = "EXISTS (SELECT 1 FROM json_each(insights.tags) WHERE value = :tag)"
    else:
        clause = "insights.tags @> jsonb_build_array(CAST(:tag AS text))"
    return sa.text(clause).bindparams(tag=tag)  # type: ignore[return-value]


def _matches(sqlite_db: bool, query: SearchQuery) -> sa.ColumnElement[bool]:
    if sqlite_db:
        clause = (
            "insights.row_id IN (SELECT rowid FROM insights_search WHERE insights_search MATCH :m)"
        )
        return sa.text(clause).bindparams(m=fts5_match(query))  # type: ignore[return-value]
    clause = "insights.search_vector @@ to_tsquery('simple', :m)"
    return sa.text(clause).bindparams(m=tsquery(query))  # type: ignore[return-value]


def _fts5_any(query: SearchQuery) -> str:
    """Any phrase may match (a task text, not a query typed to narrow down)."""
    include = " OR ".join(_fts5_phrase(p) for p in query.include)
    exclude = "".join(f" NOT {_fts5_phrase(p)}" for p in query.exclude)
    return f"({include}){exclude}"


def _ts_any(query: SearchQuery) -> str:
    include = " | ".join(f"({_ts_phrase(p)})" for p in query.include)
    exclude = "".join(f" & !({_ts_phrase(p)})" for p in query.exclude)
    return f"({include}){exclude}"


def _fts5_phrase(phrase: Phrase) -> str:
    return f'"{" ".join(phrase.words)}"' + ("*" if phrase.prefix else "")


def _ts_phrase(phrase: Phrase) -> str:
    return " <-> ".join(phrase.words) + (":*" if phrase.prefix else "")


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]
