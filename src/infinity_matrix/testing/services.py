"""Reaching the PostgreSQL and Redis servers that integration tests run against.

On CI (``CI`` set) a missing server fails the run; on a laptop it skips with a clear reason.
"""

from __future__ import annotations

import os
import socket

import pytest

POSTGRES_HOST = os.environ.get("IMX_TEST_POSTGRES_HOST", "127.0.0.1")
POSTGRES_PORT = int(os.environ.get("IMX_TEST_POSTGRES_PORT", "5432"))
POSTGRES_USER = os.environ.get("IMX_TEST_POSTGRES_USER", "postgres")
REDIS_URL = os.environ.get("IMX_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

_ADDRESSES = {"postgres": (POSTGRES_HOST, POSTGRES_PORT), "redis": ("127.0.0.1", 6379)}


def reachable(service: str) -> bool:
    try:
        with socket.create_connection(_ADDRESSES[service], timeout=1.0):
            return True
    except OSError:
        return False


def require(service: str) -> None:
    """Skip (laptop) or fail (CI) unless ``service`` answers on its port."""
    if reachable(service):
        return
    host, port = _ADDRESSES[service]
    message = f"{service} is not reachable at {host}:{port}"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must run these tests", pytrace=False)
    pytest.skip(f"{message} (start it to run these tests)")


def postgres_url(database: str) -> str:
    return f"postgresql+asyncpg://{POSTGRES_USER}@{POSTGRES_HOST}:{POSTGRES_PORT}/{database}"


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(
        host=POSTGRES_HOST, port=POSTGRES_PORT, user=POSTGRES_USER, database="postgres"
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def create_database(name: str) -> None:
    await _admin(f'CREATE DATABASE "{name}"')


async def drop_database(name: str) -> None:
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def truncate_all(url: str) -> None:
    """Empty every table of the hub's schema (if it exists yet), keeping the migrations."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename <> 'alembic_version'"
        )
        if tables:
            names = ", ".join(f'"{t["tablename"]}"' for t in tables)
            await conn.execute(f"TRUNCATE {names} CASCADE")
    finally:
        await conn.close()
