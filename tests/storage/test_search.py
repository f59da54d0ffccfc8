"""Full-text search on SQLite (FTS5) and PostgreSQL: ranking, the index following every write,
replay and migrations, and queries built from user text that can never break the query."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Connection

from infinity_matrix.core.search import SearchHit, parse_query
from infinity_matrix.core.sync.replay import replay
from infinity_matrix.errors import InvalidInput
from infinity_matrix.hub import Hub
from infinity_matrix.security.principals import Principal
from infinity_matrix.storage import tables
from infinity_matrix.storage.database import Database
from infinity_matrix.storage.migrate import alembic_config, upgrade
from infinity_matrix.storage.search import SqlSearchIndex, fts5_match, tsquery

WS = "search"
OWNER = Principal.user("owner")

HOSTILE = [
    'foo"',
    '"',
    '""',
    "AND (",
    "OR",
    "NOT",
    "NEAR(a b)",
    "key:redis",
    "redis*",
    "*",
    "^redis",
    "a & b | !c",
    "a <-> b",
    "redis:*",
    "'; DROP TABLE context_entries; --",
    "(((",
    "-",
    "--redis",
    "-redis",
    '-"redis',
    "\x00redis",
    "redis\x00",
    "\ud800",
    "\\",
    "%_%",
    "\uff52\uff45\uff44\uff49\uff53",  # fullwidth letters
    "日本語",
    "🙂 redis",
    "x" * 500,
    " ".join(["a"] * 200),
]


@pytest.fixture
async def hub_ws(hub: Hub) -> Hub:
    await hub.identity.create_user("owner", "correct horse battery")
    await hub.workspaces.create(OWNER, WS)
    return hub


async def _put(hub: Hub, key: str, text: str | None = None, **kwargs: Any) -> int:
    return (await hub.context.put(OWNER, WS, key, text=text, **kwargs)).seq


async def _search(hub: Hub, query: str, **kwargs: Any) -> list[SearchHit]:
    return await hub.context.search(OWNER, WS, query, **kwargs)


async def _keys(hub: Hub, query: str, **kwargs: Any) -> list[str]:
    return [hit.key for hit in await _search(hub, query, **kwargs)]


def test_a_query_renders_as_quoted_fts5_strings_and_tsquery_operands() -> None:
    query = parse_query('AND "event log" -"NOT x" src/app.p')

    assert fts5_match(query) == '("AND" AND "event log" AND "src app p"*) NOT "NOT x"'
    assert tsquery(query) == "(AND) & (event <-> log) & (src <-> app <-> p:*) & !(NOT <-> x)"


@pytest.mark.anyio
async def test_a_hit_carries_the_entry_and_a_snippet_with_the_match_marked(hub_ws: Hub) -> None:
    seq = await _put(hub_ws, "notes/cache", "We cache sessions in Redis for an hour.")
    entry = await hub_ws.store.get_entry(WS, "notes/cache")
    assert entry is not None

    [hit] = await _search(hub_ws, "redis")

    assert (hit.key, hit.kind, hit.seq, hit.updated_at) == (
        "notes/cache",
        "text",
        seq,
        entry.updated_at,
    )
    # SQLite keeps the final full stop, PostgreSQL's headline drops it.
    assert hit.snippet.startswith("We cache sessions in **Redis** for an hour")
    assert hit.score > 0


@pytest.mark.anyio
async def test_an_entry_whose_key_matches_outranks_a_passing_mention(hub_ws: Hub) -> None:
    await _put(hub_ws, "notes/deployment", "We deploy with Helm; the cache is Redis, see notes.")
    await _put(hub_ws, "notes/redis", "Sessions expire after an hour.")
    await _put(hub_ws, "notes/unrelated", "Nothing to see here.")

    hits = await _search(hub_ws, "redis")

    assert [h.key for h in hits] == ["notes/redis", "notes/deployment"]
    assert hits[0].score > hits[1].score


@pytest.mark.anyio
async def test_json_keys_and_values_are_searchable_whatever_their_characters(hub_ws: Hub) -> None:
    data = {"file": "src/app.py", "note": "naïve café\nsecond line", "lines": [42, {"deep": "ok"}]}
    await hub_ws.context.put(OWNER, WS, "editor/active", data=data)

    for query in ("app.py", "src/app", "café", "second", "42", "deep", "file", "lines"):
        assert await _keys(hub_ws, query) == ["editor/active"], query
    [hit] = await _search(hub_ws, "second")
    assert hit.kind == "json"
    assert "**second**" in hit.snippet


@pytest.mark.anyio
async def test_an_updated_entry_is_found_by_its_new_words_only(hub_ws: Hub) -> None:
    await _put(hub_ws, "notes/db", "We store everything in MongoDB.")
    seq = await _put(hub_ws, "notes/db", "We store everything in PostgreSQL.")

    assert await _keys(hub_ws, "mongodb") == []
    [hit] = await _search(hub_ws, "postgresql")
    assert (hit.key, hit.seq) == ("notes/db", seq)


@pytest.mark.anyio
async def test_a_tag_only_change_keeps_the_entry_findable_with_its_new_seq(hub_ws: Hub) -> None:
    await _put(hub_ws, "notes/db", "PostgreSQL.")
    seq = await _put(hub_ws, "notes/db", "PostgreSQL.", tags=["adr"])

    assert [(h.key, h.seq) for h in await _search(hub_ws, "postgresql")] == [("notes/db", seq)]


@pytest.mark.anyio
async def test_a_deleted_entry_disappears_and_a_recreated_one_reappears(hub_ws: Hub) -> None:
    await _put(hub_ws, "notes/gone", "ephemeral words")
    await hub_ws.context.delete(OWNER, WS, "notes/gone")
    assert await _keys(hub_ws, "ephemeral") == []

    await hub_ws.context.put(OWNER, WS, "notes/gone", data={"state": "ephemeral again"})
    assert await _keys(hub_ws, "ephemeral") == ["notes/gone"]


@pytest.mark.anyio
async def test_prefix_keeps_only_keys_under_it(hub_ws: Hub) -> None:
    for key in ("decisions/0001", "decisions/0002", "notes/decisions", "decisionsx"):
        await _put(hub_ws, key, "we chose Redis")

    assert sorted(await _keys(hub_ws, "redis", prefix="decisions/")) == [
        "decisions/0001",
        "decisions/0002",
    ]
    assert await _keys(hub_ws, "redis", prefix="nothing/") == []


@pytest.mark.anyio
async def test_limit_caps_the_hits_and_keeps_the_best(hub_ws: Hub) -> None:
    await _put(hub_ws, "redis", "redis")
    for n in range(5):
        await _put(hub_ws, f"notes/{n}", f"mentions redis once among many other words, number {n}")

    assert await _keys(hub_ws, "redis", limit=1) == ["redis"]
    assert len(await _search(hub_ws, "redis", limit=3)) == 3


@pytest.mark.anyio
async def test_the_last_word_matches_as_a_prefix_unless_the_query_ends_with_a_space(
    hub_ws: Hub,
) -> None:
    await _put(hub_ws, "notes/architecture", "Hexagonal architecture, event sourced.")

    assert await _keys(hub_ws, "hexagonal archi") == ["notes/architecture"]
    assert await _keys(hub_ws, "archi hexagonal") == []  # only the last word is a prefix
    assert await _keys(hub_ws, "archi ") == []


@pytest.mark.anyio
async def test_quoted_phrases_keep_word_order_and_a_minus_excludes(hub_ws: Hub) -> None:
    await _put(hub_ws, "a", "the event log is the truth")
    await _put(hub_ws, "b", "the truth about the log of events")

    assert await _keys(hub_ws, '"event log"') == ["a"]
    assert sorted(await _keys(hub_ws, "truth log")) == ["a", "b"]
    assert await _keys(hub_ws, "truth -about") == ["a"]
    assert await _keys(hub_ws, 'truth -"event log"') == ["b"]


@pytest.mark.anyio
async def test_case_and_diacritics_never_matter_for_sqlite_and_case_never_for_postgres(
    hub_ws: Hub,
) -> None:
    await _put(hub_ws, "notes/bistro", "Le Café du Coin")

    assert await _keys(hub_ws, "CAFÉ") == ["notes/bistro"]
    # PostgreSQL's "simple" configuration keeps accents (docs/decisions/0005).
    expected = ["notes/bistro"] if hub_ws.database.is_sqlite else []
    assert await _keys(hub_ws, "cafe") == expected


@pytest.mark.anyio
@pytest.mark.parametrize("query", HOSTILE, ids=[ascii(q)[:24] for q in HOSTILE])
async def test_hostile_queries_answer_hits_or_invalid_query_never_a_database_error(
    hub_ws: Hub, query: str
) -> None:
    await _put(hub_ws, "notes/redis", "redis and a b c")

    outcome = await _keys_or_code(hub_ws, query)

    assert outcome == "search.invalid_query" or set(outcome) <= {"notes/redis"}


async def _keys_or_code(hub: Hub, query: str) -> list[str] | str:
    try:
        return await _keys(hub, query)
    except InvalidInput as exc:
        return exc.code


@pytest.mark.anyio
@pytest.mark.parametrize("query", ["", "   ", '"', "-redis", "!!! ???", "x" * 501])
async def test_a_query_without_a_word_to_look_for_is_invalid(hub_ws: Hub, query: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        await _search(hub_ws, query)
    assert caught.value.code == "search.invalid_query"


@pytest.mark.anyio
async def test_search_never_crosses_workspaces(hub_ws: Hub) -> None:
    await hub_ws.workspaces.create(OWNER, "elsewhere")
    await hub_ws.context.put(OWNER, "elsewhere", "notes/secret", text="redis password")
    await _put(hub_ws, "notes/mine", "redis")

    assert await _keys(hub_ws, "redis") == ["notes/mine"]
    assert await _keys(hub_ws, "password") == []


@pytest.mark.anyio
async def test_replay_leaves_the_index_matching_the_entries(hub_ws: Hub) -> None:
    await _put(hub_ws, "notes/a", "alpha words")
    await _put(hub_ws, "notes/b", "bravo words")
    await hub_ws.context.put(OWNER, WS, "cfg/c", data={"name": "charlie words"})
    await hub_ws.context.delete(OWNER, WS, "notes/b")
    await _put(hub_ws, "notes/a", "alpha, rewritten")
    before = {q: await _keys(hub_ws, q) for q in ("alpha", "bravo", "charlie", "rewritten")}

    await replay(hub_ws.store, WS)

    assert {q: await _keys(hub_ws, q) for q in before} == before
    assert await _index_rows(hub_ws) == await _entry_rows(hub_ws)


@pytest.mark.anyio
async def test_deleting_a_workspace_removes_its_entries_from_the_index(hub_ws: Hub) -> None:
    await hub_ws.workspaces.create(OWNER, "doomed")
    await hub_ws.context.put(OWNER, "doomed", "notes/x", text="doomed words")
    await _put(hub_ws, "notes/kept", "kept words")

    await hub_ws.workspaces.delete(OWNER, "doomed")

    assert await _index_rows(hub_ws) == await _entry_rows(hub_ws)
    assert await _keys(hub_ws, "words") == ["notes/kept"]


def _pg_words(column: str) -> str:
    return f"to_tsvector('simple', translate({column}, '/\\.-@_', '      '))"


_PG_TEXT = "coalesce(text, '')"
# The expression of the generated column (migration 0002), evaluated afresh.
_PG_VECTOR = (
    f"setweight({_pg_words('key')}, 'A')"
    f" || setweight({_pg_words(_PG_TEXT)}, 'D')"
    f" || setweight({_pg_words('imx_json_words(data)')}, 'D')"
)


async def _entry_rows(hub: Hub) -> list[tuple[Any, ...]]:
    query = "SELECT rowid, key FROM context_entries ORDER BY rowid"
    if not hub.database.is_sqlite:
        query = "SELECT key, search_vector::text FROM context_entries ORDER BY key"
    async with hub.database.read() as conn:
        return [tuple(row) for row in await conn.execute(sa.text(query))]


async def _index_rows(hub: Hub) -> list[tuple[Any, ...]]:
    """What the index holds: FTS5 rows on SQLite; on PostgreSQL the vectors recomputed from
    the entries' current values (a generated column cannot drift, but show it)."""
    query = "SELECT rowid, key FROM context_search ORDER BY rowid"
    if not hub.database.is_sqlite:
        query = f"SELECT key, ({_PG_VECTOR})::text FROM context_entries ORDER BY key"
    async with hub.database.read() as conn:
        return [tuple(row) for row in await conn.execute(sa.text(query))]


