"""Retrieval quality and latency: plain BM25, our full text, embeddings, and their combination.

The corpus is this repository (``retbench/corpus.py``: docs and README sections, Python modules,
functions, classes and methods) as context entries of one workspace, plus the hand-written
insights of ``retbench/labels.py`` (some superseded by newer ones). Its labelled queries print:

- recall@5 and nDCG@10 for plain BM25 (every task word, no weights: the baseline), our full text
  (the database's index: FTS5 bm25 with stop words dropped, insights, graph facts), embeddings
  alone (all-MiniLM-L6-v2 cosine), and the combination (reciprocal-rank fusion, and
  normalised-score fusion for comparison), over all queries and over those sharing few words
  with their answers;
- how often a superseded insight ranks above the one that replaced it, among the rankings (of
  every query, every method) in which the superseded one appears at all;
- query latency (``RetrievalService.retrieve`` end to end, budget 2,000 tokens) p50/p95 at
  10,000 and 100,000 items, the corpus padded with copies of its own entries under other keys
  (vendored copies, other branches): their text is the corpus's, so their vectors come from the
  cache instead of being computed again.

Vectors computed once are kept in a file in the system's temporary directory between runs
(``--fresh`` ignores it). Usage::

    .venv/bin/python bench/retrieval.py                 # quality, then latency at 10k and 100k
    .venv/bin/python bench/retrieval.py --sizes 10000   # a shorter run
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import math
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from _common import environment, percentile
from retbench.baseline import MemoryInsights, PlainBM25
from retbench.corpus import Chunk, build_chunks, entry_key
from retbench.labels import INSIGHTS, QUERIES, Query
from rich.console import Console
from rich.table import Table

from infinity_matrix.core.authorization import Authorizer
from infinity_matrix.core.retrieval.insights import InsightSource
from infinity_matrix.core.retrieval.semantic import MAX_EMBED_CHARS, SemanticChannel, digest
from infinity_matrix.core.retrieval.service import RetrievalService
from infinity_matrix.core.retrieval.sources import CandidateSource, ContextSource, FactSource
from infinity_matrix.hub import Hub
from infinity_matrix.observability.logging import configure_logging
from infinity_matrix.providers.embeddings import ProcessEmbedder
from infinity_matrix.providers.vectors import NumpyVectorIndex
from infinity_matrix.security.principals import Principal
from infinity_matrix.storage.embeddings import SqlEmbeddingCache
from infinity_matrix.storage.graph import SqlGraphStore
from infinity_matrix.storage.relevance import SqlAnyWordSearch

WS = "bench"
OWNER = Principal.user("bench")
PUT_BATCH = 256
BUDGET = 2_000
VECTOR_FILE = Path(tempfile.gettempdir()) / "imx-retbench-vectors.json"
console = Console(width=120)


@dataclass(frozen=True, slots=True)
class Setup:
    hub: Hub
    service: RetrievalService
    semantic: SemanticChannel
    chunks: list[Chunk]
    insight_uids: dict[str, str]  # label → uid
    texts: dict[str, str]  # uid → text, for the BM25 baseline


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="latency at these item counts")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--fresh", action="store_true", help="compute every vector again")
    parser.add_argument("--no-quality", action="store_true", help="latency only")
    args = parser.parse_args()
    configure_logging("console", "warning")
    sizes = [int(s) for s in args.sizes.split(",") if s]
    async with environment(args.backend) as env:
        hub = Hub.build(env.settings())
        await hub.start()
        try:
            setup = await _setup(hub, fresh=args.fresh)
            if not args.no_quality:
                await _quality(setup)
            for size in sizes:
                await _latency(setup, size)
        finally:
            await hub.close()


async def _setup(hub: Hub, *, fresh: bool) -> Setup:
    chunks = build_chunks()
    await hub.workspaces.create(OWNER, WS)
    started = time.perf_counter()
    await _put(hub, [(c.key, c.text) for c in chunks])
    console.print(
        f"corpus: {len(chunks)} context entries put in {time.perf_counter() - started:.1f} s"
    )
    embedder = ProcessEmbedder()
    cache = SqlEmbeddingCache(hub.database)
    insights_source, insight_uids, mode = await _insights(hub)
    sources: list[CandidateSource] = [
        ContextSource(SqlAnyWordSearch(hub.database)),
        FactSource(SqlGraphStore(hub.database)),
        insights_source,
    ]
    semantic = SemanticChannel(embedder, cache, NumpyVectorIndex(), sources, wait_seconds=0)
    service = RetrievalService(Authorizer(hub.store), sources, semantic=semantic)
    hub.fanout.listen(service.observe)
    known = {} if fresh else _load_vectors(embedder.model)
    if known:
        await cache.save_vectors(embedder.model, known)
    started = time.perf_counter()
    await semantic.ready(OWNER, WS, wait=None)
    built = time.perf_counter() - started
    texts = {f"context:{c.key}": c.text for c in chunks}
    for source in sources[2:]:
        async for batch in source.scan(OWNER, WS):
            texts.update((c.uid, c.text) for c in batch)
    digests = sorted({digest(t[:MAX_EMBED_CHARS]) for t in texts.values()})
    vectors = await cache.load_vectors(embedder.model, digests)
    _save_vectors(embedder.model, vectors)
    console.print(
        f"insights: {len(INSIGHTS)} ({mode}); vectors of {len(texts)} items ready in {built:.1f} s "
        f"({len(known)} from the bench's vector file)"
    )
    return Setup(hub, service, semantic, chunks, insight_uids, texts)


async def _insights(hub: Hub) -> tuple[CandidateSource, dict[str, str], str]:
    """The hub's insight service when it has one (recorded through it, oldest first: topics
    make the newer one supersede), else the bench's memory source."""
    service = getattr(hub, "insights", None)
    if service is None:
        memory = MemoryInsights(INSIGHTS)
        return memory, {label: f"insight:{i}" for label, i in memory.ids.items()}, "in memory"
    from infinity_matrix.core.insights.records import NewInsight

    uids = {}
    for insight in sorted(INSIGHTS, key=lambda i: -i.days_ago):
        result = await service.record(
            OWNER,
            WS,
            NewInsight(
                insight.kind,
                insight.title,
                insight.body,
                topic=insight.topic,
                assistant=insight.assistant,
            ),
            source="bench",
        )
        uids[insight.label] = f"insight:{result.insight.id}"
    return InsightSource(service), uids, "through the insight service"


