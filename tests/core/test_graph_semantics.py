"""The graph service answers the reference memory server's nine operations as the reference does
(``@modelcontextprotocol/server-memory`` 2026.8.31, read from its ``dist/index.js``): the same
skips, the same error, the same relation rule for search and open, in creation order.
"""

from __future__ import annotations

from typing import Any

import pytest

from infinity_matrix.core.knowledge.records import (
    GraphPage,
    NewEntity,
    NewObservations,
    NewRelation,
    ObservationDeletion,
    Relation,
)
from infinity_matrix.errors import NotFound
from infinity_matrix.hub import Hub
from infinity_matrix.security.principals import Principal

WS = "default"
ADMIN = Principal.user("root", is_admin=True)  # acts as owner of every workspace


def entity(name: str, entity_type: str, *observations: str) -> dict[str, Any]:
    return {"name": name, "entityType": entity_type, "observations": list(observations)}


def rel(source: str, relation_type: str, target: str) -> dict[str, str]:
    return {"from": source, "to": target, "relationType": relation_type}


def graph(page: GraphPage) -> dict[str, Any]:
    body = page.to_json()
    assert body.pop("next_cursor") is None
    return body


async def seed(hub: Hub) -> None:
    await hub.graph.create_entities(
        ADMIN,
        WS,
        [
            NewEntity("Alice", "person", ("Works on billing", "Prefers Python")),
            NewEntity("Bob", "person", ("On call this week",)),
            NewEntity("Billing", "service", ("Written in Go",)),
        ],
    )
    await hub.graph.create_relations(
        ADMIN,
        WS,
        [
            NewRelation("Alice", "Billing", "works_on"),
            NewRelation("Bob", "Billing", "works_on"),
            NewRelation("Alice", "Bob", "mentors"),
        ],
    )


@pytest.mark.anyio
async def test_creating_entities_answers_only_the_new_ones_and_skips_existing_names(
    hub: Hub,
) -> None:
    first = await hub.graph.create_entities(
        ADMIN, WS, [NewEntity("Alice", "person", ("Prefers Python",))]
    )
    again = await hub.graph.create_entities(
        ADMIN,
        WS,
        [NewEntity("Alice", "robot", ("Other",)), NewEntity("Carol", "person", ())],
    )

    assert [e.to_json() for e in first.items] == [entity("Alice", "person", "Prefers Python")]
    assert [e.to_json() for e in again.items] == [entity("Carol", "person")]
    assert graph(await hub.graph.read_graph(ADMIN, WS))["entities"] == [
        entity("Alice", "person", "Prefers Python"),
        entity("Carol", "person"),
    ]


@pytest.mark.anyio
async def test_a_name_repeated_in_one_call_is_created_once(hub: Hub) -> None:
    # The reference would store both (it checks only against the stored graph); names are
    # unique here, so the first wins, as a second call would have it.
    change = await hub.graph.create_entities(
        ADMIN, WS, [NewEntity("Ann", "person", ("a", "a", "b")), NewEntity("Ann", "robot", ())]
    )
    assert [e.to_json() for e in change.items] == [entity("Ann", "person", "a", "b")]


@pytest.mark.anyio
async def test_creating_relations_skips_exact_duplicates_and_needs_no_entities(hub: Hub) -> None:
    first = await hub.graph.create_relations(
        ADMIN, WS, [NewRelation("Ghost", "Nobody", "haunts"), NewRelation("A", "B", "knows")]
    )
    again = await hub.graph.create_relations(
        ADMIN,
        WS,
        [
            NewRelation("A", "B", "knows"),
            NewRelation("A", "B", "likes"),
            NewRelation("B", "A", "knows"),
            NewRelation("B", "A", "knows"),
        ],
    )

    assert [r.to_json() for r in first.items] == [
        rel("Ghost", "haunts", "Nobody"),
        rel("A", "knows", "B"),
    ]
    assert [r.to_json() for r in again.items] == [rel("A", "likes", "B"), rel("B", "knows", "A")]
    assert graph(await hub.graph.read_graph(ADMIN, WS)) == {
        "entities": [],
        "relations": [
            rel("Ghost", "haunts", "Nobody"),
            rel("A", "knows", "B"),
            rel("A", "likes", "B"),
            rel("B", "knows", "A"),
        ],
    }


