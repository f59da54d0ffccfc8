"""``POST /api/v1/workspaces/{ws}/retrieve``: the package for a task, for every reader; 404 for
anyone who cannot see the workspace; 422 with a code for bad input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.world import World

from infinity_matrix.security.principals import Principal

RETRIEVE = "/api/v1/workspaces/{ws}/retrieve"
OWNER = Principal.user("owner")


@pytest.fixture
async def seeded(world: World) -> World:
    for key, text in (
        ("notes/database", "Staging PostgreSQL listens on port 6543. Production uses 5432."),
        ("notes/deploy", "We deploy with Helm; every release is tagged first."),
    ):
        await world.hub.context.put(OWNER, world.team.id, key, text=text)
    return world


async def _retrieve(world: World, caller: str, body: dict[str, Any]) -> httpx.Response:
    return await world.request(caller, "POST", RETRIEVE.format(ws=world.team.id), json=body)


@pytest.mark.anyio
async def test_retrieve_answers_ranked_items_with_scores_sources_and_tokens(seeded: World) -> None:
    response = await _retrieve(
        seeded,
        "viewer",
        {"task": "staging postgres port", "target": "claude", "budget_tokens": 1000},
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["budget_tokens"], body["target"]) == (1000, "claude")
    first = body["items"][0]
    assert set(first) >= {"type", "key", "score", "text", "source", "tokens"}
    assert (first["type"], first["key"]) == ("context", "notes/database")
    assert [p["name"] for p in first["score"]["parts"]] == ["relevance", "confidence", "recency"]
    assert first["source"]["actor"] == "user:owner"
    assert body["tokens_used"] == sum(i["tokens"] for i in body["items"]) <= 1000


@pytest.mark.anyio
@pytest.mark.parametrize("caller", ["outsider", "other-key"])
async def test_a_caller_who_cannot_see_the_workspace_gets_404(seeded: World, caller: str) -> None:
    response = await _retrieve(
        seeded, caller, {"task": "deploy", "target": "claude", "budget_tokens": 100}
    )

    assert (response.status_code, response.json()["code"]) == (404, "workspace.not_found")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"task": " ", "target": "claude", "budget_tokens": 100}, "retrieve.invalid_task"),
        ({"task": "x", "target": "claude", "budget_tokens": 0}, "retrieve.invalid_budget"),
        (
            {"task": "x", "target": "claude", "budget_tokens": 9, "kinds": ["?"]},
            "retrieve.invalid_kind",
        ),
        ({"task": "x", "target": "claude"}, "request.invalid"),
    ],
)
async def test_bad_input_answers_422_with_a_code(
    seeded: World, body: dict[str, Any], code: str
) -> None:
    response = await _retrieve(seeded, "owner", body)

    assert (response.status_code, response.json()["code"]) == (422, code)
