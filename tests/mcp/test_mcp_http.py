"""The MCP face over streamable HTTP, driven by the official SDK client in both protocol eras."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from mcp_types import TextResourceContents
from tests.mcp.client import ERAS, LEGACY, MODERN, error_code, mcp_client, structured
from tests.world import bootstrap_key, create_user, started_hub

from infinity_matrix.hub import Hub
from infinity_matrix.security.access import Role
from infinity_matrix.security.principals import Principal
from infinity_matrix.testing.server import serving

pytestmark = pytest.mark.anyio
OWNER = Principal.user("owner")
TIMEOUT = 10.0


async def _team(hub: Hub) -> dict[str, str]:
    """Workspace ``team`` owned by user ``owner``: a token per role, and one of workspace
    ``other``."""
    await create_user(hub, "owner")
    await hub.workspaces.create(OWNER, "team")
    await hub.workspaces.create(OWNER, "other")
    tokens = {}
    for role in Role:
        created = await hub.keys.create(OWNER, "team", f"{role} key", role.value)
        tokens[role.value] = created.token
    tokens["other"] = (await hub.keys.create(OWNER, "other", "other key", "owner")).token
    return tokens


@pytest.mark.parametrize("mode", ERAS)
async def test_both_protocol_eras_list_the_tools_with_annotations_and_output_schemas(
    hub: Hub, base_url: str, mode: str
) -> None:
    async with mcp_client(base_url, bootstrap_key(hub), mode=mode) as client:
        assert client.protocol_version == ("2025-11-25" if mode == LEGACY else "2026-07-28")
        tools = {t.name: t for t in (await client.list_tools()).tools}

    expected = {
        "context_get",
        "context_put",
        "context_delete",
        "context_list",
        "context_search",
        "context_history",
        "changes_since",
    }
    assert expected <= set(tools)
    assert tools["context_get"].annotations is not None
    assert tools["context_get"].annotations.read_only_hint is True
    put = tools["context_put"].annotations
    assert put is not None
    assert put.read_only_hint is False
    assert put.destructive_hint is True
    assert put.idempotent_hint is True
    for tool in tools.values():
        assert tool.description
        assert len(tool.description) > 40
        assert tool.output_schema is not None


@pytest.mark.parametrize("mode", ERAS)
async def test_a_value_put_through_mcp_is_read_back_by_mcp_and_rest(
    hub: Hub, base_url: str, mode: str
) -> None:
    key = bootstrap_key(hub)
    async with mcp_client(base_url, key, mode=mode) as client:
        written = structured(
            await client.call_tool(
                "context_put", {"key": "notes/mcp.md", "text": "hello", "tags": ["x"]}
            )
        )
        read = structured(await client.call_tool("context_get", {"key": "notes/mcp.md"}))
        data = structured(
            await client.call_tool("context_put", {"key": "cfg/app", "data": {"a": 1}})
        )

    assert read["text"] == "hello"
    assert read["tags"] == ["x"]
    assert read["seq"] == written["seq"]
    assert data["seq"] > written["seq"]
    async with httpx.AsyncClient(base_url=base_url) as rest:
        response = await rest.get(
            "/api/v1/workspaces/default/context/notes/mcp.md",
            headers={"Authorization": f"Bearer {key}"},
        )
    assert response.json()["text"] == "hello"
    events = await hub.store.read_events("default", subject="context/notes/mcp.md")
    assert events[-1].source == "mcp:mcp"  # the SDK client's declared name


async def test_context_list_pages_with_a_cursor_and_history_names_each_writer(
    hub: Hub, base_url: str
) -> None:
    owner = Principal.key("k", name="k", workspace="default", role=Role.OWNER)
    for i in range(5):
        await hub.context.put(owner, "default", f"notes/{i}", text=str(i), source="rest")
    await hub.context.put(owner, "default", "notes/0", text="changed", source="cli")

    async with mcp_client(base_url, bootstrap_key(hub)) as client:
        first = structured(await client.call_tool("context_list", {"prefix": "notes/", "limit": 3}))
        rest = structured(
            await client.call_tool(
                "context_list", {"prefix": "notes/", "limit": 3, "cursor": first["next_cursor"]}
            )
        )
        history = structured(await client.call_tool("context_history", {"key": "notes/0"}))

    keys = [e["key"] for e in first["entries"] + rest["entries"]]
    assert keys == [f"notes/{i}" for i in range(5)]
    assert rest["next_cursor"] is None
    assert [e["source"] for e in history["events"]] == ["cli", "rest"]


async def test_changes_since_answers_only_newer_changes_and_where_to_continue(
    hub: Hub, base_url: str
) -> None:
    owner = Principal.key("k", name="k", workspace="default", role=Role.OWNER)
    first = await hub.context.put(owner, "default", "notes/a", text="a")
    await hub.context.put(owner, "default", "notes/b", text="b")
    await hub.context.delete(owner, "default", "notes/a")

    async with mcp_client(base_url, bootstrap_key(hub)) as client:
        page = structured(await client.call_tool("changes_since", {"after": first.seq}))
        caught_up = structured(
            await client.call_tool("changes_since", {"after": page["next_after"]})
        )

    assert [(c["type"], c["subject"]) for c in page["changes"]] == [
        ("context.updated", "context/notes/b"),
        ("context.deleted", "context/notes/a"),
    ]
    assert page["next_after"] == page["head"]
    assert caught_up["changes"] == []
    assert caught_up["next_after"] == page["head"]


@pytest.mark.parametrize("mode", ERAS)
async def test_a_viewer_key_reads_but_writing_is_a_tool_error_that_changes_nothing(
    hub: Hub, base_url: str, mode: str
) -> None:
    tokens = await _team(hub)
    await hub.context.put(OWNER, "team", "notes/a", text="a")
    before = await hub.store.get_workspace("team")

    async with mcp_client(base_url, tokens["viewer"], mode=mode) as client:
        read = structured(await client.call_tool("context_get", {"key": "notes/a"}))
        refused = await client.call_tool("context_put", {"key": "notes/a", "text": "b"})
        missing = await client.call_tool("context_get", {"key": "notes/none"})
        invalid = await client.call_tool("context_get", {"key": "../etc"})

    assert read["text"] == "a"
    assert error_code(refused) == "auth.forbidden"
    assert error_code(missing) == "context.not_found"
    assert error_code(invalid) == "context.invalid_key"
    after = await hub.store.get_workspace("team")
    assert before is not None
    assert after is not None
    assert after.head == before.head


async def test_the_workspace_comes_from_the_key_or_the_x_workspace_header_for_users(
    hub: Hub, base_url: str
) -> None:
    tokens = await _team(hub)
    async with httpx.AsyncClient(base_url=base_url) as rest:
        response = await rest.post(
            "/api/v1/auth/token", json={"username": "owner", "password": _password()}
        )
    access = response.json()["access_token"]
    await create_user(hub, "stranger")

    async with mcp_client(base_url, tokens["owner"], workspace="other") as client:
        mismatch = await client.call_tool("context_list", {})
    async with mcp_client(base_url, access) as client:
        required = await client.call_tool("context_list", {})
    async with mcp_client(base_url, access, workspace="team") as client:
        assert structured(await client.call_tool("context_list", {}))["entries"] == []
    async with mcp_client(base_url, access, workspace="nowhere") as client:
        unknown = await client.call_tool("context_list", {})

    assert error_code(mismatch) == "mcp.workspace_mismatch"
    assert error_code(required) == "mcp.workspace_required"
    assert error_code(unknown) == "workspace.not_found"


def _password() -> str:
    from tests.world import PASSWORD

    return PASSWORD


async def test_no_or_a_bad_credential_gets_401_pointing_at_the_resource_metadata(
    hub: Hub, base_url: str
) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    async with httpx.AsyncClient(base_url=base_url) as http:
        missing = await http.post("/mcp", json=body)
        bad = await http.post("/mcp", json=body, headers={"Authorization": "Bearer imx_nope"})
        metadata = await http.get("/.well-known/oauth-protected-resource/mcp")

    for response in (missing, bad):
        assert response.status_code == 401
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith("Bearer ")
        assert "resource_metadata=" in challenge
        assert "/.well-known/oauth-protected-resource/mcp" in challenge
    assert metadata.status_code == 200
    assert metadata.json()["resource"].endswith("/mcp")
    assert metadata.json()["bearer_methods_supported"] == ["header"]


async def test_a_browser_origin_other_than_the_hubs_own_or_loopback_is_refused(
    hub: Hub, base_url: str
) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Authorization": f"Bearer {bootstrap_key(hub)}"}
    async with httpx.AsyncClient(base_url=base_url) as http:
        evil = await http.post(
            "/mcp", json=body, headers={**headers, "Origin": "https://evil.example"}
        )
        local = await http.post(
            "/mcp", json=body, headers={**headers, "Origin": "http://localhost:5173"}
        )

    assert evil.status_code == 403
    assert evil.json()["code"] == "mcp.origin_forbidden"
    assert local.status_code != 403


async def test_unknown_paths_still_answer_problem_json_404(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.get("/nowhere")
    assert response.status_code == 404
    assert response.json()["code"] == "route.not_found"


@pytest.mark.parametrize("mode", ERAS)
async def test_resources_list_and_read_context_entries_and_the_briefing(
    hub: Hub, base_url: str, mode: str
) -> None:
    owner = Principal.key("k", name="k", workspace="default", role=Role.OWNER)
    await hub.context.put(owner, "default", "decisions/0001.md", text="Use SQLite by default.")
    await hub.context.put(owner, "default", "cfg/app", data={"port": 8765})

    async with mcp_client(base_url, bootstrap_key(hub), mode=mode) as client:
        listed = await client.list_resources()
        text = await client.read_resource("imx://default/context/decisions/0001.md")
        data = await client.read_resource("imx://default/context/cfg/app")
        briefing = await client.read_resource("imx://default/briefing")
        templates = await client.list_resource_templates()

    uris = [str(r.uri) for r in listed.resources]
    assert uris == [
        "imx://default/briefing",
        "imx://default/graph",
        "imx://default/context/cfg/app",
        "imx://default/context/decisions/0001.md",
    ]
    assert _text(text) == "Use SQLite by default."
    assert _text(data).replace(" ", "").replace("\n", "") == '{"port":8765}'
    assert "Use SQLite by default." in _text(briefing)
    assert "imx://{ws}/context/{+key}" in [t.uri_template for t in templates.resource_templates]


def _text(result: Any) -> str:
    content = result.contents[0]
    assert isinstance(content, TextResourceContents)
    return content.text


async def test_reading_another_workspaces_resource_is_refused(hub: Hub, base_url: str) -> None:
    tokens = await _team(hub)
    await hub.context.put(OWNER, "other", "notes/secret", text="s")
    async with mcp_client(base_url, tokens["owner"]) as client:
        with pytest.raises(Exception, match=r"workspace\.not_found"):
            await client.read_resource("imx://other/context/notes/secret")


async def test_the_project_briefing_prompt_assembles_the_current_context(
    hub: Hub, base_url: str
) -> None:
    owner = Principal.key("k", name="k", workspace="default", role=Role.OWNER)
    await hub.context.put(owner, "default", "conventions/style.md", text="Type hints everywhere.")
    await hub.context.put(owner, "default", "notes/todo.md", text="Ship the MCP face.")

    async with mcp_client(base_url, bootstrap_key(hub)) as client:
        prompts = await client.list_prompts()
        prompt = await client.get_prompt("project_briefing", {"task": "Add a CLI command"})

    assert "project_briefing" in [p.name for p in prompts.prompts]
    text = prompt.messages[0].content.text  # type: ignore[union-attr]
    assert text.index("Type hints everywhere.") < text.index("Ship the MCP face.")
    assert text.rstrip().endswith("Add a CLI command")


@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")
async def test_a_legacy_session_subscribed_to_an_entry_is_notified_of_a_rest_write(
    hub: Hub, base_url: str
) -> None:
    key = bootstrap_key(hub)
    uri = "imx://default/context/notes/live.md"
    updated: asyncio.Queue[str] = asyncio.Queue()

    async def on_message(message: Any) -> None:
        if getattr(message, "method", None) == "notifications/resources/updated":
            await updated.put(str(message.params.uri))

    async with mcp_client(base_url, key, mode=LEGACY, on_message=on_message) as client:
        await client.session.subscribe_resource(uri)
        async with httpx.AsyncClient(base_url=base_url) as rest:
            response = await rest.put(
                "/api/v1/workspaces/default/context/notes/live.md",
                json={"text": "changed over REST"},
                headers={"Authorization": f"Bearer {key}"},
            )
            assert response.status_code == 200
        async with asyncio.timeout(TIMEOUT):
            assert await updated.get() == uri


async def test_a_modern_listen_stream_is_notified_of_a_rest_write(hub: Hub, base_url: str) -> None:
    key = bootstrap_key(hub)
    uri = "imx://default/context/notes/live.md"
    async with (
        mcp_client(base_url, key, mode=MODERN) as client,
        client.listen(resource_subscriptions=[uri]) as subscription,
    ):
        async with httpx.AsyncClient(base_url=base_url) as rest:
            await rest.put(
                "/api/v1/workspaces/default/context/notes/live.md",
                json={"text": "changed over REST"},
                headers={"Authorization": f"Bearer {key}"},
            )
        async with asyncio.timeout(TIMEOUT):
            event = await anext(aiter(subscription))
    assert getattr(event, "uri", None) == uri


async def test_listening_to_another_workspaces_resource_is_refused(hub: Hub, base_url: str) -> None:
    tokens = await _team(hub)
    async with mcp_client(base_url, tokens["owner"], mode=MODERN) as client:
        with pytest.raises(Exception, match=r"workspace\.not_found"):
            async with client.listen(resource_subscriptions=["imx://other/context/x"]):
                pass


async def test_context_search_finds_entries_by_their_words_best_first(
    hub: Hub, base_url: str
) -> None:
    owner = Principal.key("k", name="k", workspace="default", role=Role.OWNER)
    await hub.context.put(
        owner, "default", "notes/retry.md", text="Retry with exponential backoff."
    )
    await hub.context.put(owner, "default", "notes/other.md", text="Nothing to see here.")

    async with mcp_client(base_url, bootstrap_key(hub)) as client:
        found = structured(await client.call_tool("context_search", {"query": "backoff"}))
        hostile = await client.call_tool("context_search", {"query": '"AND ('})

    assert [r["key"] for r in found["results"]] == ["notes/retry.md"]
    assert "backoff" in found["results"][0]["snippet"]
    assert not hostile.is_error or "[search." in hostile.content[0].text  # type: ignore[union-attr]


async def test_tool_calls_count_against_the_principals_rate_limit(settings: Any) -> None:
    async with (
        started_hub(settings.model_copy(update={"rate_limit": "3/minute"})) as limited,
        serving(limited) as url,
        mcp_client(url, bootstrap_key(limited)) as client,
    ):
        results = [await client.call_tool("context_list", {}) for _ in range(4)]

    assert [r.is_error for r in results] == [False, False, False, True]
    assert error_code(results[-1]) == "rate.limited"
    assert "retry after" in results[-1].content[0].text  # type: ignore[union-attr]
