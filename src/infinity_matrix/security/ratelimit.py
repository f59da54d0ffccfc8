"""Rate limits as the services see them: the limiter port and the state a hit leaves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class RateLimitState:
    """What is left of a limit after a hit; ``reset_after`` is in whole seconds."""

    limit: int
    remaining: int
    reset_after: int


class RateLimiter(Protocol):
    """Counts hits per ``(bucket, identity)`` against one rate (``storage/ratelimit.py``)."""

    async def hit(self, bucket: str, identity: str) -> RateLimitState:
        """Count one hit; raises ``RateLimited`` when exhausted, ``Unavailable`` if unreachable."""
        ...

    async def check_ready(self) -> None: ...

    async def aclose(self) -> None: ...


def rate_limit_headers(state: RateLimitState, *, exceeded: bool = False) -> dict[str, str]:
    """The ``RateLimit-*`` headers (draft-ietf-httpapi-ratelimit-headers), plus ``Retry-After``
    when the request was refused."""
    headers = {
        "RateLimit-Limit": str(state.limit),
        "RateLimit-Remaining": str(state.remaining),
        "RateLimit-Reset": str(state.reset_after),
    }
    if exceeded:
        headers["Retry-After"] = str(max(1, state.reset_after))
    return headers
