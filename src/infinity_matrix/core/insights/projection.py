"""How insight events change the insights' projection, inside one log transaction.

Each event is written as it is applied (a few statements), so the reads a later command makes
in the same transaction see it. Source tallies are folded with ``confidence.update_tally`` (and
revised judgements taken back with ``confidence.retract_verdict``) in log order, as the rated
events say, which is why a replay gives the very same reliabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from infinity_matrix.core.insights import confidence
from infinity_matrix.core.insights.records import (
    ConflictRow,
    InsightChange,
    InsightRow,
    InsightState,
    JudgementRow,
    SupportRow,
    TallyRow,
    source_key,
)
from infinity_matrix.core.ports import LogTransaction
from infinity_matrix.core.protocol import events as ev


class InsightProjection:
    """Applies insight events, and the reads ``decide`` makes through the same transaction."""

    def __init__(self, tx: LogTransaction) -> None:
        self._tx = tx

    async def apply(self, event: ev.Event) -> None:
        """Project one event of ``events.INSIGHT_EVENTS``."""
        p = event.payload
        if event.type == ev.INSIGHT_RECORDED:
            await self._recorded(event, p)
        elif event.type == ev.INSIGHT_CORROBORATED:
            await self._tx.insert_insight_supports([_support(event, p)])
            revived = {"status": "active", "clear_superseded_by": True} if p.get("revived") else {}
            change = InsightChange(p["id"], event.seq, event.recorded_at, corroborations=1)
            await self._tx.change_insights([_with(change, revived)])
        elif event.type == ev.INSIGHT_SUPERSEDED:
            await self._superseded(event, p)
        elif event.type == ev.INSIGHT_RATED:
            await self._rated(event, p)
        elif event.type == ev.INSIGHT_OCCURRENCES_CHANGED:
            change = InsightChange(
                p["id"], event.seq, event.recorded_at, occurrences=p["occurrences"]
            )
            await self._tx.change_insights([change])

    async def load(self, ids: Sequence[int]) -> dict[int, InsightState]:
        return await self._tx.load_insights(ids) if ids else {}

    async def candidates(self, kind: str, words: Sequence[str], limit: int) -> list[InsightState]:
        return await self._tx.find_insight_candidates(kind, words, limit) if words else []

    async def on_topic(self, topic: str, limit: int) -> list[InsightState]:
        return await self._tx.load_insights_on_topic(topic, limit)

    async def conflicts(self, ids: Sequence[int]) -> dict[int, list[int]]:
        return await self._tx.load_insight_conflicts(ids) if ids else {}

    async def judgements(self, ids: Sequence[int]) -> dict[int, dict[str, JudgementRow]]:
        return await self._tx.load_insight_judgements(ids) if ids else {}

    async def _recorded(self, event: ev.Event, p: dict[str, Any]) -> None:
        key = source_key(event.actor, p.get("assistant"), p.get("model"))
        row = InsightRow(
            id=event.seq,
            kind=p["kind"],
            title=p["title"],
            body=p["body"],
            tags=list(p.get("tags", [])),
            topic=p.get("topic"),
            evidence=list(p.get("evidence", [])),
            actor=event.actor,
            assistant=p.get("assistant"),
            model=p.get("model"),
            source=event.source,
            source_key=key,
            at=event.recorded_at,
            occurrences=list(p.get("occurrences", [])),
            stated_confidence=p.get("confidence"),
        )
        await self._tx.insert_insight(row)
        author = SupportRow(
            event.seq,
            key,
            event.actor,
            p.get("assistant"),
            p.get("model"),
            event.seq,
            event.recorded_at,
            1.0,
        )
        await self._tx.insert_insight_supports([author])

    async def _superseded(self, event: ev.Event, p: dict[str, Any]) -> None:
        old, new = p["id"], p["by"]
        await self._tx.insert_insight_conflicts(
            [ConflictRow(old, new, event.seq), ConflictRow(new, old, event.seq)]
        )
        await self._tx.change_insights(
            [
                InsightChange(old, event.seq, event.recorded_at),
                InsightChange(
                    old,
                    event.seq,
                    event.recorded_at,
                    status="superseded",
                    superseded_by=new,
                    when_status="active",
                ),
            ]
        )

    async def _rated(self, event: ev.Event, p: dict[str, Any]) -> None:
        verdict = p["verdict"]
        at = event.recorded_at
        changes = [_with(InsightChange(p["id"], event.seq, at), {verdict: 1})]
        if verdict == "outdated":
            changes.append(
                InsightChange(p["id"], event.seq, at, status="outdated", when_status="active")
            )
        changes += [InsightChange(i, event.seq, at, judged=v) for i, v in p.get("judged", [])]
        await self._tx.change_insights(changes)
        if "credits" in p:
            await self._judge(p["credits"])
            return
        # An event logged before judgements were kept: its supporters are credited with the
        # verdict; on acceptance the supporters of rival insights are debited a rejection.
        credits = [(k, verdict) for k in p.get("sources", [])]
        credits += [(k, "rejected") for k in p.get("rivals", [])]
        if credits:
            tallies = await self._tallies({k for k, _ in credits})
            for key, v in credits:
                tallies[key] = confidence.update_tally(tallies[key], v)
            await self._save(tallies)

    async def _judge(self, credits: list[dict[str, Any]]) -> None:
        """Fold the (insight, source) changes ``RateInsight`` decided, in their order: take back
        the verdict a source had on the insight, fold in the new one, remember it."""
        if not credits:
            return
        tallies = await self._tallies({c["source"] for c in credits})
        standing = await self.judgements(sorted({c["insight"] for c in credits}))
        judged: dict[tuple[int, str], JudgementRow] = {}
        for c in credits:
            insight_id, key, verdict = c["insight"], c["source"], c["verdict"]
            held = judged.get((insight_id, key)) or standing.get(insight_id, {}).get(key)
            held = held or JudgementRow(insight_id, key)
            tally = tallies[key]
            if c.get("retract"):
                tally = confidence.retract_verdict(tally, c["retract"], held.folded_at)
            tally = confidence.update_tally(tally, verdict)
            tallies[key] = tally
            if verdict == "outdated":
                judged[insight_id, key] = replace(held, outdated=True)
            else:
                judged[insight_id, key] = replace(held, verdict=verdict, folded_at=tally.clock)
        await self._save(tallies)
        await self._tx.save_insight_judgements([judged[k] for k in sorted(judged)])

    async def _tallies(self, keys: set[str]) -> dict[str, confidence.SourceTally]:
        found = await self._tx.load_source_tallies(sorted(keys))
        return {k: tally_of(found.get(k)) for k in keys}

    async def _save(self, tallies: dict[str, confidence.SourceTally]) -> None:
        await self._tx.save_source_tallies(
            [
                TallyRow(key, t.accepted, t.rejected, t.outdated, t.count, t.clock)
                for key, t in sorted(tallies.items())
            ]
        )


def tally_of(row: TallyRow | None) -> confidence.SourceTally:
    """The model's tally of a stored row (a source without feedback has the empty tally)."""
    return _tally(row) if row is not None else confidence.SourceTally(0.0, 0.0, 0.0, 0)


def _tally(row: TallyRow) -> confidence.SourceTally:
    return confidence.SourceTally(row.accepted, row.rejected, row.outdated, row.count, row.clock)


def _support(event: ev.Event, p: dict[str, Any]) -> SupportRow:
    return SupportRow(
        p["id"],
        source_key(event.actor, p.get("assistant"), p.get("model")),
        event.actor,
        p.get("assistant"),
        p.get("model"),
        event.seq,
        event.recorded_at,
        float(p.get("similarity", 1.0)),
    )


def _with(change: InsightChange, fields: dict[str, Any]) -> InsightChange:
    return replace(change, **fields) if fields else change
