"""Backoff: full jitter within its bounds, and the provider's Retry-After used as given."""

from __future__ import annotations

import random

import pytest

from infinity_matrix.providers.resilience.backoff import Backoff
from infinity_matrix.providers.resilience.retry_after import parse_retry_after


def test_the_ceiling_doubles_from_the_base_and_stops_at_the_cap() -> None:
    backoff = Backoff(base=0.5, cap=5.0)
    assert [backoff.ceiling(attempt) for attempt in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_full_jitter_draws_anywhere_between_zero_and_the_ceiling() -> None:
    rng = random.Random(6)
    backoff = Backoff(base=1.0, cap=10.0, rng=rng.random)
    for attempt in range(8):
        draws = [backoff.delay(attempt) for _ in range(500)]
        ceiling = min(10.0, 2.0**attempt)
        assert all(0.0 <= draw <= ceiling for draw in draws)
        # Full, not "equal" jitter: the draws cover the bottom and the top of the range.
        assert min(draws) < 0.1 * ceiling
        assert max(draws) > 0.9 * ceiling


@pytest.mark.parametrize(("draw", "expected"), [(0.0, 0.0), (0.5, 2.0), (0.999, 3.996)])
def test_the_delay_is_the_draw_times_the_ceiling(draw: float, expected: float) -> None:
    assert Backoff(base=1.0, cap=30.0, rng=lambda: draw).delay(2) == pytest.approx(expected)


def test_a_huge_attempt_number_waits_the_cap_without_overflowing() -> None:
    assert Backoff(base=0.5, cap=30.0, rng=lambda: 0.999).delay(10_000) == pytest.approx(29.97)


@pytest.mark.parametrize("retry_after", [0.0, 0.25, 7.0, 45.0])
def test_a_retry_after_is_waited_as_given_whatever_the_jitter_or_cap(retry_after: float) -> None:
    backoff = Backoff(base=0.5, cap=30.0, rng=lambda: 0.999)
    assert backoff.delay(0, retry_after) == retry_after
    assert backoff.delay(9, retry_after) == retry_after


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"}, 10.0),
        ({"Retry-After": "3600"}, 60.0),
    ],
)
def test_every_retry_after_form_becomes_the_wait_before_the_retry(
    headers: dict[str, str], expected: float
) -> None:
    # 07:28:00 on that day: the HTTP-date is ten seconds ahead.
    retry_after = parse_retry_after(headers, now=lambda: 1445412480.0)
    assert Backoff(rng=lambda: 0.0).delay(0, retry_after) == pytest.approx(expected)


def test_no_usable_retry_after_falls_back_to_jitter() -> None:
    retry_after = parse_retry_after({"retry-after": "soon"})
    assert retry_after is None
    assert Backoff(base=1.0, rng=lambda: 0.25).delay(1, retry_after) == 0.5
