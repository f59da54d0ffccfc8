"""Insight commands: each decides its events from the live insights inside the log transaction.

The head row lock serialises them, so "is this a repeat of an existing insight?" cannot race:
of concurrent recordings of one near-duplicate exactly one records it, the others corroborate.
A command keeps what it decided in ``outcome`` (reset by every ``decide``, since the log may
decide a command again when its batch had to be retried).

Rules (docs/insights.md):

- A near-duplicate (``similarity.near_duplicate``: same kind, same topic or either without one,
  not outdated) is *corroborated* instead of copied, once per distinct source key; a repeat by a
  source already behind it changes nothing. Corroborating a superseded insight that has a topic
  revives it (the newest assertion on a topic wins) and supersedes the live ones on its topic.
- Otherwise the insight is *recorded*. Every other insight of its topic that is not outdated
  (and not a near-duplicate) conflicts with it, and so does every id in ``contradicts``: an
  ``insight.superseded`` event links each both ways, and makes it superseded if it was active.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from infinity_matrix.core.insights import similarity as sim
from infinity_matrix.core.insights.records import (
    InsightState,
    Judged,
    JudgementRow,
    NewInsight,
    Occurrence,
    Outcome,
    Verdict,
    source_key,
)
from infinity_matrix.core.ports import LogTransaction, PriorMessage
from infinity_matrix.core.protocol import events as ev
from infinity_matrix.core.sync.projector import Projection
from infinity_matrix.errors import NotFound

INSIGHTS_SUBJECT = "insights"
CANDIDATES = 20  # full-text candidates checked for a near-duplicate
TOPIC_LIMIT = 200  # insights of one topic considered for duplicates and conflicts
PATTERN_TOPIC = "pattern/"


@dataclass(slots=True)
class RecordOutcome:
    id: int = 0
    outcome: Outcome = "recorded"
    superseded: list[int] = field(default_factory=list)


class _Minting:
    """Commands whose events' subjects are only known once decided (the new insight's id)."""

    __slots__ = ()

    @property
    def subject(self) -> str:
        return INSIGHTS_SUBJECT

    def repeats(self, prior: PriorMessage) -> bool:
        return prior.type in (ev.INSIGHT_RECORDED, ev.INSIGHT_CORROBORATED) or (
            prior.subject == INSIGHTS_SUBJECT
        )


@dataclass(slots=True)
class RecordInsight(_Minting):
    """Record ``new`` (already checked) written by ``actor``; see the module's rules."""

    new: NewInsight
    actor: str
    outcome: RecordOutcome = field(default_factory=RecordOutcome)

    async def decide(self, projection: Projection, tx: LogTransaction) -> list[ev.NewEvent]:
        self.outcome = RecordOutcome()
        new, insights = self.new, projection.insights
        named = await insights.load(list(new.contradicts))
        missing = [i for i in new.contradicts if i not in named]
        if missing:
            raise NotFound(f"insight {missing[0]} not found", code="insight.not_found")
        mine = sim.features(new.title, new.body)
        found = await insights.candidates(new.kind, sim.candidate_words(mine), CANDIDATES)
        topical = await insights.on_topic(new.topic, TOPIC_LIMIT) if new.topic else []
        candidates = {c.id: c for c in [*found, *topical]}
        duplicate = _best_duplicate(new, mine, candidates.values())
        key = source_key(self.actor, new.assistant, new.model)
        if duplicate is not None:
            state, score = duplicate
            self.outcome.id, self.outcome.outcome = state.id, "corroborated"
            if key in state.sources:
                return []
            return await self._corroborate(projection, state, score, named)
        self.outcome.id = new_id = tx.head + 1
        events = [ev.NewEvent(ev.INSIGHT_RECORDED, ev.insight_subject(new_id), _payload(new))]
        rivals = [
            c
            for c in topical
            if c.status != "outdated" and sim.near_duplicate(mine, _features(c)) is None
        ]
        linked = sorted({*(c.id for c in rivals), *new.contradicts})
        for old in linked:
            reason = "contradicts" if old in new.contradicts else "topic"
            events.append(_superseded(old, new_id, reason))
        self.outcome.superseded = [
            i for i in linked if (candidates.get(i) or named[i]).status == "active"
        ]
        return events

    async def _corroborate(
        self,
        projection: Projection,
        state: InsightState,
        score: float,
        named: dict[int, InsightState],
    ) -> list[ev.NewEvent]:
        revive = state.status == "superseded" and state.topic is not None
        payload: dict[str, Any] = {
            "id": state.id,
            "assistant": self.new.assistant,
            "model": self.new.model,
            "similarity": round(score, 4),
        }
        if revive:
            payload["revived"] = True
        events = [ev.NewEvent(ev.INSIGHT_CORROBORATED, ev.insight_subject(state.id), payload)]
        for old in self.new.contradicts:
            events.append(_superseded(old, state.id, "contradicts"))
            if named[old].status == "active":
                self.outcome.superseded.append(old)
        if revive and state.topic is not None:
            mine = _features(state)
            for other in await projection.insights.on_topic(state.topic, TOPIC_LIMIT):
                live = other.id != state.id and other.status == "active"
                fresh = other.id not in self.new.contradicts
                if live and fresh and sim.near_duplicate(mine, _features(other)) is None:
                    events.append(_superseded(other.id, state.id, "topic"))
                    self.outcome.superseded.append(other.id)
        return events