@pytest.mark.anyio
async def test_adding_observations_answers_each_item_with_only_the_contents_that_were_new(
    hub: Hub,
) -> None:
    await seed(hub)
    change = await hub.graph.add_observations(
        ADMIN,
        WS,
        [
            NewObservations("Alice", ("Prefers Python", "Leads Q3")),
            NewObservations("Bob", ("On call this week",)),
            NewObservations("Alice", ("Leads Q3", "Plays chess")),
        ],
    )

    assert [i.to_json() for i in change.items] == [
        {"entityName": "Alice", "addedObservations": ["Leads Q3"]},
        {"entityName": "Bob", "addedObservations": []},
        {"entityName": "Alice", "addedObservations": ["Plays chess"]},
    ]
    opened = graph(await hub.graph.open_nodes(ADMIN, WS, ["Alice"]))
    assert opened["entities"] == [
        entity("Alice", "person", "Works on billing", "Prefers Python", "Leads Q3", "Plays chess")
    ]


@pytest.mark.anyio
async def test_observations_for_a_missing_entity_are_refused_and_add_nothing(hub: Hub) -> None:
    await seed(hub)
    before = graph(await hub.graph.read_graph(ADMIN, WS))

    with pytest.raises(NotFound) as caught:
        await hub.graph.add_observations(
            ADMIN,
            WS,
            [NewObservations("Bob", ("Back from leave",)), NewObservations("Dave", ("New",))],
        )

    assert caught.value.code == "graph.entity_not_found"
    # The reference's own message, which prompts and clients may look for.
    assert caught.value.detail == "Entity with name Dave not found"
    assert graph(await hub.graph.read_graph(ADMIN, WS)) == before


@pytest.mark.anyio
async def test_deleting_entities_deletes_every_relation_touching_them_and_ignores_unknown_names(
    hub: Hub,
) -> None:
    await seed(hub)
    await hub.graph.create_relations(
        ADMIN, WS, [NewRelation("Ghost", "Billing", "haunts"), NewRelation("Zed", "Ghost", "x")]
    )

    change = await hub.graph.delete_entities(ADMIN, WS, ["Bob", "Nobody", "Ghost"])

    assert change.items == ["Bob"]
    # Like the reference, relations to a name are deleted even when no entity has that name.
    assert graph(await hub.graph.read_graph(ADMIN, WS)) == {
        "entities": [
            entity("Alice", "person", "Works on billing", "Prefers Python"),
            entity("Billing", "service", "Written in Go"),
        ],
        "relations": [rel("Alice", "works_on", "Billing")],
    }


@pytest.mark.anyio
async def test_deleting_observations_removes_only_the_given_contents(hub: Hub) -> None:
    await seed(hub)
    change = await hub.graph.delete_observations(
        ADMIN,
        WS,
        [
            ObservationDeletion("Alice", ("Prefers Python", "Never said")),
            ObservationDeletion("Nobody", ("x",)),
        ],
    )

    assert [d.to_json() for d in change.items] == [
        {"entityName": "Alice", "observations": ["Prefers Python"]}
    ]
    opened = graph(await hub.graph.open_nodes(ADMIN, WS, ["Alice"]))
    assert opened["entities"] == [entity("Alice", "person", "Works on billing")]


@pytest.mark.anyio
async def test_deleting_relations_removes_exact_matches_only(hub: Hub) -> None:
    await seed(hub)
    change = await hub.graph.delete_relations(
        ADMIN,
        WS,
        [Relation("Alice", "Bob", "mentors"), Relation("Bob", "Alice", "mentors")],
    )

    assert [r.to_json() for r in change.items] == [rel("Alice", "mentors", "Bob")]
    assert graph(await hub.graph.read_graph(ADMIN, WS))["relations"] == [
        rel("Alice", "works_on", "Billing"),
        rel("Bob", "works_on", "Billing"),
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("ali", ["Alice"]),  # in a name
        ("PERSON", ["Alice", "Bob"]),  # in a type, any case
        ("python", ["Alice"]),  # in an observation
        ("y", ["Alice"]),  # shorter than a trigram: scanned, not looked up
        ("BO", ["Bob", "Xavier"]),  # a name, and the type "robot"
        ("in go", ["Billing"]),
        ("", ["Alice", "Bob", "Billing", "Xavier"]),  # every string contains the empty one
        ("nothing like it", []),
    ],
)
async def test_search_is_a_case_insensitive_substring_match_on_name_type_and_observations(
    hub: Hub, query: str, names: list[str]
) -> None:
    await seed(hub)
    await hub.graph.create_entities(ADMIN, WS, [NewEntity("Xavier", "robot", ("beeps",))])
    page = await hub.graph.search_nodes(ADMIN, WS, query)
    assert sorted(e.name for e in page.entities) == sorted(names)


