"""The resilient caller: retries, Retry-After, deadlines, breakers, limits and fallbacks.

Adapters here follow a script (``tests.providers.scripted``); time is a fake clock that moves
only when the caller sleeps, so ``clock.sleeps`` is exactly the waits the caller chose.
"""

from __future__ import annotations

import asyncio
import math

import pytest
from prometheus_client import CollectorRegistry
from tests.providers.scripted import REQUEST, FakeClock, ScriptedAdapter, caller

from infinity_matrix.core.providers.breaker import BreakerPolicy
from infinity_matrix.core.providers.errors import (
    ERROR_KINDS,
    CircuitOpen,
    ContextTooLong,
    MalformedResponse,
    ProviderAuthError,
    ProviderError,
    ProviderOverloaded,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
    QuotaExhausted,
)
from infinity_matrix.core.providers.limits import ADMITTED, Admission, LimitsRemaining
from infinity_matrix.core.providers.records import (
    ChatRequest,
    ChatResult,
    ContextBundle,
    Message,
    ProviderConfig,
    PushResult,
)
from infinity_matrix.observability.provider_metrics import ProviderMetrics
from infinity_matrix.providers.resilience.caller import ProviderMiss, estimate_tokens
from infinity_matrix.providers.resilience.retry_after import parse_retry_after
from infinity_matrix.storage.providerlimits import LimitsProviderLimiter

RETRYABLE = {"rate_limited", "overloaded", "server_error", "timeout", "malformed_response"}
PATIENT = BreakerPolicy(failure_threshold=100, min_calls=1000)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.mark.anyio
async def test_an_answer_at_the_first_attempt_is_returned_with_its_provider(
    clock: FakeClock,
) -> None:
    adapter = ScriptedAdapter("primary")
    outcome = await caller(clock).complete([adapter], REQUEST)
    assert outcome.result.text == "answer from primary"
    assert (outcome.provider, outcome.attempts, outcome.retries) == ("primary", 1, 0)
    assert (outcome.skipped, outcome.failed) == ((), ())
    assert adapter.time_left == [60.0]
    assert clock.sleeps == []


@pytest.mark.anyio
@pytest.mark.parametrize("error", ERROR_KINDS, ids=lambda error: error.kind)
async def test_each_error_class_is_retried_exactly_when_it_is_retryable(
    clock: FakeClock, error: type[ProviderError]
) -> None:
    adapter = ScriptedAdapter("primary", [error], max_retries=1)
    if error.kind in RETRYABLE:
        outcome = await caller(clock, policy=PATIENT).complete([adapter], REQUEST)
        assert (outcome.attempts, outcome.retries, adapter.calls) == (2, 1, 2)
        assert outcome.failed == ()
    else:
        with pytest.raises(ProviderError) as raised:
            await caller(clock, policy=PATIENT).complete([adapter], REQUEST)
        assert raised.value.code == error.code
        assert adapter.calls == 1
        assert clock.sleeps == []


@pytest.mark.anyio
@pytest.mark.parametrize("retries", [0, 1, 3])
async def test_n_retries_make_one_plus_n_attempts_then_raise_the_last_error(
    clock: FakeClock, retries: int
) -> None:
    adapter = ScriptedAdapter("primary", [ProviderServerError] * 10, max_retries=retries)
    with pytest.raises(ProviderServerError) as raised:
        await caller(clock, policy=PATIENT).complete([adapter], REQUEST)
    assert adapter.calls == 1 + retries
    assert len(clock.sleeps) == retries
    assert raised.value.extra["providers"] == [
        {
            "provider": "primary",
            "kind": "server_error",
            "detail": "scripted server_error",
            "attempts": 1 + retries,
        }
    ]


@pytest.mark.anyio
async def test_retries_wait_a_full_jitter_draw_of_a_doubling_ceiling(clock: FakeClock) -> None:
    adapter = ScriptedAdapter("primary", [ProviderOverloaded] * 5, max_retries=5)
    outcome = await caller(clock, policy=PATIENT, draw=0.5).complete([adapter], REQUEST)
    # draw 0.5 of min(8, 0.5 * 2**i)
    assert clock.sleeps == [0.25, 0.5, 1.0, 2.0, 4.0]
    assert (outcome.attempts, outcome.retries) == (6, 5)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("headers", "wait"),
    [({"retry-after": "7"}, 7.0), ({"retry-after-ms": "1500"}, 1.5), ({"retry-after": "0"}, 0.0)],
)
async def test_a_retry_after_from_the_provider_is_the_wait_before_the_retry(
    clock: FakeClock, headers: dict[str, str], wait: float
) -> None:
    limited = ProviderRateLimited("429", retry_after=parse_retry_after(headers))
    adapter = ScriptedAdapter("primary", [limited])
    outcome = await caller(clock, draw=0.999).complete([adapter], REQUEST)
    assert clock.sleeps == [wait]
    assert outcome.attempts == 2


