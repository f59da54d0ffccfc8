"""Insights and retrieval over MCP: one assistant records, another finds, judges and retrieves."""

from __future__ import annotations

import pytest
from tests.mcp.client import ERAS, error_code, mcp_client, structured
from tests.world import bootstrap_key, create_user

from infinity_matrix.hub import Hub
from infinity_matrix.security.access import Role
from infinity_matrix.security.principals import Principal

pytestmark = pytest.mark.anyio
OWNER = Principal.user("owner")


@pytest.mark.parametrize("mode", ERAS)
async def test_an_insight_recorded_by_one_client_is_found_and_its_repeat_corroborates(
    hub: Hub, base_url: str, mode: str
) -> None:
    key = bootstrap_key(hub)
    insight = {
        "kind": "pitfall",
        "title": "SQLite needs WAL mode for concurrent readers",
        "body": "Without WAL, readers block the writer; the hub sets journal_mode=WAL.",
        "tags": ["sqlite"],
        "model": "model-a",
    }
    async with mcp_client(base_url, key, mode=mode) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        first = structured(await client.call_tool("insight_record", insight))
        found = structured(await client.call_tool("insight_list", {"query": "WAL readers"}))
        shown = structured(await client.call_tool("insight_get", {"id": first["insight"]["id"]}))
    again = {**insight, "model": "model-b"}
    async with mcp_client(base_url, key, mode=mode) as other:
        second = structured(await other.call_tool("insight_record", again))

    assert {"insight_record", "insight_list", "insight_get", "insight_feedback"} <= tools
    assert "retrieve_context" in tools
    assert first["outcome"] == "recorded"
    assert first["insight"]["assistant"] == "mcp"  # the SDK client's declared name
    assert [i["id"] for i in found["insights"]] == [first["insight"]["id"]]
    parts = shown["confidence"]["parts"]
    assert sum(p["value"] for p in parts) == pytest.approx(shown["confidence"]["value"])
    assert second["outcome"] == "corroborated"
    assert second["insight"]["id"] == first["insight"]["id"]
    assert second["insight"]["corroborations"] == 1


async def test_feedback_through_mcp_changes_the_insight_and_a_viewer_cannot_record(
    hub: Hub, base_url: str
) -> None:
    await create_user(hub, "owner")
    await hub.workspaces.create(OWNER, "team")
    viewer = (await hub.keys.create(OWNER, "team", "viewer key", Role.VIEWER.value)).token
    editor = (await hub.keys.create(OWNER, "team", "editor key", Role.EDITOR.value)).token
    before = await hub.store.get_workspace("team")
    async with mcp_client(base_url, viewer) as client:
        refused = await client.call_tool(
            "insight_record", {"kind": "fact", "title": "t", "body": "b"}
        )
        bad_kind = await client.call_tool(
            "insight_list",
            {"kind": "rumour"},  # not a kind: a validation error
        )
    after = await hub.store.get_workspace("team")
    async with mcp_client(base_url, editor) as client:
        recorded = structured(
            await client.call_tool(
                "insight_record",
                {"kind": "fact", "title": "Staging uses port 5433", "body": "Not 5432."},
            )
        )
        rated = structured(
            await client.call_tool(
                "insight_feedback", {"id": recorded["insight"]["id"], "verdict": "outdated"}
            )
        )
        missing = await client.call_tool("insight_get", {"id": 999_999})

    assert error_code(refused) == "auth.forbidden"
    assert bad_kind.is_error
    assert before is not None
    assert after is not None
    assert after.head == before.head
    assert rated["insight"]["status"] == "outdated"
    assert rated["insight"]["feedback"]["outdated"] == 1
    assert error_code(missing) == "insight.not_found"


async def test_retrieve_context_packs_relevant_items_into_the_budget_and_the_prompt_uses_it(
    hub: Hub, base_url: str
) -> None:
    owner = Principal.key("k", name="k", workspace="default", role=Role.OWNER)
    await hub.context.put(
        owner,
        "default",
        "notes/deploy.md",
        text="Deploys run from the release branch; tag the commit, then run make deploy.",
    )
    await hub.context.put(owner, "default", "notes/lunch.md", text="Pizza on Fridays.")

    async with mcp_client(base_url, bootstrap_key(hub)) as client:
        package = structured(
            await client.call_tool(
                "retrieve_context", {"task": "how do I deploy a release", "budget_tokens": 300}
            )
        )
        prompt = await client.get_prompt("project_briefing", {"task": "deploy the release branch"})

    keys = [item.get("key") for item in package["items"]]
    assert keys[0] == "notes/deploy.md"
    assert package["tokens_used"] <= 300
    text = prompt.messages[0].content.text  # type: ignore[union-attr]
    assert "Most relevant to your task" in text
    assert text.rstrip().endswith("deploy the release branch")
