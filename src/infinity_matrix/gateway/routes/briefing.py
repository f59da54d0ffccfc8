"""The project briefing over REST: what instruction files and file-reading assistants render."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from infinity_matrix.core.briefing import DEFAULT_BUDGET_CHARS, MIN_BUDGET_CHARS
from infinity_matrix.gateway.deps import HubDep, PrincipalDep

router = APIRouter(prefix="/api/v1/workspaces/{ws}", tags=["briefing"])
MAX_BUDGET_CHARS = 400_000


@router.get("/briefing")
async def read_briefing(
    ws: str,
    hub: HubDep,
    principal: PrincipalDep,
    prefix: Annotated[str, Query(max_length=256, description="Only keys starting with this")] = "",
    budget_chars: Annotated[
        int, Query(ge=MIN_BUDGET_CHARS, le=MAX_BUDGET_CHARS)
    ] = DEFAULT_BUDGET_CHARS,
    target: Annotated[
        str | None,
        Query(max_length=64, description="The assistant it is for (counts insights as served)"),
    ] = None,
) -> dict[str, Any]:
    """The briefing Markdown (`text`), the keys it `included` and `omitted`, the ids of the
    `insights` it shows, and `seq`: the workspace head it reflects. Secret-looking keys are
    never included."""
    briefing = await hub.briefing.build(
        principal, ws, prefix=prefix, budget_chars=budget_chars, target=target
    )
    return briefing.to_json()
