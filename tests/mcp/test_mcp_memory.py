"""The knowledge-graph memory tools over MCP: concurrency, authorization, paging, provenance,
the graph resource and its change notifications."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client, StdioServerParameters
from tests.mcp.client import ERAS, LEGACY, MODERN, error_code, mcp_client, structured
from tests.world import bootstrap_key

from infinity_matrix.hub import Hub
from infinity_matrix.security.access import Role
from infinity_matrix.security.principals import Principal

pytestmark = pytest.mark.anyio
OWNER = Principal.user("owner")
TIMEOUT = 10.0
IMX = str(Path(sys.executable).with_name("imx"))


def _entity(name: str, *observations: str) -> dict[str, Any]:
    return {"name": name, "entityType": "person", "observations": list(observations)}


@pytest.mark.parametrize("mode", ERAS)
async def test_twenty_pipelined_create_entities_calls_from_one_client_all_stay(
    hub: Hub, base_url: str, mode: str
) -> None:
    async with mcp_client(base_url, bootstrap_key(hub), mode=mode) as client:
        created = await asyncio.gather(
            *(
                client.call_tool("create_entities", {"entities": [_entity(f"p{i}", f"o{i}")]})
                for i in range(20)
            )
        )
        graph = structured(await client.call_tool("read_graph", {}))

    assert all(structured(r)["entities"] for r in created)
    assert sorted(e["name"] for e in graph["entities"]) == sorted(f"p{i}" for i in range(20))


async def test_twenty_create_entities_split_across_two_local_processes_all_stay(
    tmp_path: Path,
) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "IMX_HOME": str(tmp_path / "home")}
    params = StdioServerParameters(command=IMX, args=["mcp", "--local"], env=env)
    async with Client(params, read_timeout_seconds=60) as first:
        async with Client(params, mode=LEGACY, read_timeout_seconds=60) as second:
            await asyncio.gather(
                *(
                    (first if i % 2 else second).call_tool(
                        "create_entities", {"entities": [_entity(f"p{i}")]}
                    )
                    for i in range(20)
                )
            )
        graph = structured(await first.call_tool("read_graph", {}))

    assert sorted(e["name"] for e in graph["entities"]) == sorted(f"p{i}" for i in range(20))


async def test_a_viewer_key_reads_the_graph_but_writing_is_a_tool_error(
    hub: Hub, base_url: str
) -> None:
    owner = Principal.key("k", name="k", workspace="default", role=Role.OWNER)
    viewer = await hub.keys.create(owner, "default", "viewer", "viewer")
    async with mcp_client(base_url, bootstrap_key(hub)) as client:
        structured(await client.call_tool("create_entities", {"entities": [_entity("Ada")]}))
    async with mcp_client(base_url, viewer.token) as client:
        read = structured(await client.call_tool("open_nodes", {"names": ["Ada"]}))
        refused = await client.call_tool("create_entities", {"entities": [_entity("Bob")]})
        deleting = await client.call_tool("delete_entities", {"entityNames": ["Ada"]})

    assert [e["name"] for e in read["entities"]] == ["Ada"]
    assert error_code(refused) == "auth.forbidden"
    assert error_code(deleting) == "auth.forbidden"


async def test_read_graph_pages_with_next_cursor_until_the_whole_graph_is_read(
    hub: Hub, base_url: str
) -> None:
    async with mcp_client(base_url, bootstrap_key(hub)) as client:
        entities = [_entity(f"n{i:02}") for i in range(12)]
        structured(await client.call_tool("create_entities", {"entities": entities}))
        relations = [
            {"from": f"n{i:02}", "to": f"n{i + 1:02}", "relationType": "precedes"}
            for i in range(11)
        ]
        structured(await client.call_tool("create_relations", {"relations": relations}))
        seen: dict[str, list[Any]] = {"entities": [], "relations": []}
        cursor = None
        pages = 0
        while True:
            args: dict[str, Any] = {"limit": 5}
            if cursor:
                args["cursor"] = cursor
            page = structured(await client.call_tool("read_graph", args))
            pages += 1
            seen["entities"] += page["entities"]
            seen["relations"] += page["relations"]
            cursor = page.get("nextCursor")
            if cursor is None:
                break

    assert pages == 5
    assert len(seen["entities"]) == 12
    assert len(seen["relations"]) == 11


async def test_graph_writes_record_which_assistant_made_them(hub: Hub, base_url: str) -> None:
    async with mcp_client(base_url, bootstrap_key(hub)) as client:
        structured(await client.call_tool("create_entities", {"entities": [_entity("Ada")]}))
        changes = structured(await client.call_tool("changes_since", {"prefix": "graph/"}))

    assert [(c["type"], c["source"]) for c in changes["changes"]] == [("entity.created", "mcp:mcp")]


async def test_the_graph_resource_reads_and_notifies_after_a_rest_graph_write(
    hub: Hub, base_url: str
) -> None:
    key = bootstrap_key(hub)
    uri = "imx://default/graph"
    async with (
        mcp_client(base_url, key, mode=MODERN) as client,
        client.listen(resource_subscriptions=[uri]) as subscription,
    ):
        async with httpx.AsyncClient(base_url=base_url) as rest:
            response = await rest.post(
                "/api/v1/workspaces/default/graph/entities",
                json={"entities": [_entity("Ada", "wrote the first program")]},
                headers={"Authorization": f"Bearer {key}"},
            )
            assert response.status_code == 200, response.text
        async with asyncio.timeout(TIMEOUT):
            event = await anext(aiter(subscription))
        content = await client.read_resource(uri)

    assert getattr(event, "uri", None) == uri
    assert '"wrote the first program"' in content.contents[0].text  # type: ignore[union-attr]
