"""The workspace's event log: the audit trail, read in seq order."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from infinity_matrix.gateway.deps import HubDep, PrincipalDep

router = APIRouter(prefix="/api/v1/workspaces/{ws}", tags=["events"])


@router.get("/events")
async def read_events(
    ws: str,
    hub: HubDep,
    principal: PrincipalDep,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Events with seq > `after`, oldest first; continue with `after` = `next_after`."""
    page = await hub.audit.events(principal, ws, after=after, limit=limit)
    return {
        "epoch": page.epoch,
        "head": page.head,
        "events": [e.to_json() for e in page.events],
        "next_after": page.events[-1].seq if page.events else after,
    }
