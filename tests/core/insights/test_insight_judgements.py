"""Feedback moves each source's tally at most once per insight, for the insight's current judged
truth: a rival already judged false by an acceptance is not debited again by its explicit
rejection, repeated acceptances credit once, a verdict that flips takes back the earlier one, and a
replay of the log gives the same tallies (events logged before judgements were kept included)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from infinity_matrix.core.insights.records import NewInsight
from infinity_matrix.core.ports import LogTransaction
from infinity_matrix.core.protocol import events as ev
from infinity_matrix.core.sync.log import Origin
from infinity_matrix.core.sync.projector import Projection
from infinity_matrix.core.sync.replay import replay_all
from infinity_matrix.hub import Hub
from infinity_matrix.security.principals import Principal

WS = "default"
ADMIN = Principal.user("root", is_admin=True)
REVIEWERS = [Principal.user(f"rev{n}", is_admin=True) for n in range(10)]
CLAUDE, GEMINI, COPILOT = "user:root/claude/-", "user:root/gemini/-", "user:root/copilot/-"


def port(number: int, assistant: str) -> NewInsight:
    return NewInsight(
        "fact",
        "Staging DB port",
        f"Staging DB listens on port {number}",
        topic="db/staging-port",
        assistant=assistant,
    )


async def tallies(hub: Hub) -> dict[str, tuple[float, float, float, int]]:
    stats = await hub.insights.stats(ADMIN, WS)
    return {
        s.key: (round(s.accepted, 9), round(s.rejected, 9), round(s.outdated, 9), s.count)
        for s in stats.sources
        if s.count
    }


async def reliability(hub: Hub, key: str) -> float:
    stats = await hub.insights.stats(ADMIN, WS)
    return next(s.reliability for s in stats.sources if s.key == key)


async def rival_pair(hub: Hub) -> tuple[int, int]:
    """A wrong answer by claude, then the right one by gemini (which supersedes it)."""
    wrong = await hub.insights.record(ADMIN, WS, port(5433, "claude"))
    right = await hub.insights.record(ADMIN, WS, port(6543, "gemini"))
    return wrong.insight.id, right.insight.id


@pytest.mark.anyio
async def test_rejecting_a_rival_already_judged_false_by_an_acceptance_debits_it_once(
    hub: Hub,
) -> None:
    wrong, right = await rival_pair(hub)
    await hub.insights.feedback(REVIEWERS[0], WS, right, "accepted")
    after_accept = await tallies(hub)

    await hub.insights.feedback(REVIEWERS[0], WS, wrong, "rejected")

    assert (
        await tallies(hub)
        == after_accept
        == {CLAUDE: (0.0, 1.0, 0.0, 1), GEMINI: (1.0, 0.0, 0.0, 1)}
    )
    rejected = await hub.insights.get(ADMIN, WS, wrong)
    assert (rejected.accepted, rejected.rejected) == (0, 1)  # the usage counter counts it


@pytest.mark.anyio
async def test_ten_acceptances_of_one_insight_credit_its_supporters_once(hub: Hub) -> None:
    _, right = await rival_pair(hub)
    await hub.insights.record(ADMIN, WS, port(6543, "copilot"))  # corroborates the right one

    for reviewer in REVIEWERS:
        await hub.insights.feedback(reviewer, WS, right, "accepted")

    assert await tallies(hub) == {
        CLAUDE: (0.0, 1.0, 0.0, 1),
        GEMINI: (1.0, 0.0, 0.0, 1),
        COPILOT: (1.0, 0.0, 0.0, 1),
    }
    assert (await hub.insights.get(ADMIN, WS, right)).accepted == 10


@pytest.mark.anyio
async def test_a_verdict_that_flips_takes_back_the_earlier_one(hub: Hub) -> None:
    recorded = await hub.insights.record(ADMIN, WS, port(5433, "claude"))
    insight = recorded.insight.id
    await hub.insights.feedback(REVIEWERS[0], WS, insight, "accepted")
    believed = await reliability(hub, CLAUDE)

    await hub.insights.feedback(REVIEWERS[1], WS, insight, "rejected")

    assert await tallies(hub) == {CLAUDE: (0.0, 1.0, 0.0, 1)}
    assert await reliability(hub, CLAUDE) < 2 / 3 < believed
    await hub.insights.feedback(REVIEWERS[2], WS, insight, "accepted")
    assert await tallies(hub) == {CLAUDE: (1.0, 0.0, 0.0, 1)}
    got = await hub.insights.get(ADMIN, WS, insight)
    assert (got.accepted, got.rejected) == (2, 1)


@pytest.mark.anyio
async def test_accepting_the_rival_of_an_accepted_insight_flips_both_sides(hub: Hub) -> None:
    wrong, right = await rival_pair(hub)
    await hub.insights.feedback(REVIEWERS[0], WS, wrong, "accepted")
    assert await tallies(hub) == {CLAUDE: (1.0, 0.0, 0.0, 1), GEMINI: (0.0, 1.0, 0.0, 1)}

    await hub.insights.feedback(REVIEWERS[1], WS, right, "accepted")

    assert await tallies(hub) == {CLAUDE: (0.0, 1.0, 0.0, 1), GEMINI: (1.0, 0.0, 0.0, 1)}


@pytest.mark.anyio
async def test_a_source_that_joins_a_judged_insight_is_judged_on_its_next_verdict(
    hub: Hub,
) -> None:
    _, right = await rival_pair(hub)
    await hub.insights.feedback(REVIEWERS[0], WS, right, "accepted")
    await hub.insights.record(ADMIN, WS, port(6543, "copilot"))  # corroborates after the verdict
    assert COPILOT not in await tallies(hub)

    await hub.insights.feedback(REVIEWERS[1], WS, right, "accepted")

    assert await tallies(hub) == {
        CLAUDE: (0.0, 1.0, 0.0, 1),
        GEMINI: (1.0, 0.0, 0.0, 1),
        COPILOT: (1.0, 0.0, 0.0, 1),
    }


@pytest.mark.anyio
async def test_outdated_counts_once_per_insight_and_source_and_leaves_its_truth(
    hub: Hub,
) -> None:
    recorded = await hub.insights.record(ADMIN, WS, port(5433, "claude"))
    insight = recorded.insight.id
    await hub.insights.feedback(REVIEWERS[0], WS, insight, "accepted")

    await hub.insights.feedback(REVIEWERS[1], WS, insight, "outdated")
    await hub.insights.feedback(REVIEWERS[2], WS, insight, "outdated")

    assert await tallies(hub) == {CLAUDE: (1.0, 0.0, 1.0, 2)}
    assert (await hub.insights.get(ADMIN, WS, insight)).outdated == 2


@dataclass(slots=True)
class _RatedBeforeJudgements:
    """An ``insight.rated`` event as it was logged before judgements were kept."""

    id: int
    verdict: str
    sources: list[str]
    rivals: list[str]

    @property
    def subject(self) -> str:
        return ev.insight_subject(self.id)

    async def decide(self, projection: Projection, tx: LogTransaction) -> list[ev.NewEvent]:
        payload: dict[str, Any] = {
            "id": self.id,
            "verdict": self.verdict,
            "note": None,
            "assistant": None,
            "model": None,
            "rater": "user:rev0/-/-",
            "sources": self.sources,
            "rivals": self.rivals,
        }
        return [ev.NewEvent(ev.INSIGHT_RATED, self.subject, payload)]


async def _projection(hub: Hub, ids: list[int]) -> dict[str, Any]:
    # Confidence depends on the time it is read (age): compared through its inputs.
    items = {
        i: {**(await hub.insights.get(ADMIN, WS, i)).to_json(), "confidence": None} for i in ids
    }
    stats = (await hub.insights.stats(ADMIN, WS)).to_json()
    async with hub.store.transaction(WS) as tx:
        states = await tx.load_insights(ids)
        judged = {i: s.judged for i, s in states.items()}
        held = await tx.load_insight_judgements(ids)
    return {"items": items, "stats": stats, "judged": judged, "held": held}


@pytest.mark.anyio
async def test_replay_gives_the_same_judgements_and_tallies_and_old_events_project_as_before(
    hub: Hub,
) -> None:
    wrong, right = await rival_pair(hub)
    await hub.log.submit(
        WS,
        _RatedBeforeJudgements(right, "accepted", [GEMINI], [CLAUDE]),
        Origin(actor="user:rev0"),
    )
    assert await tallies(hub) == {CLAUDE: (0.0, 1.0, 0.0, 1), GEMINI: (1.0, 0.0, 0.0, 1)}
    third = (await hub.insights.record(ADMIN, WS, port(7000, "copilot"))).insight.id
    await hub.insights.feedback(REVIEWERS[0], WS, wrong, "accepted")
    await hub.insights.feedback(REVIEWERS[1], WS, wrong, "rejected")
    await hub.insights.feedback(REVIEWERS[2], WS, third, "accepted")
    await hub.insights.feedback(REVIEWERS[3], WS, right, "accepted")
    await hub.insights.feedback(REVIEWERS[4], WS, third, "outdated")
    ids = [wrong, right, third]
    live = await _projection(hub, ids)
    assert live["judged"] == {wrong: "false", right: "true", third: "false"}

    await replay_all(hub.store)

    assert await _projection(hub, ids) == live
