"""Fusion, scoring and packing, on candidates made by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from infinity_matrix.core.retrieval.packing import HEADER_TOKENS, cut, pack
from infinity_matrix.core.retrieval.ranking import Channel, fuse, rank, recency
from infinity_matrix.core.retrieval.records import Candidate, Source
from infinity_matrix.core.retrieval.sources import coverage, task_words
from infinity_matrix.core.retrieval.tokens import FAMILIES, estimate_tokens, family_of

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def _insight(ref: str, text: str, **fields: object) -> Candidate:
    values: dict[str, object] = {
        "type": "insight",
        "ref": ref,
        "title": text,
        "text": text,
        "updated_at": NOW,
        "source": Source("user:ann", assistant="claude"),
    }
    values.update(fields)
    return Candidate(**values)  # type: ignore[arg-type]


def test_an_item_found_by_two_channels_ranks_above_one_found_by_either() -> None:
    fused = fuse(
        [
            Channel("text", [("a", 9.0), ("b", 5.0)]),
            Channel("embeddings", [("c", 0.9), ("b", 0.8)]),
        ]
    )

    assert max(fused, key=lambda uid: fused[uid][0]) == "b"
    assert fused["b"] == (1.0, "text #2, embeddings #2")
    assert fused["a"][0] == fused["c"][0] < 1.0


def test_hit_quality_scales_what_a_rank_earns() -> None:
    fused = fuse(
        [
            Channel("facts", [("weak", 1.0)], quality={"weak": 0.25}),
            Channel("context", [("strong", 3.0)], quality={"strong": 1.0}),
        ]
    )

    assert fused["strong"][0] == 1.0
    assert fused["weak"][0] == pytest.approx(0.25)


def test_the_score_is_the_product_of_its_parts() -> None:
    candidates = {"insight:1": _insight("1", "use port 6543", confidence=0.8)}
    old = NOW - timedelta(days=90)
    candidates["insight:2"] = _insight("2", "staging db notes", confidence=0.5, updated_at=old)

    ranked = rank(candidates, {"insight:1": (1.0, "x"), "insight:2": (0.5, "y")}, NOW)

    assert [r.candidate.ref for r in ranked] == ["1", "2"]
    second = ranked[1].score
    assert [(p.name, round(p.value, 4)) for p in second.parts] == [
        ("relevance", 0.5),
        ("confidence", 0.9),  # 0.8 + 0.2 x 0.5: relevance decides, confidence orders
        ("recency", 0.85),
    ]
    assert second.value == pytest.approx(0.5 * 0.9 * 0.85)


def test_recency_halves_its_decaying_share_every_half_life_and_never_reaches_zero() -> None:
    assert recency(NOW, NOW) == 1.0
    assert recency(NOW - timedelta(days=90), NOW) == pytest.approx(0.85)
    assert recency(NOW - timedelta(days=9000), NOW) == pytest.approx(0.7)


def test_a_superseded_item_stays_below_its_replacement_even_when_more_relevant() -> None:
    candidates = {
        "insight:1": _insight(
            "1", "staging uses 5432", status="superseded", superseded_by="insight:2"
        ),
        "insight:2": _insight("2", "staging moved to 6543", confidence=0.3),
    }

    ranked = rank(candidates, {"insight:1": (1.0, "x"), "insight:2": (0.1, "y")}, NOW)

    assert [r.candidate.ref for r in ranked] == ["2", "1"]
    status = ranked[1].score.parts[-1]
    assert status.name == "status"
    assert ranked[1].score.value <= 0.5 * ranked[0].score.value


def test_copies_of_one_text_are_served_once() -> None:
    candidates = {
        "insight:1": _insight("1", "Retry with backoff."),
        "insight:2": _insight("2", "retry  with BACKOFF."),
    }

    ranked = rank(candidates, {"insight:1": (1.0, "x"), "insight:2": (0.9, "y")}, NOW)

    assert [r.candidate.ref for r in ranked] == ["1"]


def test_packing_takes_whole_items_best_first_and_cuts_only_the_last() -> None:
    family = FAMILIES["openai"]
    texts = ["First line of a.\nSecond line of a.", "Bee bee bee. " * 60, "Short c."]
    candidates = {f"insight:{i}": _insight(str(i), t) for i, t in enumerate(texts)}
    ranked = rank(candidates, {u: (1.0 - i / 10, "x") for i, u in enumerate(candidates)}, NOW)
    first_cost = estimate_tokens(texts[0], family) + HEADER_TOKENS

    items, used = pack(ranked, first_cost + 60, family)

    assert [i.candidate.ref for i in items] == ["0", "1"]
    assert not items[0].truncated
    assert items[1].truncated
    assert items[1].text.endswith("bee. …")
    assert used == sum(i.tokens for i in items) <= first_cost + 60


def test_cut_ends_at_a_line_or_sentence_boundary() -> None:
    family = FAMILIES["openai"]
    text = "One two three. Four five six.\nSeven eight nine ten eleven twelve."

    assert cut(text, 6, family) == "One two three. …"
    assert cut(text, 10, family) == "One two three. Four five six. …"
    assert cut(text, 1, family) == ""


def test_token_estimates_are_per_family_and_count_code_symbols() -> None:
    assert family_of("claude-sonnet-5").name == "anthropic"
    assert family_of("gpt-4o").name == "openai"
    assert family_of("copilot").name == "openai"
    assert family_of("gemini-2.5-pro").name == "gemini"
    assert family_of("llama3:8b").name == "generic"
    assert estimate_tokens("", FAMILIES["openai"]) == 0
    assert estimate_tokens("the cat sat", FAMILIES["openai"]) == 3
    assert estimate_tokens("f(x) = 12345", FAMILIES["openai"]) == 7  # f ( x ) = 123 45
    prose = "Every change is an event in an append-only log. " * 20
    assert estimate_tokens(prose, FAMILIES["anthropic"]) > estimate_tokens(
        prose, FAMILIES["openai"]
    )


def test_task_words_drop_stop_words_and_split_like_the_index() -> None:
    assert task_words("How do I fix the staging_db port in src/app.py?") == [
        "fix",
        "staging",
        "db",
        "port",
        "src",
        "app",
        "py",
    ]
    assert coverage("Staging PostgreSQL on port 6543", ["postgres", "port", "redis"]) == 2 / 3
