"""Members over REST: roles are granted only up to one's own, and a workspace keeps an owner."""

from __future__ import annotations

import httpx
import pytest
from tests.world import TEAM, World, create_user

MEMBERS = f"/api/v1/workspaces/{TEAM}/members"


async def _roles(world: World) -> dict[str, str]:
    response = await world.request("owner", "GET", MEMBERS)
    return {m["username"]: m["role"] for m in response.json()["items"]}


async def _set(world: World, caller: str, username: str, role: str) -> httpx.Response:
    return await world.request(caller, "PUT", f"{MEMBERS}/{username}", json={"role": role})


def _problem(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


@pytest.mark.anyio
async def test_members_are_listed_with_their_roles(world: World) -> None:
    assert await _roles(world) == {
        "owner": "owner",
        "maintainer": "maintainer",
        "editor": "editor",
        "viewer": "viewer",
    }


@pytest.mark.anyio
async def test_the_last_owner_can_be_neither_removed_nor_demoted(world: World) -> None:
    before = await _roles(world)
    removed = await world.request("owner", "DELETE", f"{MEMBERS}/owner")
    demoted = await _set(world, "owner", "owner", "maintainer")
    assert _problem(removed) == (409, "member.last_owner")
    assert _problem(demoted) == (409, "member.last_owner")
    assert await _roles(world) == before


@pytest.mark.anyio
async def test_an_owner_can_step_down_once_there_is_another_owner(world: World) -> None:
    assert (await _set(world, "owner", "editor", "owner")).status_code == 200
    assert (await _set(world, "owner", "owner", "viewer")).status_code == 200
    assert (await _roles(world))["owner"] == "viewer"


@pytest.mark.anyio
@pytest.mark.parametrize("caller", ["maintainer", "maintainer-key"])
async def test_a_maintainer_can_neither_grant_owner_nor_demote_an_owner(
    world: World, caller: str
) -> None:
    await create_user(world.hub, "newcomer")
    before = await _roles(world)
    assert _problem(await _set(world, caller, "newcomer", "owner")) == (403, "auth.forbidden")
    assert _problem(await _set(world, caller, "editor", "owner")) == (403, "auth.forbidden")
    assert _problem(await _set(world, caller, "owner", "viewer")) == (403, "auth.forbidden")
    assert await _roles(world) == before


@pytest.mark.anyio
async def test_a_maintainer_adds_a_user_with_a_role_up_to_its_own(world: World) -> None:
    await create_user(world.hub, "newcomer")
    response = await _set(world, "maintainer", "newcomer", "maintainer")
    assert response.status_code == 200
    assert response.json()["role"] == "maintainer"
    assert (await _roles(world))["newcomer"] == "maintainer"


@pytest.mark.anyio
async def test_only_existing_users_can_become_members(world: World) -> None:
    assert _problem(await _set(world, "owner", "ghost", "viewer")) == (422, "member.unknown_user")


@pytest.mark.anyio
async def test_a_member_may_leave_without_managing_members(world: World) -> None:
    response = await world.request("viewer", "DELETE", f"{MEMBERS}/viewer")
    assert response.status_code == 200
    assert "viewer" not in await _roles(world)
    gone = await world.request("viewer", "GET", f"/api/v1/workspaces/{TEAM}")
    assert _problem(gone) == (404, "workspace.not_found")
