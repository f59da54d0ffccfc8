"""Dialect-aware INSERT … ON CONFLICT DO UPDATE for the two supported databases."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


async def upsert(
    conn: AsyncConnection, table: sa.Table, row: dict[str, Any], keys: Sequence[str]
) -> None:
    """Insert ``row`` or, when a row with the same ``keys`` exists, overwrite its other columns."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(**row)
    changes = {name: stmt.excluded[name] for name in row if name not in keys}
    await conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=changes))
