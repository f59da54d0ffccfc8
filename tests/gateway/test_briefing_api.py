"""``GET /api/v1/workspaces/{ws}/briefing``: the briefing for every reader, with the head seq it
reflects; 401 without a valid credential, 404 for whoever cannot see the workspace."""

from __future__ import annotations

import httpx
import pytest
from tests.world import BAD_CALLERS, World

from infinity_matrix.client import HubClient
from infinity_matrix.core.insights.records import NewInsight
from infinity_matrix.gateway.app import create_app
from infinity_matrix.security.principals import Principal

BRIEFING = "/api/v1/workspaces/{ws}/briefing"
OWNER = Principal.user("owner")


@pytest.fixture
async def seeded(world: World) -> World:
    ws = world.team.id
    await world.hub.context.put(OWNER, ws, "notes/db", text="SQLite by default.")
    await world.hub.context.put(OWNER, ws, "ops/api_key", text="sk-never-shown")
    new = NewInsight("pitfall", "Migrations lock the table", "Run them off-peak.")
    await world.hub.insights.record(OWNER, ws, new)
    return world


@pytest.mark.anyio
@pytest.mark.parametrize("caller", ["viewer", "viewer-key", "owner"])
async def test_every_reader_gets_the_briefing_with_its_insights_and_head_seq(
    seeded: World, caller: str
) -> None:
    response = await seeded.request(caller, "GET", BRIEFING.format(ws=seeded.team.id))

    assert response.status_code == 200
    body = response.json()
    head = (await seeded.hub.store.get_workspace(seeded.team.id)).head  # type: ignore[union-attr]
    assert set(body) == {"workspace", "text", "included", "omitted", "insights", "seq"}
    assert (body["workspace"], body["included"], body["omitted"]) == (
        seeded.team.id,
        ["notes/db"],
        [],
    )
    assert len(body["insights"]) == 1
    assert body["seq"] == head
    assert "Migrations lock the table" in body["text"]
    assert "sk-never-shown" not in body["text"]


@pytest.mark.anyio
async def test_prefix_and_budget_narrow_the_briefing(seeded: World) -> None:
    await seeded.hub.context.put(OWNER, seeded.team.id, "decisions/0001", text="Use Helm.")

    response = await seeded.request(
        "editor",
        "GET",
        BRIEFING.format(ws=seeded.team.id),
        params={"prefix": "decisions/", "budget_chars": 2000, "target": "copilot"},
    )

    assert response.status_code == 200
    assert response.json()["included"] == ["decisions/0001"]


@pytest.mark.anyio
@pytest.mark.parametrize("caller", BAD_CALLERS)
async def test_a_missing_or_bad_credential_gets_401(seeded: World, caller: str) -> None:
    response = await seeded.request(caller, "GET", BRIEFING.format(ws=seeded.team.id))

    assert response.status_code == 401


@pytest.mark.anyio
@pytest.mark.parametrize("caller", ["outsider", "other-key"])
async def test_a_caller_who_cannot_see_the_workspace_gets_404(seeded: World, caller: str) -> None:
    response = await seeded.request(caller, "GET", BRIEFING.format(ws=seeded.team.id))

    assert (response.status_code, response.json()["code"]) == (404, "workspace.not_found")


@pytest.mark.anyio
async def test_a_budget_out_of_range_is_invalid(seeded: World) -> None:
    response = await seeded.request(
        "owner", "GET", BRIEFING.format(ws=seeded.team.id), params={"budget_chars": 10}
    )

    assert (response.status_code, response.json()["code"]) == (422, "request.invalid")


@pytest.mark.anyio
async def test_the_client_reads_the_briefing(seeded: World) -> None:
    transport = httpx.ASGITransport(app=create_app(seeded.hub, manage_hub=False))
    async with HubClient(
        "http://test", seeded.team.keys["viewer"], seeded.team.id, transport=transport
    ) as client:
        body = await client.briefing(prefix="notes/", budget_chars=5000)

    assert body["included"] == ["notes/db"]
