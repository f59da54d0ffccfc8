"""The semantic channel: item vectors per workspace, built lazily and kept in step by events.

A workspace's vectors are built on its first query, in the background: every item of every
source is read, its vector taken from the cache (``EmbeddingCache``, shared by all nodes) or
computed, and put in the ``VectorIndex``; a query waits for that a bounded time and otherwise
runs on full text alone. After that, committed events mark the items they touch as changed, and the
next query re-reads just those (and drops the deleted ones) before it searches. Computing runs
in a worker thread (which waits on the embedder's own process, ``ProcessEmbedder``), so the
event loop goes on serving meanwhile; a task's vector starts computing before its access check.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import defaultdict
from collections.abc import Collection, Sequence

import structlog

from infinity_matrix.core.ports import Embedder, EmbeddingCache, VectorIndex
from infinity_matrix.core.protocol.events import Event
from infinity_matrix.core.retrieval.records import Candidate, ItemType
from infinity_matrix.core.retrieval.sources import CandidateSource
from infinity_matrix.errors import Unavailable
from infinity_matrix.security.principals import Principal

log = structlog.get_logger(__name__)

EMBED_BATCH = 64
QUERY_CACHE = 256
# What of an item is embedded: the model reads at most 256 word pieces anyway.
MAX_EMBED_CHARS = 2_000

_SUBJECTS: tuple[tuple[str, ItemType], ...] = (
    ("context/", "context"),
    ("graph/entity/", "fact"),
    ("insight/", "insight"),
)


def embedding_text(candidate: Candidate) -> str:
    """What of an item is embedded: its text only (a fact's and an insight's hold their name
    and title), so that equal texts under other keys, in other workspaces or on other
    branches, share one cached vector."""
    return candidate.text[:MAX_EMBED_CHARS]


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


class SemanticChannel:
    """Nearest items of a task by cosine similarity of sentence embeddings."""

    def __init__(
        self,
        embedder: Embedder,
        cache: EmbeddingCache,
        index: VectorIndex,
        sources: Sequence[CandidateSource],
        *,
        wait_seconds: float = 2.0,
    ) -> None:
        self._embedder = embedder
        self._cache = cache
        self._index = index
        self._sources = {s.type: s for s in sources}
        self._dirty: dict[str, set[tuple[ItemType, str]]] = defaultdict(set)
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._model: str | None = None
        self._queries: dict[str, asyncio.Future[bytes]] = {}
        self._builds: dict[str, asyncio.Task[None]] = {}
        self._wait = wait_seconds

    def observe(self, events: Sequence[Event]) -> None:
        """Mark the items these committed events touched (a fanout listener)."""
        for event in events:
            ws = event.workspace
            if not (self._index.loaded(ws) or ws in self._builds):
                continue
            for prefix, kind in _SUBJECTS:
                if event.subject.startswith(prefix):
                    self._dirty[ws].add((kind, event.subject[len(prefix) :]))

    async def nearest(
        self,
        principal: Principal,
        workspace: str,
        text: str,
        *,
        limit: int,
        kinds: Collection[ItemType] | None = None,
    ) -> list[tuple[str, float]]:
        """(item uid, cosine) pairs, most similar first; none while the workspace's vectors
        are still being built after ``wait_seconds``, or when the model cannot run (broken
        files): retrieval then runs on full text."""
        computing = self._query_future(text)  # in a worker thread while the vectors refresh
        try:
            if not await self.ready(principal, workspace, wait=self._wait):
                return []
            vector = await asyncio.shield(computing)
        except Unavailable as exc:
            log.warning("retrieval.embeddings_unavailable", code=exc.code, detail=str(exc))
            return []
        # A scan of every row (a few ms at 100,000): off the loop, like the embedding. Updates
        # happen on the loop meanwhile; numpy reads the matrix it started with.
        return await asyncio.to_thread(
            self._index.nearest, workspace, vector, limit=limit, kinds=kinds
        )

    async def ready(self, principal: Principal, workspace: str, *, wait: float | None) -> bool:
        """Whether the workspace's vectors are up to date, building them (in the background,
        waiting at most ``wait`` seconds, forever if None) or refreshing changed items."""
        build = self._builds.get(workspace)
        if build is None and not self._index.loaded(workspace):
            build = asyncio.create_task(self._build(principal, workspace))
            self._builds[workspace] = build
        if build is not None:
            try:
                await asyncio.wait_for(asyncio.shield(build), wait)
            except TimeoutError:
                return False
        await self._refresh(principal, workspace)
        return True

    async def _build(self, principal: Principal, workspace: str) -> None:
        try:
            self._dirty.pop(workspace, None)
            self._index.drop(workspace)
            for source in self._sources.values():
                async for batch in source.scan(principal, workspace):
                    await self._add(workspace, batch)
            self._index.upsert(workspace, [], [])  # an empty workspace is built too
        except BaseException as exc:
            self._index.drop(workspace)  # the next query tries again
            if isinstance(exc, Exception):
                log.exception("retrieval.vectors_build_failed", workspace=workspace)
            raise
        finally:
            self._builds.pop(workspace, None)

    async def _refresh(self, principal: Principal, workspace: str) -> None:
        async with self._locks[workspace]:
            changed = self._dirty.pop(workspace, set())
            for kind, source in self._sources.items():
                refs = sorted(ref for k, ref in changed if k == kind)
                if not refs:
                    continue
                found = await source.fetch(principal, workspace, refs)
                await self._add(workspace, found)
                present = {c.ref for c in found}
                self._index.remove(workspace, [f"{kind}:{r}" for r in refs if r not in present])

    async def _add(self, workspace: str, candidates: Sequence[Candidate]) -> None:
        if not candidates:
            return
        vectors = await self._embed([embedding_text(c) for c in candidates])
        self._index.upsert(workspace, [c.uid for c in candidates], vectors)

    async def _embed(self, texts: Sequence[str]) -> list[bytes]:
        """Vectors from the cache, computing (and caching) the missing ones."""
        model = await self._model_name()
        digests = [digest(t) for t in texts]
        known = await self._cache.load_vectors(model, sorted(set(digests)))
        missing = {d: t for d, t in zip(digests, texts, strict=True) if d not in known}
        items = list(missing.items())
        for start in range(0, len(items), EMBED_BATCH):
            batch = items[start : start + EMBED_BATCH]
            computed = await asyncio.to_thread(self._embedder.embed, [t for _, t in batch])
            fresh = {d: v for (d, _), v in zip(batch, computed, strict=True)}
            await self._cache.save_vectors(model, fresh)
            known.update(fresh)
        return [known[d] for d in digests]

    def prepare(self, text: str) -> None:
        """Start computing ``text``'s vector now, in a worker thread (while access is checked,
        say); ``nearest`` takes it from there."""
        self._query_future(text)

    def _query_future(self, text: str) -> asyncio.Future[bytes]:
        """A task's vector, being computed or done: kept in a small memory cache (tasks
        repeat), never stored in the database; a failed computation is tried again."""
        future = self._queries.pop(text, None)
        if future is None or (future.done() and (future.cancelled() or future.exception())):
            future = asyncio.ensure_future(asyncio.to_thread(self._embed_query, text))
            future.add_done_callback(_retrieved)
        self._queries[text] = future
        while len(self._queries) > QUERY_CACHE:
            del self._queries[next(iter(self._queries))]
        return future

    def _embed_query(self, text: str) -> bytes:
        [vector] = self._embedder.embed([text[:MAX_EMBED_CHARS]])
        return vector

    def forget_queries(self) -> None:
        """Empty the memory cache of task vectors (the bench times them afresh)."""
        self._queries.clear()

    async def _model_name(self) -> str:
        if self._model is None:
            # The first call loads the weights (a fraction of a second): not on the loop.
            self._model = await asyncio.to_thread(lambda: self._embedder.model)
        return self._model


def _retrieved(future: asyncio.Future[bytes]) -> None:
    """Mark a failure as seen: a vector prepared for a request that then failed its access
    check is never awaited, and asyncio would log its exception as never retrieved."""
    if not future.cancelled():
        future.exception()
