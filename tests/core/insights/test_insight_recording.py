"""Recording insights through the log: a near-duplicate corroborates (once per distinct source),
a contradiction on the same topic or named in ``contradicts`` supersedes with the link kept both
ways, and concurrent recordings of one insight record it once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from infinity_matrix.core.insights.records import Evidence, NewInsight
from infinity_matrix.errors import Conflict, InvalidInput, NotFound, TooLarge
from infinity_matrix.hub import Hub
from infinity_matrix.security.principals import Principal

WS = "default"
ADMIN = Principal.user("root", is_admin=True)
ANN = Principal.user("ann", is_admin=True)


def port(
    number: int, *, assistant: str | None = "claude", topic: str = "db/staging-port", **extra: Any
) -> NewInsight:
    return NewInsight(
        "fact",
        "Staging DB port",
        f"Staging DB listens on port {number}",
        topic=topic,
        assistant=assistant,
        **extra,
    )


@pytest.mark.anyio
async def test_a_new_insight_is_recorded_with_its_id_the_seq_of_its_event(hub: Hub) -> None:
    new = NewInsight(
        "pitfall",
        "Tests need the clock",
        "test_sync is flaky on CI unless the clock is frozen",
        tags=("ci", "tests", "ci"),
        evidence=(Evidence("context", "notes/ci.md"), Evidence("entity", "CI")),
        assistant="claude",
        model="claude-sonnet-5",
    )
    result = await hub.insights.record(ADMIN, WS, new, source="mcp:claude-code")

    insight = result.insight
    assert (result.outcome, result.superseded, result.duplicate) == ("recorded", [], False)
    assert insight.id == result.seq
    assert (insight.kind, insight.status, insight.tags) == ("pitfall", "active", ["ci", "tests"])
    assert [e.to_json() for e in insight.evidence] == [
        {"type": "context", "ref": "notes/ci.md"},
        {"type": "entity", "ref": "CI"},
    ]
    assert insight.source_key == "user:root/claude/claude-sonnet-5"
    assert insight.source == "mcp:claude-code"
    assert [s.source_key for s in insight.supports] == ["user:root/claude/claude-sonnet-5"]
    assert insight.confidence is not None
    assert sum(p.value for p in insight.confidence.parts) == pytest.approx(insight.confidence.value)
    events = await hub.store.read_events(WS, after=result.seq - 1, limit=5)
    assert [(e.type, e.subject) for e in events] == [("insight.recorded", f"insight/{insight.id}")]


@pytest.mark.anyio
async def test_a_near_duplicate_from_another_source_corroborates_instead_of_copying(
    hub: Hub,
) -> None:
    first = await hub.insights.record(ADMIN, WS, port(5433))
    again = await hub.insights.record(
        ADMIN,
        WS,
        NewInsight(
            "fact",
            "Staging DB port",
            "The staging DB listens on port 5433.",
            topic="db/staging-port",
            assistant="copilot",
        ),
    )

    assert again.outcome == "corroborated"
    assert again.insight.id == first.insight.id
    assert again.insight.corroborations == 1
    assert [s.source_key for s in again.insight.supports] == [
        "user:root/claude/-",
        "user:root/copilot/-",
    ]
    assert 0.5 <= again.insight.supports[1].similarity <= 1.0
    assert first.insight.confidence is not None
    assert again.insight.confidence is not None
    assert again.insight.confidence.value > first.insight.confidence.value
    page = await hub.insights.list(ADMIN, WS, status="all")
    assert [i.id for i in page.items] == [first.insight.id]


@pytest.mark.anyio
async def test_a_repeat_by_a_source_already_behind_an_insight_changes_nothing(hub: Hub) -> None:
    first = await hub.insights.record(ADMIN, WS, port(5433))
    head = (await hub.store.get_workspace(WS)).head  # type: ignore[union-attr]

    repeat = await hub.insights.record(ADMIN, WS, port(5433))

    assert (repeat.outcome, repeat.insight.id, repeat.seq) == (
        "corroborated",
        first.insight.id,
        head,
    )
    assert repeat.insight.corroborations == 0
    assert (await hub.store.get_workspace(WS)).head == head  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_another_answer_on_the_same_topic_supersedes_and_links_both_ways(hub: Hub) -> None:
    old = await hub.insights.record(ADMIN, WS, port(5433))
    new = await hub.insights.record(ANN, WS, port(6543, assistant="gemini"))

    assert (new.outcome, new.superseded) == ("recorded", [old.insight.id])
    assert new.insight.conflicts == [old.insight.id]
    before = await hub.insights.get(ADMIN, WS, old.insight.id)
    assert (before.status, before.superseded_by, before.conflicts) == (
        "superseded",
        new.insight.id,
        [new.insight.id],
    )
    events = await hub.store.read_events(WS, after=new.seq - 2, limit=5)
    assert [(e.type, e.payload.get("by")) for e in events] == [
        ("insight.recorded", None),
        ("insight.superseded", new.insight.id),
    ]
    # The rival's supporters weigh against each side.
    assert new.insight.confidence is not None
    assert {p.name: p.value for p in new.insight.confidence.parts}["rivals"] < 0


@pytest.mark.anyio
async def test_reasserting_a_superseded_answer_revives_it_and_supersedes_the_live_one(
    hub: Hub,
) -> None:
    first = await hub.insights.record(ADMIN, WS, port(5433))
    second = await hub.insights.record(ADMIN, WS, port(6543, assistant="gemini"))

    again = await hub.insights.record(ANN, WS, port(5433, assistant="copilot"))

    assert (again.outcome, again.insight.id, again.superseded) == (
        "corroborated",
        first.insight.id,
        [second.insight.id],
    )
    assert (again.insight.status, again.insight.superseded_by) == ("active", None)
    replaced = await hub.insights.get(ADMIN, WS, second.insight.id)
    assert (replaced.status, replaced.superseded_by) == ("superseded", first.insight.id)


@pytest.mark.anyio
async def test_explicit_contradicts_supersedes_insights_of_any_topic(hub: Hub) -> None:
    tabs = await hub.insights.record(
        ADMIN, WS, NewInsight("convention", "Indentation", "Indent with tabs")
    )
    spaces = await hub.insights.record(
        ADMIN,
        WS,
        NewInsight(
            "convention",
            "Indentation with spaces",
            "Indent Python with four spaces (PEP 8)",
            contradicts=(tabs.insight.id,),
        ),
    )

    assert (spaces.outcome, spaces.superseded) == ("recorded", [tabs.insight.id])
    old = await hub.insights.get(ADMIN, WS, tabs.insight.id)
    assert (old.status, old.superseded_by, old.conflicts) == (
        "superseded",
        spaces.insight.id,
        [spaces.insight.id],
    )
    events = await hub.store.read_events(WS, after=spaces.seq - 1, limit=1)
    assert events[0].payload == {
        "id": tabs.insight.id,
        "by": spaces.insight.id,
        "reason": "contradicts",
    }


@pytest.mark.anyio
async def test_contradicting_an_unknown_insight_is_not_found_and_appends_nothing(hub: Hub) -> None:
    head = (await hub.store.get_workspace(WS)).head  # type: ignore[union-attr]
    with pytest.raises(NotFound) as caught:
        await hub.insights.record(ADMIN, WS, port(5433, contradicts=(999,)))
    assert caught.value.code == "insight.not_found"
    assert (await hub.store.get_workspace(WS)).head == head  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_a_near_duplicate_of_another_kind_or_topic_is_recorded_apart(hub: Hub) -> None:
    fact = await hub.insights.record(ADMIN, WS, port(5433))
    decision = await hub.insights.record(
        ADMIN,
        WS,
        NewInsight("decision", "Staging DB port", "Staging DB listens on port 5433"),
    )
    elsewhere = await hub.insights.record(
        ADMIN, WS, port(5433, assistant="copilot", topic="db/prod-port")
    )
    ids = {fact.insight.id, decision.insight.id, elsewhere.insight.id}
    assert len(ids) == 3
    assert {decision.outcome, elsewhere.outcome} == {"recorded"}


@pytest.mark.anyio
async def test_twenty_concurrent_recordings_of_one_insight_record_it_once(hub: Hub) -> None:
    results = await asyncio.gather(
        *(hub.insights.record(ADMIN, WS, port(5433, assistant=f"assistant-{i}")) for i in range(20))
    )
    assert sorted(r.outcome for r in results).count("recorded") == 1
    assert len({r.insight.id for r in results}) == 1
    insight = await hub.insights.get(ADMIN, WS, results[0].insight.id)
    assert insight.corroborations == 19
    assert len(insight.supports) == 20


@pytest.mark.anyio
async def test_a_repeated_idempotency_key_answers_the_first_recording(hub: Hub) -> None:
    old = await hub.insights.record(ADMIN, WS, port(5433))
    first = await hub.insights.record(ADMIN, WS, port(6543, assistant="gemini"), client_msg_id="k1")
    head = (await hub.store.get_workspace(WS)).head  # type: ignore[union-attr]

    again = await hub.insights.record(ADMIN, WS, port(6543, assistant="gemini"), client_msg_id="k1")

    assert (again.duplicate, again.seq, again.outcome) == (True, first.seq - 1, "recorded")
    assert (again.insight.id, again.superseded) == (first.insight.id, [old.insight.id])
    assert (await hub.store.get_workspace(WS)).head == head  # type: ignore[union-attr]
    with pytest.raises(Conflict) as caught:
        await hub.insights.feedback(ADMIN, WS, old.insight.id, "accepted", client_msg_id="k1")
    assert caught.value.code == "idempotency.conflict"


@pytest.mark.parametrize(
    ("change", "error", "code"),
    [
        ({"kind": "rumour"}, InvalidInput, "insight.invalid_kind"),
        ({"title": ""}, InvalidInput, "insight.invalid_title"),
        ({"title": "t" * 201}, InvalidInput, "insight.invalid_title"),
        ({"body": "  "}, InvalidInput, "insight.invalid_body"),
        ({"body": "b" * 20_001}, TooLarge, "insight.too_large"),
        ({"tags": ("two words",)}, InvalidInput, "insight.invalid_tag"),
        ({"tags": tuple(f"t{i}" for i in range(33))}, InvalidInput, "insight.invalid_tag"),
        ({"topic": "../up"}, InvalidInput, "insight.invalid_topic"),
        ({"topic": "a//b"}, InvalidInput, "insight.invalid_topic"),
        ({"evidence": (Evidence("url", "x"),)}, InvalidInput, "insight.invalid_evidence"),
        ({"evidence": (Evidence("insight", "abc"),)}, InvalidInput, "insight.invalid_evidence"),
        ({"evidence": (Evidence("context", "a b"),)}, InvalidInput, "insight.invalid_evidence"),
        ({"assistant": "a" * 101}, InvalidInput, "request.invalid"),
    ],
)
@pytest.mark.anyio
async def test_invalid_insights_are_refused_with_their_code_before_anything_is_appended(
    hub: Hub, change: dict[str, Any], error: type[Exception], code: str
) -> None:
    fields: dict[str, Any] = {"kind": "fact", "title": "Title", "body": "Body", **change}
    head = (await hub.store.get_workspace(WS)).head  # type: ignore[union-attr]
    with pytest.raises(error) as caught:
        await hub.insights.record(ADMIN, WS, NewInsight(**fields))
    assert caught.value.code == code  # type: ignore[attr-defined]
    assert (await hub.store.get_workspace(WS)).head == head  # type: ignore[union-attr]
