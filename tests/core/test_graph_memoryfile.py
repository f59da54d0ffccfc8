"""Import and export of the reference memory server's ``memory.jsonl``: an import merges (so a
second one adds nothing), a bad file imports nothing, and files go both ways between the
reference server and ours."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from tests.mcpref import reference

from infinity_matrix.core.knowledge.records import NewEntity
from infinity_matrix.errors import InvalidInput
from infinity_matrix.hub import Hub
from infinity_matrix.security.principals import Principal

WS = "default"
ADMIN = Principal.user("root", is_admin=True)
TIMEOUT = 60.0

FILE = "\n".join(
    json.dumps(line)
    for line in (
        {"type": "entity", "name": "Alice", "entityType": "person", "observations": ["a", "b"]},
        {"type": "entity", "name": "Bob", "entityType": "person", "observations": []},
        {"type": "relation", "from": "Alice", "to": "Bob", "relationType": "mentors"},
        {"type": "relation", "from": "Bob", "to": "Zed", "relationType": "knows"},
    )
)


async def _graph(hub: Hub, workspace: str = WS) -> dict[str, Any]:
    body = (await hub.graph.read_graph(ADMIN, workspace, limit=1000)).to_json()
    del body["next_cursor"]
    return body


async def _export(hub: Hub, workspace: str = WS) -> str:
    return "".join([line async for line in await hub.graph.export_jsonl(ADMIN, workspace)])


@pytest.mark.anyio
async def test_an_import_builds_the_files_graph_and_reports_what_it_added(hub: Hub) -> None:
    report = await hub.graph.import_jsonl(ADMIN, WS, FILE.encode(), source="import")

    assert (report.lines, report.entities, report.observations, report.relations) == (4, 2, 2, 2)
    assert await _graph(hub) == {
        "entities": [
            {"name": "Alice", "entityType": "person", "observations": ["a", "b"]},
            {"name": "Bob", "entityType": "person", "observations": []},
        ],
        "relations": [
            {"from": "Alice", "to": "Bob", "relationType": "mentors"},
            {"from": "Bob", "to": "Zed", "relationType": "knows"},
        ],
    }
    events = await hub.graph.history(ADMIN, WS, "Alice")
    assert {(e.actor, e.source) for e in events} == {("user:root", "import")}


@pytest.mark.anyio
async def test_importing_a_file_again_adds_nothing(hub: Hub) -> None:
    await hub.graph.import_jsonl(ADMIN, WS, FILE)
    head = (await hub.store.get_workspace(WS)).head  # type: ignore[union-attr]

    report = await hub.graph.import_jsonl(ADMIN, WS, FILE)

    assert (report.entities, report.observations, report.relations) == (0, 0, 0)
    assert report.seq == head
    assert (await hub.store.get_workspace(WS)).head == head  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_an_import_merges_into_existing_entities_and_repeated_lines(hub: Hub) -> None:
    await hub.graph.create_entities(ADMIN, WS, [NewEntity("Alice", "robot", ("b", "c"))])
    repeated = '{"type":"entity","name":"Bob","entityType":"cat","observations":["z","a"]}'
    other = '{"type":"something else","name":"x"}'

    report = await hub.graph.import_jsonl(ADMIN, WS, [*FILE.split("\n"), "", repeated, other])

    assert (report.entities, report.observations, report.relations) == (1, 3, 2)
    entities = (await _graph(hub))["entities"]
    assert entities == [
        {"name": "Alice", "entityType": "robot", "observations": ["b", "c", "a"]},
        {"name": "Bob", "entityType": "person", "observations": ["z", "a"]},
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("bad", "code"),
    [
        ("not json", "graph.invalid_import"),
        ("[1, 2]", "graph.invalid_import"),
        ('{"type":"entity","name":"","entityType":"t","observations":[]}', "graph.invalid_import"),
        ('{"type":"relation","from":"a","to":"b"}', "graph.invalid_import"),
        (
            '{"type":"entity","name":"n","entityType":"t","observations":"x"}',
            "graph.invalid_import",
        ),
    ],
)
async def test_a_bad_line_imports_nothing_and_says_which_line(
    hub: Hub, bad: str, code: str
) -> None:
    head = (await hub.store.get_workspace(WS)).head  # type: ignore[union-attr]
    with pytest.raises(InvalidInput) as caught:
        await hub.graph.import_jsonl(ADMIN, WS, f"{FILE}\n{bad}\n")
    assert (caught.value.code, caught.value.extra["line"]) == (code, 5)
    assert (await hub.store.get_workspace(WS)).head == head  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_an_export_is_the_reference_format_and_imports_back_to_the_same_graph(
    hub: Hub,
) -> None:
    await hub.graph.import_jsonl(ADMIN, WS, FILE)
    await hub.graph.create_entities(ADMIN, WS, [NewEntity("Zoë", "person", ('says "hi"',))])
    await hub.graph.delete_entities(ADMIN, WS, ["Bob"])

    exported = await _export(hub)

    # Compact JSON, keys in the reference's order, non-ASCII as is; Bob's relations went with him.
    assert exported == (
        '{"type":"entity","name":"Alice","entityType":"person","observations":["a","b"]}\n'
        '{"type":"entity","name":"Zoë","entityType":"person","observations":["says \\"hi\\""]}\n'
    )
    await hub.workspaces.create(ADMIN, "copy")
    await hub.graph.import_jsonl(ADMIN, "copy", exported)
    assert await _graph(hub, "copy") == await _graph(hub)


@pytest.mark.anyio
async def test_a_large_import_is_complete_and_pages_back_whole(hub: Hub) -> None:
    lines = [
        json.dumps(
            {"type": "entity", "name": f"e{i}", "entityType": "t", "observations": [f"o{i}"]}
        )
        for i in range(6000)
    ]
    lines += [
        json.dumps({"type": "relation", "from": f"e{i}", "to": f"e{i + 1}", "relationType": "r"})
        for i in range(6000)
    ]

    report = await hub.graph.import_jsonl(ADMIN, WS, "\n".join(lines))

    assert (report.entities, report.observations, report.relations) == (6000, 6000, 6000)
    compact = [json.dumps(json.loads(line), separators=(",", ":")) for line in lines]
    assert (await _export(hub)).splitlines() == compact


@pytest.fixture(scope="module")
def reference_argv() -> list[str]:
    try:
        return reference.install()
    except reference.NodeMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc}; CI must run the compatibility tests", pytrace=False)
        pytest.skip(str(exc))


async def _reference_session(argv: list[str], memory: Path, calls: list[tuple[str, Any]]) -> Any:
    """Play ``calls`` on the reference server keeping its graph in ``memory``; answers its
    final ``read_graph``."""
    with anyio.fail_after(TIMEOUT):
        async with Client(reference.command(argv, memory).parameters()) as client:
            for tool, arguments in calls:
                result = await client.call_tool(tool, arguments)
                assert not result.is_error, result
            return (await client.call_tool("read_graph", {})).structured_content


@pytest.mark.anyio
async def test_a_file_the_reference_wrote_imports_to_the_same_graph_and_exports_back(
    hub: Hub, reference_argv: list[str], tmp_path: Path
) -> None:
    written = tmp_path / "memory.jsonl"
    theirs = await _reference_session(
        reference_argv,
        written,
        [
            (
                "create_entities",
                {
                    "entities": [
                        {"name": "Alice", "entityType": "person", "observations": ["Ärger"]},
                        {"name": "Bob", "entityType": "person", "observations": []},
                        {"name": "Billing", "entityType": "service", "observations": ["Go"]},
                    ]
                },
            ),
            (
                "create_relations",
                {"relations": [{"from": "Alice", "to": "Bob", "relationType": "mentors"}]},
            ),
            ("add_observations", {"observations": [{"entityName": "Bob", "contents": ["x"]}]}),
            ("delete_entities", {"entityNames": ["Billing"]}),
        ],
    )

    await hub.graph.import_jsonl(ADMIN, WS, written.read_bytes())
    assert await _graph(hub) == theirs

    ours = tmp_path / "ours.jsonl"
    ours.write_text(await _export(hub), encoding="utf-8")
    assert await _reference_session(reference_argv, ours, []) == theirs
