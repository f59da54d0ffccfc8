"""``imx mcp`` over stdio, driven by the SDK client: straight on the local database, and as a
bridge to a running hub."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from tests.mcp.client import ERAS, LEGACY, structured
from tests.world import PASSWORD, bootstrap_key, create_user

from infinity_matrix.hub import Hub
from infinity_matrix.security.credfile import read_credentials, write_credentials
from infinity_matrix.security.tokens import TokenIssuer, load_or_create_secret

pytestmark = pytest.mark.anyio
IMX = str(Path(sys.executable).with_name("imx"))


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", ""), "IMX_HOME": str(home), "IMX_LOG_LEVEL": "warning"}
    env.update(extra)
    return env


@asynccontextmanager
async def stdio_client(
    args: list[str], env: dict[str, str], *, mode: str = "auto"
) -> AsyncIterator[Client]:
    params = StdioServerParameters(command=IMX, args=["mcp", *args], env=env)
    async with Client(params, mode=mode, read_timeout_seconds=60) as client:
        yield client


@pytest.mark.parametrize("mode", ERAS)
async def test_two_local_processes_on_one_database_see_each_others_writes(
    tmp_path: Path, mode: str
) -> None:
    env = _env(tmp_path / "home")
    async with stdio_client(["--local"], env, mode=mode) as first:
        written = structured(
            await first.call_tool("context_put", {"key": "notes/shared", "text": "from A"})
        )
        async with stdio_client(["--local"], env, mode=mode) as second:
            read = structured(await second.call_tool("context_get", {"key": "notes/shared"}))
            structured(await second.call_tool("context_put", {"key": "notes/b", "text": "from B"}))
        back = structured(await first.call_tool("context_get", {"key": "notes/b"}))

    assert read["text"] == "from A"
    assert read["seq"] == written["seq"]
    assert back["text"] == "from B"


async def test_concurrent_writes_from_two_local_processes_are_all_kept(tmp_path: Path) -> None:
    env = _env(tmp_path / "home")
    async with (
        stdio_client(["--local"], env) as first,
        stdio_client(["--local"], env, mode=LEGACY) as second,
    ):
        results = await asyncio.gather(
            *(
                (first if i % 2 else second).call_tool(
                    "context_put", {"key": f"notes/{i}", "text": str(i)}
                )
                for i in range(20)
            )
        )
        listed = structured(await first.call_tool("context_list", {"prefix": "notes/"}))

    seqs = sorted(structured(r)["seq"] for r in results)
    assert len(set(seqs)) == 20
    assert sorted(e["key"] for e in listed["entries"]) == sorted(f"notes/{i}" for i in range(20))


@pytest.mark.parametrize("mode", ERAS)
async def test_with_a_hub_running_imx_mcp_bridges_stdio_to_its_http_endpoint(
    hub: Hub, base_url: str, tmp_path: Path, mode: str
) -> None:
    env = _env(tmp_path / "client-home", IMX_URL=base_url, IMX_TOKEN=bootstrap_key(hub))
    async with stdio_client([], env, mode=mode) as client:
        structured(await client.call_tool("context_put", {"key": "notes/via", "text": "bridged"}))
        tools = {t.name for t in (await client.list_tools()).tools}

    assert "context_search" in tools
    record = await hub.store.get_entry("default", "notes/via")
    assert record is not None
    assert record.text == "bridged"
    events = await hub.store.read_events("default", subject="context/notes/via")
    assert events[-1].source == "mcp:mcp"


async def test_a_bad_token_fails_the_local_server_at_start(tmp_path: Path) -> None:
    env = _env(tmp_path / "home", IMX_TOKEN="imx_aaaaaaaaaaaa_" + "0" * 48)
    process = await asyncio.create_subprocess_exec(
        IMX,
        "mcp",
        "--local",
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1
    assert b"auth.invalid_token" in stderr
    assert stdout == b""


async def test_the_bridge_refreshes_an_expired_signed_in_session_and_saves_the_new_pair(
    hub: Hub, base_url: str, tmp_path: Path
) -> None:
    owner = await create_user(hub, "ann")
    await hub.workspaces.create(owner, "notes")
    pair = await hub.identity.login("ann", PASSWORD)
    # An access token that expired an hour ago, signed with the hub's own secret.
    past = TokenIssuer(
        load_or_create_secret(hub.settings.secret_key_file),
        access_ttl=timedelta(minutes=5),
        clock=lambda: datetime.now(UTC) - timedelta(hours=1),
    )
    expired, _ = past.issue_access("ann", is_admin=False)
    home = tmp_path / "client-home"
    write_credentials(
        home / "credentials.json",
        {"url": base_url, "access_token": expired, "refresh_token": pair.refresh_token},
    )

    env = _env(home, IMX_WORKSPACE="notes")
    async with stdio_client([], env) as client:
        written = structured(
            await client.call_tool("context_put", {"key": "notes/late", "text": "still in"})
        )

    saved = read_credentials(home / "credentials.json")
    assert written["seq"] > 0
    assert saved["access_token"] != expired
    assert saved["refresh_token"] != pair.refresh_token  # rotated, and kept for next time
    record = await hub.store.get_entry("notes", "notes/late")
    assert record is not None
    assert record.updated_by == "user:ann"