async def _put(hub: Hub, entries: Sequence[tuple[str, str]]) -> None:
    for start in range(0, len(entries), PUT_BATCH):
        batch = entries[start : start + PUT_BATCH]
        await asyncio.gather(*(hub.context.put(OWNER, WS, k, text=t) for k, t in batch))


# ---- quality ----


def _relevant(query: Query, setup: Setup) -> set[str]:
    found: set[str] = set()
    for label in query.relevant:
        if label.startswith("i:"):
            found.add(setup.insight_uids[label[2:]])
            continue
        key = label if label.startswith(("docs/", "README")) else f"src/infinity_matrix/{label}"
        key = entry_key(key)
        if key.endswith("*"):
            found |= {f"context:{c.key}" for c in setup.chunks if c.key.startswith(key[:-1])}
        elif any(c.key == key for c in setup.chunks):
            found.add(f"context:{key}")
        else:
            console.print(f"[yellow]label not in the corpus: {label}")
    return found


def _ndcg(ranking: Sequence[str], relevant: set[str], k: int = 10) -> float:
    gain = sum(1 / math.log2(i + 2) for i, uid in enumerate(ranking[:k]) if uid in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    return gain / ideal if ideal else 0.0


def _recall(ranking: Sequence[str], relevant: set[str], k: int = 5) -> float:
    """Recall at k, capped: of min(k, |relevant|) items, how many are in the top k (a query
    with more relevant items than k can still score 1)."""
    return len(set(ranking[:k]) & relevant) / min(k, len(relevant)) if relevant else 0.0


async def _rankings(setup: Setup, method: str) -> list[list[str]]:
    service = setup.service
    if method == "plain BM25":
        bm25 = PlainBM25(setup.texts)
        return [[uid for uid, _ in bm25.search(q.text, 40)] for q in QUERIES]
    channels = {"full text": ("text",), "embeddings": ("semantic",)}.get(
        method, ("text", "semantic")
    )
    service.fusion = "score" if method == "combined (score fusion)" else "rrf"
    rankings = []
    for query in QUERIES:
        ranked = await service.rank(OWNER, WS, query.text, channels=channels)
        rankings.append([r.candidate.uid for r in ranked])
    service.fusion = "rrf"
    return rankings


def _superseded_outranks(setup: Setup, rankings: list[list[str]]) -> tuple[int, int]:
    pairs = [
        (setup.insight_uids[i.supersedes], setup.insight_uids[i.label])
        for i in INSIGHTS
        if i.supersedes
    ]
    shown = above = 0
    for ranking in rankings:
        position = {uid: n for n, uid in enumerate(ranking)}
        for old, new in pairs:
            if old in position:
                shown += 1
                above += position[old] < position.get(new, len(ranking))
    return above, shown


async def _quality(setup: Setup) -> None:
    relevant = [_relevant(q, setup) for q in QUERIES]
    low = [n for n, q in enumerate(QUERIES) if q.low]
    table = Table(
        title=f"retrieval quality: {len(QUERIES)} queries ({len(low)} with few shared words)"
    )
    for column in (
        "method",
        "recall@5",
        "nDCG@10",
        "recall@5 low",
        "nDCG@10 low",
        "superseded above replacement",
    ):
        table.add_column(column, justify="right" if column != "method" else "left")
    methods = ["plain BM25", "full text", "embeddings", "combined (RRF)", "combined (score fusion)"]
    for method in methods:
        rankings = await _rankings(setup, method)
        recall = [_recall(r, rel) for r, rel in zip(rankings, relevant, strict=True)]
        ndcg = [_ndcg(r, rel) for r, rel in zip(rankings, relevant, strict=True)]
        above, shown = _superseded_outranks(setup, rankings)
        table.add_row(
            method,
            f"{statistics.mean(recall):.3f}",
            f"{statistics.mean(ndcg):.3f}",
            f"{statistics.mean(recall[n] for n in low):.3f}",
            f"{statistics.mean(ndcg[n] for n in low):.3f}",
            f"{above}/{shown}" + (f" ({above / shown:.1%})" if shown else ""),
        )
    console.print(table)


# ---- latency ----


async def _latency(setup: Setup, size: int) -> None:
    hub, service = setup.hub, setup.service
    have = len(setup.texts)
    copy = 0
    started = time.perf_counter()
    pending: list[tuple[str, str]] = []
    while have + len(pending) < size:
        copy += 1
        for chunk in setup.chunks:
            if have + len(pending) >= size:
                break
            pending.append((f"mirror/{size}/{copy:03d}/{chunk.key}", chunk.text))
    await _put(hub, pending)
    put_seconds = time.perf_counter() - started
    patterns = getattr(hub, "patterns", None)
    if patterns is not None:  # let the pattern worker finish with the new entries first
        await patterns.flush()
    setup.texts.update((f"context:{k}", t) for k, t in pending)
    started = time.perf_counter()
    await setup.semantic.ready(OWNER, WS, wait=None)
    refresh = time.perf_counter() - started
    await service.retrieve(OWNER, WS, "warm up", target="claude", budget_tokens=BUDGET)
    setup.semantic.forget_queries()
    # As the server does once started (gateway/app.py): long-lived objects out of the
    # collector's way, or a full collection over the bench's own 100,000 texts is timed too.
    gc.collect()
    gc.freeze()
    samples = []
    for query in QUERIES:
        started = time.perf_counter()
        await service.retrieve(OWNER, WS, query.text, target="claude", budget_tokens=BUDGET)
        samples.append(time.perf_counter() - started)
    text_only = []
    for query in QUERIES:
        started = time.perf_counter()
        await service.rank(OWNER, WS, query.text, channels=("text",))
        text_only.append(time.perf_counter() - started)
    ordered, text_ordered = sorted(samples), sorted(text_only)
    console.print(
        f"[bold]{len(setup.texts):,} items[/]: retrieve "
        f"p50 {percentile(ordered, 50) * 1000:.1f} ms, "
        f"p95 {percentile(ordered, 95) * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms "
        f"(full text alone p50 {percentile(text_ordered, 50) * 1000:.1f} ms, "
        f"p95 {percentile(text_ordered, 95) * 1000:.1f} ms); "
        f"padding put in {put_seconds:.0f} s, vectors brought up to date in {refresh:.1f} s"
    )


# ---- the vector file ----


def _load_vectors(model: str) -> dict[str, bytes]:
    try:
        stored = json.loads(VECTOR_FILE.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(stored, dict) or stored.get("model") != model:
        return {}
    return {d: base64.b64decode(v) for d, v in stored.get("vectors", {}).items()}


def _save_vectors(model: str, vectors: dict[str, bytes]) -> None:
    encoded = {d: base64.b64encode(v).decode() for d, v in vectors.items()}
    VECTOR_FILE.write_text(json.dumps({"model": model, "vectors": encoded}))


if __name__ == "__main__":
    asyncio.run(main())
