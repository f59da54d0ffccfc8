"""SqlAnyWordSearch: context entries holding any of some words, ranked, for retrieval.

It reads the full-text index of migration 0002 (FTS5 ``context_search`` on SQLite, the
``search_vector`` column on PostgreSQL) with an OR of the words instead of the AND of a user's
query, and answers each entry's whole value. Words hold letters and digits only (the caller
splits them), so they never become operator syntax.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from infinity_matrix.core.retrieval.records import EntryHit
from infinity_matrix.storage import tables as t
from infinity_matrix.storage.database import Database
from infinity_matrix.storage.tables import Json, UTCDateTime

# bm25 column weights (key, text, data) as in storage/search.py: a key match counts ten times.
# FTS5 ranks its matches alone first (``ORDER BY rank`` is sorted inside FTS5) and only the best
# ``inner`` rows are joined to their entries: joining every match first costs several times more
# at 100,000 entries. The workspace is filtered after that; when it leaves too few rows while
# more matches exist (another workspace holds most of them), the plain join runs instead.
_SQLITE_TOP = sa.text(
    """
    SELECT ce.key, ce.kind, ce.text, ce.data, ce.updated_at, ce.updated_by, hit.score
    FROM (
        SELECT rowid, -rank AS score FROM context_search
        WHERE context_search MATCH :match AND rank MATCH 'bm25(10.0, 1.0, 1.0)'
        ORDER BY rank LIMIT :inner
    ) AS hit
    CROSS JOIN context_entries AS ce ON ce.rowid = hit.rowid
    WHERE ce.workspace_id = :workspace
    ORDER BY hit.score DESC, ce.key
    LIMIT :limit
    """
).columns(updated_at=UTCDateTime, data=Json)

_SQLITE = sa.text(
    """
    SELECT ce.key, ce.kind, ce.text, ce.data, ce.updated_at, ce.updated_by,
           -bm25(context_search, 10.0, 1.0, 1.0) AS score
    FROM context_search CROSS JOIN context_entries AS ce ON ce.rowid = context_search.rowid
    WHERE context_search MATCH :match AND ce.workspace_id = :workspace
    ORDER BY score DESC, ce.key
    LIMIT :limit
    """
).columns(updated_at=UTCDateTime, data=Json)

_SQLITE_VOCAB = sa.text(
    "SELECT term, doc FROM context_search_vocab WHERE term IN :words"
).bindparams(sa.bindparam("words", expanding=True))

_POSTGRES = sa.text(
    """
    SELECT ce.key, ce.kind, ce.text, ce.data, ce.updated_at, ce.updated_by,
           ts_rank_cd(ce.search_vector, q, 1) AS score
    FROM context_entries AS ce, to_tsquery('simple', :match) AS q
    WHERE ce.workspace_id = :workspace AND ce.search_vector @@ q
    ORDER BY score DESC, ce.key
    LIMIT :limit
    """
).columns(updated_at=UTCDateTime, data=Json)


_c = t.context_entries.c
_SELECT = sa.select(
    _c.key, _c.kind, _c.text, _c.data, _c.updated_at, _c.updated_by, sa.literal(0.0).label("score")
)
_CHUNK = 500
# Words of a task searched for on SQLite, rarest first; the inner query's rows per result row.
# bm25 costs about a microsecond per matching row: at 100,000 entries three words match about
# 2,100 rows (5 ms), four 5,400 (9 ms). The bench's fused ranking was no worse with three (full
# text alone lost 0.04 of recall@5): docs/retrieval.md.
MAX_WORDS = 3
_OVERSAMPLE = 5
_SORTED = orjson.OPT_SORT_KEYS  # the same text whatever order the keys were written in


class SqlAnyWordSearch:
    """Implements ``core.ports.AnyWordSearch`` on SQLite (bm25) or PostgreSQL
    (``ts_rank_cd``); scores are comparable within one answer only."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def match_entries(
        self, workspace: str, words: Sequence[str], *, limit: int
    ) -> list[EntryHit]:
        words = list(dict.fromkeys(w.lower() for w in words if w.isalnum()))
        if not words or limit <= 0:
            return []
        params: dict[str, Any] = {"workspace": workspace, "limit": limit}
        async with self._db.read() as conn:
            if not self._db.is_sqlite:
                params["match"] = " | ".join(words)
                return [_hit(row) for row in await conn.execute(_POSTGRES, params)]
            words = await _rarest(conn, words)
            if not words:
                return []
            params.update(match=" OR ".join(f'"{w}"' for w in words), inner=limit * _OVERSAMPLE)
            hits = [_hit(row) for row in await conn.execute(_SQLITE_TOP, params)]
            if len(hits) < limit and await _more_matches(conn, params):
                hits = [_hit(row) for row in await conn.execute(_SQLITE, params)]
            return hits

    async def load_entries(self, workspace: str, keys: Sequence[str]) -> list[EntryHit]:
        hits: list[EntryHit] = []
        async with self._db.read() as conn:
            for start in range(0, len(keys), _CHUNK):
                chunk = list(keys[start : start + _CHUNK])
                rows = await conn.execute(
                    _SELECT.where(_c.workspace_id == workspace, _c.key.in_(chunk))
                )
                hits.extend(_hit(row) for row in rows)
        return hits

    async def page_entries(
        self, workspace: str, *, after_key: str | None, limit: int
    ) -> list[EntryHit]:
        statement = _SELECT.where(_c.workspace_id == workspace)
        if after_key is not None:
            statement = statement.where(_c.key > after_key)
        async with self._db.read() as conn:
            rows = await conn.execute(statement.order_by(_c.key).limit(limit))
            return [_hit(row) for row in rows]


async def _rarest(conn: AsyncConnection, words: list[str]) -> list[str]:
    """The ``MAX_WORDS`` words held by the fewest entries (of all workspaces), none that no
    entry holds: the common ones add little to bm25 and most of its cost."""
    rows = await conn.execute(_SQLITE_VOCAB, {"words": words})
    counts: dict[str, int] = {row.term: row.doc for row in rows}
    held = [w for w in words if counts.get(w, 0) > 0]
    return sorted(held, key=lambda w: counts[w])[:MAX_WORDS]


async def _more_matches(conn: AsyncConnection, params: dict[str, Any]) -> bool:
    """Whether FTS5 has more matches than the inner query took (across workspaces)."""
    count = await conn.scalar(
        sa.text(
            "SELECT count(*) FROM (SELECT rowid FROM context_search"
            " WHERE context_search MATCH :match LIMIT :enough)"
        ),
        {"match": params["match"], "enough": params["inner"] + 1},
    )
    return bool(count and count > params["inner"])


def _hit(row: sa.Row[Any]) -> EntryHit:
    text = row.text if row.kind == "text" else orjson.dumps(row.data, option=_SORTED).decode()
    return EntryHit(
        key=row.key,
        text=text or "",
        score=float(row.score),
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )
