"""The confidence model: reliabilities from feedback, and the score of an insight with its parts."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infinity_matrix.core.insights.confidence import (
    DEFAULT_RELIABILITY,
    FORGETTING,
    HALF_LIFE_DAYS,
    KIND_PRIOR,
    Assessment,
    Score,
    SourceTally,
    Support,
    assess,
    reliability,
    retract_verdict,
    update_tally,
)
from infinity_matrix.errors import InvalidInput

NOW = datetime(2026, 6, 1, tzinfo=UTC)
KINDS = sorted(KIND_PRIOR)
PART_NAMES = (
    "prior",
    "source",
    "corroboration",
    "rivals",
    "evidence",
    "feedback",
    "status",
    "age",
)

_verdicts = st.lists(
    st.tuples(st.sampled_from(["accepted", "rejected", "outdated"]), st.floats(0.0, 1.0)),
    max_size=80,
)
# Source keys from a small alphabet, so that generated sources often share a model or an actor.
_keys = st.builds(
    lambda actor, assistant, model: f"{actor}/{assistant}/{model}",
    st.sampled_from(["alice", "bob", "carol", "key-7"]),
    st.sampled_from(["-", "claude", "copilot", "gemini"]),
    st.sampled_from(["-", "sonnet", "gpt", "flash", "local"]),
)
_reliabilities = st.floats(0.0, 1.0)
_ages = st.floats(0.0, 5000.0)


def _tally(verdicts: list[tuple[str, float]]) -> SourceTally:
    tally = SourceTally()
    for verdict, weight in verdicts:
        tally = update_tally(tally, verdict, weight)
    return tally


@st.composite
def _supports(draw: st.DrawFn, min_size: int = 0, max_size: int = 6) -> list[Support]:
    keys = draw(st.lists(_keys, min_size=min_size, max_size=max_size, unique=True))
    return [Support(key, draw(_reliabilities), NOW - timedelta(days=draw(_ages))) for key in keys]


@st.composite
def _assessments(draw: st.DrawFn, min_supports: int = 0) -> Assessment:
    created = NOW - timedelta(days=draw(_ages))
    return Assessment(
        kind=draw(st.sampled_from(KINDS)),
        supports=draw(_supports(min_size=min_supports)),
        rivals=draw(st.lists(_supports(max_size=3), max_size=3)),
        evidence=draw(st.integers(0, 10)),
        accepted=draw(st.integers(0, 20)),
        rejected=draw(st.integers(0, 20)),
        outdated=draw(st.integers(0, 5)),
        created_at=created,
        now=NOW,
        status=draw(st.sampled_from(["active", "superseded", "outdated"])),
    )


def _fact(supports: list[Support], **changes: object) -> Assessment:
    base = Assessment("fact", supports, [], 0, 0, 0, 0, NOW, NOW, "active")
    return replace(base, **changes)  # type: ignore[arg-type]


# --- reliability --------------------------------------------------------------------------


def test_a_source_without_feedback_has_the_prior_reliability() -> None:
    assert reliability(SourceTally()) == pytest.approx(2 / 3)
    assert pytest.approx(2 / 3) == DEFAULT_RELIABILITY


@given(_verdicts, st.floats(0.01, 1.0))
def test_negative_feedback_lowers_a_sources_reliability(
    history: list[tuple[str, float]], weight: float
) -> None:
    before = _tally(history)
    after = update_tally(before, "rejected", weight)
    assert reliability(after) <= reliability(before)
    if before.accepted > 0:
        assert reliability(after) < reliability(before)


@given(_verdicts, st.floats(0.01, 1.0))
def test_positive_feedback_raises_a_sources_reliability(
    history: list[tuple[str, float]], weight: float
) -> None:
    before = _tally(history)
    after = update_tally(before, "accepted", weight)
    assert reliability(after) >= reliability(before)
    if before.rejected > 0:
        assert reliability(after) > reliability(before)


@given(_verdicts)
def test_outdated_feedback_does_not_count_against_a_source(
    history: list[tuple[str, float]],
) -> None:
    before = _tally(history)
    after = update_tally(before, "outdated")
    assert reliability(after) == reliability(before)
    assert (after.outdated, after.count) == (before.outdated + 1, before.count + 1)


@given(_verdicts)
def test_faded_weights_stay_below_the_memory_of_the_forgetting_factor(
    history: list[tuple[str, float]],
) -> None:
    tally = _tally(history)
    assert tally.accepted + tally.rejected <= 1 / (1 - FORGETTING) + 1e-9
    assert 0.0 < reliability(tally) < 1.0


def test_a_source_that_degrades_is_noticed_within_a_few_dozen_verdicts() -> None:
    tally = _tally([("accepted", 1.0)] * 200)
    assert reliability(tally) > 0.95
    tally = _tally([("accepted", 1.0)] * 200 + [("rejected", 1.0)] * 30)
    assert reliability(tally) < 0.5


def test_old_verdicts_fade_by_the_forgetting_factor_per_new_verdict() -> None:
    tally = update_tally(update_tally(SourceTally(), "accepted"), "rejected")
    assert tally == SourceTally(
        accepted=FORGETTING,
        rejected=1.0,
        outdated=0.0,
        count=2,
        clock=pytest.approx(-2 * math.log(FORGETTING)),  # type: ignore[arg-type]
    )


def _folded(
    history: list[tuple[str, float]], verdict: str, later: list[tuple[str, float]]
) -> tuple[SourceTally, float]:
    """The tally after ``history``, one full ``verdict``, then ``later``; and the clock right
    after ``verdict`` was folded in."""
    tally = update_tally(_tally(history), verdict)
    mark = tally.clock
    for v, w in later:
        tally = update_tally(tally, v, w)
    return tally, mark


@given(_verdicts, st.sampled_from(["accepted", "rejected", "outdated"]), _verdicts)
def test_taking_back_a_verdict_removes_what_is_left_of_it(
    history: list[tuple[str, float]], verdict: str, later: list[tuple[str, float]]
) -> None:
    tally, mark = _folded(history, verdict, later)
    without = _tally(history)
    for v, w in later:
        without = update_tally(without, v, w)
    back = retract_verdict(tally, verdict, mark)
    # What stays is the fading the verdict caused on the verdicts before it.
    fade = FORGETTING if verdict != "outdated" else 1.0
    assert back.count == without.count
    assert back.outdated == pytest.approx(without.outdated, abs=1e-9)
    assert back.accepted <= without.accepted + 1e-9
    assert back.rejected <= without.rejected + 1e-9
    assert back.accepted >= fade * without.accepted - 1e-9
    assert back.rejected >= fade * without.rejected - 1e-9
    assert min(back.accepted, back.rejected, back.outdated) >= 0.0


@given(_verdicts, _verdicts)
def test_taking_back_an_acceptance_never_raises_a_reliability_nor_a_rejection_lowers_it(
    history: list[tuple[str, float]], later: list[tuple[str, float]]
) -> None:
    accepted, mark = _folded(history, "accepted", later)
    assert reliability(retract_verdict(accepted, "accepted", mark)) <= reliability(accepted)
    rejected, mark = _folded(history, "rejected", later)
    assert reliability(retract_verdict(rejected, "rejected", mark)) >= reliability(rejected)


def test_a_verdict_taken_back_at_once_leaves_only_its_fading() -> None:
    tally = update_tally(SourceTally(), "accepted")
    flipped = update_tally(retract_verdict(tally, "accepted", tally.clock), "rejected")
    assert (flipped.accepted, flipped.rejected, flipped.count) == (0.0, 1.0, 1)
    with pytest.raises(InvalidInput) as caught:
        retract_verdict(tally, "maybe", 0.0)
    assert caught.value.code == "insight.invalid_verdict"


def test_replaying_the_same_verdicts_gives_the_same_tally() -> None:
    history = [("accepted", 1.0), ("rejected", 0.5), ("outdated", 1.0)] * 20
    assert _tally(history) == _tally(list(history))


def test_an_unknown_verdict_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        update_tally(SourceTally(), "maybe")
    assert caught.value.code == "insight.invalid_verdict"


# --- the score ----------------------------------------------------------------------------


@given(_assessments())
def test_the_breakdown_sums_to_the_score_which_is_a_probability(a: Assessment) -> None:
    score = assess(a)
    assert 0.0 <= score.value <= 1.0
    assert sum(p.value for p in score.parts) == score.value
    assert tuple(p.name for p in score.parts) == PART_NAMES
    assert all(p.detail for p in score.parts)


@given(_assessments(min_supports=1), _keys, _reliabilities, _ages)
def test_more_independent_corroboration_never_lowers_confidence(
    a: Assessment, key: str, r: float, age: float
) -> None:
    if any(s.source == key for s in a.supports):
        return
    more = replace(a, supports=[*a.supports, Support(key, r, NOW - timedelta(days=age))])
    assert assess(more).value >= assess(a).value - 1e-12


@given(_assessments(), _ages, _ages)
def test_confidence_decays_monotonically_with_age(a: Assessment, d1: float, d2: float) -> None:
    younger, older = sorted([d1, d2])
    at = [replace(a, now=a.now + timedelta(days=d)) for d in (younger, older)]
    assert assess(at[1]).value <= assess(at[0]).value + 1e-12


@given(_assessments(), _supports(max_size=3))
def test_a_contradicting_claim_never_raises_confidence(a: Assessment, rival: list[Support]) -> None:
    more = replace(a, rivals=[*a.rivals, rival])
    assert assess(more).value <= assess(a).value + 1e-12


def test_an_unjudged_source_alone_scores_the_base_rate_of_its_kind() -> None:
    for kind in KINDS:
        score = assess(_fact([Support("alice/-/-", DEFAULT_RELIABILITY, NOW)], kind=kind))
        assert score.value == pytest.approx(KIND_PRIOR[kind])
        assert [p.name for p in score.parts if abs(p.value) > 1e-12] == ["prior"]


def test_a_judged_source_alone_moves_the_base_rate_by_the_odds_of_its_reliability() -> None:
    score = assess(_fact([Support("alice/claude/sonnet", 0.9, NOW)], kind="fact"))
    assert score.value == pytest.approx(_odds_product(0.9, KIND_PRIOR["fact"]))


def _odds_product(r: float, prior: float) -> float:
    odds = (r / (1 - r)) / (DEFAULT_RELIABILITY / (1 - DEFAULT_RELIABILITY)) * prior / (1 - prior)
    return odds / (1 + odds)


def test_a_duplicate_support_from_the_same_source_counts_once() -> None:
    one = [Support("alice/claude/sonnet", 0.8, NOW)]
    assert assess(_fact(one * 3)) == assess(_fact(one))


def test_independent_sources_corroborate_more_than_sources_sharing_a_model() -> None:
    lead = Support("alice/claude/sonnet", 0.8, NOW)
    same_model = assess(_fact([lead, Support("bob/cursor/sonnet", 0.8, NOW)]))
    independent = assess(_fact([lead, Support("bob/gemini/flash", 0.8, NOW)]))
    alone = assess(_fact([lead]))
    assert alone.value < same_model.value < independent.value


def test_each_further_corroborator_adds_less_than_the_one_before() -> None:
    keys = [f"user{i}/assistant{i}/model{i}" for i in range(5)]
    values = [assess(_fact([Support(k, 0.8, NOW) for k in keys[:n]])).value for n in range(1, 6)]
    gains = [b - a for a, b in itertools.pairwise(values)]
    assert all(g > 0 for g in gains)
    assert gains == sorted(gains, reverse=True)


def test_an_unreliable_corroborator_adds_nothing() -> None:
    lead = Support("alice/claude/sonnet", 0.8, NOW)
    with_it = assess(_fact([lead, Support("mallory/-/-", 0.2, NOW)])).value
    assert with_it == pytest.approx(assess(_fact([lead])).value)


def test_two_equally_supported_answers_share_the_belief() -> None:
    mine = [Support("alice/claude/sonnet", 0.8, NOW)]
    rival = [Support("bob/gemini/flash", 0.8, NOW)]
    alone = assess(_fact(mine)).value
    contested = assess(_fact(mine, rivals=[rival])).value
    odds = alone / (1 - alone)
    assert contested == pytest.approx(odds / (1 + 2 * odds))


def test_feedback_on_the_insight_moves_its_confidence() -> None:
    support = [Support("alice/claude/sonnet", 0.7, NOW)]
    plain = assess(_fact(support)).value
    assert assess(_fact(support, accepted=1)).value > plain
    assert assess(_fact(support, rejected=1)).value < plain
    assert assess(_fact(support, outdated=1)).value < plain
    assert assess(_fact(support, accepted=3)).value > assess(_fact(support, accepted=1)).value


def test_superseded_and_outdated_insights_lose_confidence() -> None:
    support = [Support("alice/claude/sonnet", 0.8, NOW)]
    active = assess(_fact(support)).value
    superseded = assess(_fact(support, status="superseded")).value
    outdated = assess(_fact(support, status="outdated")).value
    assert outdated < superseded < active


def test_evidence_adds_a_small_bounded_bonus() -> None:
    support = [Support("alice/claude/sonnet", 0.8, NOW)]
    values = [assess(_fact(support, evidence=n)).value for n in (0, 1, 2, 100)]
    assert values == sorted(values)
    assert values[-1] - values[0] < 0.1


@pytest.mark.parametrize("kind", KINDS)
def test_confidence_halves_after_the_half_life_of_the_kind(kind: str) -> None:
    support = [Support("alice/-/-", DEFAULT_RELIABILITY, NOW)]
    fresh = assess(_fact(support, kind=kind))
    later = NOW + timedelta(days=HALF_LIFE_DAYS[kind])
    aged = assess(_fact(support, kind=kind, now=later))
    assert aged.value == pytest.approx(fresh.value / 2)
    assert aged.parts[-1].value == pytest.approx(-fresh.value / 2)


def test_a_corroboration_refreshes_the_age_of_an_insight() -> None:
    later = NOW + timedelta(days=30)
    old = [Support("alice/claude/sonnet", 0.8, NOW)]
    refreshed = [*old, Support("bob/gemini/flash", 0.8, later)]
    assert assess(_fact(refreshed, kind="todo", now=later)).parts[-1].value == 0.0


def test_the_score_renders_as_json_with_its_parts() -> None:
    score = assess(_fact([Support("alice/claude/sonnet", 0.8, NOW)], evidence=1))
    rendered = score.to_json()
    assert rendered["value"] == score.value
    assert [p["name"] for p in rendered["parts"]] == list(PART_NAMES)
    assert math.fsum(p["value"] for p in rendered["parts"]) == pytest.approx(score.value)
    assert isinstance(score, Score)


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        assess(_fact([], kind="rumour"))
    assert caught.value.code == "insight.invalid_kind"
