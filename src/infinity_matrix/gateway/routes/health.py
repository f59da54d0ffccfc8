"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from infinity_matrix.gateway.deps import HubDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, Any]:
    """The process is up (no dependency is checked)."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(hub: HubDep) -> dict[str, Any]:
    """Ready to serve: the database answers, and Redis when configured (else 503)."""
    return {"status": "ok", "checks": await hub.ready()}


@router.get("/metrics", include_in_schema=False)
async def metrics(hub: HubDep) -> Response:
    await hub.refresh_insight_figures()
    payload, content_type = hub.metrics.render()
    return Response(payload, media_type=content_type)
