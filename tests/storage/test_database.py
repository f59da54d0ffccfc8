"""The database layer: SQLite's pragmas on every connection, and cascades on both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from infinity_matrix.hub import Hub
from infinity_matrix.security.principals import Principal
from infinity_matrix.storage import tables
from infinity_matrix.storage.database import Database
from infinity_matrix.storage.migrate import upgrade


async def _pragmas(engine: AsyncEngine) -> tuple[object, object]:
    async with engine.connect() as conn:
        journal = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
        foreign_keys = (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar()
    return journal, foreign_keys


@pytest.mark.anyio
async def test_every_sqlite_connection_uses_wal_and_enforces_foreign_keys(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'imx.db'}")
    try:
        assert await _pragmas(database.writer) == ("wal", 1)
        assert await _pragmas(database.reader) == ("wal", 1)
    finally:
        await database.dispose()


@pytest.mark.anyio
async def test_sqlite_readers_are_not_blocked_by_an_open_write(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'imx.db'}")
    try:
        await upgrade(database)
        row = {"sha256": "0" * 64, "size": 1, "media_type": "text/plain"}
        count = sa.select(sa.func.count()).select_from(tables.blobs)
        async with database.write() as writer:  # BEGIN IMMEDIATE: holds the write lock
            await writer.execute(tables.blobs.insert().values(**row, created_at=datetime.now(UTC)))
            async with database.read() as reader:
                assert (await reader.execute(count)).scalar() == 0  # not committed yet
        async with database.read() as reader:
            assert (await reader.execute(count)).scalar() == 1
    finally:
        await database.dispose()


async def _count(hub: Hub, table: sa.Table, workspace: str) -> int:
    query = sa.select(sa.func.count()).select_from(table).where(table.c.workspace_id == workspace)
    async with hub.database.read() as conn:
        return int((await conn.execute(query)).scalar_one())


@pytest.mark.anyio
async def test_deleting_a_workspace_deletes_its_log_projections_and_keys(hub: Hub) -> None:
    owner = Principal.user("owner")
    await hub.identity.create_user("owner", "correct horse battery")
    await hub.workspaces.create(owner, "doomed")
    await hub.context.put(owner, "doomed", "notes/a", text="a")
    await hub.keys.create(owner, "doomed", "bot", "viewer")
    owned = [tables.events, tables.context_entries, tables.memberships, tables.api_keys]
    assert all([await _count(hub, table, "doomed") for table in owned])

    await hub.workspaces.delete(owner, "doomed")

    assert [await _count(hub, table, "doomed") for table in owned] == [0, 0, 0, 0]
    assert await _count(hub, tables.events, "default") > 0