@pytest.mark.anyio
async def test_each_attempt_gets_the_time_left_before_the_deadline(clock: FakeClock) -> None:
    adapter = ScriptedAdapter("primary", [ProviderServerError, ProviderServerError])
    await caller(clock, policy=PATIENT, draw=0.5).complete(
        [adapter], REQUEST, deadline_seconds=10.0
    )
    assert adapter.time_left == pytest.approx([10.0, 9.75, 9.25])


@pytest.mark.anyio
async def test_a_retry_whose_wait_would_pass_the_deadline_is_not_waited_for(
    clock: FakeClock,
) -> None:
    adapter = ScriptedAdapter("primary", [ProviderRateLimited("429", retry_after=30.0)])
    with pytest.raises(ProviderTimeout) as raised:
        await caller(clock).complete([adapter], REQUEST, deadline_seconds=5.0)
    assert raised.value.code == "provider.timeout"
    assert isinstance(raised.value.__cause__, ProviderRateLimited)
    assert (adapter.calls, clock.sleeps) == (1, [])


@pytest.mark.anyio
async def test_a_retry_that_does_not_fit_the_deadline_leaves_the_time_to_the_fallback(
    clock: FakeClock,
) -> None:
    primary = ScriptedAdapter("primary", [ProviderServerError] * 3)
    fallback = ScriptedAdapter("fallback")
    outcome = await caller(clock, policy=PATIENT, draw=1.0).complete(
        [primary, fallback], REQUEST, deadline_seconds=1.4
    )
    # Waits of 0.5 then 1.0 would pass 1.4 s: one retry, then the fallback with 0.9 s left.
    assert (primary.calls, clock.sleeps) == (2, [0.5])
    assert fallback.time_left == pytest.approx([0.9])
    assert outcome.provider == "fallback"
    assert [(miss.kind, miss.attempts) for miss in outcome.failed] == [("timeout", 2)]


@pytest.mark.anyio
async def test_a_deadline_that_passed_stops_the_whole_chain(clock: FakeClock) -> None:
    class Slow(ScriptedAdapter):
        async def complete(self, request: ChatRequest, *, time_left: float) -> ChatResult:
            self.time_left.append(time_left)
            clock.now += time_left
            raise ProviderTimeout("read timeout")

    slow = Slow("primary")
    fallback = ScriptedAdapter("fallback")
    with pytest.raises(ProviderTimeout):
        await caller(clock).complete([slow, fallback], REQUEST, deadline_seconds=2.0)
    assert (slow.time_left, fallback.calls) == ([2.0], 0)


@pytest.mark.anyio
async def test_an_adapter_that_overruns_its_time_left_is_abandoned_as_a_timeout() -> None:
    class Hanging(ScriptedAdapter):
        async def complete(self, request: ChatRequest, *, time_left: float) -> ChatResult:
            self.time_left.append(time_left)
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

    clock = FakeClock()
    hanging = Hanging("primary", max_retries=0)
    with pytest.raises(ProviderTimeout):
        await caller(clock).complete([hanging], REQUEST, deadline_seconds=0.05)


@pytest.mark.anyio
async def test_a_failing_primary_falls_back_to_the_next_provider(clock: FakeClock) -> None:
    primary = ScriptedAdapter("primary", [ProviderServerError] * 3, max_retries=2)
    fallback = ScriptedAdapter("fallback")
    outcome = await caller(clock, policy=PATIENT).complete([primary, fallback], REQUEST)
    assert outcome.config is fallback.config
    assert (outcome.attempts, outcome.retries) == (4, 2)
    assert outcome.failed == (
        ProviderMiss("primary", "server_error", "scripted server_error", attempts=3),
    )
    answered = outcome.to_answered()
    assert answered.provider is fallback.config
    assert answered.skipped == (("primary", "server_error: scripted server_error"),)


