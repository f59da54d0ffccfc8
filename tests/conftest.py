"""Shared fixtures: a hub on each database (SQLite in tmp_path, a PostgreSQL database of this run).

PostgreSQL and Redis tests skip with a clear reason on a laptop without the server, and fail on
CI (``CI`` set), where those services must be running.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from tests.world import started_hub

from infinity_matrix.config import Settings
from infinity_matrix.hub import Hub
from infinity_matrix.testing import services

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database created for this test run and dropped after it."""
    services.require("postgres")
    name = f"imx_test_{secrets.token_hex(4)}"
    asyncio.run(services.create_database(name))
    try:
        yield services.postgres_url(name)
    finally:
        asyncio.run(services.drop_database(name))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'imx.db'}"
    url: str = request.getfixturevalue("postgres_url")
    asyncio.run(services.truncate_all(url))
    return url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database_url=database_url,
        secret_key="s" * 64,
        rate_limit="100000/minute",
        login_rate_limit="1000/minute",
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
async def hub(settings: Settings) -> AsyncIterator[Hub]:
    async with started_hub(settings) as started:
        yield started


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read the developer's IMX_* variables."""
    for name in list(os.environ):
        if name.startswith("IMX_"):
            monkeypatch.delenv(name)
