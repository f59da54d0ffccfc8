"""Fixtures of the end-to-end provider tests: the fake provider servers on 127.0.0.1, and a real
hub served over HTTP (uvicorn on a free loopback port) with REST clients holding a workspace's
keys. The hub's adapters are the real SDKs; only the providers are fakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.world import TEAM, add_team, create_user, started_hub

from infinity_matrix.config import Settings
from infinity_matrix.hub import Hub
from infinity_matrix.testing.fakes.anthropic import DEFAULT_MODELS, fake_anthropic
from infinity_matrix.testing.fakes.base import FakeServer
from infinity_matrix.testing.fakes.gemini import FakeGeminiServer, fake_gemini
from infinity_matrix.testing.fakes.openai import FakeOpenAIServer, fake_openai
from infinity_matrix.testing.server import serving

WAIT_SECONDS = 10.0
VERTEX_TOKEN = "ya29.static-test-token"
CLAUDE = DEFAULT_MODELS[0]


@dataclass
class Fakes:
    openai: FakeOpenAIServer
    anthropic: FakeServer
    gemini: FakeGeminiServer  # serves the Gemini API and Vertex AI forms both

    def everything_received(self) -> str:
        """Every request any fake received, as text (paths, queries and bodies)."""
        parts: list[str] = []
        for server in (self.openai, self.anthropic, self.gemini):
            for r in server.requests:
                parts.append(f"{r.method} {r.path}?{r.query}\n{r.body.decode(errors='replace')}")
        return "\n".join(parts)


@pytest.fixture
async def fakes() -> AsyncIterator[Fakes]:
    found = Fakes(fake_openai(), fake_anthropic(), fake_gemini(access_token=VERTEX_TOKEN))
    async with contextlib.AsyncExitStack() as stack:
        for server in (found.openai, found.anthropic, found.gemini):
            await stack.enter_async_context(server.serving())
        yield found


def e2e_settings(home: Path, database_url: str | None = None, **changes: Any) -> Settings:
    """A hub's settings for these tests: SQLite in ``home`` unless a URL is given, and a short
    context-flow debounce."""
    return Settings(
        home=home,
        database_url=database_url or f"sqlite+aiosqlite:///{home / 'imx.db'}",
        secret_key="s" * 64,
        rate_limit="100000/minute",
        login_rate_limit="1000/minute",
        provider_sync_debounce_ms=20,
        provider_sync_max_delay_ms=500,
        _env_file=None,
        **changes,
    )


@dataclass
class Stack:
    """A served hub and REST clients on it, one per key role of workspace ``TEAM``."""

    hub: Hub
    url: str
    keys: dict[str, str]  # role → API key of workspace TEAM
    clients: dict[str, httpx.AsyncClient]  # role → client sending that role's key

    @property
    def owner(self) -> httpx.AsyncClient:
        return self.clients["owner"]

    async def add_provider(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.owner.put(f"/api/v1/workspaces/{TEAM}/providers/{name}", json=body)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def put_context(self, key: str, text: str) -> int:
        response = await self.owner.put(
            f"/api/v1/workspaces/{TEAM}/context/{key}", json={"text": text}
        )
        assert response.status_code == 200, response.text
        seq: int = response.json()["seq"]
        return seq

    async def ask(self, provider: str, question: str, role: str = "owner") -> httpx.Response:
        return await self.clients[role].post(
            f"/api/v1/workspaces/{TEAM}/ask", json={"provider": provider, "question": question}
        )

    async def events(self, type_: str, after: int = 0) -> list[dict[str, Any]]:
        """The workspace's events of ``type_`` with seq > ``after``, read over REST."""
        found: list[dict[str, Any]] = []
        while True:
            response = await self.owner.get(
                f"/api/v1/workspaces/{TEAM}/events", params={"after": after, "limit": 1000}
            )
            assert response.status_code == 200, response.text
            page = response.json()
            found += [e for e in page["events"] if e["type"] == type_]
            if not page["events"]:
                return found
            after = page["next_after"]

    async def pushes(self, provider: str, after: int = 0) -> list[dict[str, Any]]:
        """The ``provider.pushed`` payloads of ``provider`` after ``after``, oldest first."""
        return [
            {**e["payload"], "seq": e["seq"]}
            for e in await self.events("provider.pushed", after)
            if e["payload"]["provider"] == provider
        ]

    async def status(self) -> dict[str, dict[str, Any]]:
        """``GET /api/v1/providers`` by provider name."""
        response = await self.owner.get("/api/v1/providers", params={"workspace": TEAM})
        assert response.status_code == 200, response.text
        return {row["name"]: row for row in response.json()["items"]}