@pytest.mark.anyio
async def test_quota_exhausted_is_not_retried_but_falls_back(clock: FakeClock) -> None:
    primary = ScriptedAdapter("primary", [QuotaExhausted("insufficient_quota", status=429)])
    fallback = ScriptedAdapter("fallback")
    outcome = await caller(clock).complete([primary, fallback], REQUEST)
    assert (primary.calls, fallback.calls, clock.sleeps) == (1, 1, [])
    assert outcome.provider == "fallback"
    assert [miss.kind for miss in outcome.failed] == ["quota_exhausted"]


@pytest.mark.anyio
async def test_a_fallback_whose_context_window_is_too_small_is_skipped(clock: FakeClock) -> None:
    big = ChatRequest(
        messages=(Message("user", "x" * 4000),),
        context=ContextBundle("ws", "y" * 4000, 3),
        instructions="z" * 400,
        max_output_tokens=500,
    )
    assert estimate_tokens(big) == 2600
    primary = ScriptedAdapter("primary", [ContextTooLong("too long")])
    small = ScriptedAdapter("small", context_window=2599)
    large = ScriptedAdapter("large", context_window=2600)
    outcome = await caller(clock).complete([primary, small, large], big)
    assert outcome.provider == "large"
    assert small.calls == 0
    assert [(miss.provider, miss.kind, miss.attempts) for miss in outcome.skipped] == [
        ("small", "context_too_long", 0)
    ]


@pytest.mark.anyio
async def test_a_request_no_provider_can_hold_raises_context_too_long(clock: FakeClock) -> None:
    small = ScriptedAdapter("small", context_window=10)
    with pytest.raises(ContextTooLong) as raised:
        await caller(clock).complete([small], REQUEST)
    assert raised.value.code == "provider.context_too_long"
    assert small.calls == 0


@pytest.mark.anyio
async def test_a_provider_whose_breaker_is_open_is_skipped_for_the_fallback(
    clock: FakeClock,
) -> None:
    resilient = caller(clock)
    primary = ScriptedAdapter("primary")
    fallback = ScriptedAdapter("fallback")
    for _ in range(5):
        await resilient.breakers.record_failure(primary.config.deployment, "server_error: 503")
    outcome = await resilient.complete([primary, fallback], REQUEST)
    assert (primary.calls, outcome.provider) == (0, "fallback")
    assert [(miss.provider, miss.kind) for miss in outcome.skipped] == [("primary", "circuit_open")]


@pytest.mark.anyio
async def test_a_chain_of_open_breakers_raises_circuit_open_with_the_cooldown(
    clock: FakeClock,
) -> None:
    resilient = caller(clock)
    primary = ScriptedAdapter("primary")
    for _ in range(5):
        await resilient.breakers.record_failure(primary.config.deployment, "server_error: 503")
    clock.now += 2.0
    with pytest.raises(CircuitOpen) as raised:
        await resilient.complete([primary], REQUEST)
    assert raised.value.code == "provider.circuit_open"
    assert raised.value.retry_after == pytest.approx(3.0)


@pytest.mark.anyio
async def test_failures_open_the_breaker_which_stops_the_retries(clock: FakeClock) -> None:
    resilient = caller(clock, policy=BreakerPolicy(failure_threshold=2))
    adapter = ScriptedAdapter("primary", [ProviderServerError] * 10, max_retries=5)
    with pytest.raises(ProviderServerError):
        await resilient.complete([adapter], REQUEST)
    assert adapter.calls == 2
    health = await resilient.health(adapter.config)
    assert (health.state, health.consecutive_failures) == ("open", 2)
    assert health.reason == "server_error: scripted server_error"


@pytest.mark.anyio
async def test_after_the_cooldown_one_probe_closes_the_breaker_again(clock: FakeClock) -> None:
    resilient = caller(clock, policy=BreakerPolicy(failure_threshold=2, cooldown_seconds=5.0))
    adapter = ScriptedAdapter("primary", [ProviderTimeout, ProviderTimeout], max_retries=1)
    with pytest.raises(ProviderTimeout):
        await resilient.complete([adapter], REQUEST)
    with pytest.raises(CircuitOpen):
        await resilient.complete([adapter], REQUEST)
    clock.now += 5.0
    outcome = await resilient.complete([adapter], REQUEST)
    assert outcome.attempts == 1
    assert (await resilient.health(adapter.config)).state == "closed"


