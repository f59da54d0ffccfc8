"""Data flow 1: when the context changes, bring every configured provider up to date.

The node that commits a change observes it (the log's commit observer, so in a cluster one
node acts on each change, not all of them). Changes are gathered per workspace and acted on
after a quiet ``debounce`` (at most ``max_delay`` after the first): for each provider of the
workspace whose routing rules admit one of the changes, the provider's bundle is built; if it
differs from what the provider was last given, the provider's sync target takes it through the
resilient caller. Every outcome is logged as ``provider.pushed``: ``ok`` with the provider's
object id and version, ``attached`` when the provider keeps no context on its side (the bundle
goes with each call), or ``failed`` with the error's code.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import structlog

from infinity_matrix.core.protocol import events as ev
from infinity_matrix.core.providers.bundles import Bundles
from infinity_matrix.core.providers.commands import LogProviderEvent
from infinity_matrix.core.providers.ports import ProviderCalls
from infinity_matrix.core.providers.records import ProviderConfig
from infinity_matrix.core.providers.routing import admits_entry, admits_key
from infinity_matrix.core.providers.service import ProviderService
from infinity_matrix.core.sync.log import EventLog, Origin
from infinity_matrix.errors import InfinityMatrixError

log = structlog.get_logger(__name__)

FLOW_ACTOR = "system:context-flow"
CLOSE_GRACE_SECONDS = 5.0
_CONTEXT_EVENTS = frozenset({ev.CONTEXT_UPDATED, ev.CONTEXT_DELETED})


@dataclass(slots=True)
class _Pending:
    keys: dict[str, str] = field(default_factory=dict)  # key → entry kind ("" if deleted)
    insights: bool = False
    forced: set[str] = field(default_factory=set)
    first: float = 0.0
    task: asyncio.Task[None] | None = None


@dataclass(frozen=True, slots=True)
class PushOutcome:
    provider: str
    status: str  # ok | attached | unchanged | failed
    version: int
    object_id: str | None = None
    error: str | None = None
    seq: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "status": self.status,
            "version": self.version,
            "object_id": self.object_id,
            "error": self.error,
            "seq": self.seq,
        }


class ContextFlow:
    def __init__(
        self,
        providers: ProviderService,
        bundles: Bundles,
        calls: ProviderCalls,
        log: EventLog,
        *,
        debounce_seconds: float = 0.5,
        max_delay_seconds: float = 5.0,
    ) -> None:
        self._providers = providers
        self._bundles = bundles
        self._calls = calls
        self._log = log
        self._debounce = debounce_seconds
        self._max_delay = max_delay_seconds
        self._pending: dict[str, _Pending] = {}
        self._running: set[asyncio.Task[Any]] = set()
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._closed = False

    def observe(self, events: Sequence[ev.Event]) -> None:
        """Note committed events (called on the committing node, in commit order)."""
        if self._closed:
            return
        for event in events:
            pending = self._note(event)
            if pending is not None:
                self._schedule(event.workspace, pending)

    async def sync(
        self, workspace: str, names: Collection[str] | None = None, *, force: bool = False
    ) -> list[PushOutcome]:
        """Bring the providers ``names`` (default: all) of ``workspace`` up to date now."""
        configs = await self._providers.configs(workspace)
        chosen = [c for c in configs if names is None or c.name in names]
        return [await self._push(config, force=force) for config in chosen]

    async def catch_up(self, workspaces: Sequence[str]) -> None:
        """Bring every provider of ``workspaces`` up to date if its last push is not the
        current briefing (changes committed while the hub was down, or pending when it
        stopped: ``close`` does not wait for slow providers)."""
        for workspace in workspaces:
            if self._closed:
                return
            for config in await self._providers.configs(workspace):
                with contextlib.suppress(InfinityMatrixError):
                    await self._push(config, force=False)

    def start_catch_up(self, workspaces: Sequence[str]) -> None:
        """``catch_up`` in the background: starting the hub never waits for a provider."""
        task = asyncio.get_running_loop().create_task(self.catch_up(workspaces))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def close(self) -> None:
        """Stop: pending changes are dropped (the next start catches up), pushes under way
        get ``CLOSE_GRACE_SECONDS`` to finish."""
        self._closed = True
        for pending in self._pending.values():
            if pending.task is not None:
                pending.task.cancel()
        self._pending.clear()
        running = list(self._running)
        if not running:
            return
        _done, late = await asyncio.wait(running, timeout=CLOSE_GRACE_SECONDS)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    def _note(self, event: ev.Event) -> _Pending | None:
        if event.type in _CONTEXT_EVENTS:
            pending = self._pending.setdefault(event.workspace, _Pending())
            key = event.subject.removeprefix("context/")
            pending.keys[key] = str(event.payload.get("kind") or "")
        elif event.type in ev.INSIGHT_EVENTS:
            pending = self._pending.setdefault(event.workspace, _Pending())
            pending.insights = True
        elif event.type == ev.PROVIDER_REMOVED:
            name = event.subject.removeprefix("provider/")
            task = asyncio.get_running_loop().create_task(self._calls.forget(event.workspace, name))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            return None
        elif event.type == ev.PROVIDER_CONFIGURED:
            pending = self._pending.setdefault(event.workspace, _Pending())
            pending.forced.add(event.subject.removeprefix("provider/"))
        else:
            return None
        return pending

    def _schedule(self, workspace: str, pending: _Pending) -> None:
        now = time.monotonic()
        if pending.task is None:
            pending.first = now
        else:
            pending.task.cancel()
        delay = min(self._debounce, max(0.0, pending.first + self._max_delay - now))
        pending.task = asyncio.get_running_loop().create_task(self._later(workspace, delay))

    async def _later(self, workspace: str, delay: float) -> None:
        await asyncio.sleep(delay)
        pending = self._pending.get(workspace)
        if pending is not None:
            pending.task = None  # from here on a new change schedules a new flush
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            await self._flush(workspace)
        finally:
            if task is not None:
                self._running.discard(task)

    async def _flush(self, workspace: str) -> None:
        pending = self._pending.pop(workspace, None)
        if pending is None:
            return
        try:
            configs = await self._providers.configs(workspace)
        except InfinityMatrixError:
            return  # the workspace is gone
        for config in configs:
            if config.name in pending.forced or _concerns(config, pending):
                with contextlib.suppress(InfinityMatrixError):
                    await self._push(config, force=config.name in pending.forced)

    async def _push(self, config: ProviderConfig, *, force: bool) -> PushOutcome:
        """One push at a time per provider (a sync target replaces its object in steps)."""
        async with self._locks.setdefault((config.workspace, config.name), asyncio.Lock()):
            return await self._push_now(config, force=force)

    async def _push_now(self, config: ProviderConfig, *, force: bool) -> PushOutcome:
        bundle = await self._bundles.for_provider(config)
        last = await self._providers.last_push(config.workspace, config.name)
        if (
            not force
            and last is not None
            and last.get("status") in ("ok", "attached")
            and last.get("digest") == bundle.digest
        ):
            return PushOutcome(config.name, "unchanged", bundle.version, last.get("object_id"))
        payload: dict[str, Any] = {
            "provider": config.name,
            "kind": config.kind,
            "version": bundle.version,
            "digest": bundle.digest,
            "chars": len(bundle.text),
        }
        try:
            pushed = await self._calls.push(config, bundle)
        except InfinityMatrixError as error:
            log.warning("provider.push_failed", provider=config.name, code=error.code)
            payload |= {"status": "failed", "error": error.code, "detail": error.detail[:500]}
            outcome = PushOutcome(config.name, "failed", bundle.version, error=error.code)
        else:
            if pushed is None:
                payload |= {"status": "attached", "object_id": None}
                outcome = PushOutcome(config.name, "attached", bundle.version)
            else:
                payload |= {
                    "status": "ok",
                    "object_id": pushed.object_id,
                    "object_version": pushed.version,
                    "detail": pushed.detail,
                }
                outcome = PushOutcome(config.name, "ok", bundle.version, pushed.object_id)
        receipt = await self._log.submit(
            config.workspace,
            LogProviderEvent(ev.PROVIDER_PUSHED, config.name, payload),
            Origin(actor=FLOW_ACTOR, source="context-flow"),
        )
        return replace(outcome, seq=receipt.seq)


def _concerns(config: ProviderConfig, pending: _Pending) -> bool:
    """Whether any pending change is one ``config``'s routing admits."""
    if pending.insights:
        return True
    return any(
        admits_entry(config.routing, key, kind) if kind else admits_key(config.routing, key)
        for key, kind in pending.keys.items()
    )
