"""The providers at run time: one adapter per configured provider, built on first use from its
kind's factory and its decrypted credential, kept open (pooled HTTP clients) until its
configuration changes or the hub closes, and every call made through the one resilient caller.

Implements ``core.providers.ports.ProviderCalls``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog

from infinity_matrix.core.providers.ports import Adapter
from infinity_matrix.core.providers.records import (
    Answered,
    ChatRequest,
    ContextBundle,
    ProviderConfig,
    PushResult,
)
from infinity_matrix.providers.registry import AdapterRegistry
from infinity_matrix.providers.resilience.caller import ResilientCaller

log = structlog.get_logger(__name__)

PUSH_DEADLINE_SECONDS = 60.0

CredentialLookup = Callable[[str, str], Awaitable[str | None]]
PushLookup = Callable[[str, str], Awaitable[dict[str, Any] | None]]


class ProviderRuntime:
    def __init__(
        self,
        registry: AdapterRegistry,
        credentials: CredentialLookup,
        caller: ResilientCaller,
        *,
        last_push: PushLookup | None = None,
    ) -> None:
        self.registry = registry
        self.caller = caller
        self._credentials = credentials
        self._last_push = last_push
        self._adapters: dict[tuple[str, str], Adapter] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def complete(
        self,
        chain: Sequence[ProviderConfig],
        request: ChatRequest,
        *,
        deadline_seconds: float | None = None,
    ) -> Answered:
        adapters = [await self.adapter(config) for config in chain]
        outcome = await self.caller.complete(adapters, request, deadline_seconds=deadline_seconds)
        return outcome.to_answered()

    async def push(self, config: ProviderConfig, bundle: ContextBundle) -> PushResult | None:
        adapter = await self.adapter(config)
        return await self.caller.push(adapter, bundle, deadline_seconds=PUSH_DEADLINE_SECONDS)

    async def structured(self, config: ProviderConfig) -> bool:
        return (await self.adapter(config)).supports_structured_output

    async def health(self, config: ProviderConfig) -> dict[str, Any]:
        return (await self.caller.health(config)).to_json()

    async def adapter(self, config: ProviderConfig) -> Adapter:
        """The open adapter of ``config``, rebuilt when the configuration changed."""
        key = (config.workspace, config.name)
        current = self._adapters.get(key)
        if current is not None and current.config.seq == config.seq:
            return current
        async with self._locks.setdefault(key, asyncio.Lock()):
            current = self._adapters.get(key)
            if current is not None and current.config.seq == config.seq:
                return current
            credential = await self._credentials(config.workspace, config.name)
            adapter = self.registry.factory(config.kind)(config, credential)
            await self._adopt(adapter, config)
            self._adapters[key] = adapter
        if current is not None:
            await _close(current)
        return adapter

    async def _adopt(self, adapter: Adapter, config: ProviderConfig) -> None:
        """Hand a new adapter the provider-side object an earlier one pushed (before a restart
        or a reconfiguration), so its next push replaces that object instead of leaving it."""
        adopt = getattr(adapter, "adopt", None)
        if adopt is None or self._last_push is None:
            return
        last = await self._last_push(config.workspace, config.name)
        if last and last.get("status") == "ok" and last.get("object_id"):
            adopt(PushResult(str(last["object_id"]), str(last.get("version") or "")))

    async def forget(self, workspace: str, name: str) -> None:
        """Close the adapter of a removed provider."""
        adapter = self._adapters.pop((workspace, name), None)
        self._locks.pop((workspace, name), None)
        if adapter is not None:
            await _close(adapter)

    async def aclose(self) -> None:
        adapters = list(self._adapters.values())
        self._adapters.clear()
        for adapter in adapters:
            await _close(adapter)


async def _close(adapter: Adapter) -> None:
    with contextlib.suppress(Exception):  # a failing close must not stop the others
        await adapter.aclose()
