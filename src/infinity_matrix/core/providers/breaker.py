"""The circuit breaker of a provider deployment: when to stop calling it, and when to try again.

A breaker is per deployment (``ProviderConfig.deployment``: endpoint and model), so every
workspace and every node calling the same deployment sees the same breaker::

    closed ──(N consecutive tripping failures, or a failure ratio over a rolling window)──► open
    open ──(cooldown over: the next caller takes the one probe)──► half_open
    half_open ──(probe succeeds)──► closed        half_open ──(probe fails)──► open (longer)

Only failures that say the provider misbehaved count (``ProviderError.trips_breaker``: server
errors, overload, timeouts, malformed responses); a rejected key or a 429 is an answer, and counts
as one. The cooldown doubles each time the breaker opens again soon after its previous cooldown
ended, up to a cap. A probe holds its slot for ``probe_seconds``: a probe lost with its node frees
the slot after that.

The transitions are pure functions of a ``BreakerState``; a ``BreakerStore`` applies them
atomically (``MemoryBreakerStore`` in one process, ``storage.breakers.RedisBreakerStore`` across
nodes, which runs the same transitions in a Lua script).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"
BREAKER_STATES = (CLOSED, HALF_OPEN, OPEN)

_REASON_CHARS = 240


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a breaker opens and for how long. Every node sharing a store must use one policy.

    The ratio rule applies once the rolling window holds ``min_calls`` calls; set
    ``failure_ratio`` above 1 to disable it."""

    failure_threshold: int = 5
    failure_ratio: float = 0.5
    min_calls: int = 20
    window_seconds: float = 60.0
    cooldown_seconds: float = 5.0
    cooldown_factor: float = 2.0
    max_cooldown_seconds: float = 300.0
    probe_seconds: float = 30.0

    def cooldown(self, openings: int) -> float:
        """The cooldown of the ``openings``-th opening in a row (1 = first)."""
        grown = self.cooldown_seconds * self.cooldown_factor ** max(0, openings - 1)
        return min(self.max_cooldown_seconds, grown)


@dataclass(frozen=True, slots=True)
class BreakerState:
    """One deployment's breaker. Times are seconds since the epoch (shared by nodes).

    ``reason`` is ``"<error kind>: <detail>"`` of the failure that last opened it;
    ``openings`` counts openings in a row (it sizes the next cooldown); ``window`` is the index
    of the current rolling-window bucket and ``ok``/``failed`` its counts, ``previous_*`` those
    of the bucket before."""

    state: str = CLOSED
    consecutive_failures: int = 0
    opened_at: float | None = None
    cooldown_until: float | None = None
    reason: str | None = None
    openings: int = 0
    probe_until: float | None = None
    window: int = 0
    ok: int = 0
    failed: int = 0
    previous_ok: int = 0
    previous_failed: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "consecutive_failures": self.consecutive_failures,
            "opened_at": self.opened_at,
            "cooldown_until": self.cooldown_until,
            "reason": self.reason,
        }


CLOSED_STATE = BreakerState()


def failure_reason(kind: str, detail: str) -> str:
    """The ``reason`` recorded for a failure: its kind and (the start of) its detail."""
    return f"{kind}: {detail}"[:_REASON_CHARS]


def try_acquire(
    state: BreakerState, policy: BreakerPolicy, now: float
) -> tuple[bool, BreakerState]:
    """May a call go to the deployment now? Answers the new state too: the caller that finds an
    open breaker past its cooldown takes the half-open probe."""
    if state.state == CLOSED:
        return True, state
    if state.state == OPEN:
        if state.cooldown_until is not None and now < state.cooldown_until:
            return False, state
        return True, replace(state, state=HALF_OPEN, probe_until=now + policy.probe_seconds)
    if state.probe_until is not None and now < state.probe_until:
        return False, state
    return True, replace(state, probe_until=now + policy.probe_seconds)


def record_success(state: BreakerState, policy: BreakerPolicy, now: float) -> BreakerState:
    """The deployment answered. A half-open breaker closes; an open one ignores a call that
    started before it opened."""
    if state.state == OPEN:
        return state
    if state.state == HALF_OPEN:
        return BreakerState(
            opened_at=state.opened_at,
            cooldown_until=state.cooldown_until,
            reason=state.reason,
            openings=state.openings,
            window=_bucket(now, policy),
            ok=1,
        )
    state = _roll(state, policy, now)
    return replace(state, consecutive_failures=0, ok=state.ok + 1)


