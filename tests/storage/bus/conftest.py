"""Fixtures of the bus tests: a namespace of the real Redis per test, cleaned up after."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
import redis.asyncio

from infinity_matrix.testing import services


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A namespace of its own in the real Redis; its keys are deleted afterwards."""
    services.require("redis")
    prefix = f"imx-test-{uuid.uuid4().hex}"
    yield prefix
    with redis.Redis.from_url(services.REDIS_URL) as client:
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)


@pytest.fixture
async def raw_redis(redis_prefix: str) -> AsyncIterator[redis.asyncio.Redis]:
    """A plain client of the test Redis, to look at (or disturb) what a bus does there."""
    client = redis.asyncio.Redis.from_url(services.REDIS_URL)
    yield client
    await client.aclose()
