"""Provider tools over MCP: one assistant lists the configured providers and consults one with
the shared context (a fake OpenAI over real HTTP); the insights in the answer come back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.mcp.client import ERAS, error_code, mcp_client, structured
from tests.world import create_user

from infinity_matrix.core.providers.records import ProviderConfig
from infinity_matrix.hub import Hub
from infinity_matrix.security.access import Role
from infinity_matrix.security.principals import Principal
from infinity_matrix.testing.fakes.base import FakeServer, Fault
from infinity_matrix.testing.fakes.openai import openai_app

pytestmark = pytest.mark.anyio
OWNER = Principal.user("owner")
TEAM = "team"
KEY = "sk-fake-mcp-0123456789"
QUESTION = "How do we deploy the release branch?"


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    server = FakeServer(openai_app(api_key=KEY))
    async with server.serving():
        yield server


@pytest.fixture
async def keys(hub: Hub, fake: FakeServer) -> dict[str, str]:
    """Workspace ``team`` with provider ``gpt`` (the fake) and one key per role."""
    await create_user(hub, "owner")
    await hub.workspaces.create(OWNER, TEAM)
    config = ProviderConfig(
        workspace=TEAM,
        name="gpt",
        kind="openai",
        model="gpt-fake",
        base_url=fake.url + "/v1",
        max_retries=0,
    )
    await hub.providers.configure(OWNER, TEAM, config, KEY)
    await hub.context.put(
        OWNER, TEAM, "notes/deploy.md", text="Deploys run from the release branch: make deploy."
    )
    return {
        role.value: (await hub.keys.create(OWNER, TEAM, f"{role.value} key", role.value)).token
        for role in (Role.VIEWER, Role.EDITOR)
    }


@pytest.mark.parametrize("mode", ERAS)
async def test_an_assistant_lists_the_providers_and_asks_one_and_its_insight_is_recorded(
    hub: Hub, base_url: str, keys: dict[str, str], fake: FakeServer, mode: str
) -> None:
    async with mcp_client(base_url, keys[Role.EDITOR.value], mode=mode) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        listed = structured(await client.call_tool("provider_list", {}))
        asked = structured(
            await client.call_tool(
                "provider_ask", {"provider": "gpt", "question": QUESTION, "budget_tokens": 500}
            )
        )

    assert {"provider_list", "provider_ask"} <= set(tools)
    list_hints, ask_hints = tools["provider_list"].annotations, tools["provider_ask"].annotations
    assert list_hints is not None
    assert list_hints.read_only_hint is True
    assert ask_hints is not None
    assert ask_hints.read_only_hint is False
    assert ask_hints.open_world_hint is True
    assert listed == {
        "providers": [
            {
                "name": "gpt",
                "kind": "openai",
                "model": "gpt-fake",
                "healthy": True,
                "breaker": "closed",
            }
        ]
    }
    assert asked["provider"] == "gpt"
    assert asked["answer"] == "You asked: " + QUESTION
    assert asked["input_tokens"] > 0
    [insight] = asked["insights"]
    assert insight["outcome"] == "recorded"
    assert 0 < insight["confidence"] <= 1
    stored = await hub.insights.get(OWNER, TEAM, insight["id"])
    assert stored.assistant == "gpt"
    sent = [r.body.decode() for r in fake.requests if QUESTION in r.body.decode()]
    assert len(sent) == 1
    assert "make deploy" in sent[0]  # the shared context went with the question


async def test_a_viewer_may_list_but_asking_is_a_tool_error_not_a_crash(
    base_url: str, keys: dict[str, str], fake: FakeServer
) -> None:
    async with mcp_client(base_url, keys[Role.VIEWER.value]) as client:
        listed = structured(await client.call_tool("provider_list", {}))
        refused = await client.call_tool("provider_ask", {"provider": "gpt", "question": "hi"})
        still = structured(await client.call_tool("provider_list", {}))  # the session lives on

    assert [p["name"] for p in listed["providers"]] == ["gpt"]
    assert error_code(refused) == "auth.forbidden"
    assert still == listed
    assert fake.requests_to("/responses") == []  # nothing was asked (pushes may have run)


async def test_asking_an_unknown_provider_is_a_tool_error_with_its_code(
    base_url: str, keys: dict[str, str]
) -> None:
    async with mcp_client(base_url, keys[Role.EDITOR.value]) as client:
        unknown = await client.call_tool("provider_ask", {"provider": "nobody", "question": "hi"})
        empty = await client.call_tool("provider_ask", {"provider": "gpt", "question": "  "})

    assert error_code(unknown) == "provider.unknown"
    assert error_code(empty) == "ask.invalid_question"


async def test_a_provider_failure_is_a_tool_error_with_the_provider_code(
    base_url: str, keys: dict[str, str], fake: FakeServer
) -> None:
    rejected = Fault.status_code(401, {"error": {"message": "bad key"}}, path="/responses")
    fake.script.add(rejected)
    async with mcp_client(base_url, keys[Role.EDITOR.value]) as client:
        failed = await client.call_tool("provider_ask", {"provider": "gpt", "question": "hi"})

    assert error_code(failed) == "provider.auth"
