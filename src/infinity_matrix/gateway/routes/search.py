"""Full-text search over a workspace's context entries."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from infinity_matrix.gateway.deps import HubDep, PrincipalDep

router = APIRouter(prefix="/api/v1/workspaces/{ws}", tags=["context"])


@router.get("/search")
async def search_entries(
    ws: str,
    hub: HubDep,
    principal: PrincipalDep,
    q: Annotated[str, Query(description='Words; "a phrase", -excluded; the last word is a prefix')],
    prefix: Annotated[str, Query(description="Only keys starting with this")] = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """Entries matching `q`, best first, each with a snippet (matches in `**`) and a score
    (higher is better; comparable within one answer only)."""
    hits = await hub.context.search(principal, ws, q, prefix=prefix, limit=limit)
    return {"items": [hit.to_json() for hit in hits]}
