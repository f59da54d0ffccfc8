"""InsightService: record insights and feedback through the log, read them with their confidence.

Confidence is computed when read (``confidence.assess``), from what the projection holds: the
insight's supports with each source's reliability, the supports of the insights it conflicts
with (rivals), its evidence, feedback, age and status. Reads of many insights make a fixed
number of statements: the insights (rows, supports, conflicts), their rivals, and the tallies.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Literal

from infinity_matrix.core.authorization import Authorizer
from infinity_matrix.core.insights import confidence
from infinity_matrix.core.insights.commands import (
    PATTERN_TOPIC,
    RateInsight,
    RecordInsight,
    RecordPattern,
)
from infinity_matrix.core.insights.projection import tally_of
from infinity_matrix.core.insights.records import (
    STATUSES,
    FeedbackResult,
    InsightHit,
    InsightPage,
    InsightRecord,
    InsightStats,
    NewInsight,
    Occurrence,
    RecordResult,
    SourceStats,
    source_key,
)
from infinity_matrix.core.insights.usage import UsageAggregator
from infinity_matrix.core.insights.validate import (
    check_body,
    check_kind,
    check_name,
    check_new,
    check_note,
    check_occurrences,
    check_tags,
    check_title,
    check_topic,
    check_verdict,
)
from infinity_matrix.core.ports import EventStore, InsightStore
from infinity_matrix.core.protocol import events as ev
from infinity_matrix.core.search import parse_query
from infinity_matrix.core.sync.log import Command, EventLog, Origin, Receipt
from infinity_matrix.errors import InvalidInput, NotFound
from infinity_matrix.security.access import Permission
from infinity_matrix.security.principals import Principal

MAX_PAGE = 1_000
PATTERN_ACTOR = "system"
PATTERN_SOURCE = "patterns"
_REPEAT_SCAN = 64  # events read after a repeated write's first one, to answer it again


class InsightService:
    """The insights of a workspace; every method but ``note_served`` and ``record_pattern``
    (called by other services) checks authorization itself: READ to read, WRITE to record or
    give feedback.

    Errors: ``NotFound`` (``workspace.not_found``; ``insight.not_found``), ``Forbidden`` (a
    viewer writing), ``InvalidInput`` (``insight.invalid_kind``, ``insight.invalid_title``,
    ``insight.invalid_body``, ``insight.invalid_tag``, ``insight.invalid_topic``,
    ``insight.invalid_evidence``, ``insight.invalid_verdict``, ``insight.invalid_cursor``,
    ``insight.invalid_status``, ``search.invalid_query``, ``request.invalid_limit``,
    ``request.invalid``), ``TooLarge`` (``insight.too_large``), ``Conflict``
    (``idempotency.conflict``).
    """

    def __init__(
        self,
        store: EventStore,
        insights: InsightStore,
        log: EventLog,
        authorizer: Authorizer,
        *,
        usage: UsageAggregator | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._insights = insights
        self._log = log
        self._auth = authorizer
        self._clock = clock
        self.usage = usage if usage is not None else UsageAggregator(insights, clock=clock)

    async def record(
        self,
        principal: Principal,
        workspace: str,
        new: NewInsight,
        *,
        source: str | None = None,
        client_msg_id: str | None = None,
    ) -> RecordResult:
        """Record ``new``, or corroborate the near-duplicate it repeats (see
        ``core.insights.commands``); insights named in ``contradicts`` must exist."""
        await self._auth.check(principal, workspace, Permission.WRITE)
        command = RecordInsight(check_new(new), principal.actor)
        receipt = await self._submit(principal.actor, workspace, command, source, client_msg_id)
        if receipt.duplicate:
            return await self._repeated(workspace, receipt)
        outcome = command.outcome
        insight = await self._one(workspace, outcome.id)
        return RecordResult(insight, outcome.outcome, list(outcome.superseded), receipt.seq)

    async def get(self, principal: Principal, workspace: str, id: int) -> InsightRecord:
        """The insight with its confidence and the breakdown of it."""
        await self._auth.check(principal, workspace, Permission.READ)
        return await self._one(workspace, id)

    async def get_many(
        self, principal: Principal, workspace: str, ids: Sequence[int]
    ) -> builtins.list[InsightRecord]:
        """The insights of ``ids`` that exist, in the order asked, each with its confidence:
        one access check and a fixed number of statements however many ids."""
        await self._auth.check(principal, workspace, Permission.READ)
        wanted = list(dict.fromkeys(ids))
        found = await self._insights.get(workspace, wanted) if wanted else {}
        return await self._assessed(workspace, [found[i] for i in wanted if i in found])

    async def list(
        self,
        principal: Principal,
        workspace: str,
        *,
        kind: str | None = None,
        tag: str | None = None,
        topic: str | None = None,
        status: str = "active",
        query: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> InsightPage:
        """Insights newest first, a page at a time (pass ``next_cursor`` back as ``cursor``);
        ``query`` keeps those matching it (every word, see ``core.search``)."""
        await self._auth.check(principal, workspace, Permission.READ)
        before = _parse_cursor(cursor)
        limit = _limit(limit)
        found = await self._insights.page(
            workspace,
            kind=check_kind(kind) if kind is not None else None,
            tag=check_tags([tag])[0] if tag is not None else None,
            topic=check_topic(topic),
            statuses=_statuses(status),
            match=parse_query(query) if query is not None else None,
            before=before,
            limit=limit + 1,
        )
        items = await self._assessed(workspace, found[:limit])
        more = len(found) > limit
        return InsightPage(items, str(items[-1].id) if more else None)

    async def search(
        self,
        principal: Principal,
        workspace: str,
        query: str,
        *,
        limit: int = 50,
        include_superseded: bool = True,
        kinds: Sequence[str] | None = None,
        match: Literal["any", "all"] = "any",
    ) -> builtins.list[InsightHit]:
        """Full-text matches of ``query`` best first (bm25 on SQLite, ``ts_rank_cd`` on
        PostgreSQL; title counts most, then tags and topic, then body).

        By default an insight matching any word of ``query`` qualifies (a task text, as
        retrieval passes); ``match="all"`` asks for every word. Without
        ``include_superseded`` only active insights are searched.
        """
        await self._auth.check(principal, workspace, Permission.READ)
        parsed = parse_query(query)
        statuses = STATUSES if include_superseded else ("active",)
        hits = await self._insights.search(
            workspace,
            parsed,
            any_word=match == "any",
            statuses=statuses,
            kinds=[check_kind(k) for k in kinds] if kinds is not None else None,
            limit=_limit(limit),
        )
        assessed = await self._assessed(workspace, [record for record, _ in hits])
        return [InsightHit(r, rank) for r, (_, rank) in zip(assessed, hits, strict=True)]

    async def feedback(
        self,
        principal: Principal,
        workspace: str,
        id: int,
        verdict: str,
        *,
        note: str | None = None,
        assistant: str | None = None,
        model: str | None = None,
        source: str | None = None,
        client_msg_id: str | None = None,
    ) -> FeedbackResult:
        """Rate the insight ``accepted``, ``rejected`` or ``outdated``: its counters change,
        and so do the reliabilities of its supporting sources (docs/insights.md)."""
        await self._auth.check(principal, workspace, Permission.WRITE)
        assistant, model = check_name(assistant, "assistant"), check_name(model, "model")
        command = RateInsight(
            id,
            check_verdict(verdict),
            source_key(principal.actor, assistant, model),
            check_note(note),
            assistant,
            model,
        )
        receipt = await self._submit(principal.actor, workspace, command, source, client_msg_id)
        return FeedbackResult(await self._one(workspace, id), receipt.seq, receipt.duplicate)

    async def stats(self, principal: Principal, workspace: str) -> InsightStats:
        """Counts per kind and status, served and feedback totals, and every source's
        reliability (pending usage counts are flushed first)."""
        await self._auth.check(principal, workspace, Permission.READ)
        return await self.figures(workspace)

    async def figures(self, workspace: str) -> InsightStats:
        """``stats`` without an authorization check, for the hub's own metrics."""
        await self.usage.flush()
        figures = await self._insights.stats(workspace)
        sources = [
            SourceStats(
                key=f.key,
                accepted=f.tally.accepted if f.tally else 0.0,
                rejected=f.tally.rejected if f.tally else 0.0,
                outdated=f.tally.outdated if f.tally else 0.0,
                count=f.tally.count if f.tally else 0,
                served=f.served,
                insights=f.insights,
                reliability=confidence.reliability(tally_of(f.tally)),
            )
            for f in figures.sources
        ]
        kinds = figures.kinds
        return InsightStats(
            total=sum(k.count for k in kinds),
            by_status={s: figures.by_status.get(s, 0) for s in STATUSES},
            kinds=kinds,
            served=sum(k.served for k in kinds),
            accepted=sum(k.accepted for k in kinds),
            rejected=sum(k.rejected for k in kinds),
            outdated=sum(k.outdated for k in kinds),
            sources=sources,
            served_to=figures.served_to,
        )

    async def note_served(self, workspace: str, ids: Sequence[int], target: str) -> None:
        """Count that these insights were served to ``target`` (no authorization: the calling
        service checked it; counted in memory, flushed every few seconds)."""
        self.usage.note(workspace, ids, target)

    async def record_pattern(
        self,
        workspace: str,
        fingerprint: str,
        *,
        title: str,
        body: str,
        occurrences: Sequence[Occurrence],
        tags: Sequence[str] = (),
        source: str | None = PATTERN_SOURCE,
    ) -> RecordResult:
        """Record the ``pattern`` insight of ``fingerprint`` (topic ``pattern/{fingerprint}``)
        once, by the system; afterwards only a change of its occurrences is logged. Outcome
        ``corroborated`` when it existed already. No authorization (the pattern service's)."""
        check_topic(PATTERN_TOPIC + fingerprint)
        command = RecordPattern(
            fingerprint,
            check_title(title),
            check_body(body),
            check_occurrences(occurrences),
            check_tags(tags),
        )
        receipt = await self._submit(PATTERN_ACTOR, workspace, command, source, None)
        insight = await self._one(workspace, command.outcome.id)
        return RecordResult(insight, command.outcome.outcome, [], receipt.seq)

    async def flush_usage(self) -> None:
        await self.usage.flush()

    def start(self) -> None:
        """Start flushing usage counters periodically (needs a running event loop)."""
        self.usage.start()

    async def close(self) -> None:
        await self.usage.close()

    async def _submit(
        self,
        actor: str,
        workspace: str,
        command: Command,
        source: str | None,
        client_msg_id: str | None,
    ) -> Receipt:
        origin = Origin(actor=actor, source=source, client_msg_id=client_msg_id)
        return await self._log.submit(workspace, command, origin)

    async def _one(self, workspace: str, id: int) -> InsightRecord:
        found = await self._insights.get(workspace, [id])
        if id not in found:
            raise NotFound(f"insight {id} not found", code="insight.not_found")
        return (await self._assessed(workspace, [found[id]]))[0]

    async def _repeated(self, workspace: str, receipt: Receipt) -> RecordResult:
        """The answer to a repeated record: what its first write's events did."""
        events = await self._store.read_events(workspace, after=receipt.seq - 1, limit=_REPEAT_SCAN)
        first = events[0]
        insight_id = first.seq if first.type == ev.INSIGHT_RECORDED else first.payload["id"]
        superseded = []
        for event in events[1:]:
            if event.type != ev.INSIGHT_SUPERSEDED or event.payload.get("by") != insight_id:
                break
            superseded.append(event.payload["id"])
        outcome: Literal["recorded", "corroborated"] = (
            "recorded" if first.type == ev.INSIGHT_RECORDED else "corroborated"
        )
        insight = await self._one(workspace, insight_id)
        return RecordResult(insight, outcome, superseded, receipt.seq, duplicate=True)

    async def _assessed(
        self, workspace: str, records: Sequence[InsightRecord]
    ) -> builtins.list[InsightRecord]:
        """``records`` with their confidence, read in a fixed number of statements."""
        known = {r.id: r for r in records}
        wanted = sorted({c for r in records for c in r.conflicts} - set(known))
        rivals = {**known, **(await self._insights.get(workspace, wanted) if wanted else {})}
        keys = {s.source_key for r in rivals.values() for s in r.supports}
        tallies = await self._insights.tallies(workspace, sorted(keys)) if keys else {}
        now = self._clock()

        def supports(
            record: InsightRecord, latest: dict[str, datetime]
        ) -> builtins.list[confidence.Support]:
            return [
                confidence.Support(
                    s.source_key, confidence.reliability(tally_of(tallies.get(s.source_key))), s.at
                )
                for s in record.supports
                if s.at >= latest[s.source_key]
            ]

        assessed = []
        for r in records:
            others = [rivals[c] for c in r.conflicts if c in rivals]
            latest = _latest_claims([r, *others])
            # A rival nobody backs any more (its sources moved on) contradicts nothing.
            backed = [supports(o, latest) for o in others if o.status != "outdated"]
            score = confidence.assess(
                confidence.Assessment(
                    kind=r.kind,
                    supports=supports(r, latest),
                    rivals=[b for b in backed if b],
                    evidence=len(r.evidence),
                    accepted=r.accepted,
                    rejected=r.rejected,
                    outdated=r.outdated,
                    created_at=r.created_at,
                    now=now,
                    status=r.status,
                )
            )
            assessed.append(replace(r, confidence=score))
        return assessed


def _latest_claims(claims: Sequence[InsightRecord]) -> dict[str, datetime]:
    """When each source last backed one of these competing claims: a source that changed its
    mind counts for its latest claim only (a self-correction is not a second opinion)."""
    latest: dict[str, datetime] = {}
    for claim in claims:
        for s in claim.supports:
            if s.source_key not in latest or s.at > latest[s.source_key]:
                latest[s.source_key] = s.at
    return latest


def _parse_cursor(cursor: str | None) -> int | None:
    if cursor is None or cursor == "":
        return None
    if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 19:
        raise InvalidInput("not a cursor this service made", code="insight.invalid_cursor")
    return int(cursor)


def _limit(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1 to {MAX_PAGE}", code="request.invalid_limit")
    return value


def _statuses(status: str) -> Sequence[str]:
    if status == "all":
        return STATUSES
    if status not in STATUSES:
        raise InvalidInput(
            f"status is one of {', '.join(STATUSES)} or all", code="insight.invalid_status"
        )
    return (status,)