@dataclass(slots=True)
class RateInsight:
    """Feedback on an insight by ``rater`` (a source key); see ``docs/insights.md``.

    Every verdict counts on the insight itself (its accepted, rejected and outdated counters).
    The sources' tallies follow the insights' *judged truth* instead, so that each source is
    judged at most once per insight: an acceptance makes the insight true and every conflicting
    insight that is not outdated false, a rejection makes it false (the last judgement wins;
    ``outdated`` leaves the truth alone). Then each supporter of those insights whose standing
    verdict on that insight differs from its truth (``accepted`` for true, ``rejected`` for
    false) is credited the new verdict, taking back the old one if it had one; on ``outdated``
    each supporter not yet counted outdated for it is counted once. A rater's own key is never
    among them: nobody rates themselves up or down. The event's ``judged`` and ``credits`` say
    what was decided, so a replay folds the very same changes.
    """

    id: int
    verdict: Verdict
    rater: str
    note: str | None = None
    assistant: str | None = None
    model: str | None = None

    @property
    def subject(self) -> str:
        return ev.insight_subject(self.id)

    def repeats(self, prior: PriorMessage) -> bool:
        # The insight's own recording has the same subject: only a rating repeats a rating.
        return prior.type == ev.INSIGHT_RATED and prior.subject == self.subject

    async def decide(self, projection: Projection, tx: LogTransaction) -> list[ev.NewEvent]:
        insights = projection.insights
        state = (await insights.load([self.id])).get(self.id)
        if state is None:
            raise NotFound(f"insight {self.id} not found", code="insight.not_found")
        truth: dict[int, Judged | None] = {self.id: _JUDGED.get(self.verdict, state.judged)}
        affected = {self.id: state}
        if self.verdict == "accepted":
            others = (await insights.conflicts([self.id])).get(self.id, [])
            for other in (await insights.load(others)).values():
                if other.status != "outdated":
                    truth[other.id], affected[other.id] = "false", other
        standing = await insights.judgements(sorted(affected))
        credits: list[dict[str, Any]] = []
        for insight_id in sorted(affected):
            held = standing.get(insight_id, {})
            for key in sorted(affected[insight_id].sources - {self.rater}):
                credits += _credits(insight_id, key, truth[insight_id], held.get(key))
                if self.verdict == "outdated" and insight_id == self.id:
                    seen = held.get(key)
                    if seen is None or not seen.outdated:
                        credits.append(_credit(insight_id, key, "outdated", None))
        judged = [
            [i, truth[i]]
            for i in sorted(affected)
            if truth[i] is not None and truth[i] != affected[i].judged
        ]
        payload = {
            "id": self.id,
            "verdict": self.verdict,
            "note": self.note,
            "assistant": self.assistant,
            "model": self.model,
            "rater": self.rater,
            "judged": judged,
            "credits": credits,
        }
        return [ev.NewEvent(ev.INSIGHT_RATED, self.subject, payload)]


