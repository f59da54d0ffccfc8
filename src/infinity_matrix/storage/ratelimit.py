"""LimitsRateLimiter: request rate limits on a moving window with the ``limits`` library.

The moving window never admits more than the limit in any window-long span (a fixed window can
admit twice the limit around a boundary), costs one entry per hit, and Redis implements it with a
Lua script, so every node sharing a Redis admits N in total, not N per node.
"""

from __future__ import annotations

import math
import time
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

    async def hit(self, bucket: str, identity: str) -> RateLimitState:
        """Count one hit for ``identity`` in ``bucket`` and say what is left.

        Raises ``RateLimited`` (code ``rate.limited``, ``retry_after`` >= 1 second) when the
        limit is exhausted, and ``Unavailable`` (code ``ratelimit.unavailable``) when the
        storage cannot be reached.
        """
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
        reset_after = max(0, math.ceil(stats.reset_time - time.time()))
        if not allowed:
            raise RateLimited(
                "rate limit exceeded",
                code="rate.limited",
                retry_after=max(1, reset_after),
                limit=self._item.amount,
            )
        return RateLimitState(
            limit=self._item.amount, remaining=max(0, stats.remaining), reset_after=reset_after
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


def _unavailable() -> Unavailable:
    return Unavailable("rate limit storage is unavailable", code="ratelimit.unavailable")
