"""The stores retrieval reads, on SQLite and PostgreSQL: the embedding cache shared by nodes, and
any-word full text over context entries (hostile words can never break the query)."""

from __future__ import annotations

import pytest

from infinity_matrix.hub import Hub
from infinity_matrix.security.principals import Principal
from infinity_matrix.storage.embeddings import SqlEmbeddingCache
from infinity_matrix.storage.relevance import SqlAnyWordSearch

WS = "relevance"
OWNER = Principal.user("owner")


@pytest.mark.anyio
async def test_cached_vectors_are_found_by_model_and_digest_and_never_overwritten(
    hub: Hub,
) -> None:
    cache = SqlEmbeddingCache(hub.database)
    digests = [f"{i:064x}" for i in range(1200)]  # more than one statement's worth
    await cache.save_vectors("m1", {d: d.encode()[:8] for d in digests})
    await cache.save_vectors("m1", {digests[0]: b"changed!"})  # another node, same text

    found = await cache.load_vectors("m1", [*digests, "f" * 64])

    assert len(found) == 1200
    assert found[digests[0]] == digests[0].encode()[:8]
    assert await cache.load_vectors("m2", digests[:3]) == {}


@pytest.fixture
async def entries(hub: Hub) -> SqlAnyWordSearch:
    await hub.workspaces.create(OWNER, WS)
    await hub.workspaces.create(OWNER, "elsewhere")
    await hub.context.put(OWNER, WS, "notes/db", text="Staging PostgreSQL listens on port 6543.")
    await hub.context.put(OWNER, WS, "notes/helm", text="Deploy with Helm.")
    await hub.context.put(OWNER, WS, "config/app", data={"port": 8080, "name": "app"})
    await hub.context.put(OWNER, "elsewhere", "notes/db", text="port port port")
    return SqlAnyWordSearch(hub.database)


@pytest.mark.anyio
async def test_entries_holding_any_word_are_found_best_first_in_their_workspace_only(
    entries: SqlAnyWordSearch,
) -> None:
    hits = await entries.match_entries(WS, ["staging", "port", "kubernetes"], limit=10)

    assert [h.key for h in hits] == ["notes/db", "config/app"]
    assert hits[0].text == "Staging PostgreSQL listens on port 6543."
    assert hits[0].updated_by == OWNER.actor
    assert hits[1].text == '{"name":"app","port":8080}'


@pytest.mark.anyio
async def test_a_workspace_finds_its_entries_when_another_holds_most_matches(
    entries: SqlAnyWordSearch, hub: Hub
) -> None:
    for n in range(12):
        await hub.context.put(OWNER, "elsewhere", f"notes/helm{n}", text="helm helm helm")

    hits = await entries.match_entries(WS, ["helm"], limit=1)

    assert [h.key for h in hits] == ["notes/helm"]


@pytest.mark.anyio
async def test_only_the_rarest_words_of_a_long_task_are_searched(
    entries: SqlAnyWordSearch, hub: Hub
) -> None:
    common = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
    for n in range(4):
        await hub.context.put(OWNER, WS, f"notes/common{n}", text=" ".join(common))

    hits = await entries.match_entries(WS, [*common, "helm"], limit=10)

    # Seven words: the six rarest are searched; "helm" (one entry) is among them.
    assert "notes/helm" in {h.key for h in hits}


@pytest.mark.anyio
@pytest.mark.parametrize("word", ['"', "OR", "NOT", "a&b", "x:*", "(", "NEAR"])
async def test_hostile_words_are_dropped_or_searched_as_words(
    entries: SqlAnyWordSearch, word: str
) -> None:
    hits = await entries.match_entries(WS, [word, "helm"], limit=10)

    assert [h.key for h in hits] == ["notes/helm"]


@pytest.mark.anyio
async def test_entries_are_loaded_by_key_and_paged_in_key_order(
    entries: SqlAnyWordSearch,
) -> None:
    loaded = await entries.load_entries(WS, ["notes/helm", "notes/none"])
    first = await entries.page_entries(WS, after_key=None, limit=2)
    rest = await entries.page_entries(WS, after_key=first[-1].key, limit=2)

    assert [h.key for h in loaded] == ["notes/helm"]
    assert [h.key for h in first + rest] == ["config/app", "notes/db", "notes/helm"]
    assert await entries.match_entries(WS, [], limit=5) == []