def record_failure(
    state: BreakerState, policy: BreakerPolicy, now: float, reason: str
) -> BreakerState:
    """The deployment misbehaved (a ``trips_breaker`` error). A failed probe opens the breaker
    again for longer; a closed breaker opens at the threshold or the failure ratio."""
    if state.state == OPEN:
        return state
    if state.state == HALF_OPEN:
        return _open(state, policy, now, reason)
    state = _roll(state, policy, now)
    state = replace(
        state, consecutive_failures=state.consecutive_failures + 1, failed=state.failed + 1
    )
    if state.consecutive_failures >= policy.failure_threshold or _ratio_trips(state, policy, now):
        return _open(state, policy, now, reason)
    return state


def _open(state: BreakerState, policy: BreakerPolicy, now: float, reason: str) -> BreakerState:
    # "Again soon": within max_cooldown_seconds of the last cooldown's end, the cooldown grows.
    again = state.cooldown_until is not None and now - state.cooldown_until < (
        policy.max_cooldown_seconds
    )
    openings = state.openings + 1 if again else 1
    return BreakerState(
        state=OPEN,
        consecutive_failures=state.consecutive_failures,
        opened_at=now,
        cooldown_until=now + policy.cooldown(openings),
        reason=reason,
        openings=openings,
        window=_bucket(now, policy),
    )


def _bucket(now: float, policy: BreakerPolicy) -> int:
    return math.floor(now / policy.window_seconds)


def _roll(state: BreakerState, policy: BreakerPolicy, now: float) -> BreakerState:
    bucket = _bucket(now, policy)
    if bucket == state.window:
        return state
    if bucket == state.window + 1:
        return replace(
            state,
            window=bucket,
            ok=0,
            failed=0,
            previous_ok=state.ok,
            previous_failed=state.failed,
        )
    return replace(state, window=bucket, ok=0, failed=0, previous_ok=0, previous_failed=0)


def _ratio_trips(state: BreakerState, policy: BreakerPolicy, now: float) -> bool:
    # The sliding-window estimate: the previous bucket weighs what is left of it in the window.
    weight = 1.0 - (now / policy.window_seconds - state.window)
    failed = state.previous_failed * weight + state.failed
    total = (state.previous_ok + state.previous_failed) * weight + state.ok + state.failed
    return total >= policy.min_calls and failed >= policy.failure_ratio * total


class BreakerStore(Protocol):
    """Where breakers live. Each operation is atomic across every user of the store, so two
    nodes recording failures at once both count, and only one of them takes a probe.

    Stores never raise for their own outages: a breaker that cannot be read is closed (the
    provider is still tried) and the outage is logged."""

    policy: BreakerPolicy

    async def get(self, deployment: str) -> BreakerState: ...

    async def try_acquire(self, deployment: str) -> tuple[bool, BreakerState]:
        """Whether a call may go now (taking the half-open probe if it is free)."""
        ...

    async def record_success(self, deployment: str) -> BreakerState: ...

    async def record_failure(self, deployment: str, reason: str) -> BreakerState: ...


class MemoryBreakerStore:
    """Breakers of this process only (one node, and the tests); ``clock`` is the epoch time."""

    def __init__(
        self,
        policy: BreakerPolicy | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.policy = policy or BreakerPolicy()
        self._clock = clock
        self._states: dict[str, BreakerState] = {}

    async def get(self, deployment: str) -> BreakerState:
        return self._states.get(deployment, CLOSED_STATE)

    async def try_acquire(self, deployment: str) -> tuple[bool, BreakerState]:
        state = self._states.get(deployment, CLOSED_STATE)
        if state.state == CLOSED:
            return True, state
        allowed, state = try_acquire(state, self.policy, self._clock())
        self._states[deployment] = state
        return allowed, state

    async def record_success(self, deployment: str) -> BreakerState:
        state = record_success(
            self._states.get(deployment, CLOSED_STATE), self.policy, self._clock()
        )
        self._states[deployment] = state
        return state

    async def record_failure(self, deployment: str, reason: str) -> BreakerState:
        state = record_failure(
            self._states.get(deployment, CLOSED_STATE), self.policy, self._clock(), reason
        )
        self._states[deployment] = state
        return state
