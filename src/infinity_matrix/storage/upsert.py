"""Dialect-aware INSERT … ON CONFLICT DO UPDATE for the two supported databases.

Statements are built once per (dialect, table, columns) and executed with parameters: building
one (its ``excluded`` alias and cache key) costs more than running it for a small row.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


async def upsert(
    conn: AsyncConnection, table: sa.Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]
) -> None:
    """Insert ``rows`` or, where a row with the same ``keys`` exists, overwrite its other columns.

    Every row must have the same columns.
    """
    if not rows:
        return
    stmt = _statement(conn.dialect.name, table, tuple(rows[0]), tuple(keys))
    await conn.execute(stmt, list(rows))


@cache
def _statement(
    dialect_name: str, table: sa.Table, columns: tuple[str, ...], keys: tuple[str, ...]
) -> sa.Executable:
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    stmt = dialect.insert(table)
    changes = {name: stmt.excluded[name] for name in columns if name not in keys}
    upserting: sa.Executable = stmt.on_conflict_do_update(index_elements=list(keys), set_=changes)
    return upserting
