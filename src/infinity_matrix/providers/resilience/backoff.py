"""How long to wait before retrying a provider: exponential backoff with full jitter.

Full jitter (a uniform draw in ``[0, min(cap, base * 2**attempt)]``) spreads the retries of many
callers that failed together, so they do not come back together ("Exponential Backoff And
Jitter", AWS Architecture Blog, 2015). When the provider said how long to wait
(``ProviderError.retry_after``, from ``Retry-After``), that wait is used as is: retrying sooner
only earns another 429.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Backoff:
    """Retry delays in seconds; ``rng`` draws uniformly from ``[0, 1)`` (inject one to test)."""

    base: float = 0.5
    cap: float = 30.0
    rng: Callable[[], float] = field(default=random.random, repr=False)

    def ceiling(self, attempt: int) -> float:
        """The largest delay before retry number ``attempt`` (0 = the first retry)."""
        # 2**attempt overflows float range long after it passes any cap; stop doubling early.
        return min(self.cap, self.base * 2.0 ** min(attempt, 64))

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """The wait before retry number ``attempt``: ``retry_after`` when the provider gave
        one, else a full-jitter draw."""
        if retry_after is not None:
            return max(0.0, retry_after)
        return self.rng() * self.ceiling(attempt)
