"""Feedback on an insight changes its counters, its status when outdated, and the reliability
tallies of the sources behind it; an acceptance debits the sources of its rivals."""

from __future__ import annotations

import pytest

from infinity_matrix.core.insights.records import NewInsight
from infinity_matrix.errors import Conflict, InvalidInput, NotFound
from infinity_matrix.hub import Hub
from infinity_matrix.security.principals import Principal

WS = "default"
ADMIN = Principal.user("root", is_admin=True)
REVIEWER = Principal.user("rev", is_admin=True)


def port(number: int, assistant: str) -> NewInsight:
    return NewInsight(
        "fact",
        "Staging DB port",
        f"Staging DB listens on port {number}",
        topic="db/staging-port",
        assistant=assistant,
    )


async def sources(hub: Hub) -> dict[str, tuple[float, float, float, int]]:
    stats = await hub.insights.stats(ADMIN, WS)
    return {s.key: (s.accepted, s.rejected, s.outdated, s.count) for s in stats.sources}


@pytest.mark.anyio
async def test_acceptance_credits_every_supporter_and_debits_the_rivals(hub: Hub) -> None:
    wrong = await hub.insights.record(ADMIN, WS, port(5433, "claude"))
    right = await hub.insights.record(ADMIN, WS, port(6543, "gemini"))
    await hub.insights.record(ADMIN, WS, port(6543, "copilot"))  # corroborates

    result = await hub.insights.feedback(REVIEWER, WS, right.insight.id, "accepted", note="yes")

    assert result.insight.accepted == 1
    assert await sources(hub) == {
        "user:root/claude/-": (0.0, 1.0, 0.0, 1),
        "user:root/gemini/-": (1.0, 0.0, 0.0, 1),
        "user:root/copilot/-": (1.0, 0.0, 0.0, 1),
    }
    event = (await hub.store.read_events(WS, after=result.seq - 1, limit=1))[0]
    assert (event.type, event.subject) == ("insight.rated", f"insight/{right.insight.id}")
    assert event.payload == {
        "id": right.insight.id,
        "verdict": "accepted",
        "note": "yes",
        "assistant": None,
        "model": None,
        "rater": "user:rev/-/-",
        "judged": [[wrong.insight.id, "false"], [right.insight.id, "true"]],
        "credits": [
            {
                "insight": wrong.insight.id,
                "source": "user:root/claude/-",
                "verdict": "rejected",
                "retract": None,
            },
            {
                "insight": right.insight.id,
                "source": "user:root/copilot/-",
                "verdict": "accepted",
                "retract": None,
            },
            {
                "insight": right.insight.id,
                "source": "user:root/gemini/-",
                "verdict": "accepted",
                "retract": None,
            },
        ],
    }
    stats = await hub.insights.stats(ADMIN, WS)
    reliability = {s.key: s.reliability for s in stats.sources}
    assert reliability["user:root/gemini/-"] > reliability["user:root/claude/-"]


@pytest.mark.anyio
async def test_rejection_lowers_the_reliability_of_the_insights_sources(hub: Hub) -> None:
    recorded = await hub.insights.record(ADMIN, WS, port(5433, "claude"))
    before = await hub.insights.stats(ADMIN, WS)

    result = await hub.insights.feedback(REVIEWER, WS, recorded.insight.id, "rejected")
    after = await hub.insights.stats(ADMIN, WS)

    assert (result.insight.rejected, result.insight.status) == (1, "active")
    assert after.sources[0].reliability < before.sources[0].reliability
    assert after.rejected == 1
    assert result.insight.confidence is not None
    assert recorded.insight.confidence is not None
    assert result.insight.confidence.value < recorded.insight.confidence.value


@pytest.mark.anyio
async def test_outdated_marks_an_active_insight_outdated_and_counts_for_its_sources(
    hub: Hub,
) -> None:
    recorded = await hub.insights.record(ADMIN, WS, port(5433, "claude"))

    result = await hub.insights.feedback(REVIEWER, WS, recorded.insight.id, "outdated")

    assert (result.insight.status, result.insight.outdated) == ("outdated", 1)
    assert await sources(hub) == {"user:root/claude/-": (0.0, 0.0, 1.0, 1)}
    # An outdated insight is no longer a near-duplicate to corroborate: a new one is recorded.
    again = await hub.insights.record(ADMIN, WS, port(5433, "copilot"))
    assert again.outcome == "recorded"


@pytest.mark.anyio
async def test_a_source_rating_its_own_insight_leaves_its_tally_alone(hub: Hub) -> None:
    recorded = await hub.insights.record(ADMIN, WS, port(5433, "claude"))

    await hub.insights.feedback(ADMIN, WS, recorded.insight.id, "accepted", assistant="claude")

    assert await sources(hub) == {"user:root/claude/-": (0.0, 0.0, 0.0, 0)}
    assert (await hub.insights.get(ADMIN, WS, recorded.insight.id)).accepted == 1


@pytest.mark.anyio
async def test_feedback_with_the_same_idempotency_key_counts_once(hub: Hub) -> None:
    recorded = await hub.insights.record(ADMIN, WS, port(5433, "claude"))
    first = await hub.insights.feedback(
        REVIEWER, WS, recorded.insight.id, "accepted", client_msg_id="fb-1"
    )
    again = await hub.insights.feedback(
        REVIEWER, WS, recorded.insight.id, "accepted", client_msg_id="fb-1"
    )
    assert (again.seq, again.duplicate, again.insight.accepted) == (first.seq, True, 1)


@pytest.mark.anyio
async def test_feedback_on_an_unknown_insight_or_with_an_unknown_verdict_is_refused(
    hub: Hub,
) -> None:
    recorded = await hub.insights.record(ADMIN, WS, port(5433, "claude"))
    with pytest.raises(NotFound) as missing:
        await hub.insights.feedback(REVIEWER, WS, 999, "accepted")
    with pytest.raises(InvalidInput) as verdict:
        await hub.insights.feedback(REVIEWER, WS, recorded.insight.id, "great")
    assert (missing.value.code, verdict.value.code) == (
        "insight.not_found",
        "insight.invalid_verdict",
    )


@pytest.mark.anyio
async def test_an_idempotency_key_of_a_recording_cannot_be_reused_for_its_feedback(
    hub: Hub,
) -> None:
    recorded = await hub.insights.record(ADMIN, WS, port(5433, "claude"), client_msg_id="same")
    with pytest.raises(Conflict) as caught:
        await hub.insights.feedback(
            REVIEWER, WS, recorded.insight.id, "accepted", client_msg_id="same"
        )
    assert caught.value.code == "idempotency.conflict"
