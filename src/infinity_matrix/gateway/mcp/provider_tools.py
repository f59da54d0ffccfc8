"""Provider tools: one assistant consults another (a configured provider) with the shared
context, and the insights in the answer come back to everyone."""

from __future__ import annotations

from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

from infinity_matrix.core.providers.ask import DEFAULT_BUDGET
from infinity_matrix.gateway.mcp.caller import Callers, tool_errors
from infinity_matrix.hub import Hub

# Asking records insights (a write) and calls out to another service (open world).
_ASK = ToolAnnotations(
    readOnlyHint=False, destructiveHint=False, idempotentHint=False, openWorldHint=True
)
_READ = ToolAnnotations(readOnlyHint=True, openWorldHint=False)


class AskedInsight(BaseModel):
    id: int
    outcome: str = Field(description="recorded (new), corroborated (existed) or superseded")
    kind: str
    title: str
    confidence: float


class Asked(BaseModel):
    answer: str
    provider: str = Field(description="the provider that answered (a fallback if the first failed)")
    model: str
    insights: list[AskedInsight] = Field(description="insights recorded from the answer")
    input_tokens: int
    output_tokens: int


class ProviderInfo(BaseModel):
    name: str
    kind: str
    model: str
    healthy: bool
    breaker: str = Field(description="closed, half_open or open")


class ProviderList(BaseModel):
    providers: list[ProviderInfo]


def register(mcp: MCPServer, hub: Hub, callers: Callers) -> None:
    @mcp.tool(name="provider_list", title="List the providers you can consult", annotations=_READ)
    async def provider_list(ctx: Context) -> ProviderList:
        """The AI providers configured in this workspace (OpenAI, Gemini, Claude, local
        models…) that `provider_ask` can consult, with their health."""
        with tool_errors():
            caller = await callers(ctx)
            rows = await hub.provider_ops.status(caller.principal, caller.workspace)
        return ProviderList(providers=[_info(row) for row in rows])

    @mcp.tool(name="provider_ask", title="Consult another AI provider", annotations=_ASK)
    async def provider_ask(
        provider: str, question: str, ctx: Context, budget_tokens: int = DEFAULT_BUDGET
    ) -> Asked:
        """Ask another assistant (a provider from `provider_list`) a question, with this
        project's shared context sent along (the briefing and the items most relevant to the
        question, within `budget_tokens`). Use it for a second opinion or a model with other
        strengths. Insights in its answer are recorded with that provider as their source, so
        every assistant sees them."""
        with tool_errors():
            caller = await callers(ctx)
            result = await hub.ask.ask(
                caller.principal,
                caller.workspace,
                provider,
                question,
                budget_tokens=budget_tokens,
                source=caller.source,
            )
        return Asked(
            answer=result.answer,
            provider=result.provider,
            model=result.model,
            insights=[_asked(i) for i in result.insights],
            input_tokens=result.usage.input_tokens,
            output_tokens=result.usage.output_tokens,
        )


def _info(row: dict[str, Any]) -> ProviderInfo:
    health = row.get("health") or {}
    return ProviderInfo(
        name=row["name"],
        kind=row["kind"],
        model=row["model"],
        healthy=bool(health.get("healthy", True)),
        breaker=str((health.get("breaker") or {}).get("state", "closed")),
    )


def _asked(recorded: dict[str, Any]) -> AskedInsight:
    insight = recorded["insight"]
    confidence = insight.get("confidence") or {}
    return AskedInsight(
        id=insight["id"],
        outcome=recorded["outcome"],
        kind=insight["kind"],
        title=insight["title"],
        confidence=float(confidence.get("value", 0.0)),
    )
