"""What the bench compares against and feeds in: plain BM25, and insights held in memory.

``PlainBM25`` is textbook Okapi BM25 (k1 = 1.2, b = 0.75) over every item, with every word of
the task (no stop words removed, no field weights, no fusion): the baseline the issue names.

``MemoryInsights`` serves the bench's insights as retrieval candidates when the hub has no
insight service wired in: full text by the same BM25, confidence as written in the labels,
superseded ones marked with their replacement.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

from retbench.labels import BenchInsight

from infinity_matrix.core.retrieval.records import Candidate, ItemType, Source
from infinity_matrix.security.principals import Principal

_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class PlainBM25:
    def __init__(self, documents: dict[str, str], *, k1: float = 1.2, b: float = 0.75) -> None:
        self._k1, self._b = k1, b
        self._postings: dict[str, list[tuple[str, int]]] = {}
        self._length: dict[str, int] = {}
        for uid, text in documents.items():
            counts = Counter(words(text))
            self._length[uid] = sum(counts.values())
            for word, n in counts.items():
                self._postings.setdefault(word, []).append((uid, n))
        self._average = sum(self._length.values()) / max(1, len(self._length))

    def search(self, query: str, limit: int = 40) -> list[tuple[str, float]]:
        scores: dict[str, float] = {}
        total = len(self._length)
        for word in set(words(query)):
            postings = self._postings.get(word, [])
            if not postings:
                continue
            idf = math.log(1 + (total - len(postings) + 0.5) / (len(postings) + 0.5))
            for uid, n in postings:
                norm = n + self._k1 * (1 - self._b + self._b * self._length[uid] / self._average)
                scores[uid] = scores.get(uid, 0.0) + idf * n * (self._k1 + 1) / norm
        return sorted(scores.items(), key=lambda s: (-s[1], s[0]))[:limit]


class MemoryInsights:
    """Implements the retrieval service's ``CandidateSource`` for the bench's insights."""

    type: ItemType = "insight"

    def __init__(self, insights: Sequence[BenchInsight], now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        ids = {insight.label: str(n) for n, insight in enumerate(insights, start=1)}
        replaced = {i.supersedes: ids[i.label] for i in insights if i.supersedes}
        self.ids = ids
        self._candidates = {
            ids[i.label]: Candidate(
                type="insight",
                ref=ids[i.label],
                title=i.title,
                text=f"{i.title}\n{i.body}",
                updated_at=now - timedelta(days=i.days_ago),
                source=Source(actor="user:bench", client="bench", assistant=i.assistant),
                confidence=i.confidence,
                status="superseded" if i.label in replaced else "active",
                superseded_by=f"insight:{replaced[i.label]}" if i.label in replaced else None,
                kind=i.kind,
            )
            for i in insights
        }
        self._bm25 = PlainBM25({ref: c.text for ref, c in self._candidates.items()})

    async def search(
        self, principal: Principal, workspace: str, words: Sequence[str], *, limit: int
    ) -> list[tuple[Candidate, float]]:
        hits = self._bm25.search(" ".join(words), limit)
        return [(self._candidates[ref], score) for ref, score in hits]

    async def fetch(
        self, principal: Principal, workspace: str, refs: Sequence[str]
    ) -> list[Candidate]:
        return [self._candidates[r] for r in refs if r in self._candidates]

    async def scan(self, principal: Principal, workspace: str) -> AsyncIterator[list[Candidate]]:
        yield list(self._candidates.values())
