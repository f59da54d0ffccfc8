"""Insights over REST: record (201, or 200 when it corroborates), list with a cursor, read with
the confidence breakdown, feedback, statistics, Idempotency-Key on writes, and the statuses and
codes of refused requests."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.world import World, bearer

BASE = "/api/v1/workspaces/team/insights"
PORT = {
    "kind": "fact",
    "title": "Staging DB port",
    "body": "Staging DB listens on port 5433",
    "topic": "db/staging-port",
    "tags": ["db"],
    "evidence": [{"type": "context", "ref": "notes/db.md"}, {"type": "insight", "ref": 1}],
    "assistant": "claude",
    "model": "claude-sonnet-5",
}


def problem(response: httpx.Response) -> tuple[int, str, str]:
    return response.status_code, response.headers["content-type"], response.json()["code"]


async def call(
    world: World,
    caller: str,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """``world.request`` with extra headers."""
    all_headers = {**bearer(world.token(caller)), **(headers or {})}
    return await world.client.request(method, path, headers=all_headers, **kwargs)


async def post(world: World, body: Any, caller: str = "editor", **headers: str) -> httpx.Response:
    return await call(world, caller, "POST", BASE, headers, json=body)


@pytest.mark.anyio
async def test_recording_answers_201_with_the_insight_its_outcome_and_seq(world: World) -> None:
    response = await post(world, PORT, **{"X-Imx-Source": "cli"})

    assert response.status_code == 201
    body = response.json()
    insight = body["insight"]
    assert (body["outcome"], body["superseded"], body["duplicate"]) == ("recorded", [], False)
    assert insight["id"] == body["seq"]
    assert {k: insight[k] for k in ("kind", "title", "topic", "tags", "status", "source")} == {
        "kind": "fact",
        "title": "Staging DB port",
        "topic": "db/staging-port",
        "tags": ["db"],
        "status": "active",
        "source": "cli",
    }
    assert insight["evidence"] == [
        {"type": "context", "ref": "notes/db.md"},
        {"type": "insight", "ref": "1"},
    ]
    assert insight["source_key"] == "user:editor/claude/claude-sonnet-5"
    assert insight["feedback"] == {"accepted": 0, "rejected": 0, "outdated": 0}
    confidence = insight["confidence"]
    assert [p["name"] for p in confidence["parts"]][:2] == ["prior", "source"]
    assert sum(p["value"] for p in confidence["parts"]) == pytest.approx(confidence["value"])


@pytest.mark.anyio
async def test_a_near_duplicate_answers_200_corroborated_and_a_contradiction_supersedes(
    world: World,
) -> None:
    first = (await post(world, PORT)).json()["insight"]
    again = await post(world, {**PORT, "assistant": "copilot", "model": None}, caller="owner")
    other = await post(world, {**PORT, "body": "Staging DB listens on port 6543"})

    assert again.status_code == 200
    assert (again.json()["outcome"], again.json()["insight"]["id"]) == ("corroborated", first["id"])
    assert again.json()["insight"]["corroborations"] == 1
    assert other.status_code == 201
    assert other.json()["superseded"] == [first["id"]]
    old = (await world.request("viewer", "GET", f"{BASE}/{first['id']}")).json()
    assert (old["status"], old["superseded_by"], old["conflicts"]) == (
        "superseded",
        other.json()["insight"]["id"],
        [other.json()["insight"]["id"]],
    )


@pytest.mark.anyio
async def test_list_pages_with_a_cursor_and_filters(world: World) -> None:
    ids = []
    for i in range(5):
        body = {"kind": "todo", "title": f"Task {i}", "body": f"Do thing{i}", "tags": [f"t{i % 2}"]}
        ids.append((await post(world, body)).json()["insight"]["id"])

    first = (await world.request("viewer", "GET", BASE, params={"limit": 2})).json()
    second = await world.request(
        "viewer", "GET", BASE, params={"limit": 2, "cursor": first["next_cursor"]}
    )
    tagged = await world.request("viewer", "GET", BASE, params={"tag": "t0", "q": "thing4"})

    assert [i["id"] for i in first["items"]] == [ids[4], ids[3]]
    assert [i["id"] for i in second.json()["items"]] == [ids[2], ids[1]]
    assert [i["id"] for i in tagged.json()["items"]] == [ids[4]]
    assert all(i["confidence"]["parts"] for i in first["items"])


@pytest.mark.anyio
async def test_feedback_answers_the_insight_and_seq_and_stats_show_it(world: World) -> None:
    insight = (await post(world, PORT)).json()["insight"]

    response = await world.request(
        "owner", "POST", f"{BASE}/{insight['id']}/feedback", json={"verdict": "accepted"}
    )
    stats = await world.request("viewer", "GET", f"{BASE}/stats")

    assert response.status_code == 200
    assert response.json()["insight"]["feedback"]["accepted"] == 1
    assert response.json()["seq"] == insight["id"] + 1
    body = stats.json()
    assert (body["total"], body["accepted"], body["by_kind"]) == (1, 1, {"fact": 1})
    assert body["sources"][0]["key"] == "user:editor/claude/claude-sonnet-5"
    assert body["sources"][0]["reliability"] > 2 / 3


@pytest.mark.anyio
async def test_a_write_repeated_with_its_idempotency_key_answers_the_first_seq(
    world: World,
) -> None:
    first = await post(world, PORT, **{"Idempotency-Key": "rec-1"})
    again = await post(world, PORT, **{"Idempotency-Key": "rec-1"})
    insight_id = first.json()["insight"]["id"]
    rate = {"verdict": "rejected"}
    path = f"{BASE}/{insight_id}/feedback"
    key = {"Idempotency-Key": "f"}
    rated = await call(world, "owner", "POST", path, key, json=rate)
    rerated = await call(world, "owner", "POST", path, key, json=rate)

    assert (again.status_code, again.json()["seq"], again.json()["duplicate"]) == (
        201,
        first.json()["seq"],
        True,
    )
    assert (rerated.json()["seq"], rerated.json()["duplicate"]) == (rated.json()["seq"], True)
    assert rerated.json()["insight"]["feedback"]["rejected"] == 1


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"kind": "rumour"}, 422, "insight.invalid_kind"),
        ({"title": "x" * 201}, 422, "insight.invalid_title"),
        ({"body": ""}, 422, "insight.invalid_body"),
        ({"body": "x" * 20_001}, 413, "insight.too_large"),
        ({"tags": ["a b"]}, 422, "insight.invalid_tag"),
        ({"topic": "/abs"}, 422, "insight.invalid_topic"),
        ({"evidence": [{"type": "url", "ref": "x"}]}, 422, "insight.invalid_evidence"),
        ({"contradicts": [424242]}, 404, "insight.not_found"),
        ({"unknown": 1}, 422, "request.invalid"),
    ],
)
@pytest.mark.anyio
async def test_bad_insights_are_refused_as_problems_with_their_code(
    world: World, change: dict[str, Any], status: int, code: str
) -> None:
    response = await post(world, {**PORT, **change})
    assert problem(response) == (status, "application/problem+json", code)


@pytest.mark.anyio
async def test_refused_reads_and_feedback_answer_their_codes(world: World) -> None:
    insight_id = (await post(world, PORT)).json()["insight"]["id"]
    cases = [
        ("GET", f"{BASE}/999", None, (404, "insight.not_found")),
        ("GET", BASE, {"params": {"cursor": "x"}}, (422, "insight.invalid_cursor")),
        ("GET", BASE, {"params": {"status": "gone"}}, (422, "insight.invalid_status")),
        (
            "POST",
            f"{BASE}/999/feedback",
            {"json": {"verdict": "accepted"}},
            (404, "insight.not_found"),
        ),
        (
            "POST",
            f"{BASE}/{insight_id}/feedback",
            {"json": {"verdict": "great"}},
            (422, "insight.invalid_verdict"),
        ),
    ]
    for method, path, kwargs, expected in cases:
        response = await world.request("owner", method, path, **(kwargs or {}))
        assert (response.status_code, response.json()["code"]) == expected, path


@pytest.mark.anyio
async def test_a_viewer_reads_but_may_not_write_and_outsiders_see_nothing(world: World) -> None:
    insight_id = (await post(world, PORT)).json()["insight"]["id"]
    feedback = {"verdict": "accepted"}

    assert (await world.request("viewer", "GET", f"{BASE}/{insight_id}")).status_code == 200
    assert (await world.request("viewer-key", "GET", BASE)).status_code == 200
    assert problem(await post(world, PORT, caller="viewer"))[::2] == (403, "auth.forbidden")
    refused = await world.request("viewer", "POST", f"{BASE}/{insight_id}/feedback", json=feedback)
    assert problem(refused)[::2] == (403, "auth.forbidden")
    for caller in ("outsider", "other-key"):
        response = await world.request(caller, "GET", f"{BASE}/{insight_id}")
        assert problem(response)[::2] == (404, "workspace.not_found")
    assert (await world.request("none", "GET", BASE)).status_code == 401


@pytest.mark.anyio
async def test_metrics_show_insight_counts_feedback_and_each_sources_reliability(
    world: World,
) -> None:
    recorded = (await post(world, PORT)).json()["insight"]
    await call(
        world, "editor", "POST", f"{BASE}/{recorded['id']}/feedback", json={"verdict": "rejected"}
    )

    text = (await world.client.get("/metrics")).text

    assert 'imx_insights{status="active",workspace="team"} 1.0' in text
    assert 'imx_insight_feedback_total{verdict="rejected",workspace="team"} 1.0' in text
    reliability = [
        line
        for line in text.splitlines()
        if line.startswith("imx_source_reliability{") and "/claude/claude-sonnet-5" in line
    ]
    assert len(reliability) == 1
    assert float(reliability[0].rsplit(" ", 1)[1]) < 2 / 3  # below the prior after a rejection