@contextlib.asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[Stack]:
    """A started hub on ``settings``, served over HTTP, with workspace ``TEAM`` and its keys."""
    async with started_hub(settings) as hub, serving(hub) as url:
        yield await stack_on(hub, url)


async def stack_on(hub: Hub, url: str, keys: dict[str, str] | None = None) -> Stack:
    """Clients on the served ``hub`` at ``url`` with ``keys``; without them, the owner and
    workspace ``TEAM`` with a key of each role are created first."""
    if keys is None:
        await create_user(hub, "owner")
        keys = (await add_team(hub, TEAM, members=False)).keys
    clients = {
        role: httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30.0
        )
        for role, token in keys.items()
    }
    return Stack(hub, url, keys, clients)


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with served(e2e_settings(tmp_path / "home")) as found:
        try:
            yield found
        finally:
            for client in found.clients.values():
                await client.aclose()


async def eventually(
    check: Callable[[], Awaitable[Any]], *, seconds: float = WAIT_SECONDS, what: str = ""
) -> Any:
    """Poll ``check`` until it answers something truthy, failing after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting after {seconds}s for {what or check}")
        await asyncio.sleep(0.02)  # bounded: polls the check under the deadline above


# Provider bodies for PUT …/providers/{name}, against the fakes.


def openai_body(fakes: Fakes, **changes: Any) -> dict[str, Any]:
    return {
        "kind": "openai",
        "model": "gpt-4o-mini",
        "base_url": fakes.openai.url,
        "api_key": "sk-test-openai",
        "max_retries": 0,
        "timeout_seconds": 10,
    } | changes


def compatible_body(fakes: Fakes, **changes: Any) -> dict[str, Any]:
    return {
        "kind": "openai-compatible",
        "model": "llama3",
        "base_url": fakes.openai.url,
        "max_retries": 0,
        "timeout_seconds": 10,
    } | changes


def anthropic_body(fakes: Fakes, **changes: Any) -> dict[str, Any]:
    return {
        "kind": "anthropic",
        "model": CLAUDE,
        "base_url": fakes.anthropic.url,
        "api_key": "sk-ant-test",
        "max_retries": 0,
        "timeout_seconds": 10,
    } | changes


def gemini_body(fakes: Fakes, **changes: Any) -> dict[str, Any]:
    return {
        "kind": "gemini",
        "model": "gemini-2.5-flash",
        "base_url": fakes.gemini.url,
        "api_key": "gemini-test-key",
        "max_retries": 0,
        "timeout_seconds": 10,
    } | changes


def vertex_body(fakes: Fakes, **changes: Any) -> dict[str, Any]:
    return {
        "kind": "vertex",
        "model": "gemini-2.5-pro",
        "base_url": fakes.gemini.url,
        "options": {"project": "acme-proj", "location": "europe-west4"},
        "api_key": VERTEX_TOKEN,
        "max_retries": 0,
        "timeout_seconds": 10,
    } | changes


def copilot_body(directory: Path, **changes: Any) -> dict[str, Any]:
    return {"kind": "copilot", "model": "copilot", "options": {"dir": str(directory)}} | changes
