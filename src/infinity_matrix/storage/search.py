"""SqlSearchIndex: full-text search over context entries with SQLite FTS5 or PostgreSQL.

The index is schema (migration 0002): an FTS5 table kept by triggers on SQLite, a generated
``tsvector`` column on PostgreSQL; nothing here writes to it. ``fts5_match`` and ``tsquery``
render a parsed ``SearchQuery`` for each database from words that hold letters and digits
only, so user text never reaches either query parser as syntax. Other indexes (insights)
reuse them.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from infinity_matrix.core.search import (
    HIGHLIGHT_START,
    HIGHLIGHT_STOP,
    SNIPPET_ELLIPSIS,
    Phrase,
    SearchHit,
    SearchQuery,
    parse_query,
)
from infinity_matrix.storage.database import Database
from infinity_matrix.storage.tables import UTCDateTime

SNIPPET_WORDS = 16  # as in the SQLite statement
# After the last code point no key can continue a prefix: the end of a key-prefix range.
_KEY_END = "\U0010ffff"


def fts5_match(query: SearchQuery) -> str:
    """An FTS5 MATCH expression: every phrase quoted, ``*`` after a prefix phrase."""
    include = " AND ".join(_fts5_phrase(p) for p in query.include)
    exclude = "".join(f" NOT {_fts5_phrase(p)}" for p in query.exclude)
    return f"({include}){exclude}"


def tsquery(query: SearchQuery) -> str:
    """Text for PostgreSQL's ``to_tsquery``: phrases as ``a <-> b``, ``:*`` for a prefix.

    Not ``websearch_to_tsquery``: it cannot express a prefix match, and the words are already
    safe (letters and digits only, never operator characters).
    """
    parts = [f"({_ts_phrase(p)})" for p in query.include]
    parts += [f"!({_ts_phrase(p)})" for p in query.exclude]
    return " & ".join(parts)


def _fts5_phrase(phrase: Phrase) -> str:
    return f'"{" ".join(phrase.words)}"' + ("*" if phrase.prefix else "")


def _ts_phrase(phrase: Phrase) -> str:
    return " <-> ".join(phrase.words) + (":*" if phrase.prefix else "")


# bm25 column weights (key, text, data): a key match counts ten times a match in the value.
_SQLITE_SEARCH = sa.text(
    """
    SELECT ce.key, ce.kind, ce.seq, ce.updated_at,
           -bm25(context_search, 10.0, 1.0, 1.0) AS score,
           snippet(context_search, CASE ce.kind WHEN 'text' THEN 1 ELSE 2 END,
                   :start, :stop, :ellipsis, 16) AS snippet
    FROM context_search CROSS JOIN context_entries AS ce ON ce.rowid = context_search.rowid
    WHERE context_search MATCH :match AND ce.workspace_id = :workspace
      AND ce.key >= :low AND ce.key < :high
    ORDER BY score DESC, ce.key
    LIMIT :limit
    """
).columns(updated_at=UTCDateTime)

# The headline is computed in the outer query, for the few rows that survive the LIMIT only.
_POSTGRES_SEARCH = sa.text(
    """
    SELECT hit.key, hit.kind, hit.seq, hit.updated_at, hit.score,
           ts_headline('simple',
                       CASE hit.kind WHEN 'text' THEN hit.text
                       ELSE imx_json_words(hit.data) END,
                       hit.q, :headline) AS snippet
    FROM (
        SELECT ce.key, ce.kind, ce.seq, ce.updated_at, ce.text, ce.data, q,
               ts_rank_cd(ce.search_vector, q, 1) AS score
        FROM context_entries AS ce, to_tsquery('simple', :match) AS q
        WHERE ce.workspace_id = :workspace AND ce.search_vector @@ q
          AND ce.key >= :low AND ce.key < :high
        ORDER BY score DESC, ce.key
        LIMIT :limit
    ) AS hit
    ORDER BY hit.score DESC, hit.key
    """
).columns(updated_at=UTCDateTime)

_HEADLINE = (
    f"StartSel={HIGHLIGHT_START}, StopSel={HIGHLIGHT_STOP}, MaxWords={SNIPPET_WORDS},"
    f" MinWords={SNIPPET_WORDS // 2}, ShortWord=0, MaxFragments=2,"
    f' FragmentDelimiter=" {SNIPPET_ELLIPSIS} "'
)


class SqlSearchIndex:
    """Implements ``core.ports.SearchIndex`` on SQLite (FTS5, bm25) or PostgreSQL
    (``ts_rank_cd``); scores are comparable within one answer only."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def search_entries(
        self, workspace: str, query: str, *, prefix: str = "", limit: int = 20
    ) -> list[SearchHit]:
        parsed = parse_query(query)
        params: dict[str, Any] = {
            "workspace": workspace,
            "low": prefix,
            "high": prefix + _KEY_END,
            "limit": limit,
        }
        if self._db.is_sqlite:
            statement = _SQLITE_SEARCH
            params.update(
                match=fts5_match(parsed),
                start=HIGHLIGHT_START,
                stop=HIGHLIGHT_STOP,
                ellipsis=SNIPPET_ELLIPSIS,
            )
        else:
            statement = _POSTGRES_SEARCH
            params.update(match=tsquery(parsed), headline=_HEADLINE)
        async with self._db.read() as conn:
            rows = await conn.execute(statement, params)
            return [_hit(row) for row in rows]


def _hit(row: sa.Row[Any]) -> SearchHit:
    return SearchHit(
        key=row.key,
        kind=row.kind,
        snippet=row.snippet or "",
        score=float(row.score),
        seq=row.seq,
        updated_at=row.updated_at,
    )
