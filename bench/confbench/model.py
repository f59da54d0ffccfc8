"""Our confidence fed directly: the insight rules of the hub replayed in memory, scored by the pure
functions of ``core/insights/confidence.py`` (``--via model``).

It mirrors what the service does through the log (core/insights/commands.py, projection.py): the
first assertion of an answer records an insight that conflicts with (and supersedes) the other
answers on its question; a repeat corroborates it once per source and revives it if superseded;
a verdict judges the insight (an acceptance also judges its rivals false), and each supporter's
tally holds one verdict per insight, for its current judged truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from confbench.world import Claim, Review, World, verdicts
from infinity_matrix.core.insights import confidence as cf

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
KIND = "fact"


@dataclass(slots=True)
class _Insight:
    id: int
    topic: int
    answer: int
    created_at: datetime
    supports: dict[str, datetime] = field(default_factory=dict)
    status: str = "active"
    conflicts: set[int] = field(default_factory=set)
    accepted: int = 0
    rejected: int = 0
    judged: str | None = None  # "true" | "false" once feedback judged it


@dataclass(slots=True)
class Ledger:
    """The insights and source tallies that the hub's projection would hold."""

    insights: dict[int, _Insight] = field(default_factory=dict)
    by_topic: dict[int, dict[int, int]] = field(default_factory=dict)  # topic -> answer -> id
    tallies: dict[str, cf.SourceTally] = field(default_factory=dict)
    # (insight, source) -> the verdict standing on the source's tally for it, and its clock
    held: dict[tuple[int, str], tuple[str, float]] = field(default_factory=dict)

    def claim(self, claim: Claim, at: datetime) -> int:
        answers = self.by_topic.setdefault(claim.topic, {})
        existing = answers.get(claim.answer)
        if existing is not None:
            insight = self.insights[existing]
            if claim.source in insight.supports:
                return existing  # a repeat by a source already behind it changes nothing
            insight.supports[claim.source] = at
            if insight.status == "superseded":
                insight.status = "active"
                self._supersede_others(insight)
            return existing
        insight = _Insight(
            len(self.insights) + 1, claim.topic, claim.answer, at, {claim.source: at}
        )
        self.insights[insight.id] = insight
        answers[claim.answer] = insight.id
        self._supersede_others(insight)
        return insight.id

    def rate(self, insight_id: int, verdict: str) -> None:
        insight = self.insights[insight_id]
        if verdict == "accepted":
            insight.accepted += 1
        else:
            insight.rejected += 1
        insight.judged = "true" if verdict == "accepted" else "false"
        affected = [insight]
        if verdict == "accepted":
            for other in sorted(insight.conflicts):
                if self.insights[other].status != "outdated":
                    self.insights[other].judged = "false"
                    affected.append(self.insights[other])
        for judged in sorted(affected, key=lambda i: i.id):
            wanted = "accepted" if judged.judged == "true" else "rejected"
            for source in sorted(judged.supports):
                self._judge(judged.id, source, wanted)

    def _judge(self, insight_id: int, source: str, verdict: str) -> None:
        """Make ``source``'s tally hold ``verdict`` for the insight, once (see RateInsight)."""
        held = self.held.get((insight_id, source))
        if held is not None and held[0] == verdict:
            return
        tally = self.tallies.get(source, cf.SourceTally())
        if held is not None:
            tally = cf.retract_verdict(tally, held[0], held[1])
        tally = cf.update_tally(tally, verdict)
        self.tallies[source] = tally
        self.held[insight_id, source] = (verdict, tally.clock)

    def score(self, insight_id: int, now: datetime) -> cf.Score:
        insight = self.insights[insight_id]
        rivals = [
            self._supports(self.insights[o])
            for o in sorted(insight.conflicts)
            if self.insights[o].status != "outdated"
        ]
        return cf.assess(
            cf.Assessment(
                kind=KIND,
                supports=self._supports(insight),
                rivals=rivals,
                evidence=0,
                accepted=insight.accepted,
                rejected=insight.rejected,
                outdated=0,
                created_at=insight.created_at,
                now=now,
                status=insight.status,
            )
        )

    def _supports(self, insight: _Insight) -> list[cf.Support]:
        return [
            cf.Support(s, cf.reliability(self.tallies.get(s, cf.SourceTally())), at)
            for s, at in insight.supports.items()
        ]

    def _supersede_others(self, insight: _Insight) -> None:
        for other_id in self.by_topic[insight.topic].values():
            if other_id == insight.id:
                continue
            other = self.insights[other_id]
            if other.status == "outdated":
                continue
            other.conflicts.add(insight.id)
            insight.conflicts.add(other_id)
            if other.status == "active":
                other.status = "superseded"


def run(world: World, reviewer: str = "all") -> dict[Claim, float]:
    """Replay the world's timeline and score every claim at the end."""
    ledger = Ledger()
    mapped: dict[Claim, int] = {}
    for event in world.timeline:
        # The whole timeline in one minute, as when the bench feeds a hub: no age decay.
        at = EPOCH + timedelta(minutes=event.t)
        if isinstance(event, Claim):
            mapped[event] = ledger.claim(event, at)
        elif isinstance(event, Review):
            asserted = ledger.by_topic.get(event.topic, {})
            for insight_id, verdict in verdicts(
                asserted, world.topics[event.topic].truth, reviewer
            ):
                ledger.rate(insight_id, verdict)
    now = EPOCH + timedelta(minutes=1)
    scores = {i: ledger.score(i, now).value for i in ledger.insights}
    return {claim: scores[insight_id] for claim, insight_id in mapped.items()}
