"""The scripted memory session against the pinned reference server, over stdio with the SDK client.

This pins down what the reference answers, step by step, so the run against our server can be
compared with a recording that is known to be right.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client
from tests.mcpref.memory_script import (
    ALICE_MENTORS_BOB,
    ALICE_WORKS_ON,
    BILLING_USES_DB,
    BOB_WORKS_ON,
    CAROL_REVIEWS,
    STEPS,
    entity,
    normalise,
    run_script,
)
from tests.mcpref.reference import StdioCommand

START_TIMEOUT = 30.0

ALICE = entity("Alice", "person", "Works on the billing service", "Prefers Python")
BOB = entity("Bob", "person", "On call this week")
BILLING = entity("Billing Service", "service", "Written in Go", "Owns the invoices table")
POSTGRES = entity("Postgres", "database", "Version 16")
CAROL = entity("Carol", "person", "Joined in March")
ALICE_LEADING = {**ALICE, "observations": [*ALICE["observations"], "Leads the Q3 migration"]}


def graph(entities: list[dict[str, Any]], relations: list[dict[str, str]]) -> dict[str, Any]:
    return {"entities": entities, "relations": relations}


def both(answer: dict[str, Any]) -> tuple[Any, Any]:
    """A graph answer: the text content and the structured content are the same object."""
    return answer, answer


def deleted(what: str) -> tuple[str, dict[str, Any]]:
    message = f"{what} deleted successfully"
    return message, {"success": True, "message": message}


EMPTY = graph([], [])
ADDED = [
    {"entityName": "Alice", "addedObservations": ["Leads the Q3 migration"]},
    {"entityName": "Postgres", "addedObservations": ["Runs on port 5432"]},
]
ALL_RELATIONS = [ALICE_MENTORS_BOB, ALICE_WORKS_ON, BILLING_USES_DB, BOB_WORKS_ON, CAROL_REVIEWS]
# label: (content, structured) of the normalised record; None, None for a tool error.
EXPECTED: dict[str, tuple[Any, Any]] = {
    "an empty graph reads as empty lists": both(EMPTY),
    "new entities are created and answered": (
        [ALICE, BOB, BILLING, POSTGRES],
        {"entities": [ALICE, BOB, BILLING, POSTGRES]},
    ),
    "an entity whose name exists is skipped and left out of the answer": (
        [CAROL],
        {"entities": [CAROL]},
    ),
    "new relations are created and answered": (
        [ALICE_WORKS_ON, BOB_WORKS_ON, BILLING_USES_DB, ALICE_MENTORS_BOB],
        {"relations": [ALICE_WORKS_ON, BOB_WORKS_ON, BILLING_USES_DB, ALICE_MENTORS_BOB]},
    ),
    "an existing relation is skipped and left out of the answer": (
        [CAROL_REVIEWS],
        {"relations": [CAROL_REVIEWS]},
    ),
    "only observations an entity lacks are added and answered": (ADDED, {"results": ADDED}),
    "observations for a missing entity are a tool error": (None, None),
    "the failed call added nothing, not even to the entity that exists": both(
        graph([BOB], [ALICE_MENTORS_BOB, BOB_WORKS_ON])
    ),
    "search ignores case and matches observations": both(
        graph([ALICE_LEADING], [ALICE_MENTORS_BOB, ALICE_WORKS_ON])
    ),
    "search matches names and entity types": both(graph([ALICE_LEADING, BILLING], ALL_RELATIONS)),
    "a search that matches nothing answers empty lists": both(EMPTY),
    "open_nodes ignores unknown names": both(
        graph([BILLING], [ALICE_WORKS_ON, BILLING_USES_DB, BOB_WORKS_ON, CAROL_REVIEWS])
    ),
    "delete_observations ignores unknown observations and entities": deleted("Observations"),
    "delete_relations removes exact matches and ignores the rest": deleted("Relations"),
    "delete_entities ignores unknown names": deleted("Entities"),
    "a deleted entity is gone": both(EMPTY),
    "deleting an entity deleted its relations": both(
        graph(
            [
                entity("Alice", "person", "Works on the billing service", "Leads the Q3 migration"),
                BILLING,
                CAROL,
                entity("Postgres", "database", "Version 16", "Runs on port 5432"),
            ],
            [ALICE_WORKS_ON, BILLING_USES_DB, CAROL_REVIEWS],
        )
    ),
}


@pytest.mark.anyio
@pytest.mark.slow
async def test_the_reference_answers_the_script_as_recorded(memory_reference: StdioCommand) -> None:
    with anyio.fail_after(START_TIMEOUT):
        async with Client(memory_reference.parameters()) as client:
            records = await run_script(client)

    got = normalise(records)
    assert [r["label"] for r in got] == [label for label, _tool, _args in STEPS]
    assert {r["label"]: (r["content"], r["structured"]) for r in got} == EXPECTED
    assert [r["label"] for r in got if r["isError"]] == [
        "observations for a missing entity are a tool error"
    ]


def test_normalise_sorts_graph_answers_and_keeps_only_the_flag_of_an_error() -> None:
    unordered = graph([CAROL, ALICE], [CAROL_REVIEWS, ALICE_WORKS_ON])
    records = [
        {
            "label": "read",
            "tool": "read_graph",
            "arguments": {},
            "isError": False,
            "content": unordered,
            "structured": unordered,
        },
        {
            "label": "create",
            "tool": "create_entities",
            "arguments": {"entities": [CAROL, ALICE]},
            "isError": False,
            "content": [CAROL, ALICE],
            "structured": {"entities": [CAROL, ALICE]},
        },
        {
            "label": "fail",
            "tool": "add_observations",
            "arguments": {},
            "isError": True,
            "content": "Entity with name Dave not found",
            "structured": None,
        },
    ]

    ordered = graph([ALICE, CAROL], [ALICE_WORKS_ON, CAROL_REVIEWS])
    assert normalise(records) == [
        {**records[0], "content": ordered, "structured": ordered},
        records[1],
        {**records[2], "content": None},
    ]
