"""HTTP requests are counted by route template, never by raw path, and show up in a scrape."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Response

from infinity_matrix.gateway.metricsmw import MetricsMiddleware
from infinity_matrix.observability.metrics import Metrics


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _app(metrics: Metrics) -> MetricsMiddleware:
    app = FastAPI()
    context = APIRouter()
    workspaces = APIRouter(prefix="/workspaces")

    @context.get("/context/{key:path}")
    async def get_context(ws: str, key: str) -> dict[str, str]:
        return {"ws": ws, "key": key}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    @app.get("/metrics")
    async def scrape() -> Response:
        payload, content_type = metrics.render()
        return Response(payload, media_type=content_type)

    # Nested includes with prefixes, and one router included twice: the template must be the
    # full one under which the request came in.
    workspaces.include_router(context, prefix="/{ws}")
    app.include_router(workspaces, prefix="/api/v1")
    app.include_router(context, prefix="/legacy/{ws}")
    return MetricsMiddleware(app, metrics)


async def _get(app: MetricsMiddleware, *paths: str) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        return [await client.get(path) for path in paths]


def _count(metrics: Metrics, route: str, status: str, method: str = "GET") -> float | None:
    labels = {"method": method, "route": route, "status": status}
    return metrics.registry.get_sample_value("http_requests_total", labels)


@pytest.mark.anyio
async def test_requests_are_labelled_by_the_matched_route_template() -> None:
    metrics = Metrics()

    await _get(
        _app(metrics),
        "/api/v1/workspaces/a/context/notes/x.md",
        "/api/v1/workspaces/b/context/editor/active",
    )

    template = "/api/v1/workspaces/{ws}/context/{key:path}"
    assert _count(metrics, template, "200") == 2.0
    assert (
        metrics.registry.get_sample_value(
            "http_request_duration_seconds_count", {"method": "GET", "route": template}
        )
        == 2.0
    )


@pytest.mark.anyio
async def test_a_router_included_twice_is_labelled_by_the_prefix_it_was_reached_through() -> None:
    metrics = Metrics()

    await _get(_app(metrics), "/legacy/a/context/k", "/api/v1/workspaces/a/context/k")

    assert _count(metrics, "/legacy/{ws}/context/{key:path}", "200") == 1.0
    assert _count(metrics, "/api/v1/workspaces/{ws}/context/{key:path}", "200") == 1.0


@pytest.mark.anyio
async def test_a_wrong_method_is_labelled_by_the_route_it_partially_matched() -> None:
    metrics = Metrics()
    transport = httpx.ASGITransport(_app(metrics))

    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        await client.delete("/api/v1/workspaces/a/context/k")

    template = "/api/v1/workspaces/{ws}/context/{key:path}"
    assert _count(metrics, template, "405", method="DELETE") == 1.0


@pytest.mark.anyio
async def test_unmatched_paths_share_one_label() -> None:
    metrics = Metrics()

    await _get(_app(metrics), "/nope/1", "/nope/2")

    assert _count(metrics, "unmatched", "404") == 2.0


@pytest.mark.anyio
async def test_a_request_that_raises_is_counted_as_500() -> None:
    metrics = Metrics()

    await _get(_app(metrics), "/boom")

    assert _count(metrics, "/boom", "500") == 1.0


@pytest.mark.anyio
async def test_unknown_methods_are_folded_into_one_label() -> None:
    metrics = Metrics()
    transport = httpx.ASGITransport(_app(metrics))

    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        await client.request("BREW", "/nope")

    assert _count(metrics, "unmatched", "404", method="other") == 1.0


@pytest.mark.anyio
async def test_a_scrape_shows_the_counters_but_does_not_count_itself() -> None:
    metrics = Metrics()

    [_, scrape, again] = await _get(
        _app(metrics), "/api/v1/workspaces/a/context/k", "/metrics", "/metrics"
    )

    assert scrape.headers["content-type"].startswith("text/plain")
    assert (
        'http_requests_total{method="GET",'
        'route="/api/v1/workspaces/{ws}/context/{key:path}",status="200"} 1.0'
    ) in scrape.text
    assert 'route="/metrics"' not in again.text