@pytest.mark.anyio
async def test_errors_that_are_the_callers_fault_never_open_the_breaker(
    clock: FakeClock,
) -> None:
    resilient = caller(clock, policy=BreakerPolicy(failure_threshold=2))
    adapter = ScriptedAdapter("primary", [ProviderAuthError, ProviderRateLimited] * 3)
    for _ in range(3):
        with pytest.raises(ProviderAuthError):
            await resilient.complete([adapter], REQUEST)
    health = await resilient.health(adapter.config)
    assert (health.state, health.consecutive_failures) == ("closed", 0)


class ScriptedLimiter:
    """A limiter that answers from a script of admissions (then admits)."""

    def __init__(self, *answers: Admission) -> None:
        self.answers = list(answers)
        self.asked: list[int] = []

    async def acquire(self, config: ProviderConfig, tokens: int) -> Admission:
        self.asked.append(tokens)
        return self.answers.pop(0) if self.answers else ADMITTED

    async def remaining(self, config: ProviderConfig) -> LimitsRemaining:
        return LimitsRemaining(rpm=7, tpm=None)

    async def aclose(self) -> None:
        return None


@pytest.mark.anyio
async def test_the_caller_waits_for_the_limiter_within_the_deadline(clock: FakeClock) -> None:
    limiter = ScriptedLimiter(Admission(False, 2.0), Admission(False, 1.0))
    adapter = ScriptedAdapter("primary", rpm=10)
    outcome = await caller(clock, limiter=limiter).complete(
        [adapter], REQUEST, deadline_seconds=5.0
    )
    assert clock.sleeps == [2.0, 1.0]
    assert limiter.asked == [estimate_tokens(REQUEST)] * 3
    assert adapter.time_left == [2.0]
    assert outcome.attempts == 1


@pytest.mark.anyio
async def test_a_limit_that_admits_too_late_counts_as_rate_limited_and_falls_back(
    clock: FakeClock,
) -> None:
    limiter = ScriptedLimiter(Admission(False, 30.0))
    primary = ScriptedAdapter("primary", rpm=10)
    fallback = ScriptedAdapter("fallback")
    outcome = await caller(clock, limiter=limiter).complete(
        [primary, fallback], REQUEST, deadline_seconds=5.0
    )
    assert (primary.calls, outcome.provider, clock.sleeps) == (0, "fallback", [])
    assert [(miss.provider, miss.kind) for miss in outcome.skipped] == [("primary", "rate_limited")]


@pytest.mark.anyio
async def test_a_request_larger_than_the_whole_tpm_is_rate_limited_at_once(
    clock: FakeClock,
) -> None:
    limiter = ScriptedLimiter(Admission(False, math.inf))
    adapter = ScriptedAdapter("primary", tpm=10)
    with pytest.raises(ProviderRateLimited) as raised:
        await caller(clock, limiter=limiter).complete([adapter], REQUEST)
    assert raised.value.retry_after is None
    assert adapter.calls == 0


@pytest.mark.anyio
async def test_providers_without_limits_never_ask_the_limiter(clock: FakeClock) -> None:
    limiter = ScriptedLimiter(Admission(False, 30.0))
    await caller(clock, limiter=limiter).complete([ScriptedAdapter("primary")], REQUEST)
    assert limiter.asked == []


@pytest.mark.anyio
async def test_an_rpm_limit_in_memory_admits_that_many_calls_a_minute(clock: FakeClock) -> None:
    limiter = LimitsProviderLimiter()
    resilient = caller(clock, limiter=limiter)
    adapter = ScriptedAdapter("primary", rpm=3, tpm=10_000)
    for _ in range(3):
        await resilient.complete([adapter], REQUEST, deadline_seconds=5.0)
    with pytest.raises(ProviderRateLimited):
        await resilient.complete([adapter], REQUEST, deadline_seconds=5.0)
    assert adapter.calls == 3
    health = await resilient.health(adapter.config)
    assert health.remaining == LimitsRemaining(rpm=0, tpm=10_000 - 3 * estimate_tokens(REQUEST))
    await limiter.aclose()


