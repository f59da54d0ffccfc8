"""Two nodes' callers on one Redis share breakers and limits (issue 6: N admits N, not 2N).

Each "node" is a ResilientCaller with its own RedisBreakerStore and LimitsProviderLimiter (own
connection pools), on one Redis under a random key prefix.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
from tests.providers.scripted import REQUEST, FakeClock, ScriptedAdapter

from infinity_matrix.core.providers.breaker import OPEN, BreakerPolicy
from infinity_matrix.core.providers.errors import (
    CircuitOpen,
    ProviderRateLimited,
    ProviderServerError,
)
from infinity_matrix.providers.resilience.backoff import Backoff
from infinity_matrix.providers.resilience.caller import ResilientCaller
from infinity_matrix.storage.breakers import RedisBreakerStore
from infinity_matrix.storage.providerlimits import LimitsProviderLimiter
from infinity_matrix.testing import services

pytestmark = pytest.mark.anyio

POLICY = BreakerPolicy(failure_threshold=3, min_calls=1000, cooldown_seconds=30.0)


async def _no_wait(seconds: float) -> None:
    return None


@pytest.fixture
def prefix() -> str:
    services.require("redis")
    return f"imx-test-{secrets.token_hex(4)}"


@pytest.fixture
async def nodes(prefix: str) -> AsyncIterator[tuple[ResilientCaller, ResilientCaller]]:
    stores = [RedisBreakerStore(services.REDIS_URL, prefix=prefix, policy=POLICY) for _ in "ab"]
    limiters = [LimitsProviderLimiter(storage_uri=services.REDIS_URL, prefix=prefix) for _ in "ab"]
    callers = [
        ResilientCaller(
            breakers=store, limiter=limiter, backoff=Backoff(rng=lambda: 0.0), sleep=_no_wait
        )
        for store, limiter in zip(stores, limiters, strict=True)
    ]
    try:
        yield callers[0], callers[1]
    finally:
        for store, limiter in zip(stores, limiters, strict=True):
            await store.aclose()
            await limiter.aclose()


@pytest.mark.redis
async def test_a_breaker_opened_by_one_node_stops_the_other_within_a_second(
    nodes: tuple[ResilientCaller, ResilientCaller],
) -> None:
    a, b = nodes
    on_a = ScriptedAdapter("primary", [ProviderServerError] * 3, max_retries=2)
    on_b = ScriptedAdapter("primary")
    with pytest.raises(ProviderServerError):
        await a.complete([on_a], REQUEST)
    # The stores read Redis at every call (no cache), so "within a second" is "at once".
    assert (await b.health(on_b.config)).state == OPEN
    with pytest.raises(CircuitOpen) as raised:
        await b.complete([on_b], REQUEST)
    assert raised.value.retry_after is not None
    assert 0 < raised.value.retry_after <= 30.0
    assert on_b.calls == 0
    health = (await b.health(on_b.config)).to_json()["breaker"]
    assert (health["state"], health["consecutive_failures"], health["reason"]) == (
        "open",
        3,
        "server_error: scripted server_error",
    )


@pytest.mark.redis
async def test_failures_recorded_by_two_nodes_at_once_all_count(prefix: str) -> None:
    # Below the threshold, so that every failure must land in the count.
    patient = BreakerPolicy(failure_threshold=1000, min_calls=100_000)
    stores = [RedisBreakerStore(services.REDIS_URL, prefix=prefix, policy=patient) for _ in "ab"]
    deployment = "openai|default|gpt-shared"
    try:
        await asyncio.gather(
            *(stores[i % 2].record_failure(deployment, "timeout: t") for i in range(40))
        )
        assert (await stores[1].get(deployment)).consecutive_failures == 40
    finally:
        for store in stores:
            await store.aclose()


@pytest.mark.redis
async def test_only_one_node_takes_the_half_open_probe(prefix: str) -> None:
    clock = FakeClock()
    stores = [
        RedisBreakerStore(services.REDIS_URL, prefix=prefix, policy=POLICY, clock=clock)
        for _ in "ab"
    ]
    deployment = "openai|default|gpt-probe"
    try:
        for _ in range(3):
            await stores[0].record_failure(deployment, "overloaded: 529")
        clock.now += 30.0
        answers = await asyncio.gather(*(stores[i % 2].try_acquire(deployment) for i in range(10)))
        assert sum(allowed for allowed, _ in answers) == 1
    finally:
        for store in stores:
            await store.aclose()


@pytest.mark.redis
async def test_an_rpm_limit_of_n_admits_n_across_both_nodes(
    nodes: tuple[ResilientCaller, ResilientCaller],
) -> None:
    a, b = nodes
    n = 5
    adapters = [ScriptedAdapter("limited", rpm=n) for _ in "ab"]

    async def ask(i: int) -> bool:
        try:
            await (a, b)[i % 2].complete([adapters[i % 2]], REQUEST, deadline_seconds=0.5)
        except ProviderRateLimited:
            return False
        return True

    answered = await asyncio.gather(*(ask(i) for i in range(4 * n)))
    assert sum(answered) == n
    assert sum(adapter.calls for adapter in adapters) == n
    assert (await a.health(adapters[0].config)).remaining.rpm == 0
    assert (await b.health(adapters[1].config)).remaining.rpm == 0


async def test_an_unreachable_redis_leaves_breakers_closed_and_limits_open() -> None:
    store = RedisBreakerStore("redis://127.0.0.1:1/0", prefix="imx-test-down", policy=POLICY)
    limiter = LimitsProviderLimiter(storage_uri="redis://127.0.0.1:1/0", prefix="imx-test-down")
    resilient = ResilientCaller(breakers=store, limiter=limiter, sleep=_no_wait)
    adapter = ScriptedAdapter("primary", rpm=1)
    try:
        for _ in range(3):
            assert (await resilient.complete([adapter], REQUEST)).attempts == 1
        await store.record_failure(adapter.config.deployment, "server_error: x")
        assert (await resilient.health(adapter.config)).state == "closed"
    finally:
        await store.aclose()
        await limiter.aclose()
