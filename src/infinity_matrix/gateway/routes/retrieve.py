"""Retrieval: the context, insights and facts a task should start with, packed into a budget."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from infinity_matrix.gateway.deps import HubDep, PrincipalDep
from infinity_matrix.gateway.schemas import Body

router = APIRouter(prefix="/api/v1/workspaces/{ws}", tags=["retrieval"])


class RetrieveIn(Body):
    task: str = Field(description="What the assistant is about to do, in words")
    target: str = Field(description="The assistant or model the package is for (claude, gpt-4o…)")
    budget_tokens: int = Field(description="Tokens the package may use, estimated for the target")
    kinds: list[str] | None = Field(
        default=None,
        description="Item types (context, insight, fact) and/or insight kinds (decision, …)",
    )


@router.post("/retrieve")
async def retrieve(
    ws: str, body: RetrieveIn, hub: HubDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Items best first, each with its score (relevance * confidence * recency, with the
    parts), text, source and tokens; and the tokens used of the budget."""
    result = await hub.retrieval.retrieve(
        principal,
        ws,
        body.task,
        target=body.target,
        budget_tokens=body.budget_tokens,
        kinds=body.kinds,
    )
    return result.to_json()