@pytest.mark.anyio
async def test_a_push_is_retried_like_a_call_and_answers_the_providers_object(
    clock: FakeClock,
) -> None:
    pushed = PushResult(object_id="cachedContents/1", version="3")
    adapter = ScriptedAdapter("primary", [ProviderServerError, MalformedResponse, pushed])
    bundle = ContextBundle("ws", "the briefing", 3)
    result = await caller(clock, policy=PATIENT).push(adapter, bundle)
    assert result == pushed
    assert adapter.calls == 3


@pytest.mark.anyio
async def test_a_push_that_keeps_failing_raises_its_last_error(clock: FakeClock) -> None:
    adapter = ScriptedAdapter("primary", [ProviderAuthError])
    with pytest.raises(ProviderAuthError):
        await caller(clock).push(adapter, ContextBundle("ws", "the briefing", 3))
    assert adapter.calls == 1


@pytest.mark.anyio
async def test_a_push_to_a_deployment_whose_breaker_is_open_is_not_sent(clock: FakeClock) -> None:
    registry = CollectorRegistry()
    resilient = caller(clock, metrics=ProviderMetrics(registry))
    adapter = ScriptedAdapter("primary")
    for _ in range(5):
        await resilient.breakers.record_failure(adapter.config.deployment, "timeout: slow")
    with pytest.raises(CircuitOpen):
        await resilient.push(adapter, ContextBundle("ws", "the briefing", 3))
    assert adapter.calls == 0
    labels = {"workspace": "ws", "provider": "primary", "kind": "circuit_open"}
    assert registry.get_sample_value("imx_provider_failures_total", labels) == 1


@pytest.mark.anyio
async def test_health_shows_the_open_breaker_its_cooldown_reason_and_limits(
    clock: FakeClock,
) -> None:
    resilient = caller(clock, limiter=ScriptedLimiter())
    adapter = ScriptedAdapter("primary", rpm=10)
    for _ in range(5):
        await resilient.breakers.record_failure(adapter.config.deployment, "overloaded: 529")
    health = await resilient.health(adapter.config)
    assert health.to_json() == {
        "provider": "primary",
        "kind": "openai-compatible",
        "model": "model-primary",
        "healthy": False,
        "breaker": {
            "state": "open",
            "consecutive_failures": 5,
            "opened_at": "2027-01-15T08:00:00+00:00",
            "cooldown_until": "2027-01-15T08:00:05+00:00",
            "reason": "overloaded: 529",
        },
        "limits": {"rpm": 10, "tpm": None},
        "remaining": {"rpm": 7, "tpm": None},
    }


@pytest.mark.anyio
async def test_metrics_count_requests_failures_retries_and_breaker_state(
    clock: FakeClock,
) -> None:
    registry = CollectorRegistry()
    metrics = ProviderMetrics(registry)
    resilient = caller(clock, policy=BreakerPolicy(failure_threshold=3), metrics=metrics)
    primary = ScriptedAdapter("primary", [ProviderServerError] * 3, max_retries=2)
    fallback = ScriptedAdapter("fallback", [ProviderRateLimited])
    await resilient.complete([primary, fallback], REQUEST)
    await resilient.complete([primary, fallback], REQUEST)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"workspace": "ws", **labels})

    assert value("imx_provider_requests_total", provider="primary", outcome="failure") == 3
    assert value("imx_provider_requests_total", provider="primary", outcome="skipped") == 1
    assert value("imx_provider_failures_total", provider="primary", kind="server_error") == 3
    assert value("imx_provider_failures_total", provider="primary", kind="circuit_open") == 1
    assert value("imx_provider_retries_total", provider="primary") == 2
    assert value("imx_provider_breaker_state", provider="primary") == 2
    assert value("imx_provider_requests_total", provider="fallback", outcome="success") == 2
    assert value("imx_provider_failures_total", provider="fallback", kind="rate_limited") == 1
    assert value("imx_provider_retries_total", provider="fallback") == 1
    assert value("imx_provider_breaker_state", provider="fallback") == 0
    assert value("imx_provider_request_duration_seconds_count", provider="fallback") == 3


@pytest.mark.anyio
async def test_an_empty_chain_is_reported_as_no_provider(clock: FakeClock) -> None:
    with pytest.raises(ProviderError) as raised:
        await caller(clock).complete([], REQUEST)
    assert raised.value.code == "provider.not_found"
