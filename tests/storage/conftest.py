"""Fixtures of the storage tests: a database nobody has migrated yet, on each backend."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from infinity_matrix.storage.database import Database
from infinity_matrix.testing import services


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database nobody has migrated yet (a PostgreSQL one is created and dropped)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    services.require("postgres")
    name = f"imx_empty_{secrets.token_hex(4)}"
    asyncio.run(services.create_database(name))
    try:
        yield services.postgres_url(name)
    finally:
        asyncio.run(services.drop_database(name))


@pytest.fixture
async def empty_database(empty_database_url: str) -> AsyncIterator[Database]:
    database = Database(empty_database_url)
    try:
        yield database
    finally:
        await database.dispose()
