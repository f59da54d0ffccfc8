"""Replaying the log rebuilds the insights' projection that live writes built: records, supports,
conflicts, statuses, counters and the source tallies; the usage counters (no projection) stay.

A seeded workload of recordings (repeats, rephrasings, other answers on a topic, explicit
contradictions), feedback and patterns runs in concurrent rounds, so group commit batches
several insight commands in one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from infinity_matrix.core.insights.records import NewInsight, Occurrence
from infinity_matrix.core.sync.replay import replay_all
from infinity_matrix.errors import InfinityMatrixError
from infinity_matrix.hub import Hub
from infinity_matrix.security.principals import Principal

WS = "default"
PEOPLE = [Principal.user(n, is_admin=True) for n in ("ann", "bob", "cem")]
ASSISTANTS = (None, "claude", "copilot", "gemini")
TOPICS = ("db/port", "redis/port", "ci/runner", None)
VALUES = ("5432", "5433", "6379", "6380")
KINDS = ("fact", "decision", "pitfall")
VERDICTS = ("accepted", "rejected", "outdated")

Op = Callable[[], Awaitable[Any]]


def _op(hub: Hub, rng: random.Random, known: list[int]) -> Op:
    who, assistant = rng.choice(PEOPLE), rng.choice(ASSISTANTS)
    topic, value, kind = rng.choice(TOPICS), rng.choice(VALUES), rng.choice(KINDS)
    lead = rng.choice(("The", "Our", ""))
    body = f"{lead} service {topic or 'thing'} listens on {value}".strip()
    contradicts = (rng.choice(known),) if known and rng.random() < 0.15 else ()
    new = NewInsight(
        kind,
        f"About {topic or 'thing'}",
        body,
        topic=topic,
        assistant=assistant,
        contradicts=contradicts,
    )
    choice = rng.random()
    if choice < 0.6 or not known:
        return lambda: _record(hub, who, new, known)
    if choice < 0.9:
        target, verdict = rng.choice(known), rng.choice(VERDICTS)
        return lambda: hub.insights.feedback(who, WS, target, verdict, assistant=assistant)
    fingerprint = rng.choice(("aa11", "bb22"))
    occurrences = [Occurrence(f"src/{value}.py", 1, rng.randint(2, 5))]
    return lambda: hub.insights.record_pattern(
        WS,
        fingerprint,
        title=f"Pattern {fingerprint}",
        body="def f(x): ...",
        occurrences=occurrences,
    )


async def _record(hub: Hub, who: Principal, new: NewInsight, known: list[int]) -> None:
    result = await hub.insights.record(who, WS, new)
    known.append(result.insight.id)


async def _attempt(op: Op) -> None:
    with contextlib.suppress(InfinityMatrixError):
        await op()


async def _state(hub: Hub) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await hub.insights.list(PEOPLE[0], WS, status="all", cursor=cursor, limit=100)
        items.extend({**i.to_json(), "confidence": None} for i in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    stats = (await hub.insights.stats(PEOPLE[0], WS)).to_json()
    return {"items": items, "stats": stats}


@pytest.mark.anyio
@pytest.mark.parametrize("seed", [5, 2026])
async def test_replay_rebuilds_the_insights_that_live_writes_built(hub: Hub, seed: int) -> None:
    rng = random.Random(seed)
    known: list[int] = []
    for _ in range(30):
        ops = [_op(hub, rng, known) for _ in range(rng.randint(1, 6))]
        await asyncio.gather(*(_attempt(op) for op in ops))
    await hub.insights.note_served(WS, known[:3], "claude")
    live = await _state(hub)
    assert len(live["items"]) > 5
    assert live["stats"]["sources"]
    assert any(i["status"] == "superseded" for i in live["items"])

    await replay_all(hub.store)

    assert await _state(hub) == live