_JUDGED: dict[str, Judged] = {"accepted": "true", "rejected": "false"}
_VERDICT_OF: dict[str, str] = {"true": "accepted", "false": "rejected"}


def _credits(
    insight_id: int, key: str, truth: Judged | None, held: JudgementRow | None
) -> list[dict[str, Any]]:
    """The change to ``key``'s tally that makes it agree with the insight's ``truth``."""
    if truth is None:
        return []
    wanted, had = _VERDICT_OF[truth], held.verdict if held is not None else None
    return [] if wanted == had else [_credit(insight_id, key, wanted, had)]


def _credit(insight_id: int, key: str, verdict: str, retract: str | None) -> dict[str, Any]:
    return {"insight": insight_id, "source": key, "verdict": verdict, "retract": retract}


@dataclass(slots=True)
class RecordPattern(_Minting):
    """Record the pattern of ``fingerprint`` once (topic ``pattern/{fingerprint}``, kind
    pattern); afterwards only a change of its occurrences is logged."""

    fingerprint: str
    title: str
    body: str
    occurrences: list[Occurrence]
    tags: list[str] = field(default_factory=list)
    outcome: RecordOutcome = field(default_factory=RecordOutcome)

    async def decide(self, projection: Projection, tx: LogTransaction) -> list[ev.NewEvent]:
        self.outcome = RecordOutcome()
        topic = PATTERN_TOPIC + self.fingerprint
        known = [s for s in await projection.insights.on_topic(topic, 1) if s.kind == "pattern"]
        wanted = [o.to_json() for o in self.occurrences]
        if known:
            state = known[0]
            self.outcome.id, self.outcome.outcome = state.id, "corroborated"
            if [o.to_json() for o in state.occurrences] == wanted:
                return []
            payload = {"id": state.id, "occurrences": wanted}
            subject = ev.insight_subject(state.id)
            return [ev.NewEvent(ev.INSIGHT_OCCURRENCES_CHANGED, subject, payload)]
        self.outcome.id = tx.head + 1
        new = NewInsight("pattern", self.title, self.body, tuple(self.tags), topic=topic)
        payload = {**_payload(new), "occurrences": wanted}
        return [ev.NewEvent(ev.INSIGHT_RECORDED, ev.insight_subject(self.outcome.id), payload)]


def _best_duplicate(
    new: NewInsight, mine: sim.Features, candidates: Iterable[InsightState]
) -> tuple[InsightState, float] | None:
    """The candidate ``new`` repeats: active before superseded, then the most similar, then
    the newest; None if there is none."""
    best: tuple[tuple[bool, float, int], InsightState, float] | None = None
    for c in candidates:
        if c.kind != new.kind or c.status == "outdated" or c.id in new.contradicts:
            continue
        if new.topic is not None and c.topic is not None and c.topic != new.topic:
            continue
        score = sim.near_duplicate(mine, _features(c))
        if score is None:
            continue
        rank = (c.status == "active", score, c.id)
        if best is None or rank > best[0]:
            best = (rank, c, score)
    return (best[1], best[2]) if best else None


def _features(state: InsightState) -> sim.Features:
    return sim.features(state.title, state.body)


def _payload(new: NewInsight) -> dict[str, Any]:
    return {
        "kind": new.kind,
        "title": new.title,
        "body": new.body,
        "tags": list(new.tags),
        "topic": new.topic,
        "evidence": [e.to_json() for e in new.evidence],
        "assistant": new.assistant,
        "model": new.model,
        "confidence": new.confidence,
    }


def _superseded(old: int, new: int, reason: str) -> ev.NewEvent:
    payload = {"id": old, "by": new, "reason": reason}
    return ev.NewEvent(ev.INSIGHT_SUPERSEDED, ev.insight_subject(old), payload)
