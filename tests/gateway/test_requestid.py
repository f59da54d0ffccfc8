"""Every request gets an id that is echoed, bound to its logs, and logged in one access line."""

from __future__ import annotations

import re

import httpx
import pytest
import structlog
from fastapi import FastAPI
from structlog.testing import capture_logs

from infinity_matrix.gateway.requestid import RequestIdMiddleware


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _app() -> RequestIdMiddleware:
    app = FastAPI()

    @app.get("/things/{name}")
    async def thing(name: str) -> dict[str, object]:
        return {"context": structlog.contextvars.get_contextvars()}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    return RequestIdMiddleware(app)


async def _get(path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        return await client.get(path, headers=headers)


@pytest.mark.anyio
async def test_a_sane_incoming_request_id_is_echoed_and_bound_to_the_logs() -> None:
    response = await _get("/things/a?token=secret", headers={"X-Request-ID": "abc.DEF_1-2"})

    assert response.headers["x-request-id"] == "abc.DEF_1-2"
    assert response.json()["context"] == {
        "request_id": "abc.DEF_1-2",
        "method": "GET",
        "path": "/things/a",
    }


@pytest.mark.anyio
@pytest.mark.parametrize("incoming", [None, "has space", "x" * 129, "semi;colon", ""])
async def test_a_missing_or_insane_request_id_is_replaced_by_a_fresh_uuid(
    incoming: str | None,
) -> None:
    headers = None if incoming is None else {"X-Request-ID": incoming}

    response = await _get("/things/a", headers=headers)

    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
    assert response.json()["context"]["request_id"] == response.headers["x-request-id"]


@pytest.mark.anyio
async def test_each_request_gets_a_different_generated_id() -> None:
    first = await _get("/things/a")
    second = await _get("/things/a")

    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.anyio
async def test_one_access_line_is_logged_per_request_without_the_query_string() -> None:
    with capture_logs() as logs:
        await _get("/things/a?token=secret")

    assert len(logs) == 1
    line = logs[0]
    assert (line["event"], line["log_level"]) == ("http.access", "info")
    assert (line["method"], line["path"], line["status"]) == ("GET", "/things/a", 200)
    assert isinstance(line["duration_ms"], float)


@pytest.mark.anyio
async def test_a_request_that_raises_is_logged_as_500() -> None:
    with capture_logs() as logs:
        await _get("/boom")

    assert [(log["path"], log["status"]) for log in logs if log["event"] == "http.access"] == [
        ("/boom", 500)
    ]


@pytest.mark.anyio
async def test_the_context_is_unbound_after_the_request() -> None:
    await _get("/things/a")

    assert structlog.contextvars.get_contextvars() == {}
