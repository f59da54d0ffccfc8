"""Request bodies over the limit are refused with a 413 problem before the app gets them whole."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request

from infinity_matrix.gateway.bodylimit import BodyLimitMiddleware
from infinity_matrix.gateway.problems import PROBLEM_MEDIA_TYPE, install_problem_handlers

LIMIT = 1024


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class _Upload:
    """A chunked request body that remembers how much of it the server pulled."""

    def __init__(self, chunks: int, size: int) -> None:
        self.chunks = chunks
        self.size = size
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.sent += 1
            yield b"x" * self.size


def _app(received: list[int]) -> BodyLimitMiddleware:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        body = await request.body()
        received.append(len(body))
        return {"size": len(body)}

    return BodyLimitMiddleware(app, max_bytes=LIMIT)


async def _post(app: BodyLimitMiddleware, **kwargs: object) -> httpx.Response:
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        return await client.post("/upload", **kwargs)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_a_body_within_the_limit_reaches_the_app_whole() -> None:
    received: list[int] = []

    response = await _post(_app(received), content=b"x" * LIMIT)

    assert response.status_code == 200
    assert received == [LIMIT]


@pytest.mark.anyio
async def test_a_declared_content_length_over_the_limit_is_refused_before_the_app_runs() -> None:
    received: list[int] = []

    response = await _post(_app(received), content=b"x" * (LIMIT + 1))

    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.json()["code"] == "request.too_large"
    assert received == []


@pytest.mark.anyio
async def test_a_chunked_upload_within_the_limit_reaches_the_app_whole() -> None:
    received: list[int] = []
    upload = _Upload(chunks=4, size=LIMIT // 4)

    response = await _post(_app(received), content=upload)

    assert response.status_code == 200
    assert received == [LIMIT]


@pytest.mark.anyio
async def test_a_chunked_upload_is_stopped_at_the_limit_with_413() -> None:
    received: list[int] = []
    upload = _Upload(chunks=10, size=LIMIT // 2)

    response = await _post(_app(received), content=upload)

    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.json()["code"] == "request.too_large"
    assert received == []
    assert upload.sent == 3  # the third chunk crossed the limit; the rest was never read


@pytest.mark.anyio
async def test_non_http_scopes_pass_through_untouched() -> None:
    seen: list[str] = []

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        seen.append(str(scope["type"]))

    await BodyLimitMiddleware(app, max_bytes=0)({"type": "lifespan"}, None, None)  # type: ignore[arg-type]

    assert seen == ["lifespan"]
