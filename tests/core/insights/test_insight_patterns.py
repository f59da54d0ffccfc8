"""A pattern is recorded once per fingerprint by the system; afterwards only a change of its
occurrences is logged."""

from __future__ import annotations

import pytest

from infinity_matrix.core.insights.records import Occurrence
from infinity_matrix.errors import InvalidInput
from infinity_matrix.hub import Hub
from infinity_matrix.security.principals import Principal

WS = "default"
ADMIN = Principal.user("root", is_admin=True)
TWO = [Occurrence("src/b.py", 3, 9), Occurrence("src/a.py", 10, 20)]


async def head(hub: Hub) -> int:
    record = await hub.store.get_workspace(WS)
    assert record is not None
    return record.head


@pytest.mark.anyio
async def test_a_pattern_is_recorded_once_and_then_only_its_occurrences_change(hub: Hub) -> None:
    first = await hub.insights.record_pattern(
        WS, "f00d", title="Retry loop", body="for attempt in range(n): ...", occurrences=TWO
    )
    assert first.outcome == "recorded"
    insight = first.insight
    assert (insight.kind, insight.topic, insight.actor, insight.source) == (
        "pattern",
        "pattern/f00d",
        "system",
        "patterns",
    )
    assert [o.to_json() for o in insight.occurrences] == [
        {"key": "src/a.py", "start_line": 10, "end_line": 20},
        {"key": "src/b.py", "start_line": 3, "end_line": 9},
    ]

    unchanged_head = await head(hub)
    same = await hub.insights.record_pattern(
        WS, "f00d", title="Retry loop", body="…", occurrences=list(reversed(TWO))
    )
    assert (same.outcome, same.insight.id, await head(hub)) == (
        "corroborated",
        insight.id,
        unchanged_head,
    )

    three = [*TWO, Occurrence("notes/answer.md", 1, 4)]
    changed = await hub.insights.record_pattern(
        WS, "f00d", title="Retry loop", body="…", occurrences=three
    )
    assert changed.insight.id == insight.id
    assert len(changed.insight.occurrences) == 3
    event = (await hub.store.read_events(WS, after=changed.seq - 1, limit=1))[0]
    assert (event.type, event.actor) == ("insight.occurrences_changed", "system")


@pytest.mark.anyio
async def test_bad_occurrences_or_fingerprints_are_refused(hub: Hub) -> None:
    with pytest.raises(InvalidInput):
        await hub.insights.record_pattern(
            WS, "f00d", title="T", body="B", occurrences=[Occurrence("src/a.py", 5, 2)]
        )
    with pytest.raises(InvalidInput) as caught:
        await hub.insights.record_pattern(WS, "../x", title="T", body="B", occurrences=TWO)
    assert caught.value.code == "insight.invalid_topic"
