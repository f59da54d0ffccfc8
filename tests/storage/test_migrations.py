"""Alembic migrations build, on an empty SQLite or PostgreSQL database, exactly the schema that
storage/tables.py declares, and running them again changes nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from infinity_matrix.storage import tables
from infinity_matrix.storage.database import Database
from infinity_matrix.storage.migrate import alembic_config, current_revision, upgrade


@pytest.fixture
def database(empty_database: Database) -> Database:
    return empty_database


def _head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


# The full-text index (migration 0002) is schema that tables.py cannot declare without breaking
# the other database: an FTS5 table with its shadow tables (SQLite), a generated tsvector column
# and its GIN index (PostgreSQL). No query of the hub selects them through the metadata;
# tests/storage/test_search.py checks them.
_SEARCH_TABLE = "context_search"  # and its shadow tables context_search_*
_SEARCH_COLUMN = "search_vector"
_SEARCH_INDEX = "ix_context_entries_search_vector"


# The knowledge graph's substring indexes (migration 0003) are of the same kind: FTS5 trigram
# tables (SQLite) and pg_trgm GIN indexes (PostgreSQL), named in tables.py; so is the insights'
# full-text index (migration 0004; its column is also named search_vector).
_FTS_TABLES = (_SEARCH_TABLE, *tables.GRAPH_SEARCH_TABLES, tables.INSIGHT_SEARCH_TABLE)


def _is_search_index(name: str | None, type_: str) -> bool:
    if type_ == "table":
        return name is not None and any(
            name == table or name.startswith(table + "_") for table in _FTS_TABLES
        )
    if type_ == "index" and name in (*tables.GRAPH_SEARCH_INDEXES, tables.INSIGHT_SEARCH_INDEX):
        return True
    return (type_, name) in {("column", _SEARCH_COLUMN), ("index", _SEARCH_INDEX)}


def _table_names(connection: Connection) -> set[str]:
    names = sa.inspect(connection).get_table_names()
    return {name for name in names if not _is_search_index(name, "table")}


def _schema_diff(connection: Connection) -> list[Any]:
    def include_object(
        _object: Any, name: str | None, type_: str, reflected: bool, _compare_to: Any
    ) -> bool:
        return not (reflected and _is_search_index(name, type_))

    opts = {"compare_type": True, "include_object": include_object}
    context = MigrationContext.configure(connection, opts=opts)
    return list(compare_metadata(context, tables.metadata))


@pytest.mark.anyio
async def test_migrations_build_every_table_on_an_empty_database(database: Database) -> None:
    async with database.read() as conn:
        assert await conn.run_sync(_table_names) == set()

    await upgrade(database)

    assert await current_revision(database) == _head()
    async with database.read() as conn:
        assert await conn.run_sync(_table_names) == {*tables.metadata.tables, "alembic_version"}


@pytest.mark.anyio
async def test_the_migrated_schema_matches_the_table_definitions(database: Database) -> None:
    await upgrade(database)
    async with database.read() as conn:
        assert await conn.run_sync(_schema_diff) == []


@pytest.mark.anyio
async def test_migrating_again_changes_nothing_and_keeps_the_data(database: Database) -> None:
    await upgrade(database)
    row = {
        "sha256": "0" * 64,
        "size": 1,
        "media_type": "text/plain",
        "created_at": datetime.now(UTC),
    }
    async with database.write() as conn:
        await conn.execute(tables.blobs.insert().values(**row))

    await upgrade(database)
    await upgrade(database)

    assert await current_revision(database) == _head()
    async with database.read() as conn:
        assert (
            await conn.execute(sa.select(sa.func.count()).select_from(tables.blobs))
        ).scalar() == 1
        assert await conn.run_sync(_schema_diff) == []


@pytest.mark.anyio
async def test_nodes_starting_at_once_on_an_empty_database_migrate_it_once(
    database: Database, empty_database_url: str
) -> None:
    others = [Database(empty_database_url) for _ in range(3)]
    try:
        await asyncio.gather(upgrade(database), *(upgrade(db) for db in others))
    finally:
        await asyncio.gather(*(db.dispose() for db in others))
    assert await current_revision(database) == _head()
