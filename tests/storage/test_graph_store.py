"""The graph's substring search runs on its indexes (FTS5 trigram tables on SQLite, pg_trgm GIN
indexes on PostgreSQL), and the indexes hold exactly the live facts."""

from __future__ import annotations

import random
import string
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from infinity_matrix.core.knowledge.records import (
    NewEntity,
    ObservationDeletion,
    Selection,
)
from infinity_matrix.core.sync.replay import replay_all
from infinity_matrix.hub import Hub
from infinity_matrix.security.principals import Principal
from infinity_matrix.storage import tables
from infinity_matrix.storage.graph import SqlGraphStore

WS = "default"
ADMIN = Principal.user("root", is_admin=True)


def _token(i: int) -> str:
    """A made-up word of ten letters (hex digits would share too many trigrams to be told
    apart by an index)."""
    return "".join(random.Random(i).choices(string.ascii_lowercase, k=10))


@contextmanager
def _statements(hub: Hub) -> Iterator[list[tuple[str, Any]]]:
    """The SQL the hub's readers send while the block runs."""
    seen: list[tuple[str, Any]] = []
    engine = hub.database.reader.sync_engine

    def record(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


async def _plan(hub: Hub, statement: str, params: Any) -> str:
    async with hub.database.read() as conn:
        if hub.database.is_sqlite:
            rows = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
            return "\n".join(str(r[-1]) for r in rows)
        # At test sizes a scan is cheaper and the planner rightly takes it: forbid scans (of
        # the table, and of the btree indexes on workspace_id) to see that the trigram
        # indexes can serve the query.
        await conn.exec_driver_sql("SET enable_seqscan = off")
        await conn.exec_driver_sql("SET enable_indexscan = off")
        rows = await conn.exec_driver_sql("EXPLAIN " + statement, params)
        return "\n".join(str(r[0]) for r in rows)


@pytest.mark.anyio
async def test_a_search_looks_the_text_up_in_the_trigram_indexes(hub: Hub) -> None:
    lines = [
        f'{{"type":"entity","name":"e{_token(i)}","entityType":"t{_token(-i)}",'
        f'"observations":["note {_token(i + 10**6)}"]}}'
        for i in range(1000)
    ]
    await hub.graph.import_jsonl(ADMIN, WS, "\n".join(lines))
    await _analyze(hub)
    store = SqlGraphStore(hub.database)
    with _statements(hub) as seen:
        found = await store.entities(WS, Selection(query=_token(123)[2:].upper()), limit=100)
    assert [e.name for e in found] == [f"e{_token(123)}"]

    search = next((s, p) for s, p in seen if "graph_observations" in s and "graph_entities" in s)
    plan = await _plan(hub, *search)
    if hub.database.is_sqlite:
        assert "graph_entities_fts VIRTUAL TABLE INDEX" in plan
        assert "graph_observations_fts VIRTUAL TABLE INDEX" in plan
    else:
        for index in (
            "ix_graph_entities_name_trgm",
            "ix_graph_entities_entity_type_trgm",
            "ix_graph_observations_content_trgm",
        ):
            assert index in plan, plan


async def _analyze(hub: Hub) -> None:
    """Table statistics, which PostgreSQL's autovacuum would gather a little later."""
    if not hub.database.is_sqlite:
        async with hub.database.write() as conn:
            await conn.exec_driver_sql("ANALYZE graph_entities, graph_observations")


async def _fts_matches(hub: Hub, table: str, text: str) -> int:
    async with hub.database.read() as conn:
        query = f"SELECT count(*) FROM {table} WHERE {table} MATCH :q"
        return int((await conn.execute(sa.text(query), {"q": f'"{text}"'})).scalar_one())


@pytest.mark.anyio
async def test_the_sqlite_index_holds_only_live_facts_through_deletion_and_replay(
    hub: Hub,
) -> None:
    if not hub.database.is_sqlite:
        pytest.skip("the FTS5 tables are SQLite's")
    await hub.graph.create_entities(
        ADMIN, WS, [NewEntity("Alice", "person", ("likes tea", "plays go"))]
    )
    await hub.graph.delete_observations(ADMIN, WS, [ObservationDeletion("Alice", ("likes tea",))])
    assert await _fts_matches(hub, "graph_observations_fts", "tea") == 0
    assert await _fts_matches(hub, "graph_observations_fts", "plays") == 1

    await hub.graph.delete_entities(ADMIN, WS, ["Alice"])
    await hub.graph.create_entities(ADMIN, WS, [NewEntity("Alice", "robot", ())])
    await replay_all(hub.store)

    assert await _fts_matches(hub, "graph_observations_fts", "plays") == 0
    assert await _fts_matches(hub, "graph_entities_fts", "alice") == 1
    assert await _fts_matches(hub, "graph_entities_fts", "person") == 0
    assert await _fts_matches(hub, "graph_entities_fts", "robot") == 1


@pytest.mark.anyio
async def test_deleting_a_workspace_deletes_its_graph_and_its_index_entries(hub: Hub) -> None:
    await hub.workspaces.create(ADMIN, "doomed")
    await hub.graph.create_entities(ADMIN, "doomed", [NewEntity("Zed", "person", ("unique tea",))])
    await hub.graph.create_entities(ADMIN, WS, [NewEntity("Kept", "person", ("tea too",))])

    await hub.workspaces.delete(ADMIN, "doomed")

    async with hub.database.read() as conn:
        for table in (tables.graph_entities, tables.graph_observations):
            names = (await conn.execute(sa.select(table.c.workspace_id))).scalars().all()
            assert set(names) == {WS}
    if hub.database.is_sqlite:
        assert await _fts_matches(hub, "graph_observations_fts", "tea") == 1
        assert await _fts_matches(hub, "graph_entities_fts", "zed") == 0
