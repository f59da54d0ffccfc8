"""How long a provider asks us to wait, from its response headers.

Understood, first match wins: ``retry-after-ms`` (milliseconds, OpenAI and Anthropic),
``retry-after`` as seconds (``"7"``, ``"1.5"``) or as an HTTP-date. The answer is capped at
``cap`` seconds so a wild header cannot park a call for an hour; a date in the past is 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime

MAX_RETRY_AFTER = 60.0


def parse_retry_after(
    headers: Mapping[str, str] | None,
    *,
    cap: float = MAX_RETRY_AFTER,
    now: Callable[[], float] = time.time,
) -> float | None:
    """Seconds to wait, or None when the headers say nothing usable."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = _number(lowered.get("retry-after-ms"))
    if millis is not None:
        return min(max(millis / 1000, 0.0), cap)
    value = lowered.get("retry-after")
    if value is None:
        return None
    seconds = _number(value)
    if seconds is None:
        seconds = _http_date(value, now)
    return None if seconds is None else min(max(seconds, 0.0), cap)


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if number == number and number not in (float("inf"), float("-inf")) else None


def _http_date(value: str, now: Callable[[], float]) -> float | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return when.timestamp() - now()
