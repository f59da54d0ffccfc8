"""The rate limiter admits N hits per window per identity, in memory or shared through Redis."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import redis.asyncio
from fastapi import Depends, FastAPI, Request, Response

from infinity_matrix import errors
from infinity_matrix.gateway.problems import PROBLEM_MEDIA_TYPE, install_problem_handlers
from infinity_matrix.security.ratelimit import RateLimitState, rate_limit_headers
from infinity_matrix.storage.ratelimit import LimitsRateLimiter as RateLimiter
from infinity_matrix.storage.ratelimit import MemoryWindow

REDIS_URL = os.environ.get("IMX_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# Nothing listens on port 1, so a connection is refused at once.
DEAD_REDIS_URL = "redis://127.0.0.1:1/0"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A namespace of its own in the real Redis, removed afterwards."""
    client = redis.asyncio.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except redis.RedisError as exc:
        await client.aclose()
        if os.environ.get("CI"):
            pytest.fail(f"Redis at {REDIS_URL} must be running on CI: {exc!r}")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable ({exc!r}); on CI this fails")
    prefix = f"imx-test-{uuid.uuid4().hex}"
    yield prefix
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def _hits(limiter: RateLimiter, count: int, identity: str = "ada") -> list[int]:
    return [(await limiter.hit("api", identity)).remaining for _ in range(count)]


@pytest.mark.anyio
async def test_hits_within_the_limit_are_admitted_with_a_falling_remainder() -> None:
    limiter = RateLimiter("3/minute")

    states = [await limiter.hit("api", "ada") for _ in range(3)]

    assert [(s.limit, s.remaining) for s in states] == [(3, 2), (3, 1), (3, 0)]
    assert all(1 <= s.reset_after <= 60 for s in states)


@pytest.mark.anyio
async def test_the_hit_over_the_limit_is_refused_with_a_retry_after_of_at_least_a_second() -> None:
    limiter = RateLimiter("3/minute")
    await _hits(limiter, 3)

    with pytest.raises(errors.RateLimited) as refused:
        await limiter.hit("api", "ada")

    assert refused.value.code == "rate.limited"
    assert 1 <= refused.value.retry_after <= 60
    assert refused.value.extra["limit"] == 3


@pytest.mark.anyio
async def test_identities_and_buckets_are_counted_apart() -> None:
    limiter = RateLimiter("1/minute")

    await limiter.hit("api", "ada")
    await limiter.hit("api", "bob")
    await limiter.hit("login", "ada")

    with pytest.raises(errors.RateLimited):
        await limiter.hit("api", "ada")


def test_headers_announce_limit_remaining_and_reset() -> None:
    state = RateLimitState(limit=10, remaining=4, reset_after=30)

    assert rate_limit_headers(state) == {
        "RateLimit-Limit": "10",
        "RateLimit-Remaining": "4",
        "RateLimit-Reset": "30",
    }


def test_headers_for_a_refused_request_add_retry_after_of_at_least_a_second() -> None:
    state = RateLimitState(limit=10, remaining=0, reset_after=0)

    assert rate_limit_headers(state, exceeded=True) == {
        "RateLimit-Limit": "10",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "0",
        "Retry-After": "1",
    }


def _limited_app(limiter: RateLimiter) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    async def limited(request: Request, response: Response) -> None:
        state = await limiter.hit("api", request.headers["x-principal"])
        response.headers.update(rate_limit_headers(state))

    @app.get("/ping", dependencies=[Depends(limited)])
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    return app


@pytest.mark.anyio
async def test_an_app_answers_429_with_retry_after_after_n_requests() -> None:
    transport = httpx.ASGITransport(_limited_app(RateLimiter("2/minute")))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        responses = [await client.get("/ping", headers={"x-principal": "ada"}) for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 429]
    assert [r.headers["ratelimit-remaining"] for r in responses] == ["1", "0", "0"]
    refused = responses[-1]
    assert refused.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert refused.json()["code"] == "rate.limited"
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit-limit"] == "2"


