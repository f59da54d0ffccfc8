"""Engines and connection pools for SQLite (embedded default) and PostgreSQL.

SQLite allows one writer at a time: writes go through a one-connection engine that opens every
transaction with ``BEGIN IMMEDIATE`` (so the write lock is taken up front, never upgraded
mid-transaction into SQLITE_BUSY), while reads use a pool of WAL readers in autocommit that
never block it.
PostgreSQL uses one pooled engine for both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool

from infinity_matrix.errors import Unavailable
from infinity_matrix.storage.sqlite_driver import OneTripDBAPI


@dataclass(frozen=True, slots=True)
class PoolSettings:
    size: int = 10
    max_overflow: int = 10
    timeout: float = 10.0
    recycle: int = 1800


class Database:
    """The hub's database: a write engine and a read engine (the same one on PostgreSQL)."""

    def __init__(self, url: str, pool: PoolSettings | None = None) -> None:
        self.url = make_url(url)
        pool = pool or PoolSettings()
        if self.is_sqlite:
            _ensure_parent(self.url.database)
            self.writer = _sqlite_engine(url, pool_size=1, immediate=True, pool=pool)
            self.reader = _sqlite_engine(url, pool_size=pool.size, immediate=False, pool=pool)
        else:
            self.writer = create_async_engine(
                url,
                pool_size=pool.size,
                max_overflow=pool.max_overflow,
                pool_timeout=pool.timeout,
                pool_recycle=pool.recycle,
                pool_pre_ping=True,
            )
            self.reader = self.writer

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside a write transaction, committed on clean exit."""
        async with translate_errors(), self.writer.begin() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with translate_errors(), self.reader.connect() as conn:
            yield conn

    async def ping(self) -> None:
        """Raises ``Unavailable`` unless the database answers."""
        async with self.read() as conn:
            await conn.execute(sa.text("SELECT 1"))

    def pool_status(self) -> Mapping[str, float]:
        pool = self.writer.sync_engine.pool
        if not isinstance(pool, QueuePool):
            return {}
        return {
            "size": pool.size(),
            "checked_out": pool.checkedout(),
            "checked_in": pool.checkedin(),
            "overflow": pool.overflow(),
        }

    async def dispose(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()


@asynccontextmanager
async def translate_errors() -> AsyncIterator[None]:
    """Connection-level driver failures become ``Unavailable``; nothing above sees them."""
    try:
        yield
    except (OperationalError, OSError, ConnectionError) as exc:
        raise Unavailable("the database is unavailable", code="storage.unavailable") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise Unavailable("the database connection was lost") from exc
        raise


def _sqlite_engine(url: str, *, pool_size: int, immediate: bool, pool: PoolSettings) -> AsyncEngine:
    engine = create_async_engine(
        url,
        module=OneTripDBAPI.load(),  # one trip to aiosqlite's thread per statement, not four
        poolclass=sa.pool.AsyncAdaptedQueuePool,
        pool_size=pool_size,
        max_overflow=0 if immediate else pool.max_overflow,
        pool_timeout=pool.timeout,
        # Readers run in autocommit: each statement reads its own WAL snapshot (as each does
        # under PostgreSQL's READ COMMITTED), so there is no transaction to roll back when a
        # reader goes back to the pool. That saves two trips to aiosqlite's thread per read.
        pool_reset_on_return="rollback" if immediate else None,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so BEGIN is ours (SQLAlchemy's
        # documented recipe for pysqlite/aiosqlite).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # busy_timeout first: switching to WAL needs a lock that a starting peer may hold.
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    if immediate:

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _ensure_parent(database: str | None) -> None:
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
