"""The semantic channel with a small deterministic embedder: vectors built once and cached for
every node, kept in step by events, and full text alone while a build is still running."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime

import anyio
import numpy as np
import pytest

from infinity_matrix.core.protocol.events import Event
from infinity_matrix.core.retrieval.records import Candidate, ItemType, Source
from infinity_matrix.core.retrieval.semantic import SemanticChannel
from infinity_matrix.errors import Unavailable
from infinity_matrix.providers.vectors import NumpyVectorIndex
from infinity_matrix.security.principals import Principal

OWNER = Principal.user("owner")
NOW = datetime(2026, 11, 25, tzinfo=UTC)


class WordEmbedder:
    """A bag of hashed words: texts sharing words are close. Counts what it computes, and can
    be held back to look at a build that has not finished."""

    dimension = 64
    model = "words@test"

    def __init__(self) -> None:
        self.computed: list[str] = []
        self.gate = threading.Event()
        self.gate.set()

    def embed(self, texts: Sequence[str]) -> list[bytes]:
        self.gate.wait(timeout=10)
        self.computed += texts
        vectors = []
        for text in texts:
            vector = np.zeros(self.dimension, dtype=np.float32)
            for word in text.lower().split():
                vector[hashlib.sha256(word.encode()).digest()[0] % self.dimension] += 1.0
            vectors.append((vector / max(float(np.linalg.norm(vector)), 1e-9)).tobytes())
        return vectors


class MemoryCache:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], bytes] = {}

    async def load_vectors(self, model: str, digests: Sequence[str]) -> dict[str, bytes]:
        return {d: self.rows[model, d] for d in digests if (model, d) in self.rows}

    async def save_vectors(self, model: str, vectors: Mapping[str, bytes]) -> None:
        for d, v in vectors.items():
            self.rows.setdefault((model, d), v)


class Notes:
    """Context entries held in memory (a ``CandidateSource``)."""

    type: ItemType = "context"

    def __init__(self, texts: dict[str, str]) -> None:
        self.texts = texts
        self.fetched: list[str] = []

    def _candidate(self, key: str) -> Candidate:
        return Candidate("context", key, key, self.texts[key], NOW, Source("user:owner"))

    async def search(
        self, principal: Principal, workspace: str, words: Sequence[str], *, limit: int
    ) -> list[tuple[Candidate, float]]:
        return []

    async def fetch(
        self, principal: Principal, workspace: str, refs: Sequence[str]
    ) -> list[Candidate]:
        self.fetched += refs
        return [self._candidate(r) for r in refs if r in self.texts]

    async def scan(self, principal: Principal, workspace: str) -> AsyncIterator[list[Candidate]]:
        yield [self._candidate(k) for k in sorted(self.texts)]


def _event(kind: str, key: str) -> Event:
    return Event(
        "ws", 1, "e1", kind, f"context/{key}", "user:owner", None, None, {}, None, None, NOW
    )


@pytest.fixture
def notes() -> Notes:
    return Notes({"a": "redis stream replay", "b": "helm chart deploy", "c": "redis stream replay"})


@pytest.mark.anyio
async def test_vectors_are_computed_once_per_text_and_reused_by_another_node(notes: Notes) -> None:
    cache, first, second = MemoryCache(), WordEmbedder(), WordEmbedder()
    one = SemanticChannel(first, cache, NumpyVectorIndex(64), [notes])
    other = SemanticChannel(second, cache, NumpyVectorIndex(64), [notes])

    found = await one.nearest(OWNER, "ws", "redis replay", limit=2)
    again = await other.nearest(OWNER, "ws", "redis replay", limit=2)

    assert sorted(first.computed) == ["helm chart deploy", "redis replay", "redis stream replay"]
    assert second.computed == ["redis replay"]  # only the task: the items came from the cache
    assert {uid for uid, _ in found} == {"context:a", "context:c"}
    assert found == again


@pytest.mark.anyio
async def test_changed_and_deleted_items_are_refreshed_alone_on_the_next_query(
    notes: Notes,
) -> None:
    channel = SemanticChannel(WordEmbedder(), MemoryCache(), NumpyVectorIndex(64), [notes])
    await channel.ready(OWNER, "ws", wait=None)
    notes.texts["b"] = "redis stream replay cluster"
    del notes.texts["c"]

    channel.observe([_event("context.updated", "b"), _event("context.deleted", "c")])
    found = await channel.nearest(OWNER, "ws", "redis replay cluster", limit=5)

    assert notes.fetched == ["b", "c"]
    assert [uid for uid, _ in found][:2] == ["context:b", "context:a"]
    assert "context:c" not in {uid for uid, _ in found}


@pytest.mark.anyio
async def test_a_query_during_a_long_build_answers_nothing_instead_of_waiting(
    notes: Notes,
) -> None:
    embedder = WordEmbedder()
    embedder.gate.clear()
    channel = SemanticChannel(
        embedder, MemoryCache(), NumpyVectorIndex(64), [notes], wait_seconds=0
    )

    assert await channel.nearest(OWNER, "ws", "redis", limit=3) == []
    embedder.gate.set()
    with anyio.fail_after(10):
        assert await channel.ready(OWNER, "ws", wait=None)
    assert len(await channel.nearest(OWNER, "ws", "redis", limit=3)) == 3


class BrokenEmbedder(WordEmbedder):
    def embed(self, texts: Sequence[str]) -> list[bytes]:
        raise Unavailable("model.safetensors is truncated", code="embeddings.unavailable")


@pytest.mark.anyio
async def test_a_model_that_cannot_run_leaves_retrieval_to_full_text(notes: Notes) -> None:
    channel = SemanticChannel(BrokenEmbedder(), MemoryCache(), NumpyVectorIndex(64), [notes])

    assert await channel.nearest(OWNER, "ws", "redis", limit=3) == []
    assert await channel.nearest(OWNER, "ws", "redis", limit=3) == []  # and tries again
