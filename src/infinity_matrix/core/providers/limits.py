"""The port for a provider's own rate limits: requests and tokens per minute of a deployment.

A provider configured with ``rpm`` or ``tpm`` (``ProviderConfig``) must not be sent more than
that, whichever node sends it; the resilient caller asks ``acquire`` before each attempt and
waits (within its deadline) when told to. ``storage.providerlimits.LimitsProviderLimiter``
implements it with the ``limits`` library, in memory or shared through Redis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from infinity_matrix.core.providers.records import ProviderConfig


@dataclass(frozen=True, slots=True)
class Admission:
    """The limiter's answer: admitted, or how many seconds until asking again may succeed
    (``math.inf`` when the request can never fit, e.g. more tokens than the whole ``tpm``)."""

    admitted: bool
    wait_seconds: float = 0.0


ADMITTED = Admission(True)


@dataclass(frozen=True, slots=True)
class LimitsRemaining:
    """What is left in the current minute; None where no limit is configured."""

    rpm: int | None = None
    tpm: int | None = None

    def to_json(self) -> dict[str, int | None]:
        return {"rpm": self.rpm, "tpm": self.tpm}


UNLIMITED = LimitsRemaining()


class ProviderLimiter(Protocol):
    """Counts requests and tokens per deployment against ``config.rpm`` and ``config.tpm``.

    ``acquire`` counts one request of ``tokens`` estimated tokens when both limits admit it;
    when it answers "wait" it has counted nothing (bar a rare race between its two limits,
    which errs on the side of admitting fewer). A limiter whose shared storage is down admits
    (and logs): the provider's own 429 still protects it."""

    async def acquire(self, config: ProviderConfig, tokens: int) -> Admission: ...

    async def remaining(self, config: ProviderConfig) -> LimitsRemaining: ...

    async def aclose(self) -> None: ...
