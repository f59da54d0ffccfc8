"""API keys over REST: the token is answered once and never listed; use is recorded; a key
cannot carry more power than its creator's role."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.world import TEAM, World, bearer

KEYS = f"/api/v1/workspaces/{TEAM}/keys"


async def _create(world: World, caller: str, role: str, **headers: str) -> httpx.Response:
    return await world.client.post(
        KEYS,
        json={"name": f"{role} bot", "role": role},
        headers={**bearer(world.token(caller)), **headers},
    )


async def _listed(world: World) -> dict[str, dict[str, Any]]:
    response = await world.request("owner", "GET", KEYS)
    return {item["id"]: item for item in response.json()["items"]}


@pytest.mark.anyio
async def test_a_new_keys_token_is_answered_once_and_never_listed(world: World) -> None:
    created = await _create(world, "maintainer", "editor")
    assert created.status_code == 201
    body = created.json()
    assert body["token"].startswith(f"imx_{body['id']}_")
    assert (body["role"], body["workspace"], body["created_by"]) == (
        "editor",
        TEAM,
        "user:maintainer",
    )

    listing = await world.request("owner", "GET", KEYS)
    assert body["token"] not in listing.text
    listed = (await _listed(world))[body["id"]]
    assert "token" not in listed
    assert "hash" not in listed
    me = await world.client.get("/api/v1/auth/me", headers=bearer(body["token"]))
    assert (me.json()["kind"], me.json()["workspace"], me.json()["role"]) == ("key", TEAM, "editor")


@pytest.mark.anyio
async def test_using_a_key_records_when_it_was_last_used(world: World) -> None:
    body = (await _create(world, "owner", "viewer")).json()
    assert (await _listed(world))[body["id"]]["last_used_at"] is None

    await world.client.get(f"/api/v1/workspaces/{TEAM}", headers=bearer(body["token"]))

    assert (await _listed(world))[body["id"]]["last_used_at"] is not None


@pytest.mark.anyio
async def test_a_revoked_key_is_listed_as_revoked_and_refused(world: World) -> None:
    body = (await _create(world, "owner", "viewer")).json()
    revoked = await world.request("maintainer", "DELETE", f"{KEYS}/{body['id']}")
    assert revoked.status_code == 200

    assert (await _listed(world))[body["id"]]["revoked_at"] is not None
    me = await world.client.get("/api/v1/auth/me", headers=bearer(body["token"]))
    assert (me.status_code, me.json()["code"]) == (401, "auth.key_revoked")
    again = await world.request("owner", "DELETE", f"{KEYS}/{body['id']}")
    assert (again.status_code, again.json()["code"]) == (404, "key.not_found")


@pytest.mark.anyio
@pytest.mark.parametrize(("caller", "role"), [("maintainer", "owner"), ("maintainer-key", "owner")])
async def test_a_key_cannot_get_a_role_above_its_creators(
    world: World, caller: str, role: str
) -> None:
    before = set(await _listed(world))
    response = await _create(world, caller, role)
    assert (response.status_code, response.json()["code"]) == (403, "auth.forbidden")
    assert set(await _listed(world)) == before


@pytest.mark.anyio
async def test_a_maintainer_cannot_revoke_an_owner_key(world: World) -> None:
    response = await world.request("maintainer", "DELETE", f"{KEYS}/{world.team.key_ids['owner']}")
    assert (response.status_code, response.json()["code"]) == (403, "auth.forbidden")


@pytest.mark.anyio
async def test_a_retried_key_creation_is_refused_because_the_token_was_shown_once(
    world: World,
) -> None:
    first = await _create(world, "owner", "viewer", **{"Idempotency-Key": "make-key"})
    again = await _create(world, "owner", "viewer", **{"Idempotency-Key": "make-key"})
    assert first.status_code == 201
    assert (again.status_code, again.json()["code"]) == (409, "idempotency.key_already_created")
    assert again.json()["seq"] == first.json()["seq"]
    assert [k["name"] for k in (await _listed(world)).values()].count("viewer bot") == 1
