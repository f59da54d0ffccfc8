"""Where candidates come from: context entries, graph facts and insights, each behind one shape.

A source answers three questions: which of its items match some words (full text, best first),
which items these refs are (for vector hits and changed items), and all of its items a batch
at a time (to build a workspace's vectors). The caller has checked that the principal may read
the workspace.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from functools import lru_cache
from typing import Protocol

from infinity_matrix.core.knowledge.records import EntityRecord, Selection
from infinity_matrix.core.ports import AnyWordSearch, GraphStore
from infinity_matrix.core.retrieval.records import Candidate, EntryHit, ItemType, Source
from infinity_matrix.core.search import is_word_character
from infinity_matrix.security.principals import Principal

SCAN_BATCH = 500
FACT_SEARCH_WORDS = 3  # the longest words of a task looked up in the graph's substring index

# Words that say little about what a task is about; dropped before full-text search.
STOP_WORDS = frozenset(
    (
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "should",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "too",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "about",
        "after",
        "all",
        "also",
        "any",
        "before",
        "being",
        "both",
        "each",
        "few",
        "more",
        "most",
        "other",
        "same",
        "some",
        "such",
        "only",
        "own",
        "just",
        "over",
        "under",
        "again",
        "further",
        "once",
        "here",
        "very",
        "s",
        "t",
        "don",
        "now",
        "get",
        "got",
        "use",
        "using",
        "used",
        "want",
        "need",
        "make",
        "made",
        "way",
        "ok",
        "please",
    )
)


def task_words(text: str, *, limit: int = 16) -> list[str]:
    """The distinct words of a task worth searching for: lower case, letters and digits only
    (as the full-text indexes split them), stop words and single letters dropped."""
    words: list[str] = []
    current: list[str] = []
    for char in text + " ":
        if is_word_character(char):
            current.append(char)
            continue
        if current:
            word = "".join(current).lower()
            current = []
            if len(word) > 1 and word not in STOP_WORDS and word not in words:
                words.append(word)
    return words[:limit]


class CandidateSource(Protocol):
    type: ItemType

    async def search(
        self, principal: Principal, workspace: str, words: Sequence[str], *, limit: int
    ) -> list[tuple[Candidate, float]]: ...

    async def fetch(
        self, principal: Principal, workspace: str, refs: Sequence[str]
    ) -> list[Candidate]: ...

    def scan(self, principal: Principal, workspace: str) -> AsyncIterator[list[Candidate]]: ...


class ContextSource:
    """Context entries: full text through ``AnyWordSearch`` (BM25 / ``ts_rank_cd``)."""

    type: ItemType = "context"

    def __init__(self, search: AnyWordSearch) -> None:
        self._search = search

    async def search(
        self, principal: Principal, workspace: str, words: Sequence[str], *, limit: int
    ) -> list[tuple[Candidate, float]]:
        hits = await self._search.match_entries(workspace, words, limit=limit)
        return [(entry_candidate(h), h.score) for h in hits]

    async def fetch(
        self, principal: Principal, workspace: str, refs: Sequence[str]
    ) -> list[Candidate]:
        hits = await self._search.load_entries(workspace, refs)
        return [entry_candidate(h) for h in hits]

    async def scan(self, principal: Principal, workspace: str) -> AsyncIterator[list[Candidate]]:
        after: str | None = None
        while True:
            hits = await self._search.page_entries(workspace, after_key=after, limit=SCAN_BATCH)
            if not hits:
                return
            yield [entry_candidate(h) for h in hits]
            after = hits[-1].key


def entry_candidate(hit: EntryHit) -> Candidate:
    return Candidate(
        type="context",
        ref=hit.key,
        title=hit.key,
        text=hit.text,
        updated_at=hit.updated_at,
        source=Source(actor=hit.updated_by),
    )


class FactSource:
    """Entities of the knowledge graph with their live observations, as facts."""

    type: ItemType = "fact"

    def __init__(self, graph: GraphStore) -> None:
        self._graph = graph

    async def search(
        self, principal: Principal, workspace: str, words: Sequence[str], *, limit: int
    ) -> list[tuple[Candidate, float]]:
        # The graph's index finds substrings; the longest words are the most specific ones.
        longest = [w for w in sorted(words, key=len, reverse=True) if len(w) >= 3]
        lookups = await asyncio.gather(
            *(
                self._graph.entities(workspace, Selection(query=word), limit=limit)
                for word in longest[:FACT_SEARCH_WORDS]
            )
        )
        found: dict[str, tuple[Candidate, float]] = {}
        for entities in lookups:
            for entity in entities:
                candidate = fact_candidate(entity)
                score = _matches(candidate.text, words)
                if candidate.uid not in found or found[candidate.uid][1] < score:
                    found[candidate.uid] = (candidate, score)
        ranked = sorted(found.values(), key=lambda f: (-f[1], f[0].ref))
        return ranked[:limit]

    async def fetch(
        self, principal: Principal, workspace: str, refs: Sequence[str]
    ) -> list[Candidate]:
        if not refs:
            return []
        entities = await self._graph.entities(
            workspace, Selection(names=tuple(refs)), limit=len(refs)
        )
        return [fact_candidate(e) for e in entities]

    async def scan(self, principal: Principal, workspace: str) -> AsyncIterator[list[Candidate]]:
        after = 0
        while True:
            entities = await self._graph.entities(
                workspace, Selection(), after=after, limit=SCAN_BATCH
            )
            if not entities:
                return
            yield [fact_candidate(e) for e in entities]
            after = entities[-1].provenance.seq


def fact_candidate(entity: EntityRecord) -> Candidate:
    observations = [o.content for o in entity.observations]
    text = f"{entity.name} ({entity.entity_type})" + (
        ": " + "; ".join(observations) if observations else ""
    )
    provenances = [entity.provenance, *(o.provenance for o in entity.observations)]
    latest = max(provenances, key=lambda p: p.valid_from)
    confidences = [p.confidence for p in provenances]
    return Candidate(
        type="fact",
        ref=entity.name,
        title=entity.name,
        text=text,
        updated_at=latest.valid_from,
        source=Source(actor=latest.actor, client=latest.source),
        confidence=sum(confidences) / len(confidences),
    )


def _matches(text: str, words: Sequence[str]) -> float:
    """How many of ``words`` start a word of ``text``: one scan of the text per task."""
    if not words:
        return 0.0
    found: set[str] = set()
    for token in set(_starts(tuple(words)).findall(text.lower())):
        found.update(w for w in words if token.startswith(w))
    return float(len(found))


@lru_cache(maxsize=64)
def _starts(words: tuple[str, ...]) -> re.Pattern[str]:
    """Words of a text that begin with one of ``words`` (longest alternatives first)."""
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"\b(?:{alternatives})\w*")


def coverage(text: str, words: Sequence[str]) -> float:
    """The share of ``words`` that start a word of ``text`` (``postgres`` in
    ``PostgreSQL`` counts): a measure of lexical match comparable between sources."""
    return _matches(text, words) / len(words) if words else 0.0
