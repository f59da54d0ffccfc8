"""Every fact of the graph keeps its provenance, confidence and validity; deletions supersede
instead of erasing; the log says what happened to a name; repeats with one idempotency key append
nothing; and replaying the log rebuilds exactly the graph that live writes built."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
import sqlalchemy as sa

from infinity_matrix.core.knowledge.records import (
    NewEntity,
    NewObservations,
    NewRelation,
    ObservationDeletion,
    Relation,
)
from infinity_matrix.core.sync.replay import replay_all
from infinity_matrix.errors import Conflict, InfinityMatrixError, InvalidInput, TooLarge
from infinity_matrix.hub import Hub
from infinity_matrix.security.principals import Principal
from infinity_matrix.storage import tables

WS = "default"
ADMIN = Principal.user("root", is_admin=True)


@pytest.mark.anyio
async def test_every_fact_records_who_wrote_it_through_what_how_sure_and_since_when(
    hub: Hub,
) -> None:
    created = await hub.graph.create_entities(
        ADMIN, WS, [NewEntity("Alice", "person", ("Prefers Python",), confidence=0.8)], source="gpt"
    )
    await hub.graph.add_observations(
        ADMIN, WS, [NewObservations("Alice", ("Leads Q3",))], source="claude"
    )
    await hub.graph.create_relations(
        ADMIN, WS, [NewRelation("Alice", "Bob", "mentors", confidence=0.5)], source="gemini"
    )

    page = (await hub.graph.read_graph(ADMIN, WS)).to_json(details=True)
    alice, mentors = page["entities"][0], page["relations"][0]
    assert (alice["actor"], alice["source"], alice["confidence"], alice["valid_to"]) == (
        "user:root",
        "gpt",
        0.8,
        None,
    )
    assert alice["seq"] == created.seq
    assert alice["valid_from"] == created.items[0].provenance.valid_from.isoformat()
    assert [(o["content"], o["source"], o["confidence"]) for o in alice["observation_details"]] == [
        ("Prefers Python", "gpt", 0.8),
        ("Leads Q3", "claude", 1.0),
    ]
    assert (mentors["from"], mentors["source"], mentors["confidence"]) == ("Alice", "gemini", 0.5)


@pytest.mark.anyio
async def test_a_deletion_supersedes_facts_and_keeps_their_rows(hub: Hub) -> None:
    await hub.graph.create_entities(ADMIN, WS, [NewEntity("Alice", "person", ("a", "b"))])
    await hub.graph.create_relations(ADMIN, WS, [NewRelation("Alice", "Bob", "knows")])
    dropped = await hub.graph.delete_observations(ADMIN, WS, [ObservationDeletion("Alice", ("a",))])
    deleted = await hub.graph.delete_entities(ADMIN, WS, ["Alice"])

    async with hub.database.read() as conn:
        entities = (await conn.execute(sa.select(tables.graph_entities))).all()
        observations = (
            await conn.execute(
                sa.select(tables.graph_observations).order_by(tables.graph_observations.c.ord)
            )
        ).all()
        relations = (await conn.execute(sa.select(tables.graph_relations))).all()
    assert [(e.name, e.superseded_seq) for e in entities] == [("Alice", deleted.seq)]
    assert [(o.content, o.superseded_seq) for o in observations] == [
        ("a", dropped.seq),
        ("b", deleted.seq),
    ]
    assert [(r.to_name, r.superseded_seq) for r in relations] == [("Bob", deleted.seq)]
    assert all(row.valid_to is not None for row in [*entities, *observations, *relations])


@pytest.mark.anyio
async def test_history_lists_what_happened_to_a_name_newest_first_across_its_lives(
    hub: Hub,
) -> None:
    first = await hub.graph.create_entities(ADMIN, WS, [NewEntity("Alice", "person", ())])
    added = await hub.graph.add_observations(ADMIN, WS, [NewObservations("Alice", ("x",))])
    related = await hub.graph.create_relations(ADMIN, WS, [NewRelation("Alice", "Bob", "knows")])
    await hub.graph.create_relations(ADMIN, WS, [NewRelation("Bob", "Alice", "knows")])
    dropped = await hub.graph.delete_observations(ADMIN, WS, [ObservationDeletion("Alice", ("x",))])
    deleted = await hub.graph.delete_entities(ADMIN, WS, ["Alice"], source="cli")
    again = await hub.graph.create_entities(ADMIN, WS, [NewEntity("Alice", "robot", ())])

    events = await hub.graph.history(ADMIN, WS, "Alice")

    # Relations are events of the entity they start from.
    assert [(e.seq, e.type) for e in events] == [
        (again.seq, "entity.created"),
        (deleted.seq, "entity.deleted"),
        (dropped.seq, "observation.deleted"),
        (related.seq, "relation.created"),
        (added.seq, "observation.added"),
        (first.seq, "entity.created"),
    ]
    assert events[1].source == "cli"
    assert events[1].payload == {"name": "Alice", "entity": first.seq}
    older = await hub.graph.history(ADMIN, WS, "Alice", before=related.seq, limit=1)
    assert [e.seq for e in older] == [added.seq]


@pytest.mark.anyio
async def test_a_write_that_changes_nothing_appends_nothing_and_answers_the_head(
    hub: Hub,
) -> None:
    await hub.graph.create_entities(ADMIN, WS, [NewEntity("Alice", "person", ("x",))])
    head = (await hub.store.get_workspace(WS)).head  # type: ignore[union-attr]

    answers = [
        await hub.graph.create_entities(ADMIN, WS, [NewEntity("Alice", "person", ())]),
        await hub.graph.add_observations(ADMIN, WS, [NewObservations("Alice", ("x",))]),
        await hub.graph.delete_entities(ADMIN, WS, ["Nobody"]),
        await hub.graph.delete_relations(ADMIN, WS, [Relation("A", "B", "c")]),
        await hub.graph.delete_observations(ADMIN, WS, [ObservationDeletion("Alice", ("y",))]),
    ]

    assert [(a.seq, a.duplicate) for a in answers] == [(head, False)] * len(answers)
    assert (await hub.store.get_workspace(WS)).head == head  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_a_write_repeated_with_its_idempotency_key_appends_nothing(hub: Hub) -> None:
    entities = [NewEntity("Alice", "person", ()), NewEntity("Bob", "person", ())]
    first = await hub.graph.create_entities(ADMIN, WS, entities, client_msg_id="req-1")
    await hub.graph.delete_entities(ADMIN, WS, ["Alice"])
    head = (await hub.store.get_workspace(WS)).head  # type: ignore[union-attr]

    again = await hub.graph.create_entities(ADMIN, WS, entities, client_msg_id="req-1")

    # The first write's first seq: its answer was two entities, the repeat answers none.
    assert (again.seq, again.duplicate, again.items) == (first.seq - 1, True, [])
    assert (await hub.store.get_workspace(WS)).head == head  # type: ignore[union-attr]
    assert [e.name for e in (await hub.graph.read_graph(ADMIN, WS)).entities] == ["Bob"]
    with pytest.raises(Conflict) as caught:
        await hub.context.put(ADMIN, WS, "notes/x", text="x", client_msg_id="req-1")
    assert caught.value.code == "idempotency.conflict"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda g: g.create_entities(ADMIN, WS, [NewEntity("", "t", ())]), "graph.invalid_name"),
        (
            lambda g: g.create_entities(ADMIN, WS, [NewEntity("x" * 201, "t", ())]),
            "graph.invalid_name",
        ),
        (
            lambda g: g.create_entities(ADMIN, WS, [NewEntity("a\x00", "t", ())]),
            "graph.invalid_name",
        ),
        (lambda g: g.create_entities(ADMIN, WS, [NewEntity("a", "", ())]), "graph.invalid_type"),
        (
            lambda g: g.create_entities(ADMIN, WS, [NewEntity("a", "t", ("",))]),
            "graph.invalid_observation",
        ),
        (
            lambda g: g.create_entities(ADMIN, WS, [NewEntity("a", "t", (), confidence=1.5)]),
            "graph.invalid_confidence",
        ),
        (
            lambda g: g.create_entities(
                ADMIN, WS, [NewEntity(f"e{i}", "t", ()) for i in range(1001)]
            ),
            "graph.too_many",
        ),
        (
            lambda g: g.create_relations(ADMIN, WS, [NewRelation("a", "b", "t" * 101)]),
            "graph.invalid_type",
        ),
        (
            lambda g: g.add_observations(ADMIN, WS, [NewObservations("a", ("\ud800",))]),
            "graph.invalid_observation",
        ),
        (lambda g: g.search_nodes(ADMIN, WS, "q" * 1001), "graph.invalid_query"),
        (lambda g: g.read_graph(ADMIN, WS, limit=0), "request.invalid_limit"),
        (lambda g: g.read_graph(ADMIN, WS, cursor="x12"), "graph.invalid_cursor"),
        (lambda g: g.open_nodes(ADMIN, WS, [f"e{i}" for i in range(1001)]), "graph.too_many"),
    ],
)
async def test_bad_input_is_refused_with_its_code_and_appends_nothing(
    hub: Hub, call: Any, code: str
) -> None:
    head = (await hub.store.get_workspace(WS)).head  # type: ignore[union-attr]
    with pytest.raises(InvalidInput) as caught:
        await call(hub.graph)
    assert caught.value.code == code
    assert (await hub.store.get_workspace(WS)).head == head  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_more_than_a_million_characters_of_observations_in_one_call_are_too_large(
    hub: Hub,
) -> None:
    entities = [NewEntity(f"e{i}", "t", ("x" * 10_000,)) for i in range(101)]
    with pytest.raises(TooLarge) as caught:
        await hub.graph.create_entities(ADMIN, WS, entities)
    assert (caught.value.code, caught.value.extra["limit"]) == ("graph.too_large", 1_000_000)
    assert (await hub.graph.read_graph(ADMIN, WS)).entities == []


NAMES = ("Alice", "Bob", "Carol", "Dave", "Eve")
TYPES = ("person", "service")
WORDS = ("likes tea", "on call", "Ärger", "naïve", "日本語", "🙂", "x")


async def _random_write(hub: Hub, rng: random.Random) -> None:
    name = rng.choice(NAMES)
    words = tuple(rng.sample(WORDS, rng.randint(0, 3)))
    source = rng.choice((None, "claude", "gpt"))
    graph = hub.graph
    match rng.randint(0, 5):
        case 0:
            entity = NewEntity(name, rng.choice(TYPES), words, rng.choice((None, 0.5)))
            await graph.create_entities(ADMIN, WS, [entity], source=source)
        case 1:
            relation = NewRelation(name, rng.choice(NAMES), rng.choice(("knows", "helps")))
            await graph.create_relations(ADMIN, WS, [relation], source=source)
        case 2:
            await graph.add_observations(ADMIN, WS, [NewObservations(name, words)], source=source)
        case 3:
            await graph.delete_observations(ADMIN, WS, [ObservationDeletion(name, words)])
        case 4:
            await graph.delete_entities(ADMIN, WS, [name])
        case _:
            relation_key = Relation(name, rng.choice(NAMES), rng.choice(("knows", "helps")))
            await graph.delete_relations(ADMIN, WS, [relation_key])


async def _state(hub: Hub) -> dict[str, Any]:
    """Every graph row, live and superseded (the surrogate ids aside), and the live answers."""
    state: dict[str, Any] = {}
    async with hub.database.read() as conn:
        for table in (tables.graph_entities, tables.graph_observations, tables.graph_relations):
            rows = (await conn.execute(sa.select(table))).mappings().all()
            state[table.name] = sorted(
                tuple(sorted((k, str(v)) for k, v in row.items() if k != "id")) for row in rows
            )
    state["graph"] = (await hub.graph.read_graph(ADMIN, WS, limit=1000)).to_json(details=True)
    for query in ("a", "ärger", "likes", "🙂"):
        state[query] = (await hub.graph.search_nodes(ADMIN, WS, query)).to_json(details=True)
    return state


@pytest.mark.anyio
@pytest.mark.parametrize("seed", [1, 2])
async def test_replay_rebuilds_exactly_the_graph_that_live_writes_built(
    hub: Hub, seed: int
) -> None:
    rng = random.Random(seed)
    for _ in range(12):
        # Concurrent rounds: group commit puts several graph commands in one transaction.
        round_ = [_random_write(hub, rng) for _ in range(8)]
        outcomes = await asyncio.gather(*round_, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                assert isinstance(outcome, InfinityMatrixError), outcome
    live = await _state(hub)
    assert live["graph"]["entities"] or live["graph"]["relations"]

    await replay_all(hub.store)

    assert await _state(hub) == live
