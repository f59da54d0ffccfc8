"""``HubClient`` driving the real app in-process: errors by code, paging, session refresh."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import anyio
import httpx
import pytest
from tests.cli.harness import fast_hasher

from infinity_matrix.client import HubClient
from infinity_matrix.config import Settings
from infinity_matrix.errors import (
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthenticated,
    Unavailable,
)
from infinity_matrix.gateway.app import create_app
from infinity_matrix.hub import Hub
from infinity_matrix.security.tokens import TokenIssuer

PASSWORD = "correct horse battery"


def transport(hub: Hub) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=create_app(hub, manage_hub=False))


@pytest.fixture
async def client(hub: Hub) -> AsyncIterator[HubClient]:
    """A client resolved from the settings: the bootstrap key and workspace of credentials.json."""
    async with HubClient.from_settings(hub.settings, transport=transport(hub)) as client:
        yield client


def expired_token(settings: Settings, username: str) -> str:
    assert settings.secret_key is not None
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    issuer = TokenIssuer(
        settings.secret_key.get_secret_value().encode(),
        access_ttl=timedelta(minutes=1),
        clock=lambda: an_hour_ago,
    )
    return issuer.issue_access(username, is_admin=False)[0]


@pytest.mark.anyio
async def test_from_settings_uses_the_bootstrap_key_of_credentials_json(
    client: HubClient,
) -> None:
    assert client.workspace == "default"
    me = await client.me()
    assert (me["kind"], me["workspace"], me["role"]) == ("key", "default", "owner")


@pytest.mark.anyio
async def test_writes_reads_and_pages_through_context(client: HubClient) -> None:
    first = await client.put_context("notes/a", text="a", tags=["t"])
    await client.put_context("notes/b", data={"x": 1})
    await client.put_context("notes/c", text="c", idempotency_key="k1")
    again = await client.put_context("notes/c", text="c", idempotency_key="k1")
    assert again["duplicate"] is True

    assert (await client.get_context("notes/b"))["data"] == {"x": 1}
    keys = [e["key"] async for e in client.iter_context("notes/", page_size=2)]
    assert keys == ["notes/a", "notes/b", "notes/c"]
    history = await client.history("notes/a")
    assert [e["seq"] for e in history] == [first["seq"]]
    page = await client.events(after=first["seq"] - 1, limit=1)
    assert [e["seq"] for e in page["events"]] == [first["seq"]]


@pytest.mark.anyio
async def test_problems_become_errors_with_the_servers_code(client: HubClient) -> None:
    with pytest.raises(NotFound) as missing:
        await client.get_context("notes/none")
    assert missing.value.code == "context.not_found"
    with pytest.raises(NotFound) as unknown:
        await client.members(workspace="nowhere")
    assert unknown.value.code == "workspace.not_found"
    with pytest.raises(InvalidInput) as invalid:
        await client.put_context("notes/x")  # neither text nor data
    assert invalid.value.code == "context.invalid_value"


@pytest.mark.anyio
async def test_dot_segments_reach_the_hub_instead_of_being_normalised(client: HubClient) -> None:
    with pytest.raises(InvalidInput) as refused:
        await client.put_context("notes/../escape", text="x")
    assert refused.value.code == "context.invalid_key"


@pytest.mark.anyio
async def test_a_refused_connection_is_unavailable_naming_the_url() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago, and is closed now
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    async with HubClient(url, "imx_whatever") as client:
        with pytest.raises(Unavailable) as unreachable:
            await client.me()
    assert unreachable.value.code == "client.unreachable"
    assert url in unreachable.value.detail


@pytest.mark.anyio
async def test_rate_limited_carries_retry_after(settings: Settings) -> None:
    limited = settings.model_copy(update={"rate_limit": "1/minute"})
    hub = Hub.build(limited, hasher=fast_hasher())
    await hub.start()
    try:
        async with HubClient.from_settings(limited, transport=transport(hub)) as client:
            await client.me()
            with pytest.raises(RateLimited) as refused:
                await client.me()
    finally:
        await hub.close()
    assert refused.value.code == "rate.limited"
    assert refused.value.retry_after >= 1


@pytest.mark.anyio
async def test_concurrent_requests_with_an_expired_token_refresh_only_once(hub: Hub) -> None:
    await hub.identity.create_user("alice", PASSWORD)
    saved: list[tuple[str, str]] = []
    async with HubClient("http://hub", transport=transport(hub)) as signer:
        pair = await signer.login("alice", PASSWORD)
    async with HubClient(
        "http://hub",
        expired_token(hub.settings, "alice"),
        refresh_token=pair["refresh_token"],
        on_tokens=lambda access, refresh: saved.append((access, refresh)),
        transport=transport(hub),
    ) as client:
        names: list[str] = []

        async def whoami() -> None:
            names.append((await client.me())["name"])

        async with anyio.create_task_group() as tasks:
            for _ in range(5):
                tasks.start_soon(whoami)
    # A second refresh would have spent a used token, and the hub would end the session.
    assert names == ["alice"] * 5
    assert len(saved) == 1
    assert saved[0][1] != pair["refresh_token"]


@pytest.mark.anyio
async def test_an_expired_token_without_refresh_token_is_unauthenticated(hub: Hub) -> None:
    await hub.identity.create_user("alice", PASSWORD)
    token = expired_token(hub.settings, "alice")
    async with HubClient("http://hub", token, transport=transport(hub)) as client:
        with pytest.raises(Unauthenticated) as refused:
            await client.me()
    assert refused.value.code == "auth.token_expired"
