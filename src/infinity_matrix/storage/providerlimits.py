"""LimitsProviderLimiter: a provider deployment's rpm and tpm, counted with the ``limits`` library.

Requests per minute use the moving window (never more than ``rpm`` in any minute-long span, one
entry per request). Tokens per minute use the sliding-window counter: a request costs thousands
of tokens, and the moving window would store one entry per token, while the counter stores two
numbers whatever the cost. With a Redis URL both run as Lua scripts in Redis, so every node
sharing it admits ``rpm`` requests in total, not ``rpm`` per node.
"""

from __future__ import annotations

import asyncio
import math
import time

import structlog
from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter
from limits.errors import StorageError

from infinity_matrix.core.providers.limits import (
    ADMITTED,
    Admission,
    LimitsRemaining,
)
from infinity_matrix.core.providers.records import ProviderConfig
from infinity_matrix.storage.ratelimit import limits_storage

log = structlog.get_logger(__name__)

# Asking again sooner than this after a refusal only spins.
_MIN_WAIT_SECONDS = 0.05
_NEVER = Admission(False, math.inf)


class LimitsProviderLimiter:
    """``ProviderLimiter`` over ``limits``; counts per ``ProviderConfig.deployment``.

    ``storage_uri`` is ``async+memory://`` (this process only) or a Redis URL (``redis://``,
    ``rediss://`` or their ``async+`` forms); ``prefix`` namespaces the Redis keys. Call
    ``aclose`` at shutdown to release the Redis connections."""

    def __init__(self, *, storage_uri: str = "async+memory://", prefix: str = "imx") -> None:
        storage, self._pool = limits_storage(storage_uri, f"{prefix}:providerlimits")
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
        if tpm is not None and tokens > tpm.amount:
            return _NEVER
        try:
            if rpm is not None and tpm is not None and self._pool is not None:
                # Tested together, then counted together: two round trips to Redis instead of
                # three or four, and a refusal spends nothing (only a race lost between the
                # test and the count can spend one limit while the other refuses).
                requests_ok, tokens_ok = await asyncio.gather(
                    self._requests.test(rpm, "rpm", key),
                    self._tokens.test(tpm, "tpm", key, cost=tokens),
                )
                if requests_ok and tokens_ok:
                    requests_ok, tokens_ok = await asyncio.gather(
                        self._requests.hit(rpm, "rpm", key),
                        self._tokens.hit(tpm, "tpm", key, cost=tokens),
                    )
                if not requests_ok:
                    return await self._refused(self._requests, rpm, "rpm", key)
                if not tokens_ok:
                    return await self._refused(self._tokens, tpm, "tpm", key)
            else:  # in memory, one after the other (tasks would cost more than they save)
                if tpm is not None and not await self._tokens.test(tpm, "tpm", key, cost=tokens):
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
