"""LimitsProviderLimiter: a provider deployment's rpm and tpm, counted with the ``limits`` library.

Requests per minute use the moving window (never more than ``rpm`` in any minute-long span, one
entry per request). Tokens per minute use the sliding-window counter: a request costs thousands
of tokens, and the moving window would store one entry per token, while the counter stores two
numbers whatever the cost. With a Redis URL both run as Lua scripts in Redis, so every node
sharing it admits ``rpm`` requests in total, not ``rpm`` per node.
"""

from __future__ import annotations

import math
import time
from typing import Any

import redis.asyncio
import structlog
from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.storage import Storage as AsyncStorage
from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

from infinity_matrix.core.providers.limits import (
    ADMITTED,
    Admission,
    LimitsRemaining,
)
from infinity_matrix.core.providers.records import ProviderConfig

log = structlog.get_logger(__name__)

# A dead Redis must not hold a provider call for long: the limiter then admits.
_REDIS_TIMEOUT_SECONDS = 2.0
# Asking again sooner than this after a refusal only spins.
_MIN_WAIT_SECONDS = 0.05
_NEVER = Admission(False, math.inf)


class LimitsProviderLimiter:
    """``ProviderLimiter`` over ``limits``; counts per ``ProviderConfig.deployment``.

    ``storage_uri`` is ``async+memory://`` (this process only) or a Redis URL (``redis://``,
    ``rediss://`` or their ``async+`` forms); ``prefix`` namespaces the Redis keys. Call
    ``aclose`` at shutdown to release the Redis connections."""

    def __init__(self, *, storage_uri: str = "async+memory://", prefix: str = "imx") -> None:
        uri = storage_uri if storage_uri.startswith("async+") else f"async+{storage_uri}"
        options: dict[str, Any] = {"wrap_exceptions": True}
        self._pool: redis.asyncio.ConnectionPool | None = None
        if uri.startswith(("async+redis://", "async+rediss://")):
            # Our own pool, so that aclose() can release it; redis-py, the hub's Redis client.
            self._pool = redis.asyncio.ConnectionPool.from_url(
                uri.removeprefix("async+"),
                socket_connect_timeout=_REDIS_TIMEOUT_SECONDS,
                socket_timeout=_REDIS_TIMEOUT_SECONDS,
            )
            options |= {
                "implementation": "redispy",
                "connection_pool": self._pool,
                "key_prefix": f"{prefix}:providerlimits",
            }
        storage = storage_from_string(uri, **options)
        # An "async+" scheme always gives an async storage; this tells the type checker.
        assert isinstance(storage, AsyncStorage)
        self._requests = MovingWindowRateLimiter(storage)
        self._tokens = SlidingWindowCounterRateLimiter(storage)
        self._items: dict[int, RateLimitItem] = {}

    async def acquire(self, config: ProviderConfig, tokens: int) -> Admission:
        """Count one request of ``tokens`` tokens, or say how long to wait before asking
        again. Admits when the storage is unreachable."""
        if config.rpm is None and config.tpm is None:
            return ADMITTED
        rpm = self._item(config.rpm)
        tpm = self._item(config.tpm)
        key = config.deployment
        try:
            if tpm is not None:
                if tokens > tpm.amount:
                    return _NEVER
                # Test first so that a refusal for tokens does not spend a request.
                if not await self._tokens.test(tpm, "tpm", key, cost=tokens):
                    return await self._refused(self._tokens, tpm, "tpm", key)
            if rpm is not None and not await self._requests.hit(rpm, "rpm", key):
                return await self._refused(self._requests, rpm, "rpm", key)
            if tpm is not None and not await self._tokens.hit(tpm, "tpm", key, cost=tokens):
                return await self._refused(self._tokens, tpm, "tpm", key)
        except StorageError:
            log.warning("providerlimits.storage_unavailable", deployment=key)
            return ADMITTED
        return ADMITTED

    async def remaining(self, config: ProviderConfig) -> LimitsRemaining:
        """What is left of each configured limit (the whole limit when the storage is down)."""
        rpm = self._item(config.rpm)
        tpm = self._item(config.tpm)
        key = config.deployment
        left_rpm = left_tpm = None
        try:
            if rpm is not None:
                left_rpm = (await self._requests.get_window_stats(rpm, "rpm", key)).remaining
            if tpm is not None:
                left_tpm = (await self._tokens.get_window_stats(tpm, "tpm", key)).remaining
        except StorageError:
            log.warning("providerlimits.storage_unavailable", deployment=key)
            return LimitsRemaining(config.rpm, config.tpm)
        return LimitsRemaining(left_rpm, left_tpm)

    async def aclose(self) -> None:
        """Release the Redis connections, if any; the limiter is unusable afterwards."""
        if self._pool is not None:
            await self._pool.aclose()

    def _item(self, amount: int | None) -> RateLimitItem | None:
        if amount is None:
            return None
        item = self._items.get(amount)
        if item is None:
            item = self._items[amount] = RateLimitItemPerMinute(amount)
        return item

    @staticmethod
    async def _refused(
        strategy: MovingWindowRateLimiter | SlidingWindowCounterRateLimiter,
        item: RateLimitItem,
        which: str,
        key: str,
    ) -> Admission:
        stats = await strategy.get_window_stats(item, which, key)
        return Admission(False, max(_MIN_WAIT_SECONDS, stats.reset_time - time.time()))
