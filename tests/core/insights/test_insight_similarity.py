"""Near-duplicates are rephrasings that agree on numbers, polarity and every content word; a
swapped word, number or negation is a different claim."""

from __future__ import annotations

import pytest

from infinity_matrix.core.insights.similarity import (
    candidate_words,
    features,
    near_duplicate,
    similarity,
    words,
)

STAGING = ("Staging DB port", "Staging DB listens on port 5433")


def dup(a: tuple[str, str], b: tuple[str, str]) -> float | None:
    return near_duplicate(features(*a), features(*b))


def test_words_are_normalised_runs_of_letters_and_digits() -> None:
    assert words("Don't  use \uff34\uff21\uff22\uff33, use src/app.py!") == [
        "dont",
        "use",
        "tabs",
        "use",
        "src",
        "app",
        "py",
    ]


@pytest.mark.parametrize(
    "other",
    [
        ("Staging DB port", "The staging DB listens on port 5433."),
        ("Port of the staging DB", "Port 5433 is where the staging DB listens"),
        ("staging db port", "STAGING DB LISTENS ON PORT 5433"),
    ],
)
def test_rephrasings_with_the_same_words_are_near_duplicates(other: tuple[str, str]) -> None:
    score = dup(STAGING, other)
    assert score is not None
    assert score >= 0.5


@pytest.mark.parametrize(
    "other",
    [
        ("Staging DB port", "Staging DB listens on port 6543"),  # another number
        ("Staging DB port", "Staging DB never listens on port 5433"),  # negated
        ("Staging DB port", "Staging Redis listens on port 5433"),  # a word swapped
        ("Flaky tests", "test_sync is flaky on CI because of the clock"),  # unrelated
    ],
)
def test_a_different_number_negation_or_swapped_word_is_not_a_duplicate(
    other: tuple[str, str],
) -> None:
    assert dup(STAGING, other) is None


def test_word_order_matters_through_shingles() -> None:
    a = features("Order", "Run migrations before tests")
    b = features("Order", "Run tests before migrations")
    assert similarity(a, b) < 0.5
    assert near_duplicate(a, b) is None


def test_similarity_is_symmetric_and_one_for_identical_texts() -> None:
    a, b = features(*STAGING), features("Staging", "The DB on staging listens on 5433")
    assert similarity(a, b) == similarity(b, a)
    assert similarity(a, a) == 1.0


def test_candidate_words_prefer_long_words_and_keep_numbers() -> None:
    found = candidate_words(features(*STAGING))
    assert found[:2] == ["5433", "listens"]
    assert "5433" in found
