"""SqlPatternIndex: the code-fingerprint index (table ``code_fingerprints``, migration 0006).

Derived from the context entries like a search index: the pattern service writes a key's rows
whenever the entry changes, and a scan rebuilds them. Recurring fingerprints are found on the
(workspace, fingerprint, key) index: one grouped index scan picks the fingerprints seen under
two or more keys, then their rows are read by fingerprint.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import sqlalchemy as sa

from infinity_matrix.core.patterns.fingerprint import CodeUnit, Occurrence, Pattern
from infinity_matrix.storage import tables as t
from infinity_matrix.storage.database import Database

_f = t.code_fingerprints.c
_INSERT_BATCH = 500


class SqlPatternIndex:
    """Implements ``core.ports.PatternIndex`` on SQLite or PostgreSQL."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def replace(
        self, workspace: str, key: str, seq: int, units: Sequence[CodeUnit]
    ) -> list[str] | None:
        mine = (_f.workspace_id == workspace) & (_f.key == key)
        async with self._db.write() as conn:
            rows = (await conn.execute(sa.select(_f.fingerprint, _f.seq).where(mine))).all()
            if any(row.seq > seq for row in rows):
                return None
            await conn.execute(sa.delete(t.code_fingerprints).where(mine))
            values = _rows(workspace, key, seq, units)
            for start in range(0, len(values), _INSERT_BATCH):
                await conn.execute(
                    sa.insert(t.code_fingerprints), values[start : start + _INSERT_BATCH]
                )
        return sorted({row.fingerprint for row in rows})

    async def remove(self, workspace: str, key: str) -> list[str]:
        mine = (_f.workspace_id == workspace) & (_f.key == key)
        async with self._db.write() as conn:
            result = await conn.execute(
                sa.delete(t.code_fingerprints).where(mine).returning(_f.fingerprint)
            )
            return sorted({row.fingerprint for row in result})

    async def keys(self, workspace: str) -> list[str]:
        statement = (
            sa.select(_f.key).where(_f.workspace_id == workspace).distinct().order_by(_f.key)
        )
        async with self._db.read() as conn:
            return list((await conn.execute(statement)).scalars())

    async def recurring(
        self,
        workspace: str,
        *,
        fingerprints: Collection[str] | None = None,
        keys: Collection[str] | None = None,
        limit: int = 1000,
    ) -> list[Pattern]:
        if (fingerprints is not None and not fingerprints) or (keys is not None and not keys):
            return []
        chosen = (
            sa.select(_f.fingerprint)
            .where(_f.workspace_id == workspace)
            .group_by(_f.fingerprint)
            .having(sa.func.count(sa.distinct(_f.key)) >= 2)
            .order_by(_f.fingerprint)
            .limit(limit)
        )
        if fingerprints is not None:
            chosen = chosen.where(_f.fingerprint.in_(sorted(fingerprints)))
        if keys is not None:
            under = sa.select(_f.fingerprint).where(
                _f.workspace_id == workspace, _f.key.in_(sorted(keys))
            )
            chosen = chosen.where(_f.fingerprint.in_(under))
        statement = (
            sa.select(t.code_fingerprints)
            .where(_f.workspace_id == workspace, _f.fingerprint.in_(chosen.scalar_subquery()))
            .order_by(_f.fingerprint, _f.key, _f.start_line, _f.end_line)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(statement)).all()
        return _patterns(rows)


def _rows(workspace: str, key: str, seq: int, units: Sequence[CodeUnit]) -> list[dict[str, Any]]:
    rows: dict[tuple[str, int, int], dict[str, Any]] = {}
    for unit in units:
        rows.setdefault(
            (unit.fingerprint, unit.start_line, unit.end_line),
            {
                "workspace_id": workspace,
                "key": key,
                "fingerprint": unit.fingerprint,
                "start_line": unit.start_line,
                "end_line": unit.end_line,
                "name": unit.name[:300],
                "kind": unit.kind,
                "language": unit.language,
                "mass": unit.mass,
                "seq": seq,
            },
        )
    return list(rows.values())


def _patterns(rows: Sequence[sa.Row[Any]]) -> list[Pattern]:
    grouped: dict[str, list[sa.Row[Any]]] = {}
    for row in rows:
        grouped.setdefault(row.fingerprint, []).append(row)
    return [
        Pattern(
            fingerprint=fingerprint,
            kind=group[0].kind,
            language=group[0].language,
            mass=group[0].mass,
            occurrences=tuple(
                Occurrence(
                    key=row.key,
                    name=row.name,
                    language=row.language,
                    start_line=row.start_line,
                    end_line=row.end_line,
                    seq=row.seq,
                )
                for row in group
            ),
        )
        for fingerprint, group in grouped.items()
    ]
