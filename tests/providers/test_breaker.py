"""The circuit breaker contract, run over every BreakerStore (memory, and Redis's Lua script).

Time is a fake clock handed to the store, so cooldowns pass without waiting.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from tests.providers.scripted import FakeClock

from infinity_matrix.core.providers.breaker import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    BreakerPolicy,
    BreakerStore,
    MemoryBreakerStore,
)
from infinity_matrix.storage.breakers import RedisBreakerStore
from infinity_matrix.testing import services

DEPLOYMENT = "openai|default|gpt-test"
POLICY = BreakerPolicy(
    failure_threshold=3,
    failure_ratio=0.5,
    min_calls=10,
    window_seconds=60.0,
    cooldown_seconds=5.0,
    cooldown_factor=2.0,
    max_cooldown_seconds=20.0,
    probe_seconds=30.0,
)


@pytest.fixture
def clock() -> FakeClock:
    # The start of a window, so that window arithmetic in the tests is plain.
    return FakeClock(start=1_800_000_000.0 - 1_800_000_000.0 % 60)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def store(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[BreakerStore]:
    if request.param == "memory":
        yield MemoryBreakerStore(POLICY, clock=clock)
        return
    services.require("redis")
    redis_store = RedisBreakerStore(
        services.REDIS_URL, prefix=f"imx-test-{secrets.token_hex(4)}", policy=POLICY, clock=clock
    )
    try:
        yield redis_store
    finally:
        await redis_store.aclose()


async def _fail(store: BreakerStore, times: int, reason: str = "server_error: HTTP 503") -> None:
    for _ in range(times):
        await store.record_failure(DEPLOYMENT, reason)


@pytest.mark.anyio
async def test_an_unknown_deployment_is_closed_and_admits(store: BreakerStore) -> None:
    state = await store.get(DEPLOYMENT)
    assert (state.state, state.consecutive_failures, state.reason) == (CLOSED, 0, None)
    assert (await store.try_acquire(DEPLOYMENT))[0] is True


@pytest.mark.anyio
async def test_consecutive_failures_open_the_breaker_with_their_reason_and_a_cooldown(
    store: BreakerStore, clock: FakeClock
) -> None:
    await _fail(store, 2)
    assert (await store.get(DEPLOYMENT)).state == CLOSED
    state = await store.record_failure(DEPLOYMENT, "timeout: no answer in 60s")
    assert state.state == OPEN
    assert state.consecutive_failures == 3
    assert state.reason == "timeout: no answer in 60s"
    assert state.opened_at == pytest.approx(clock.now)
    assert state.cooldown_until == pytest.approx(clock.now + 5.0)
    assert await store.get(DEPLOYMENT) == state
    allowed, _ = await store.try_acquire(DEPLOYMENT)
    assert allowed is False


@pytest.mark.anyio
async def test_a_success_resets_the_consecutive_failures(store: BreakerStore) -> None:
    await _fail(store, 2)
    state = await store.record_success(DEPLOYMENT)
    assert (state.state, state.consecutive_failures) == (CLOSED, 0)
    await _fail(store, 2)
    assert (await store.get(DEPLOYMENT)).state == CLOSED


@pytest.mark.anyio
async def test_after_the_cooldown_exactly_one_probe_is_admitted(
    store: BreakerStore, clock: FakeClock
) -> None:
    await _fail(store, 3)
    clock.now += 4.9
    assert (await store.try_acquire(DEPLOYMENT))[0] is False
    clock.now += 0.2
    allowed, state = await store.try_acquire(DEPLOYMENT)
    assert (allowed, state.state) == (True, HALF_OPEN)
    allowed, state = await store.try_acquire(DEPLOYMENT)
    assert (allowed, state.state) == (False, HALF_OPEN)


@pytest.mark.anyio
async def test_a_successful_probe_closes_the_breaker(store: BreakerStore, clock: FakeClock) -> None:
    await _fail(store, 3)
    clock.now += 5.0
    await store.try_acquire(DEPLOYMENT)
    state = await store.record_success(DEPLOYMENT)
    assert (state.state, state.consecutive_failures) == (CLOSED, 0)
    assert (await store.try_acquire(DEPLOYMENT))[0] is True
    assert (await store.try_acquire(DEPLOYMENT))[0] is True


@pytest.mark.anyio
async def test_a_failed_probe_reopens_for_a_longer_cooldown_up_to_the_cap(
    store: BreakerStore, clock: FakeClock
) -> None:
    await _fail(store, 3)
    cooldowns = []
    for _ in range(4):
        state = await store.get(DEPLOYMENT)
        assert state.cooldown_until is not None
        cooldowns.append(state.cooldown_until - clock.now)
        clock.now = state.cooldown_until
        assert (await store.try_acquire(DEPLOYMENT))[0] is True
        state = await store.record_failure(DEPLOYMENT, "overloaded: 529")
        assert (state.state, state.reason) == (OPEN, "overloaded: 529")
    assert cooldowns == pytest.approx([5.0, 10.0, 20.0, 20.0])


@pytest.mark.anyio
async def test_opening_again_long_after_the_last_cooldown_starts_from_the_base_cooldown(
    store: BreakerStore, clock: FakeClock
) -> None:
    await _fail(store, 3)
    clock.now += 5.0
    await store.try_acquire(DEPLOYMENT)
    await store.record_success(DEPLOYMENT)
    clock.now += 600.0
    await _fail(store, 3)
    state = await store.get(DEPLOYMENT)
    assert state.cooldown_until == pytest.approx(clock.now + 5.0)


@pytest.mark.anyio
async def test_a_probe_lost_with_its_caller_frees_the_slot_after_the_probe_lease(
    store: BreakerStore, clock: FakeClock
) -> None:
    await _fail(store, 3)
    clock.now += 5.0
    assert (await store.try_acquire(DEPLOYMENT))[0] is True
    clock.now += 29.0
    assert (await store.try_acquire(DEPLOYMENT))[0] is False
    clock.now += 1.0
    assert (await store.try_acquire(DEPLOYMENT))[0] is True


@pytest.mark.anyio
async def test_calls_finishing_after_the_breaker_opened_do_not_change_it(
    store: BreakerStore,
) -> None:
    await _fail(store, 3)
    opened = await store.get(DEPLOYMENT)
    assert await store.record_success(DEPLOYMENT) == opened
    assert await store.record_failure(DEPLOYMENT, "server_error: later") == opened


async def _half_failing(store: BreakerStore, deployment: str = DEPLOYMENT) -> None:
    """Nine calls, four of them failed, never three failures in a row."""
    for _ in range(4):
        await store.record_success(deployment)
        await store.record_failure(deployment, "server_error: flaky")
    await store.record_success(deployment)


@pytest.mark.anyio
async def test_a_failure_ratio_over_the_window_opens_without_consecutive_failures(
    store: BreakerStore,
) -> None:
    await _half_failing(store)
    assert (await store.get(DEPLOYMENT)).state == CLOSED
    # The tenth call: half of them failed.
    state = await store.record_failure(DEPLOYMENT, "server_error: flaky")
    assert (state.state, state.consecutive_failures, state.reason) == (
        OPEN,
        1,
        "server_error: flaky",
    )


@pytest.mark.anyio
async def test_the_failure_ratio_needs_enough_calls_to_judge(store: BreakerStore) -> None:
    for _ in range(4):
        await store.record_failure(DEPLOYMENT, "server_error: flaky")
        await store.record_success(DEPLOYMENT)
    assert (await store.get(DEPLOYMENT)).state == CLOSED


@pytest.mark.anyio
async def test_failures_older_than_the_rolling_window_are_forgotten(
    store: BreakerStore, clock: FakeClock
) -> None:
    await _half_failing(store)
    clock.now += 120.0
    state = await store.record_failure(DEPLOYMENT, "server_error: flaky")
    assert (state.state, state.consecutive_failures) == (CLOSED, 1)


@pytest.mark.anyio
async def test_the_previous_window_weighs_what_is_left_of_it_in_the_rolling_window(
    store: BreakerStore, clock: FakeClock
) -> None:
    other = "anthropic|default|claude-test"
    await _half_failing(store)
    await _half_failing(store, other)
    # At the next window's start all of the last one counts: 5 of 10 calls failed.
    clock.now += 60.0
    assert (await store.record_failure(DEPLOYMENT, "server_error: flaky")).state == OPEN
    # Three quarters in, a quarter of it counts: too few calls to judge.
    clock.now += 45.0
    assert (await store.record_failure(other, "server_error: flaky")).state == CLOSED


@pytest.mark.anyio
async def test_breakers_of_different_deployments_are_independent(store: BreakerStore) -> None:
    await _fail(store, 3)
    assert (await store.try_acquire("anthropic|default|claude-test"))[0] is True
