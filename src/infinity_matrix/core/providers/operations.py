"""What people do with configured providers besides asking them: test one, see the health of
all (breaker, cooldown, limits, what each has seen), and push the context to them now."""

from __future__ import annotations

import time
from typing import Any

from infinity_matrix.core.authorization import Authorizer
from infinity_matrix.core.providers.flow import ContextFlow, PushOutcome
from infinity_matrix.core.providers.ports import ProviderCalls
from infinity_matrix.core.providers.records import ChatRequest, Message
from infinity_matrix.core.providers.service import ProviderService
from infinity_matrix.core.workspaces import WorkspaceService
from infinity_matrix.errors import InfinityMatrixError
from infinity_matrix.security.access import Permission
from infinity_matrix.security.principals import Principal

TEST_DEADLINE_SECONDS = 30.0
TEST_PROMPT = "This is a connection test from Infinity Matrix. Reply with the single word OK."


class ProviderOperations:
    def __init__(
        self,
        authorizer: Authorizer,
        providers: ProviderService,
        workspaces: WorkspaceService,
        calls: ProviderCalls,
        flow: ContextFlow,
    ) -> None:
        self._auth = authorizer
        self._providers = providers
        self._workspaces = workspaces
        self._calls = calls
        self._flow = flow

    async def test(self, principal: Principal, workspace: str, name: str) -> dict[str, Any]:
        """One short call to ``name`` alone (no fallback, no context). A provider's failure is
        the answer (``ok: false`` with its code), not an error; a provider without a completion
        API (Copilot) is tested by a push of the context instead."""
        await self._auth.check(principal, workspace, Permission.INVOKE_PROVIDERS)
        config = await self._providers.get(principal, workspace, name)
        started = time.perf_counter()
        answer: dict[str, Any] = {"provider": name, "kind": config.kind, "model": config.model}
        try:
            if config.kind == "copilot":
                pushed = (await self._flow.sync(workspace, [name], force=True))[0]
                if pushed.status == "failed":
                    answer |= {"ok": False, "error": {"code": pushed.error}}
                else:
                    answer |= {"ok": True, "push": pushed.to_json()}
            else:
                request = ChatRequest(
                    messages=(Message("user", TEST_PROMPT),), max_output_tokens=16
                )
                done = await self._calls.complete(
                    [config], request, deadline_seconds=TEST_DEADLINE_SECONDS
                )
                answer |= {
                    "ok": True,
                    "answer": done.result.text[:200],
                    "model": done.result.model or config.model,
                    "usage": done.result.usage.to_json(),
                    "request_id": done.result.request_id,
                    "attempts": done.attempts,
                }
        except InfinityMatrixError as error:
            if not error.code.startswith("provider."):
                raise
            answer |= {"ok": False, "error": {"code": error.code, "detail": error.detail}}
        answer["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
        return answer

    async def status(
        self, principal: Principal, workspace: str | None = None
    ) -> list[dict[str, Any]]:
        """Every provider of the workspaces ``principal`` can read (or of ``workspace``), with
        its health and the last push: what it has seen."""
        if workspace is not None:
            await self._auth.check(principal, workspace, Permission.READ)
            names = [workspace]
        else:
            names = [record.id for record, _ in await self._workspaces.visible(principal)]
        rows: list[dict[str, Any]] = []
        for ws in names:
            for config in await self._providers.configs(ws):
                rows.append(
                    {
                        "workspace": ws,
                        **config.to_json(),
                        "health": await self._calls.health(config),
                        "last_push": await self._providers.last_push(ws, config.name),
                    }
                )
        return rows

    async def sync(
        self, principal: Principal, workspace: str, names: list[str] | None = None
    ) -> list[PushOutcome]:
        """Push the context to ``names`` (default: every provider) now, even if unchanged."""
        await self._auth.check(principal, workspace, Permission.INVOKE_PROVIDERS)
        for name in names or []:
            await self._providers.get(principal, workspace, name)  # NotFound for a bad name
        return await self._flow.sync(workspace, names, force=True)