# -- migrations ---------------------------------------------------------------------------------


def _downgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


def _search_objects(connection: Connection) -> set[str]:
    inspector = sa.inspect(connection)
    names = {n for n in inspector.get_table_names() if n.startswith("context_search")}
    names |= {c["name"] for c in inspector.get_columns("context_entries")}
    return names & {"context_search", "search_vector"}


@pytest.mark.anyio
async def test_migrating_a_database_with_entries_indexes_them_and_downgrading_drops_it_all(
    empty_database: Database,
) -> None:
    db = empty_database
    await upgrade(db, "0001")
    now = datetime.now(UTC)
    async with db.write() as conn:
        await conn.execute(
            tables.workspaces.insert().values(id=WS, name=WS, epoch="e", last_seq=1, created_at=now)
        )
        await conn.execute(
            tables.context_entries.insert().values(
                workspace_id=WS,
                key="notes/old",
                kind="json",
                text=None,
                data={"written": "before the index existed"},
                tags=[],
                state=b"",
                seq=1,
                size=1,
                created_at=now,
                updated_at=now,
                updated_by="owner",
            )
        )

    await upgrade(db, "0002")
    hits = await SqlSearchIndex(db).search_entries(WS, "index existed")
    assert [(h.key, h.kind, h.seq) for h in hits] == [("notes/old", "json", 1)]

    async with db.write() as conn:
        await conn.run_sync(_downgrade, "0001")
    async with db.read() as conn:
        assert await conn.run_sync(_search_objects) == set()