@pytest.mark.anyio
async def test_memory_storage_is_ready() -> None:
    await RateLimiter("1/second").check_ready()


@asynccontextmanager
async def _redis_limiters(
    rate: str, *prefixes: str, url: str = REDIS_URL, fail_open: bool = True
) -> AsyncIterator[list[RateLimiter]]:
    limiters = [
        RateLimiter(rate, storage_uri=url, prefix=prefix, fail_open=fail_open)
        for prefix in prefixes
    ]
    try:
        yield limiters
    finally:
        for limiter in limiters:
            await limiter.aclose()


@pytest.mark.anyio
async def test_an_unreachable_redis_makes_hits_unavailable_when_failing_closed() -> None:
    async with _redis_limiters("5/minute", "imx", url=DEAD_REDIS_URL, fail_open=False) as [limiter]:
        with pytest.raises(errors.Unavailable) as failed:
            await limiter.hit("api", "ada")

    assert failed.value.code == "ratelimit.unavailable"


@pytest.mark.anyio
async def test_an_unreachable_redis_admits_requests_by_default() -> None:
    async with _redis_limiters("5/minute", "imx", url=DEAD_REDIS_URL) as [limiter]:
        state = await limiter.hit("api", "ada")

    assert state == RateLimitState(limit=5, remaining=5, reset_after=0)


@pytest.mark.anyio
async def test_an_unreachable_redis_is_not_ready() -> None:
    async with _redis_limiters("5/minute", "imx", url=DEAD_REDIS_URL) as [limiter]:
        with pytest.raises(errors.Unavailable) as failed:
            await limiter.check_ready()

    assert failed.value.code == "ratelimit.unavailable"


@pytest.mark.anyio
async def test_a_reachable_redis_is_ready(redis_prefix: str) -> None:
    async with _redis_limiters("5/minute", redis_prefix) as [limiter]:
        await limiter.check_ready()


@pytest.mark.anyio
async def test_two_limiters_sharing_redis_admit_n_in_total_not_2n(redis_prefix: str) -> None:
    async with _redis_limiters("4/minute", redis_prefix, redis_prefix) as nodes:
        admitted = [await nodes[i % 2].hit("api", "ada") for i in range(4)]
        refusals = []
        for node in nodes:
            with pytest.raises(errors.RateLimited) as refused:
                await node.hit("api", "ada")
            refusals.append(refused.value)

    assert [state.remaining for state in admitted] == [3, 2, 1, 0]
    assert all(refusal.retry_after >= 1 for refusal in refusals)


@pytest.mark.anyio
async def test_limiters_with_different_prefixes_do_not_share_counts(redis_prefix: str) -> None:
    async with _redis_limiters("1/minute", redis_prefix, f"{redis_prefix}:other") as limiters:
        first, second = limiters
        await first.hit("api", "ada")
        await second.hit("api", "ada")

        with pytest.raises(errors.RateLimited):
            await first.hit("api", "ada")


@pytest.mark.anyio
async def test_an_async_redis_uri_is_accepted_as_is(redis_prefix: str) -> None:
    async with _redis_limiters("1/minute", redis_prefix, url=f"async+{REDIS_URL}") as [limiter]:
        assert (await limiter.hit("api", "ada")).remaining == 0


def test_the_memory_window_admits_again_as_old_hits_leave_it_and_forgets_idle_keys() -> None:
    now = [100.0]
    window = MemoryWindow(2, 60.0, clock=lambda: now[0])
    assert window.hit("a") == (True, 1, 60.0)
    now[0] = 130.0
    assert window.hit("a") == (True, 0, 30.0)
    assert window.hit("a") == (False, 0, 30.0)  # a refused hit takes no room
    now[0] = 160.0  # the first hit leaves the window
    assert window.hit("a")[:2] == (True, 0)
    assert window.hit("b")[0]
    now[0] = 1_000.0
    window._until_sweep = 1  # the next hit sweeps
    window.hit("c")
    assert set(window._hits) == {"c"}
