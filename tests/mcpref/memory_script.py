"""A scripted session with the nine knowledge-graph memory tools, recorded for comparing servers.

``run_script`` plays ``STEPS`` against any server that claims to be drop-in compatible with the
reference (``@modelcontextprotocol/server-memory``) and records what each call answered;
``normalise`` makes two recordings comparable. The script is a small team's project memory and
covers the reference's edge cases: duplicate entities, relations and observations are skipped
(and left out of the answer), ``add_observations`` on a missing entity is a tool error that
applies nothing of the call, deleting an entity deletes its relations, search is a
case-insensitive substring match over names, types and observations, unknown names are ignored
by ``open_nodes`` and by the deletions, and graph answers carry every relation with at least one
end in the answered entities.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

import anyio
from mcp_types import CallToolResult, TextContent

CALL_TIMEOUT = 10.0
# Tools whose answer is a graph ({"entities": [...], "relations": [...]}).
GRAPH_TOOLS = frozenset({"read_graph", "search_nodes", "open_nodes"})


class ToolCaller(Protocol):
    """What the script needs of a connected client: ``mcp.Client`` or a ``ClientSession``."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any] | None = None
    ) -> CallToolResult: ...


def entity(name: str, entity_type: str, *observations: str) -> dict[str, Any]:
    return {"name": name, "entityType": entity_type, "observations": list(observations)}


def relation(source: str, relation_type: str, target: str) -> dict[str, str]:
    return {"from": source, "to": target, "relationType": relation_type}


ALICE_WORKS_ON = relation("Alice", "works_on", "Billing Service")
BOB_WORKS_ON = relation("Bob", "works_on", "Billing Service")
BILLING_USES_DB = relation("Billing Service", "depends_on", "Postgres")
ALICE_MENTORS_BOB = relation("Alice", "mentors", "Bob")
CAROL_REVIEWS = relation("Carol", "reviews", "Billing Service")

# (label, tool, arguments): the label names the behaviour the step shows.
STEPS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("an empty graph reads as empty lists", "read_graph", {}),
    (
        "new entities are created and answered",
        "create_entities",
        {
            "entities": [
                entity("Alice", "person", "Works on the billing service", "Prefers Python"),
                entity("Bob", "person", "On call this week"),
                entity("Billing Service", "service", "Written in Go", "Owns the invoices table"),
                entity("Postgres", "database", "Version 16"),
            ]
        },
    ),
    (
        "an entity whose name exists is skipped and left out of the answer",
        "create_entities",
        {
            "entities": [
                entity("Alice", "robot", "Would overwrite Alice"),
                entity("Carol", "person", "Joined in March"),
            ]
        },
    ),
    (
        "new relations are created and answered",
        "create_relations",
        {"relations": [ALICE_WORKS_ON, BOB_WORKS_ON, BILLING_USES_DB, ALICE_MENTORS_BOB]},
    ),
    (
        "an existing relation is skipped and left out of the answer",
        "create_relations",
        {"relations": [ALICE_WORKS_ON, CAROL_REVIEWS]},
    ),
    (
        "only observations an entity lacks are added and answered",
        "add_observations",
        {
            "observations": [
                {"entityName": "Alice", "contents": ["Prefers Python", "Leads the Q3 migration"]},
                {"entityName": "Postgres", "contents": ["Runs on port 5432"]},
            ]
        },
    ),
    (
        "observations for a missing entity are a tool error",
        "add_observations",
        {
            "observations": [
                {"entityName": "Bob", "contents": ["Back from leave"]},
                {"entityName": "Dave", "contents": ["New hire"]},
            ]
        },
    ),
    (
        "the failed call added nothing, not even to the entity that exists",
        "open_nodes",
        {"names": ["Bob"]},
    ),
    ("search ignores case and matches observations", "search_nodes", {"query": "PYTHON"}),
    ("search matches names and entity types", "search_nodes", {"query": "service"}),
    ("a search that matches nothing answers empty lists", "search_nodes", {"query": "kubernetes"}),
    (
        "open_nodes ignores unknown names",
        "open_nodes",
        {"names": ["Billing Service", "Nobody"]},
    ),
    (
        "delete_observations ignores unknown observations and entities",
        "delete_observations",
        {
            "deletions": [
                {"entityName": "Alice", "observations": ["Prefers Python", "Never said"]},
                {"entityName": "Nobody", "observations": ["Anything"]},
            ]
        },
    ),
    (
        "delete_relations removes exact matches and ignores the rest",
        "delete_relations",
        {"relations": [ALICE_MENTORS_BOB, relation("Carol", "mentors", "Alice")]},
    ),
    (
        "delete_entities ignores unknown names",
        "delete_entities",
        {"entityNames": ["Bob", "Nobody"]},
    ),
    ("a deleted entity is gone", "open_nodes", {"names": ["Bob"]}),
    ("deleting an entity deleted its relations", "read_graph", {}),
)


async def run_script(session: ToolCaller) -> list[dict[str, Any]]:
    """Play ``STEPS`` on a connected client; one record per step.

    A record holds ``label``, ``tool``, ``arguments``, ``isError``, ``content`` (the text
    content parsed as JSON, or the raw text when it is not JSON) and ``structured`` (the
    ``structuredContent``, or ``None``). Each call is bounded by ``CALL_TIMEOUT`` seconds.
    """
    records = []
    for label, tool, arguments in STEPS:
        with anyio.fail_after(CALL_TIMEOUT):
            result = await session.call_tool(tool, arguments)
        records.append(
            {
                "label": label,
                "tool": tool,
                "arguments": arguments,
                "isError": bool(result.is_error),
                "content": parse_text(result),
                "structured": result.structured_content,
            }
        )
    return records


def parse_text(result: CallToolResult) -> Any:
    """The text content as JSON, else as the raw text (the reference's deletions answer prose)."""
    text = "".join(part.text for part in result.content if isinstance(part, TextContent))
    try:
        return json.loads(text)
    except ValueError:
        return text


def normalise(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records made comparable between two servers.

    Graph answers list entities and relations in the order of the reference's JSONL file
    (insertion order, a storage detail), so they are sorted: entities by name, relations by
    (from, relationType, to). The answers of the create and add tools follow the order of the
    request, and observations keep the order they were added in: both are meaningful and kept.
    A tool error keeps only its flag: its message is free text.
    """
    normalised = []
    for record in records:
        if record["isError"]:
            kept = {k: record[k] for k in ("label", "tool", "arguments", "isError")}
            normalised.append({**kept, "content": None, "structured": None})
            continue
        sort = _sorted_graph if record["tool"] in GRAPH_TOOLS else _unchanged
        normalised.append(
            {**record, "content": sort(record["content"]), "structured": sort(record["structured"])}
        )
    return normalised


def _sorted_graph(graph: Any) -> Any:
    if not isinstance(graph, dict):
        return graph
    entities = sorted(graph.get("entities", []), key=lambda e: e["name"])
    relations = sorted(
        graph.get("relations", []), key=lambda r: (r["from"], r["relationType"], r["to"])
    )
    return {**graph, "entities": entities, "relations": relations}


def _unchanged(value: Any) -> Any:
    return value
