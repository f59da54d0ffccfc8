"""Liveness and readiness: /readyz is 200 while the database answers, a 503 problem when not."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from tests.world import api_client, fast_hasher

from infinity_matrix.config import Settings
from infinity_matrix.gateway.problems import PROBLEM_MEDIA_TYPE
from infinity_matrix.hub import Hub


def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
async def unreachable(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A client on a hub whose PostgreSQL does not answer (never started: it could not be)."""
    settings = Settings(
        home=tmp_path / "home",
        database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/imx",
        secret_key="s" * 64,
        db_pool_timeout_seconds=2.0,
        _env_file=None,  # type: ignore[call-arg]
    )
    hub = Hub.build(settings, hasher=fast_hasher())
    try:
        async with api_client(hub) as client:
            yield client
    finally:
        await hub.close()


@pytest.mark.anyio
async def test_the_hub_is_live_and_ready_while_its_database_answers(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert (ready.status_code, ready.json()) == (
        200,
        {"status": "ok", "checks": {"database": "ok"}},
    )


@pytest.mark.anyio
async def test_the_hub_is_live_but_not_ready_when_its_database_is_unreachable(
    unreachable: httpx.AsyncClient,
) -> None:
    assert (await unreachable.get("/healthz")).status_code == 200
    ready = await unreachable.get("/readyz")
    assert (ready.status_code, ready.json()["code"]) == (503, "storage.unavailable")
    assert ready.headers["content-type"] == PROBLEM_MEDIA_TYPE


@pytest.mark.anyio
async def test_an_api_request_without_a_database_is_a_503_problem(
    unreachable: httpx.AsyncClient,
) -> None:
    response = await unreachable.get(
        "/api/v1/workspaces", headers={"Authorization": "Bearer imx_aaaaaaaaaaaa_" + "0" * 48}
    )
    assert (response.status_code, response.json()["code"]) == (503, "storage.unavailable")
