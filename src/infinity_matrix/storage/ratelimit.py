"""LimitsRateLimiter: request rate limits on a moving window with the ``limits`` library.

The moving window never admits more than the limit in any window-long span (a fixed window can
admit twice the limit around a boundary), costs one entry per hit, and Redis implements it with a
Lua script, so every node sharing a Redis admits N in total, not N per node.
"""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Callable, Hashable
from typing import Any

import redis.asyncio
import structlog
from limits import parse
from limits.aio.storage import Storage as AsyncStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

from infinity_matrix.errors import RateLimited, Unavailable
from infinity_matrix.security.ratelimit import RateLimitState

log = structlog.get_logger(__name__)

# A dead Redis must fail a request or a readiness probe quickly rather than hang it.
_REDIS_TIMEOUT_SECONDS = 2.0
_REDIS_CONNECTIONS = 64


def limits_storage(
    storage_uri: str, key_prefix: str
) -> tuple[AsyncStorage, redis.asyncio.ConnectionPool | None]:
    """A ``limits`` async storage for ``storage_uri`` (``async+memory://`` or a Redis URL,
    with or without ``async+``), and for Redis the connection pool to close at shutdown."""
    uri = storage_uri if storage_uri.startswith("async+") else f"async+{storage_uri}"
    options: dict[str, Any] = {"wrap_exceptions": True}
    pool: redis.asyncio.ConnectionPool | None = None
    if uri.startswith(("async+redis://", "async+rediss://")):
        # Our own pool, so that aclose() can release it; redis-py rather than coredis,
        # the one Redis client the rest of the hub uses.
        # A bounded pool whose callers wait for a connection (the plain pool refuses past its
        # size, and a refused check fails open).
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            uri.removeprefix("async+"),
            max_connections=_REDIS_CONNECTIONS,
            timeout=_REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=_REDIS_TIMEOUT_SECONDS,
            socket_timeout=_REDIS_TIMEOUT_SECONDS,
        )
        options |= {"implementation": "redispy", "connection_pool": pool, "key_prefix": key_prefix}
    storage = storage_from_string(uri, **options)
    # An "async+" scheme always gives an async storage; this tells the type checker.
    assert isinstance(storage, AsyncStorage)
    return storage, pool


class LimitsRateLimiter:
    """Counts hits per ``(bucket, identity)`` against one rate such as ``"1200/minute"``.

    ``storage_uri`` is ``async+memory://`` (this process only) or a Redis URL (``redis://``,
    ``rediss://`` or their ``async+`` forms), shared by every node using it. ``prefix``
    namespaces the Redis keys so that hubs or tests sharing one Redis do not count each
    other's hits. Call ``aclose`` at shutdown to release the Redis connections.
    """

    def __init__(
        self,
        rate: str,
        *,
        storage_uri: str = "async+memory://",
        prefix: str = "imx",
        fail_open: bool = True,
    ) -> None:
        self._fail_open = fail_open
        self._item = parse(rate)
        storage, self._pool = limits_storage(storage_uri, f"{prefix}:ratelimit")
        self._storage = storage
        self._strategy = MovingWindowRateLimiter(self._storage)
        # In one process, the same moving window without the library's memory storage, whose
        # every hit schedules an expiry pass that hops to a worker thread (a fraction of a
        # millisecond on every request); Redis keeps the library's Lua scripts.
        self._memory = (
            MemoryWindow(self._item.amount, self._item.get_expiry()) if self._pool is None else None
        )

    async def hit(self, bucket: str, identity: str) -> RateLimitState:
        """Count one hit for ``identity`` in ``bucket`` and say what is left.

        Raises ``RateLimited`` (code ``rate.limited``, ``retry_after`` >= 1 second) when the
        limit is exhausted, and ``Unavailable`` (code ``ratelimit.unavailable``) when the
        storage cannot be reached.
        """
        if self._memory is not None:
            allowed, remaining, reset_after = self._memory.hit((bucket, identity))
            return self._state(allowed, remaining, reset_after)
        try:
            allowed = await self._strategy.hit(self._item, bucket, identity)
            stats = await self._strategy.get_window_stats(self._item, bucket, identity)
        except StorageError as exc:
            if not self._fail_open:
                raise _unavailable() from exc
            # Redis is down: serving unlimited for a moment beats refusing every request (the
            # database, not Redis, is the truth); readiness reports the outage meanwhile.
            log.warning("ratelimit.storage_unavailable", bucket=bucket)
            return RateLimitState(
                limit=self._item.amount, remaining=self._item.amount, reset_after=0
            )
        return self._state(allowed, stats.remaining, stats.reset_time - time.time())

    def _state(self, allowed: bool, remaining: int, reset_seconds: float) -> RateLimitState:
        reset_after = max(0, math.ceil(reset_seconds))
        if not allowed:
            raise RateLimited(
                "rate limit exceeded",
                code="rate.limited",
                retry_after=max(1, reset_after),
                limit=self._item.amount,
            )
        return RateLimitState(
            limit=self._item.amount, remaining=max(0, remaining), reset_after=reset_after
        )

    async def check_ready(self) -> None:
        """Raise ``Unavailable`` (code ``ratelimit.unavailable``) unless the storage answers."""
        try:
            healthy = await self._storage.check()
        except StorageError as exc:
            raise _unavailable() from exc
        if not healthy:
            raise _unavailable()

    async def aclose(self) -> None:
        """Release the Redis connections, if any; the limiter is unusable afterwards."""
        if self._pool is not None:
            await self._pool.aclose()


class MemoryWindow:
    """A moving window in this process: at most ``limit`` hits per key in any ``seconds``-long
    span, with the times of the hits in the window kept per key (at most ``limit`` of them)."""

    SWEEP_EVERY = 10_000  # hits between passes that forget keys whose window emptied

    def __init__(
        self, limit: int, seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit = limit
        self._seconds = seconds
        self._clock = clock
        self._hits: dict[Hashable, collections.deque[float]] = {}
        self._until_sweep = self.SWEEP_EVERY

    def hit(self, key: Hashable) -> tuple[bool, int, float]:
        """Count a hit if the window has room: (admitted, remaining, seconds until the oldest
        hit in the window leaves it)."""
        now = self._clock()
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = collections.deque()
        start = now - self._seconds
        while hits and hits[0] <= start:
            hits.popleft()
        admitted = len(hits) < self._limit
        if admitted:
            hits.append(now)
        self._until_sweep -= 1
        if self._until_sweep <= 0:
            self._sweep(start)
        reset = hits[0] + self._seconds - now if hits else 0.0
        return admitted, self._limit - len(hits), reset

    def _sweep(self, start: float) -> None:
        self._until_sweep = self.SWEEP_EVERY
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= start]:
            del self._hits[key]


def _unavailable() -> Unavailable:
    return Unavailable("rate limit storage is unavailable", code="ratelimit.unavailable")