@pytest.mark.anyio
async def test_search_folds_the_case_of_non_ascii_letters(hub: Hub) -> None:
    await hub.graph.create_entities(
        ADMIN, WS, [NewEntity("Jürgen", "Person", ("Ärger im Büro",)), NewEntity("Ola", "x", ())]
    )
    for query in ("ärger im", "JÜRGEN", "büro"):
        page = await hub.graph.search_nodes(ADMIN, WS, query)
        assert [e.name for e in page.entities] == ["Jürgen"], query


@pytest.mark.anyio
async def test_wildcards_and_quotes_in_a_query_are_literal_text(hub: Hub) -> None:
    await hub.graph.create_entities(
        ADMIN,
        WS,
        [
            NewEntity("percent", "t", ('50% off "sale"', "a_b\\c")),
            NewEntity("plain", "t", ("50 off sale", "axb c")),
        ],
    )
    for query in ('0% off "s', "50%", "a_b", "_b\\c", '"sale"', "%", "_"):
        page = await hub.graph.search_nodes(ADMIN, WS, query)
        assert [e.name for e in page.entities] == ["percent"], query


@pytest.mark.anyio
async def test_search_answers_every_relation_with_at_least_one_end_among_the_found_entities(
    hub: Hub,
) -> None:
    await seed(hub)
    await hub.graph.create_relations(ADMIN, WS, [NewRelation("Ghost", "Bob", "haunts")])

    assert graph(await hub.graph.search_nodes(ADMIN, WS, "on call")) == {
        "entities": [entity("Bob", "person", "On call this week")],
        "relations": [
            rel("Bob", "works_on", "Billing"),
            rel("Alice", "mentors", "Bob"),
            rel("Ghost", "haunts", "Bob"),
        ],
    }


@pytest.mark.anyio
async def test_open_answers_the_named_entities_that_exist_and_every_relation_touching_them(
    hub: Hub,
) -> None:
    await seed(hub)
    await hub.graph.create_relations(ADMIN, WS, [NewRelation("Ghost", "Nobody", "haunts")])

    assert graph(await hub.graph.open_nodes(ADMIN, WS, ["Billing", "Nobody", "Billing"])) == {
        "entities": [entity("Billing", "service", "Written in Go")],
        "relations": [rel("Alice", "works_on", "Billing"), rel("Bob", "works_on", "Billing")],
    }
    assert graph(await hub.graph.open_nodes(ADMIN, WS, ["Nobody"])) == {
        "entities": [],
        "relations": [],
    }
    assert graph(await hub.graph.open_nodes(ADMIN, WS, [])) == {"entities": [], "relations": []}


@pytest.mark.anyio
async def test_a_deleted_name_created_again_is_a_new_entity_without_the_old_facts(
    hub: Hub,
) -> None:
    await seed(hub)
    await hub.graph.delete_entities(ADMIN, WS, ["Alice"])
    created = await hub.graph.create_entities(ADMIN, WS, [NewEntity("Alice", "robot", ("New",))])

    assert [e.to_json() for e in created.items] == [entity("Alice", "robot", "New")]
    body = graph(await hub.graph.read_graph(ADMIN, WS))
    # Re-created last, it is listed last, as the reference appends it to its file.
    assert body == {
        "entities": [
            entity("Bob", "person", "On call this week"),
            entity("Billing", "service", "Written in Go"),
            entity("Alice", "robot", "New"),
        ],
        "relations": [rel("Bob", "works_on", "Billing")],
    }
    assert [e.name for e in (await hub.graph.search_nodes(ADMIN, WS, "python")).entities] == []
