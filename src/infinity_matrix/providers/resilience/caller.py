"""ResilientCaller: the one place that retries provider calls (DESIGN §7).

Adapters make exactly one attempt and raise the typed taxonomy (``core.providers.errors``); the
caller decides everything else. For each provider of the chain (the primary, then its
configured fallbacks), in order:

1. skip it when the request cannot fit its ``context_window`` (about 4 characters a token, plus
   ``max_output_tokens``), or when its deployment's breaker is open;
2. wait for its rpm/tpm admission, within the deadline (else it counts as rate limited);
3. call it with the time left, and record the outcome in the breaker;
4. retry a ``retryable`` error up to ``config.max_retries`` times after the backoff (or the
   provider's ``Retry-After``), unless the wait would pass the deadline (``ProviderTimeout``)
   or the breaker opened meanwhile;
5. on a final failure, go on to the next provider.

When every provider fails, the error of the last one is raised, with every provider's fate in
its ``extra["providers"]``; a call whose providers were all skipped raises the reason of the
last skip (``CircuitOpen``, ``ContextTooLong`` or ``ProviderRateLimited``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from infinity_matrix.core.providers.breaker import (
    CLOSED,
    BreakerState,
    BreakerStore,
    MemoryBreakerStore,
    failure_reason,
)
from infinity_matrix.core.providers.errors import (
    CircuitOpen,
    ContextTooLong,
    ProviderError,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderTimeout,
)
from infinity_matrix.core.providers.limits import UNLIMITED, LimitsRemaining, ProviderLimiter
from infinity_matrix.core.providers.ports import Adapter
from infinity_matrix.core.providers.records import (
    Answered,
    ChatRequest,
    ChatResult,
    ContextBundle,
    ProviderConfig,
    PushResult,
)
from infinity_matrix.providers.resilience.backoff import Backoff

T = TypeVar("T")

# An adapter is given ``time_left`` and passes it to its SDK; this much later the caller gives
# up on an adapter that did not honour it.
_GRACE_SECONDS = 0.5
# A push that sends nothing (files written here, or nothing at all) gets this long.
LOCAL_PUSH_SECONDS = 60.0


class CallMetrics(Protocol):
    """What the caller reports (``observability.provider_metrics.ProviderMetrics``).

    ``error`` and ``reason`` are error kinds of the taxonomy (``"server_error"``, …)."""

    def observe_attempt(self, config: ProviderConfig, error: str | None, seconds: float) -> None:
        """One request sent to the provider: answered (``error`` None) or failed."""

    def observe_skip(self, config: ProviderConfig, reason: str) -> None:
        """A provider of the chain not called at all (breaker open, window too small, …)."""

    def observe_retry(self, config: ProviderConfig) -> None: ...

    def observe_breaker(self, config: ProviderConfig, state: str) -> None: ...

    def observe_remaining(self, config: ProviderConfig, remaining: LimitsRemaining) -> None: ...


@dataclass(frozen=True, slots=True)
class ProviderMiss:
    """A provider of the chain that did not answer: never called (``attempts`` 0: skipped) or
    failed after ``attempts`` requests; ``kind`` is the error kind that decided it."""

    provider: str
    kind: str
    detail: str
    attempts: int

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "kind": self.kind,
            "detail": self.detail,
            "attempts": self.attempts,
        }


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """A provider's answer, which provider of the chain gave it (``config``), the requests
    sent in all (``attempts``), how many of them were retries, and the providers passed over."""

    result: ChatResult
    config: ProviderConfig
    attempts: int
    retries: int
    skipped: tuple[ProviderMiss, ...] = ()
    failed: tuple[ProviderMiss, ...] = ()

    @property
    def provider(self) -> str:
        return self.config.name

    def to_answered(self) -> Answered:
        """The core's record of the call (``core.providers.records.Answered``)."""
        passed_over = tuple(
            (miss.provider, f"{miss.kind}: {miss.detail}") for miss in self.skipped + self.failed
        )
        return Answered(self.result, self.config, self.attempts, passed_over)


