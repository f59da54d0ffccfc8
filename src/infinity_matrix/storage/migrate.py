"""Applies Alembic migrations to the hub's database; safe when several nodes start at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from infinity_matrix.errors import Unavailable
from infinity_matrix.storage.database import Database

_MIGRATIONS = Path(__file__).parent / "migrations"
# Any constant works; it only has to be the same for every node of one deployment.
_PG_LOCK_ID = 0x1F1A17
_SQLITE_ATTEMPTS = 5


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


async def upgrade(db: Database, revision: str = "heads") -> None:
    """Bring the schema up to ``revision``; raises ``Unavailable`` if the database is down.

    On a brand-new SQLite file, processes starting at once can meet before WAL mode is set,
    while SQLite still locks like a rollback journal: one of them may then be refused at once
    ("database is locked", SQLite's deadlock avoidance, which no busy timeout waits out). Its
    transaction changed nothing, so it is simply tried again.
    """
    for attempt in range(_SQLITE_ATTEMPTS):
        try:
            async with db.write() as conn:
                await conn.run_sync(_upgrade, revision)
            return
        except Unavailable as exc:
            if not (db.is_sqlite and _locked(exc)) or attempt == _SQLITE_ATTEMPTS - 1:
                raise
            await asyncio.sleep(0.05 * (attempt + 1))


def _locked(exc: Exception) -> bool:
    return "database is locked" in str(exc.__cause__ or "")


def _upgrade(connection: Connection, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        # Serialise concurrent node start-ups; released at the end of the transaction.
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def current_revision(db: Database) -> str | None:
    async with db.read() as conn:
        return await conn.run_sync(_current)


def _current(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()
