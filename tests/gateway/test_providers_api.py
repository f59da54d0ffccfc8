"""Providers over REST: configured per workspace by maintainers and owners, read by members,
their key write-only — it is in no answer and no log line."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
import structlog
from tests.world import TEAM, World, bearer, head

from infinity_matrix.storage.providers import SqlProviderStore

PROVIDERS = f"/api/v1/workspaces/{TEAM}/providers"
SECRET = "sk-live-THIS-MUST-NEVER-SHOW-0123456789"
LOCAL = {
    "name": "local",
    "kind": "openai-compatible",
    "model": "llama3",
    "base_url": "http://127.0.0.1:11434/v1",
    "options": {"api": "chat"},
    "routing": {"prefixes": ["notes/"], "kinds": [], "tags": ["api"]},
    "context_window": 8192,
    "rpm": 60,
    "tpm": 100000,
    "timeout_seconds": 20,
    "max_retries": 2,
}


async def _call(world: World, caller: str, method: str, path: str, **kw: Any) -> httpx.Response:
    return await world.request(caller, method, path, **kw)


@pytest.mark.anyio
async def test_a_provider_is_added_read_and_listed_without_its_key(world: World) -> None:
    added = await _call(world, "owner", "POST", PROVIDERS, json={**LOCAL, "api_key": SECRET})
    assert added.status_code == 201, added.text
    body = added.json()
    assert body == {
        **LOCAL,
        "timeout_seconds": 20.0,
        "fallbacks": [],
        "has_credential": True,
        "api_key_env": None,
        "seq": await head(world.hub, TEAM),
    }
    read = await _call(world, "viewer", "GET", f"{PROVIDERS}/local")
    assert read.json() == body
    listed = await _call(world, "viewer-key", "GET", PROVIDERS)
    assert listed.json() == {"items": [body]}
    assert await world.hub.providers.credential(TEAM, "local") == SECRET


@pytest.mark.anyio
async def test_put_replaces_the_config_and_keeps_or_removes_the_key(world: World) -> None:
    await _call(world, "owner", "PUT", f"{PROVIDERS}/local", json={**LOCAL, "api_key": SECRET})
    kept = await _call(
        world, "maintainer", "PUT", f"{PROVIDERS}/local", json={**LOCAL, "model": "qwen3"}
    )
    assert kept.status_code == 200
    assert (kept.json()["model"], kept.json()["has_credential"]) == ("qwen3", True)

    gpt = {
        "kind": "openai",
        "model": "gpt-5",
        "fallbacks": ["local"],
        "api_key_env": "OPENAI_API_KEY",
    }
    created = await _call(world, "owner", "PUT", f"{PROVIDERS}/gpt", json=gpt)
    assert (created.status_code, created.json()["fallbacks"]) == (200, ["local"])

    removed = await _call(
        world, "owner", "PUT", f"{PROVIDERS}/local", json={**LOCAL, "api_key": ""}
    )
    assert removed.json()["has_credential"] is False
    assert await world.hub.providers.credential(TEAM, "local") is None


@pytest.mark.anyio
async def test_a_provider_is_removed_unless_another_falls_back_on_it(world: World) -> None:
    await _call(world, "owner", "POST", PROVIDERS, json={**LOCAL, "api_key": SECRET})
    gpt = {"name": "gpt", "kind": "openai", "model": "gpt-5", "fallbacks": ["local"]}
    await _call(world, "owner", "POST", PROVIDERS, json=gpt)

    refused = await _call(world, "owner", "DELETE", f"{PROVIDERS}/local")
    assert (refused.status_code, refused.json()["code"]) == (409, "provider.in_use")
    removed = await _call(world, "maintainer", "DELETE", f"{PROVIDERS}/gpt")
    assert removed.status_code == 200
    assert removed.json() == {"name": "gpt", "seq": await head(world.hub, TEAM), "duplicate": False}
    gone = await _call(world, "owner", "GET", f"{PROVIDERS}/gpt")
    assert (gone.status_code, gone.json()["code"]) == (404, "provider.unknown")


@pytest.mark.anyio
async def test_a_write_repeated_with_its_idempotency_key_answers_the_same_seq(
    world: World,
) -> None:
    headers = {**bearer(world.token("owner")), "Idempotency-Key": "add-local-1"}
    first = await world.client.post(PROVIDERS, json=LOCAL, headers=headers)
    before = await head(world.hub, TEAM)
    again = await world.client.post(PROVIDERS, json=LOCAL, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["seq"] == first.json()["seq"]
    assert await head(world.hub, TEAM) == before

    removing = {**bearer(world.token("owner")), "Idempotency-Key": "rm-local-1"}
    gone = await world.client.delete(f"{PROVIDERS}/local", headers=removing)
    repeat = await world.client.delete(f"{PROVIDERS}/local", headers=removing)
    assert repeat.json() == {**gone.json(), "duplicate": True}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("caller", "method", "path", "status", "code"),
    [
        ("none", "GET", PROVIDERS, 401, None),
        ("invalid", "POST", PROVIDERS, 401, None),
        ("outsider", "GET", PROVIDERS, 404, "workspace.not_found"),
        ("other-key", "PUT", f"{PROVIDERS}/local", 404, "workspace.not_found"),
        ("editor", "POST", PROVIDERS, 403, "auth.forbidden"),
        ("viewer-key", "PUT", f"{PROVIDERS}/local", 403, "auth.forbidden"),
        ("editor-key", "DELETE", f"{PROVIDERS}/local", 403, "auth.forbidden"),
    ],
)
async def test_callers_without_the_right_get_the_documented_status_and_nothing_changes(
    world: World, caller: str, method: str, path: str, status: int, code: str | None
) -> None:
    before = await head(world.hub, TEAM)
    body = {**LOCAL, "api_key": SECRET} if method != "GET" else None
    response = await _call(world, caller, method, path, json=body)
    assert response.status_code == status
    if code is not None:
        assert response.json()["code"] == code
    assert await head(world.hub, TEAM) == before
    assert SECRET not in response.text


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({**LOCAL, "name": "Bad Name"}, 422, "provider.invalid_name"),
        ({k: v for k, v in LOCAL.items() if k != "name"}, 422, "provider.invalid_name"),
        ({**LOCAL, "kind": "telepathy"}, 422, "provider.invalid_kind"),
        ({**LOCAL, "base_url": None}, 422, "provider.invalid_base_url"),
        ({**LOCAL, "options": {"api_key": SECRET}}, 422, "provider.secret_in_options"),
        ({**LOCAL, "fallbacks": ["ghost"]}, 422, "provider.unknown_fallback"),
        ({**LOCAL, "rpm": 0}, 422, "provider.invalid_limit"),
        ({**LOCAL, "unknown_field": SECRET}, 422, "request.invalid"),
        ({**LOCAL, "rpm": "many"}, 422, "request.invalid"),
    ],
)
async def test_an_invalid_body_is_refused_with_its_code_and_never_echoes_the_key(
    world: World, body: dict[str, Any], status: int, code: str
) -> None:
    response = await _call(world, "owner", "POST", PROVIDERS, json={**body, "api_key": SECRET})
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert SECRET not in response.text


@pytest.mark.anyio
async def test_adding_a_name_taken_conflicts_and_a_mismatched_put_is_refused(
    world: World,
) -> None:
    await _call(world, "owner", "POST", PROVIDERS, json=LOCAL)
    taken = await _call(world, "owner", "POST", PROVIDERS, json=LOCAL)
    assert (taken.status_code, taken.json()["code"]) == (409, "provider.exists")
    mismatch = await _call(world, "owner", "PUT", f"{PROVIDERS}/other", json=LOCAL)
    assert (mismatch.status_code, mismatch.json()["code"]) == (422, "provider.name_mismatch")


@pytest.mark.anyio
async def test_the_key_is_in_no_response_event_or_log_line(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    responses: list[httpx.Response] = []
    with structlog.testing.capture_logs() as logs:
        for method, path, body in [
            ("POST", PROVIDERS, {**LOCAL, "api_key": SECRET}),
            ("PUT", f"{PROVIDERS}/local", {**LOCAL, "api_key": SECRET}),
            ("PUT", f"{PROVIDERS}/gpt", {"kind": "openai", "model": "m", "api_key": SECRET}),
            ("POST", PROVIDERS, {**LOCAL, "api_key": SECRET}),  # 409
            ("PUT", f"{PROVIDERS}/x", {"kind": "openai", "model": "", "api_key": SECRET}),
            ("PUT", f"{PROVIDERS}/y", {"kind": 7, "model": "m", "api_key": SECRET}),
            ("GET", PROVIDERS, None),
            ("GET", f"{PROVIDERS}/local", None),
            ("GET", f"/api/v1/workspaces/{TEAM}/events?limit=1000", None),
            ("DELETE", f"{PROVIDERS}/gpt", None),
        ]:
            responses.append(await _call(world, "owner", method, path, json=body))
    assert [r.status_code for r in responses] == [201, 200, 200, 409, 422, 422, 200, 200, 200, 200]
    for response in responses:
        assert SECRET not in response.text
        assert SECRET not in str(response.headers)
    assert SECRET not in repr(logs)
    assert SECRET not in caplog.text
    sealed = await SqlProviderStore(world.hub.database).sealed_credential(TEAM, "local")
    assert sealed is not None
    assert all(sealed.ciphertext not in r.text for r in responses)


@pytest.mark.anyio
async def test_a_stored_key_is_never_sent_to_a_new_endpoint_without_being_given_again(
    world: World,
) -> None:
    await _call(world, "owner", "PUT", f"{PROVIDERS}/local", json={**LOCAL, "api_key": SECRET})
    elsewhere = {**LOCAL, "base_url": "https://collector.example.test/v1"}

    moved = await _call(world, "maintainer", "PUT", f"{PROVIDERS}/local", json=elsewhere)
    assert (moved.status_code, moved.json()["code"]) == (409, "provider.credential_required")
    listed = await _call(world, "viewer", "GET", f"{PROVIDERS}/local")
    assert listed.json()["base_url"] == LOCAL["base_url"]

    dropped = await _call(
        world, "maintainer", "PUT", f"{PROVIDERS}/local", json={**elsewhere, "api_key": ""}
    )
    assert (dropped.status_code, dropped.json()["has_credential"]) == (200, False)
    assert await world.hub.providers.credential(TEAM, "local") is None