@dataclass(frozen=True, slots=True)
class ProviderHealth:
    """A provider's health for ``GET /api/v1/providers`` and ``imx provider status``: its
    deployment's breaker and what is left of its limits. ``cooldown_until``, ``opened_at`` and
    ``reason`` are set while the breaker is not closed (epoch seconds)."""

    provider: str
    kind: str
    model: str
    deployment: str
    state: str
    consecutive_failures: int
    cooldown_until: float | None
    opened_at: float | None
    reason: str | None
    remaining: LimitsRemaining
    rpm: int | None
    tpm: int | None

    @property
    def healthy(self) -> bool:
        return self.state == CLOSED

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "kind": self.kind,
            "model": self.model,
            "healthy": self.healthy,
            "breaker": {
                "state": self.state,
                "consecutive_failures": self.consecutive_failures,
                "opened_at": _iso(self.opened_at),
                "cooldown_until": _iso(self.cooldown_until),
                "reason": self.reason,
            },
            "limits": {"rpm": self.rpm, "tpm": self.tpm},
            "remaining": self.remaining.to_json(),
        }


def estimate_tokens(request: ChatRequest) -> int:
    """What a request may need of a context window: about 4 characters a token for its
    instructions, context and messages, plus the answer's ``max_output_tokens``."""
    chars = len(request.instructions or "")
    if request.context is not None:
        chars += len(request.context.text)
    for message in request.messages:
        chars += len(message.text)
    return chars // 4 + request.max_output_tokens


