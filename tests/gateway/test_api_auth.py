"""Signing in over REST: token pairs, refresh rotation with reuse detection, sign-out, wrong
passwords, and the login and general API rate limits."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.world import PASSWORD, api_client, bearer, bootstrap_key, create_user, started_hub

from infinity_matrix.config import Settings
from infinity_matrix.hub import Hub

AUTH = "/api/v1/auth"


async def _login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post(f"{AUTH}/token", json={"username": username, "password": password})


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(f"{AUTH}/refresh", json={"refresh_token": token})


def _problem(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


@pytest.fixture
async def pair(hub: Hub, client: httpx.AsyncClient) -> dict[str, Any]:
    """A signed-in user ``ann``'s token pair."""
    await create_user(hub, "ann")
    response = await _login(client, "ann", PASSWORD)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.anyio
async def test_signing_in_answers_an_access_and_a_refresh_token(
    pair: dict[str, Any], client: httpx.AsyncClient
) -> None:
    assert pair["token_type"] == "bearer"
    assert pair["refresh_token"].startswith("imxr_")
    assert 0 < pair["expires_in"] <= 900
    me = await client.get(f"{AUTH}/me", headers=bearer(pair["access_token"]))
    assert me.json() == {
        "id": "user:ann",
        "kind": "user",
        "name": "ann",
        "is_admin": False,
        "workspace": None,
        "role": None,
    }


@pytest.mark.anyio
async def test_a_refresh_token_is_spent_and_replaced_by_a_new_pair(
    pair: dict[str, Any], client: httpx.AsyncClient
) -> None:
    rotated = await _refresh(client, pair["refresh_token"])
    assert rotated.status_code == 200
    assert rotated.json()["refresh_token"] != pair["refresh_token"]
    me = await client.get(f"{AUTH}/me", headers=bearer(rotated.json()["access_token"]))
    assert me.json()["id"] == "user:ann"


@pytest.mark.anyio
async def test_reusing_a_spent_refresh_token_revokes_the_whole_session(
    pair: dict[str, Any], client: httpx.AsyncClient
) -> None:
    newer = (await _refresh(client, pair["refresh_token"])).json()["refresh_token"]

    assert _problem(await _refresh(client, pair["refresh_token"])) == (401, "auth.refresh_reused")
    assert _problem(await _refresh(client, newer)) == (401, "auth.refresh_reused")


@pytest.mark.anyio
async def test_signing_out_ends_the_refresh_session(
    pair: dict[str, Any], client: httpx.AsyncClient
) -> None:
    out = await client.post(f"{AUTH}/logout", json={"refresh_token": pair["refresh_token"]})
    assert (out.status_code, out.content) == (204, b"")
    assert (await _refresh(client, pair["refresh_token"])).status_code == 401


@pytest.mark.anyio
async def test_an_unknown_refresh_token_is_refused(client: httpx.AsyncClient) -> None:
    assert _problem(await _refresh(client, "imxr_nonsense")) == (401, "auth.invalid_refresh")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("username", "password"), [("ann", "wrong password"), ("nobody", PASSWORD)]
)
async def test_a_wrong_username_or_password_is_refused_alike(
    hub: Hub, client: httpx.AsyncClient, username: str, password: str
) -> None:
    await create_user(hub, "ann")
    response = await _login(client, username, password)
    assert _problem(response) == (401, "auth.bad_credentials")
    assert "access_token" not in response.json()


@pytest.mark.anyio
async def test_too_many_sign_in_attempts_are_refused_with_retry_after(settings: Settings) -> None:
    async with started_hub(settings.model_copy(update={"login_rate_limit": "3/minute"})) as hub:
        await create_user(hub, "ann")
        async with api_client(hub) as client:
            codes = [(await _login(client, "ann", "wrong password")).status_code for _ in range(3)]
            refused = await _login(client, "ann", PASSWORD)
    assert codes == [401, 401, 401]
    assert _problem(refused) == (429, "rate.limited")
    assert int(refused.headers["Retry-After"]) >= 1


@pytest.mark.anyio
async def test_too_many_api_requests_are_refused_with_rate_limit_headers(
    settings: Settings,
) -> None:
    async with started_hub(settings.model_copy(update={"rate_limit": "3/minute"})) as hub:
        headers = bearer(bootstrap_key(hub))
        async with api_client(hub) as client:
            allowed = [await client.get("/api/v1/workspaces", headers=headers) for _ in range(3)]
            refused = await client.get("/api/v1/workspaces", headers=headers)
    assert [r.status_code for r in allowed] == [200, 200, 200]
    assert [r.headers["RateLimit-Remaining"] for r in allowed] == ["2", "1", "0"]
    assert {r.headers["RateLimit-Limit"] for r in allowed} == {"3"}
    assert _problem(refused) == (429, "rate.limited")
    assert refused.headers["RateLimit-Limit"] == "3"
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert int(refused.headers["Retry-After"]) >= 1
