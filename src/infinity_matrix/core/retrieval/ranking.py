"""Ranking: fuse the ranked lists of each channel, then score relevance * confidence * recency.

Fusion is reciprocal-rank fusion (Cormack et al., 2009): an item earns ``w * q / (k + rank)``
from each channel that found it. Ranks, unlike raw scores, are comparable between BM25,
PostgreSQL's ``ts_rank_cd`` and cosine similarity, and an item found by two channels rises above
one found by either alone. ``q`` is a quality on one scale for every channel (the share of the
task's words an item holds; its cosine similarity), so that the best hit of a channel that
found only weak matches does not count as much as the best hit of one that found a good one.
``k`` = 10 rather than the paper's 60: on ``bench/retrieval.py``'s labelled set it ranks the
top of each list higher and measured better, as did RRF against normalised-score fusion (min-max
per channel, weighted sum), which ``fuse`` also offers.

The score multiplies three parts, each shown to the caller:

- relevance: the fused value divided by the best fused value of this query (1 for the best);
- confidence: the item's own (an insight's score, a fact's recorded confidence; 1 for context
  entries, which nobody rates), counted as ``0.8 + 0.2 * confidence``: relevance decides, and
  confidence orders items of like relevance. Counted in full, a fresh insight (confidence about
  0.4 before any feedback) could never outrank a context entry of half its relevance (in
  tuning on the bench's set, recall@5 fell from 0.58 to 0.44 that way);
- recency: ``floor + (1 - floor) * 2^(-age / half_life)``, a gentle preference for fresh items
  that never drives an old one to zero (an insight's confidence already decays with age);

and a fourth, ``status``, when an item was superseded or marked outdated: a factor of 0.05,
and never more than half the score of its replacement when both are candidates.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from infinity_matrix.core.retrieval.records import Candidate, Part, Score

Fusion = Literal["rrf", "score"]
RRF_K = 10.0
RECENCY_HALF_LIFE_DAYS = 90.0
RECENCY_FLOOR = 0.7
STALE_FACTOR = 0.05
CONFIDENCE_FLOOR = 0.8
BELOW_REPLACEMENT = 0.5


@dataclass(frozen=True, slots=True)
class Channel:
    """One ranked list of item uids (best first) with their raw scores, and how good each hit
    is on a scale shared by all channels (``quality``, 1 when absent): the share of the task's
    words an item holds, or its cosine similarity."""

    name: str
    hits: Sequence[tuple[str, float]]
    weight: float = 1.0
    quality: Mapping[str, float] | None = None


@dataclass(frozen=True, slots=True)
class Ranked:
    candidate: Candidate
    score: Score


def fuse(channels: Sequence[Channel], method: Fusion = "rrf") -> dict[str, tuple[float, str]]:
    """uid → (fused relevance in [0, 1], which channels found it and where)."""
    raw: dict[str, float] = {}
    found: dict[str, list[str]] = {}
    for channel in channels:
        if not channel.hits:
            continue
        scores = [s for _, s in channel.hits]
        low, high = min(scores), max(scores)
        for rank, (uid, score) in enumerate(channel.hits, start=1):
            quality = channel.quality.get(uid, 1.0) if channel.quality is not None else 1.0
            if method == "rrf":
                gain = channel.weight * quality / (RRF_K + rank)
            else:
                gain = channel.weight * ((score - low) / (high - low) if high > low else 1.0)
            raw[uid] = raw.get(uid, 0.0) + gain
            found.setdefault(uid, []).append(f"{channel.name} #{rank}")
    best = max(raw.values(), default=0.0)
    if best <= 0:
        return {}
    return {uid: (value / best, ", ".join(found[uid])) for uid, value in raw.items()}


def recency(updated_at: datetime, now: datetime) -> float:
    age_days = max(0.0, (now - updated_at).total_seconds() / 86400.0)
    return RECENCY_FLOOR + (1 - RECENCY_FLOOR) * math.pow(2.0, -age_days / RECENCY_HALF_LIFE_DAYS)


def rank(
    candidates: Mapping[str, Candidate],
    relevance: Mapping[str, tuple[float, str]],
    now: datetime,
) -> list[Ranked]:
    """Every candidate that has a relevance, scored and sorted best first, duplicates (same
    normalised text) folded into the best of them."""
    scored: dict[str, Ranked] = {}
    for uid, (value, detail) in relevance.items():
        candidate = candidates.get(uid)
        # Zero: found by a channel that weighs it nothing (none of the task's words in its
        # text, or a negative cosine) — noise, not a candidate.
        if candidate is not None and value > 0:
            scored[uid] = Ranked(candidate, _score(candidate, value, detail, now))
    _below_replacements(scored)
    ordered = sorted(
        scored.values(),
        key=lambda r: (-r.score.value, r.candidate.status != "active", r.candidate.uid),
    )
    return _dedupe(ordered)


def _score(candidate: Candidate, relevance: float, detail: str, now: datetime) -> Score:
    if candidate.confidence_parts:
        why = ", ".join(f"{n} {v:.2f}" for n, v, _ in candidate.confidence_parts)
    else:
        why = "context entries are not rated" if candidate.type == "context" else "as recorded"
    confidence_detail = f"{candidate.confidence:.2f} ({why})"
    if CONFIDENCE_FLOOR:
        confidence_detail += f", counted as {CONFIDENCE_FLOOR:g} + {1 - CONFIDENCE_FLOOR:g} x it"
    age_days = max(0.0, (now - candidate.updated_at).total_seconds() / 86400.0)
    parts = [
        Part("relevance", relevance, f"found by {detail}"),
        Part("confidence", _tempered(candidate.confidence), confidence_detail),
        Part(
            "recency",
            recency(candidate.updated_at, now),
            f"{age_days:.1f} days old, half-life {RECENCY_HALF_LIFE_DAYS:g} days",
        ),
    ]
    if candidate.status != "active":
        why = f"{candidate.status}" + (
            f" by {candidate.superseded_by}" if candidate.superseded_by else ""
        )
        parts.append(Part("status", STALE_FACTOR, why))
    return Score(math.prod(p.value for p in parts), tuple(parts))


def _tempered(confidence: float) -> float:
    confidence = max(0.0, min(1.0, confidence))
    return CONFIDENCE_FLOOR + (1 - CONFIDENCE_FLOOR) * confidence


def _below_replacements(scored: dict[str, Ranked]) -> None:
    """A superseded item stays below half of its replacement's score (replacements of
    replacements followed to the live one)."""
    for uid, ranked in list(scored.items()):
        if ranked.candidate.status == "active":
            continue
        replacement = _live_replacement(scored, ranked.candidate.superseded_by)
        if replacement is None:
            continue
        cap = replacement.score.value * BELOW_REPLACEMENT
        if ranked.score.value > cap:
            parts = ranked.score.parts
            factor = cap / ranked.score.value
            capped = Part("status", parts[-1].value * factor, parts[-1].detail + ", below it")
            scored[uid] = Ranked(ranked.candidate, Score(cap, (*parts[:-1], capped)))


def _live_replacement(scored: Mapping[str, Ranked], uid: str | None) -> Ranked | None:
    seen: set[str] = set()
    found = None
    while uid is not None and uid not in seen and uid in scored:
        seen.add(uid)
        found = scored[uid]
        uid = found.candidate.superseded_by
    return found


def _dedupe(ordered: list[Ranked]) -> list[Ranked]:
    seen: set[str] = set()
    kept = []
    for ranked in ordered:
        digest = text_digest(ranked.candidate.text)
        if digest not in seen:
            seen.add(digest)
            kept.append(ranked)
    return kept


def text_digest(text: str) -> str:
    """sha256 of the text with white space folded and case ignored: equal for copies."""
    folded = " ".join(text.lower().split())
    return hashlib.sha256(folded.encode()).hexdigest()
