"""Asking a provider with the shared context (data flow 2), testing providers, pushing the
context to them now, and the health of them all."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import Field

from infinity_matrix.core.providers.ask import DEFAULT_BUDGET
from infinity_matrix.gateway.deps import HubDep, PrincipalDep
from infinity_matrix.gateway.schemas import Body

router = APIRouter(prefix="/api/v1", tags=["providers"])


class AskIn(Body):
    provider: str = Field(description="The configured provider to ask (its name)")
    question: str = Field(description="The question, in words")
    budget_tokens: int = Field(
        default=DEFAULT_BUDGET, description="Tokens of retrieved context to send with it"
    )


class SyncIn(Body):
    providers: list[str] | None = Field(
        default=None, description="Providers to push to (default: every provider)"
    )


@router.post("/workspaces/{ws}/ask")
async def ask(ws: str, body: AskIn, hub: HubDep, principal: PrincipalDep) -> dict[str, Any]:
    """The provider's answer, the insights extracted from it (recorded with the provider as
    their source), the provider that answered (a fallback if the first failed) and usage."""
    result = await hub.ask.ask(
        principal,
        ws,
        body.provider,
        body.question,
        budget_tokens=body.budget_tokens,
        source="rest",
    )
    return result.to_json()


@router.post("/workspaces/{ws}/providers/{name}/test")
async def test_provider(ws: str, name: str, hub: HubDep, principal: PrincipalDep) -> dict[str, Any]:
    """One short call to the provider alone; a provider's failure is reported in the answer
    (``ok: false`` and its code), with the latency."""
    return await hub.provider_ops.test(principal, ws, name)


@router.post("/workspaces/{ws}/providers/sync")
async def sync_providers(
    ws: str, body: SyncIn, hub: HubDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Push the workspace's context to its providers now; one outcome per provider."""
    outcomes = await hub.provider_ops.sync(principal, ws, body.providers)
    return {"items": [o.to_json() for o in outcomes]}


@router.get("/providers")
async def providers_status(
    hub: HubDep,
    principal: PrincipalDep,
    workspace: str | None = Query(default=None, description="Only this workspace"),
) -> dict[str, Any]:
    """Every provider of the workspaces the caller can read: configuration (never the key),
    health (breaker state, cooldown expiry and reason, remaining limits) and the last push."""
    return {"items": await hub.provider_ops.status(principal, workspace)}
