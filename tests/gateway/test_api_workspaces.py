"""Workspaces over REST: the creator owns a new workspace; ids are unique and well formed;
a deleted workspace is gone with its history."""

from __future__ import annotations

import httpx
import pytest
from tests.world import World

WORKSPACES = "/api/v1/workspaces"


def _problem(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


@pytest.mark.anyio
async def test_the_creator_of_a_workspace_becomes_its_owner(world: World) -> None:
    created = await world.request("viewer", "POST", WORKSPACES, json={"id": "mine", "name": "Mine"})
    assert created.status_code == 201
    body = created.json()
    assert (body["id"], body["name"], body["role"], body["head"]) == ("mine", "Mine", "owner", 2)
    assert body["seq"] == 2  # workspace.created, then member.added
    listed = (await world.request("viewer", "GET", WORKSPACES)).json()["items"]
    assert {(w["id"], w["role"]) for w in listed} == {("mine", "owner"), ("team", "viewer")}


@pytest.mark.anyio
async def test_a_key_sees_only_its_own_workspace(world: World) -> None:
    listed = (await world.request("viewer-key", "GET", WORKSPACES)).json()["items"]
    assert [(w["id"], w["role"]) for w in listed] == [("team", "viewer")]


@pytest.mark.anyio
async def test_a_workspace_id_is_unique(world: World) -> None:
    response = await world.request("editor", "POST", WORKSPACES, json={"id": "team"})
    assert _problem(response) == (409, "workspace.exists")


@pytest.mark.anyio
@pytest.mark.parametrize("workspace", ["Upper", "-dash", "a_b", "x" * 64, ""])
async def test_a_malformed_workspace_id_is_refused(world: World, workspace: str) -> None:
    response = await world.request("editor", "POST", WORKSPACES, json={"id": workspace})
    assert response.status_code == 422
    assert response.json()["code"] in {"workspace.invalid_id", "request.invalid"}


@pytest.mark.anyio
async def test_a_deleted_workspace_is_gone_with_its_history(world: World) -> None:
    await world.request("owner", "PUT", f"{WORKSPACES}/team/context/a", json={"text": "a"})
    assert (await world.request("owner", "DELETE", f"{WORKSPACES}/team")).status_code == 204

    for path in ["", "/events", "/context/a"]:
        gone = await world.request("admin", "GET", f"{WORKSPACES}/team{path}")
        assert _problem(gone) == (404, "workspace.not_found")
    refused = await world.request("owner-key", "GET", WORKSPACES)
    assert _problem(refused) == (401, "auth.invalid_token")  # its keys went with it
