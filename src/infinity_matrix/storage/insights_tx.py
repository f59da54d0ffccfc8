"""The insights' statements inside a log transaction: the reads ``decide`` makes, and the
projector's writes. ``InsightTxMixin`` adds them to ``SqlLogTransaction``.

The full-text index follows the rows by itself (triggers on SQLite, a generated column on
PostgreSQL), so candidates recorded earlier in the same transaction are found too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from infinity_matrix.core.insights.records import (
    ConflictRow,
    InsightChange,
    InsightRow,
    InsightState,
    Judged,
    JudgementRow,
    Occurrence,
    SupportRow,
    TallyRow,
)
from infinity_matrix.storage import tables as t
from infinity_matrix.storage.upsert import upsert

_i = t.insights.c
_s = t.insight_supports.c
_c = t.insight_conflicts.c
_j = t.insight_judgements.c
_CHUNK = 500

_SQLITE_CANDIDATES = sa.text(
    """
    SELECT i.id FROM insights_search CROSS JOIN insights AS i ON i.row_id = insights_search.rowid
    WHERE insights_search MATCH :match AND i.workspace_id = :ws AND i.kind = :kind
      AND i.status <> 'outdated'
    ORDER BY bm25(insights_search, 4.0, 1.0, 2.0, 2.0), i.id DESC
    LIMIT :limit
    """
)
_POSTGRES_CANDIDATES = sa.text(
    """
    SELECT i.id FROM insights AS i, to_tsquery('simple', :match) AS q
    WHERE i.workspace_id = :ws AND i.kind = :kind AND i.status <> 'outdated'
      AND i.search_vector @@ q
    ORDER BY ts_rank_cd(i.search_vector, q, 1) DESC, i.id DESC
    LIMIT :limit
    """
)


class InsightTxMixin:
    """The insight methods of ``core.ports.LogTransaction``; needs ``_conn`` and ``workspace``."""

    _conn: AsyncConnection
    workspace: str

    async def load_insights(self, ids: Sequence[int]) -> dict[int, InsightState]:
        found: dict[int, InsightState] = {}
        for chunk in _chunks(sorted(set(ids))):
            found.update(await self._states(_i.id.in_(chunk)))
        return found

    async def find_insight_candidates(
        self, kind: str, words: Sequence[str], limit: int
    ) -> list[InsightState]:
        if not words:
            return []
        if self._conn.dialect.name == "postgresql":
            statement = _POSTGRES_CANDIDATES
            match = " | ".join(words)
        else:
            statement = _SQLITE_CANDIDATES
            match = " OR ".join(f'"{w}"' for w in words)
        params = {"match": match, "ws": self.workspace, "kind": kind, "limit": limit}
        ids = [r.id for r in await self._conn.execute(statement, params)]
        states = await self.load_insights(ids)
        return [states[i] for i in ids if i in states]

    async def load_insights_on_topic(self, topic: str, limit: int) -> list[InsightState]:
        states = await self._states(_i.topic == topic, order=_i.id.desc(), limit=limit)
        return sorted(states.values(), key=lambda s: -s.id)

    async def load_insight_conflicts(self, ids: Sequence[int]) -> dict[int, list[int]]:
        found: dict[int, list[int]] = {}
        for chunk in _chunks(sorted(set(ids))):
            rows = await self._conn.execute(
                sa.select(_c.insight_id, _c.other_id)
                .where(_c.workspace_id == self.workspace, _c.insight_id.in_(chunk))
                .order_by(_c.insight_id, _c.other_id)
            )
            for r in rows:
                found.setdefault(r.insight_id, []).append(r.other_id)
        return found

    async def load_source_tallies(self, keys: Sequence[str]) -> dict[str, TallyRow]:
        return await load_tallies(self._conn, self.workspace, keys)

    async def load_insight_judgements(
        self, ids: Sequence[int]
    ) -> dict[int, dict[str, JudgementRow]]:
        found: dict[int, dict[str, JudgementRow]] = {}
        for chunk in _chunks(sorted(set(ids))):
            rows = await self._conn.execute(
                sa.select(_j.insight_id, _j.source_key, _j.verdict, _j.folded_at, _j.outdated)
                .where(_j.workspace_id == self.workspace, _j.insight_id.in_(chunk))
                .order_by(_j.insight_id, _j.source_key)
            )
            for r in rows:
                found.setdefault(r.insight_id, {})[r.source_key] = JudgementRow(
                    r.insight_id, r.source_key, r.verdict, float(r.folded_at), bool(r.outdated)
                )
        return found

    async def save_insight_judgements(self, rows: Sequence[JudgementRow]) -> None:
        values = [
            {
                "workspace_id": self.workspace,
                "insight_id": r.insight_id,
                "source_key": r.source_key,
                "verdict": r.verdict,
                "folded_at": r.folded_at,
                "outdated": r.outdated,
            }
            for r in rows
        ]
        if values:
            keys = ("workspace_id", "insight_id", "source_key")
            await upsert(self._conn, t.insight_judgements, values, keys)

    async def insert_insight(self, row: InsightRow) -> None:
        await self._conn.execute(
            t.insights.insert().values(
                workspace_id=self.workspace,
                id=row.id,
                kind=row.kind,
                title=row.title,
                body=row.body,
                tags=row.tags,
                topic=row.topic,
                evidence=row.evidence,
                status="active",
                superseded_by=None,
                actor=row.actor,
                assistant=row.assistant,
                model=row.model,
                source=row.source,
                source_key=row.source_key,
                created_at=row.at,
                updated_at=row.at,
                seq=row.id,
                accepted=0,
                rejected=0,
                outdated=0,
                corroborations=0,
                occurrences=row.occurrences,
                stated_confidence=row.stated_confidence,
            )
        )

    async def insert_insight_supports(self, rows: Sequence[SupportRow]) -> None:
        values = [
            {
                "workspace_id": self.workspace,
                "insight_id": r.insight_id,
                "source_key": r.source_key,
                "actor": r.actor,
                "assistant": r.assistant,
                "model": r.model,
                "seq": r.seq,
                "at": r.at,
                "similarity": r.similarity,
            }
            for r in rows
        ]
        await self._conn.execute(_insert_ignoring(self._conn, t.insight_supports), values)

    async def insert_insight_conflicts(self, rows: Sequence[ConflictRow]) -> None:
        values = [
            {
                "workspace_id": self.workspace,
                "insight_id": r.insight_id,
                "other_id": r.other_id,
                "seq": r.seq,
            }
            for r in rows
        ]
        await self._conn.execute(_insert_ignoring(self._conn, t.insight_conflicts), values)

    async def change_insights(self, changes: Sequence[InsightChange]) -> None:
        for change in changes:
            values: dict[str, Any] = {
                "seq": change.seq,
                "updated_at": change.at,
                "accepted": _i.accepted + change.accepted,
                "rejected": _i.rejected + change.rejected,
                "outdated": _i.outdated + change.outdated,
                "corroborations": _i.corroborations + change.corroborations,
            }
            if change.status is not None:
                values["status"] = change.status
            if change.superseded_by is not None or change.clear_superseded_by:
                values["superseded_by"] = change.superseded_by
            if change.occurrences is not None:
                values["occurrences"] = change.occurrences
            if change.judged is not None:
                values["judged"] = change.judged
            update = t.insights.update().where(
                _i.workspace_id == self.workspace, _i.id == change.id
            )
            if change.when_status is not None:
                update = update.where(_i.status == change.when_status)
            await self._conn.execute(update.values(**values))

    async def save_source_tallies(self, rows: Sequence[TallyRow]) -> None:
        values = [
            {
                "workspace_id": self.workspace,
                "source_key": r.source_key,
                "accepted": r.accepted,
                "rejected": r.rejected,
                "outdated": r.outdated,
                "count": r.count,
                "clock": r.clock,
            }
            for r in rows
        ]
        await upsert(self._conn, t.source_tallies, values, ("workspace_id", "source_key"))

    async def _states(
        self,
        condition: sa.ColumnElement[bool],
        *,
        order: Any = None,
        limit: int | None = None,
    ) -> dict[int, InsightState]:
        query = sa.select(
            _i.id, _i.kind, _i.title, _i.body, _i.topic, _i.status, _i.occurrences, _i.judged
        ).where(_i.workspace_id == self.workspace, condition)
        if order is not None:
            query = query.order_by(order)
        if limit is not None:
            query = query.limit(limit)
        rows = list(await self._conn.execute(query))
        sources: dict[int, set[str]] = {}
        for chunk in _chunks([r.id for r in rows]):
            found = await self._conn.execute(
                sa.select(_s.insight_id, _s.source_key).where(
                    _s.workspace_id == self.workspace, _s.insight_id.in_(chunk)
                )
            )
            for s in found:
                sources.setdefault(s.insight_id, set()).add(s.source_key)
        return {
            r.id: InsightState(
                id=r.id,
                kind=r.kind,
                title=r.title,
                body=r.body,
                topic=r.topic,
                status=r.status,
                occurrences=[Occurrence(**o) for o in r.occurrences],
                sources=frozenset(sources.get(r.id, ())),
                judged=_judged(r.judged),
            )
            for r in rows
        }


async def load_tallies(
    conn: AsyncConnection, workspace: str, keys: Sequence[str]
) -> dict[str, TallyRow]:
    c = t.source_tallies.c
    found: dict[str, TallyRow] = {}
    for chunk in _chunks(sorted(set(keys))):
        rows = await conn.execute(
            tally_columns().where(c.workspace_id == workspace, c.source_key.in_(chunk))
        )
        found.update({r.source_key: tally_row(r) for r in rows})
    return found


def tally_columns() -> sa.Select[Any]:
    """A tally's columns (``count`` as ``n``: a row's ``count`` is the tuple method)."""
    c = t.source_tallies.c
    return sa.select(c.source_key, c.accepted, c.rejected, c.outdated, c.count.label("n"), c.clock)


def tally_row(r: Any) -> TallyRow:
    """The ``TallyRow`` of a row selected with ``tally_columns``."""
    return TallyRow(r.source_key, r.accepted, r.rejected, r.outdated, r.n, r.clock)


def _judged(value: str | None) -> Judged | None:
    if value == "true":
        return "true"
    if value == "false":
        return "false"
    return None


async def clear(conn: AsyncConnection, workspace: str) -> None:
    """Delete the workspace's insight projections (a replay rebuilds them); usage counters are
    no projection and stay."""
    for table in (
        t.insight_judgements,
        t.insight_conflicts,
        t.insight_supports,
        t.source_tallies,
        t.insights,
    ):
        await conn.execute(table.delete().where(table.c.workspace_id == workspace))


def _insert_ignoring(conn: AsyncConnection, table: sa.Table) -> sa.Executable:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement: sa.Executable = dialect.insert(table).on_conflict_do_nothing()
    return statement


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]