class ResilientCaller:
    """Calls adapters with retries, deadlines, breakers, limits and fallbacks.

    ``breakers`` defaults to a ``MemoryBreakerStore``; ``limiter`` None means no rpm/tpm
    limits; ``metrics`` None reports nothing. ``clock`` (monotonic seconds) measures deadlines
    and ``sleep`` waits, ``wall`` (epoch seconds) reads breaker cooldowns: inject all three to
    test without waiting."""

    def __init__(
        self,
        *,
        breakers: BreakerStore | None = None,
        limiter: ProviderLimiter | None = None,
        backoff: Backoff | None = None,
        metrics: CallMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.breakers: BreakerStore = breakers or MemoryBreakerStore()
        self.limiter = limiter
        self.backoff = backoff or Backoff()
        self.metrics = metrics
        self._clock = clock
        self._wall = wall
        self._sleep = sleep

    async def complete(
        self,
        chain: Sequence[Adapter],
        request: ChatRequest,
        *,
        deadline_seconds: float | None = None,
    ) -> CallOutcome:
        """Ask the first provider of ``chain`` that can answer. Raises the ``ProviderError``
        of the last provider when none answers, ``ProviderTimeout`` when the deadline passes,
        and ``ProviderNotFound`` for an empty chain."""
        deadline = None if deadline_seconds is None else self._clock() + deadline_seconds
        tokens = estimate_tokens(request)
        run = _Run()
        for adapter in chain:
            config = adapter.config
            if config.context_window is not None and tokens > config.context_window:
                run.miss(config, _too_long(config, tokens), 0, self.metrics)
                continue
            attempts = run.attempts
            try:
                result = await self._attempts(
                    config,
                    _completion(adapter, request),
                    tokens,
                    deadline,
                    run,
                )
            except ProviderError as exc:
                run.miss(config, exc, run.attempts - attempts, self.metrics)
                if deadline is not None and self._clock() >= deadline:
                    break
                continue
            return CallOutcome(
                result, config, run.attempts, run.retries, run.skipped(), run.failed()
            )
        raise run.final_error()

    async def push(
        self,
        adapter: Adapter,
        bundle: ContextBundle,
        *,
        deadline_seconds: float | None = None,
    ) -> PushResult | None:
        """Bring one provider's copy of the context up to date, with the retry and breaker
        discipline of ``complete`` (no fallback: each provider keeps its own copy). Raises the
        last ``ProviderError``."""
        if not adapter.pushes_remotely:  # nothing is sent: not a provider call
            return await adapter.push(bundle, time_left=deadline_seconds or LOCAL_PUSH_SECONDS)
        deadline = None if deadline_seconds is None else self._clock() + deadline_seconds
        run = _Run()
        try:
            return await self._attempts(
                adapter.config,
                lambda time_left: adapter.push(bundle, time_left=time_left),
                len(bundle.text) // 4,
                deadline,
                run,
            )
        except ProviderError as exc:
            if run.attempts == 0 and self.metrics is not None:
                self.metrics.observe_skip(adapter.config, exc.kind)
            raise

    async def health(self, config: ProviderConfig) -> ProviderHealth:
        """The breaker and remaining limits of ``config``'s deployment (and the metrics'
        gauges brought up to date with them)."""
        state = await self.breakers.get(config.deployment)
        remaining = UNLIMITED
        if self.limiter is not None and (config.rpm is not None or config.tpm is not None):
            remaining = await self.limiter.remaining(config)
        if self.metrics is not None:
            self.metrics.observe_breaker(config, state.state)
            self.metrics.observe_remaining(config, remaining)
        closed = state.state == CLOSED
        return ProviderHealth(
            provider=config.name,
            kind=config.kind,
            model=config.model,
            deployment=config.deployment,
            state=state.state,
            consecutive_failures=state.consecutive_failures,
            cooldown_until=None if closed else state.cooldown_until,
            opened_at=None if closed else state.opened_at,
            reason=None if closed else state.reason,
            remaining=remaining,
            rpm=config.rpm,
            tpm=config.tpm,
        )

    async def _attempts(
        self,
        config: ProviderConfig,
        invoke: Callable[[float], Awaitable[T]],
        tokens: int,
        deadline: float | None,
        run: _Run,
    ) -> T:
        """Call one provider until it answers, fails for good, or time runs out."""
        last: ProviderError | None = None
        retry = 0
        while True:
            self._time_left(config, deadline, last)  # raises once the deadline has passed
            allowed, state = await self.breakers.try_acquire(config.deployment)
            self._observe_breaker(config, state)
            if not allowed:
                # Our own failures (or another node's) opened it: stop retrying this provider.
                raise last or self._circuit_open(config, state)
            await self._admit(config, tokens, deadline)
            time_left = self._time_left(config, deadline, last)
            run.attempts += 1
            started = self._clock()
            try:
                async with asyncio.timeout(time_left + _GRACE_SECONDS):
                    result = await invoke(time_left)
            except ProviderError as exc:
                error = exc
            except TimeoutError as exc:
                error = ProviderTimeout(f"no answer in {time_left:.3g}s", provider=config.name)
                error.__cause__ = exc
            else:
                state = await self.breakers.record_success(config.deployment)
                if self.metrics is not None:
                    self.metrics.observe_attempt(config, None, self._clock() - started)
                    self.metrics.observe_breaker(config, state.state)
                return result
            await self._record_failure(config, error, self._clock() - started)
            if not error.retryable or retry >= config.max_retries:
                raise error
            delay = self.backoff.delay(retry, error.retry_after)
            if deadline is not None and self._clock() + delay >= deadline:
                raise ProviderTimeout(
                    f"the deadline leaves no time to retry after {error.kind}",
                    provider=config.name,
                    retry_after=error.retry_after,
                ) from error
            retry += 1
            run.retries += 1
            last = error
            if self.metrics is not None:
                self.metrics.observe_retry(config)
            await self._sleep(delay)

    def _time_left(
        self, config: ProviderConfig, deadline: float | None, last: ProviderError | None
    ) -> float:
        if deadline is None:
            return config.timeout_seconds
        left = deadline - self._clock()
        if left <= 0:
            raise ProviderTimeout("the deadline passed", provider=config.name) from last
        return min(config.timeout_seconds, left)

    async def _admit(self, config: ProviderConfig, tokens: int, deadline: float | None) -> None:
        """Wait for the limiter to admit a request, at most the provider's timeout and never
        past the deadline; raises ``ProviderRateLimited`` past that (a full minute's limit
        would otherwise hold a call, and its fallbacks, for most of a minute)."""
        if self.limiter is None or (config.rpm is None and config.tpm is None):
            return
        give_up = self._clock() + config.timeout_seconds
        if deadline is not None:
            give_up = min(give_up, deadline)
        while True:
            admission = await self.limiter.acquire(config, tokens)
            if admission.admitted:
                return
            if self._clock() + admission.wait_seconds >= give_up:
                wait = admission.wait_seconds
                raise ProviderRateLimited(
                    "the provider's rpm/tpm limit admits no request in time",
                    provider=config.name,
                    retry_after=None if wait == float("inf") else wait,
                )
            await self._sleep(admission.wait_seconds)

    async def _record_failure(
        self, config: ProviderConfig, error: ProviderError, seconds: float
    ) -> None:
        if error.trips_breaker:
            reason = failure_reason(error.kind, error.detail)
            state = await self.breakers.record_failure(config.deployment, reason)
        else:
            # The deployment answered (a 4xx or a 429): it is up, whatever it thought of us.
            state = await self.breakers.record_success(config.deployment)
        if self.metrics is not None:
            self.metrics.observe_attempt(config, error.kind, seconds)
            self.metrics.observe_breaker(config, state.state)

    def _observe_breaker(self, config: ProviderConfig, state: BreakerState) -> None:
        if self.metrics is not None:
            self.metrics.observe_breaker(config, state.state)

    def _circuit_open(self, config: ProviderConfig, state: BreakerState) -> CircuitOpen:
        wait = None
        if state.cooldown_until is not None:
            wait = max(0.0, state.cooldown_until - self._wall())
        return CircuitOpen(
            f"the circuit breaker of {config.name} is {state.state} ({state.reason})",
            provider=config.name,
            retry_after=wait,
        )


class _Run:
    """What one call through the chain did so far (mutable, private to one call)."""

    __slots__ = ("attempts", "misses", "retries")

    def __init__(self) -> None:
        self.attempts = 0
        self.retries = 0
        self.misses: list[tuple[ProviderMiss, ProviderError]] = []

    def miss(
        self,
        config: ProviderConfig,
        error: ProviderError,
        attempts: int,
        metrics: CallMetrics | None,
    ) -> None:
        self.misses.append((ProviderMiss(config.name, error.kind, error.detail, attempts), error))
        if attempts == 0 and metrics is not None:
            metrics.observe_skip(config, error.kind)

    def skipped(self) -> tuple[ProviderMiss, ...]:
        return tuple(miss for miss, _ in self.misses if miss.attempts == 0)

    def failed(self) -> tuple[ProviderMiss, ...]:
        return tuple(miss for miss, _ in self.misses if miss.attempts > 0)

    def final_error(self) -> ProviderError:
        if not self.misses:
            return ProviderNotFound("no provider to call")
        error = self.misses[-1][1]
        error.extra["providers"] = [miss.to_json() for miss, _ in self.misses]
        return error


def _completion(adapter: Adapter, request: ChatRequest) -> Callable[[float], Awaitable[ChatResult]]:
    return lambda time_left: adapter.complete(request, time_left=time_left)


def _too_long(config: ProviderConfig, tokens: int) -> ContextTooLong:
    return ContextTooLong(
        f"about {tokens} tokens do not fit the context window of {config.context_window}",
        provider=config.name,
    )


def _iso(when: float | None) -> str | None:
    return None if when is None else datetime.fromtimestamp(when, UTC).isoformat()
