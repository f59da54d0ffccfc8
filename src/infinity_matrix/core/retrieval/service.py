"""RetrievalService: the package of context, insights and facts that a task should start with."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from infinity_matrix.core.authorization import Authorizer
from infinity_matrix.core.protocol.events import Event
from infinity_matrix.core.retrieval.insights import InsightSource
from infinity_matrix.core.retrieval.packing import pack
from infinity_matrix.core.retrieval.ranking import Channel, Fusion, Ranked, fuse, rank
from infinity_matrix.core.retrieval.records import (
    ITEM_TYPES,
    Candidate,
    ItemType,
    RetrievalResult,
)
from infinity_matrix.core.retrieval.semantic import SemanticChannel
from infinity_matrix.core.retrieval.sources import CandidateSource, coverage, task_words
from infinity_matrix.core.retrieval.tokens import family_of
from infinity_matrix.errors import InvalidInput
from infinity_matrix.security.access import Permission
from infinity_matrix.security.principals import Principal

MAX_TASK = 4_000
MAX_BUDGET = 200_000
MAX_TARGET = 100
INSIGHT_KINDS = ("pattern", "decision", "pitfall", "convention", "fact", "todo")
CANDIDATES_PER_CHANNEL = 40
TEXT_WEIGHT = 1.0
EMBED_WEIGHT = 1.0


@dataclass(frozen=True, slots=True)
class Selection:
    """What a caller asked for: item types, and insight kinds (all when empty)."""

    types: frozenset[ItemType]
    insight_kinds: frozenset[str]

    def admits(self, candidate: Candidate) -> bool:
        if candidate.type not in self.types:
            return False
        return not (
            candidate.type == "insight"
            and self.insight_kinds
            and candidate.kind not in self.insight_kinds
        )


class RetrievalService:
    """Ranks a workspace's items for a task and packs them into a token budget.

    Candidates come from full text over each source (context entries, insights, graph facts)
    and, when the embedding model is installed, from the nearest item vectors; the ranked lists
    are fused (``ranking``), scored relevance * confidence * recency with superseded items
    below their replacements, deduplicated and packed (``packing``). Insights served are
    counted (``note_served``).

    Errors: ``NotFound`` (workspace invisible), ``Forbidden`` (no read access),
    ``InvalidInput`` (``retrieve.invalid_task``, ``retrieve.invalid_target``,
    ``retrieve.invalid_budget``, ``retrieve.invalid_kind``).
    """

    def __init__(
        self,
        authorizer: Authorizer,
        sources: Sequence[CandidateSource],
        *,
        semantic: SemanticChannel | None = None,
        fusion: Fusion = "rrf",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._auth = authorizer
        self._sources: dict[str, CandidateSource] = {s.type: s for s in sources}
        self.semantic = semantic
        self.fusion: Fusion = fusion
        self._clock = clock

    def observe(self, events: Sequence[Event]) -> None:
        """Committed events of every workspace (a fanout listener): keeps vectors current."""
        if self.semantic is not None:
            self.semantic.observe(events)

    async def retrieve(
        self,
        principal: Principal,
        workspace: str,
        task: str,
        *,
        target: str,
        budget_tokens: int,
        kinds: Collection[str] | None = None,
    ) -> RetrievalResult:
        if self.semantic is not None and task.strip() and len(task) <= MAX_TASK:
            self.semantic.prepare(task)  # the model runs while access is checked
        await self._auth.check(principal, workspace, Permission.READ)
        _check(task, target, budget_tokens)
        selection = _selection(kinds)
        ranked = await self.rank(principal, workspace, task, selection)
        items, used = pack(ranked, budget_tokens, family_of(target))
        served = [i.candidate.ref for i in items if i.candidate.type == "insight"]
        insights = self._sources.get("insight")
        if served and isinstance(insights, InsightSource):
            await insights.note_served(workspace, served, target)
        return RetrievalResult(items, used, budget_tokens, target)

    async def rank(
        self,
        principal: Principal,
        workspace: str,
        task: str,
        selection: Selection | None = None,
        *,
        channels: Collection[str] = ("text", "semantic"),
    ) -> list[Ranked]:
        """Every candidate for ``task``, scored, best first (no budget); the caller has
        checked access. ``channels`` chooses full text, embeddings or both (the bench)."""
        selection = selection or _selection(None)
        words = task_words(task)
        sources = [s for t, s in self._sources.items() if t in selection.types]
        semantic = self.semantic if "semantic" in channels else None
        # The task's vector (started by ``retrieve`` before the access check) is computed in
        # the embedder's process while the databases search.
        nearest_task = (
            asyncio.create_task(
                semantic.nearest(
                    principal, workspace, task, limit=CANDIDATES_PER_CHANNEL, kinds=selection.types
                )
            )
            if semantic is not None
            else None
        )
        searches = []
        if "text" in channels:
            searches = [
                s.search(principal, workspace, words, limit=CANDIDATES_PER_CHANNEL) for s in sources
            ]
        try:
            found = await asyncio.gather(*searches)
        except BaseException:
            if nearest_task is not None:
                nearest_task.cancel()
            raise
        candidates: dict[str, Candidate] = {}
        lists: list[Channel] = []
        for source, hits in zip(sources, found, strict=False):
            kept = [(c, s) for c, s in hits if selection.admits(c)]
            candidates.update((c.uid, c) for c, _ in kept)
            quality = {c.uid: coverage(c.text, words) for c, _ in kept}
            lists.append(
                Channel(f"{source.type} text", [(c.uid, s) for c, s in kept], TEXT_WEIGHT, quality)
            )
        if nearest_task is not None:
            nearest = await nearest_task
            await self._fetch(principal, workspace, [u for u, _ in nearest], candidates)
            similar = [
                (u, s) for u, s in nearest if u in candidates and selection.admits(candidates[u])
            ]
            cosines = {u: max(0.0, s) for u, s in similar}
            lists.append(Channel("embeddings", similar, EMBED_WEIGHT, cosines))
        relevance = fuse(lists, self.fusion)
        await self._replacements(principal, workspace, candidates, relevance)
        return rank(candidates, relevance, self._clock())

    async def _fetch(
        self, principal: Principal, workspace: str, uids: Sequence[str], into: dict[str, Candidate]
    ) -> None:
        wanted: dict[str, list[str]] = {}
        for uid in uids:
            if uid not in into:
                kind, _, ref = uid.partition(":")
                wanted.setdefault(kind, []).append(ref)
        fetches = [
            source.fetch(principal, workspace, refs)
            for kind, refs in wanted.items()
            if (source := self._sources.get(kind)) is not None
        ]
        for found in await asyncio.gather(*fetches):
            into.update((c.uid, c) for c in found)

    async def _replacements(
        self,
        principal: Principal,
        workspace: str,
        candidates: dict[str, Candidate],
        relevance: dict[str, tuple[float, str]],
    ) -> None:
        """A replaced item's replacement joins the candidates, at least as relevant as the item
        it replaced: it answers the same question, more recently."""
        for _ in range(3):  # chains of replacements, a few links deep
            stale = [c for c in list(candidates.values()) if c.superseded_by and c.uid in relevance]
            missing = [c.superseded_by for c in stale if c.superseded_by not in candidates]
            if missing:
                await self._fetch(principal, workspace, [m for m in missing if m], candidates)
            changed = False
            for old in stale:
                new = old.superseded_by
                if new in candidates and relevance.get(new, (0.0, ""))[0] < relevance[old.uid][0]:
                    relevance[new] = (relevance[old.uid][0], f"replacing {old.uid}")
                    changed = True
            if not changed:
                return


def _check(task: str, target: str, budget_tokens: int) -> None:
    if not task.strip() or len(task) > MAX_TASK:
        raise InvalidInput(f"task must be 1 to {MAX_TASK} characters", code="retrieve.invalid_task")
    if not target.strip() or len(target) > MAX_TARGET:
        raise InvalidInput(
            f"target must be 1 to {MAX_TARGET} characters", code="retrieve.invalid_target"
        )
    if isinstance(budget_tokens, bool) or not 1 <= budget_tokens <= MAX_BUDGET:
        raise InvalidInput(
            f"budget_tokens must be 1 to {MAX_BUDGET}", code="retrieve.invalid_budget"
        )


def _selection(kinds: Collection[str] | None) -> Selection:
    """Item types (context, insight, fact) and insight kinds (decision, …) may be mixed:
    ``["context", "pitfall"]`` asks for context entries and pitfall insights."""
    if not kinds:
        return Selection(frozenset(ITEM_TYPES), frozenset())
    unknown = [k for k in kinds if k not in ITEM_TYPES and k not in INSIGHT_KINDS]
    if unknown:
        raise InvalidInput(
            f"unknown kinds {unknown}: use {ITEM_TYPES} or insight kinds {INSIGHT_KINDS}",
            code="retrieve.invalid_kind",
        )
    types = {t for t in ITEM_TYPES if t in kinds}
    # "fact" names graph facts; the other insight kinds select insights.
    insight_kinds = frozenset(k for k in kinds if k in INSIGHT_KINDS and k not in ITEM_TYPES)
    if insight_kinds:
        types.add("insight")
    return Selection(frozenset(types), insight_kinds)
