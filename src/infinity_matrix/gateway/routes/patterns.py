"""Recurring code shapes: the fingerprints found in two or more context entries, and a scan
that rebuilds them from every entry (they are otherwise kept current as context changes)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from infinity_matrix.gateway.deps import HubDep, PrincipalDep

router = APIRouter(prefix="/api/v1/workspaces/{ws}/patterns", tags=["insights"])


@router.get("")
async def list_patterns(
    ws: str,
    hub: HubDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Recurring shapes largest first, each with its occurrences (entry key and lines); the
    ``pattern`` insight recorded for each is listed under ``insights?kind=pattern``."""
    found = await hub.patterns.patterns(principal, ws, limit=limit)
    return {
        "items": [
            {
                "fingerprint": p.fingerprint,
                "kind": p.kind,
                "language": p.language,
                "mass": p.mass,
                "keys": p.keys,
                "occurrences": [
                    {
                        "key": o.key,
                        "name": o.name,
                        "start_line": o.start_line,
                        "end_line": o.end_line,
                    }
                    for o in p.occurrences
                ],
            }
            for p in found
        ]
    }


@router.post("/scan")
async def scan(ws: str, hub: HubDep, principal: PrincipalDep) -> dict[str, int]:
    """Fingerprint every context entry now and record each recurring shape as a ``pattern``
    insight (a backfill; editors and above)."""
    report = await hub.patterns.scan(principal, ws)
    return report.to_json()
