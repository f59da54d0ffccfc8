"""``GET /api/v1/workspaces/{ws}/search``: ranked hits for every reader, 404 for anyone who
cannot see the workspace, 422 with a code for a bad query or limit; and ``HubClient.search``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.world import World

from infinity_matrix.client import HubClient
from infinity_matrix.errors import InvalidInput, NotFound
from infinity_matrix.gateway.app import create_app
from infinity_matrix.security.principals import Principal

SEARCH = "/api/v1/workspaces/{ws}/search"
OWNER = Principal.user("owner")


@pytest.fixture
async def seeded(world: World) -> World:
    for key, text in (
        ("notes/redis", "Sessions expire after an hour."),
        ("notes/deployment", "We deploy with Helm; the cache is Redis."),
        ("decisions/0001", "Redis over Memcached: we need streams."),
    ):
        await world.hub.context.put(OWNER, world.team.id, key, text=text)
    await world.hub.context.put(OWNER, world.other.id, "notes/redis", text="Redis elsewhere.")
    return world


async def _search(world: World, caller: str, **params: Any) -> httpx.Response:
    return await world.request(caller, "GET", SEARCH.format(ws=world.team.id), params=params)


def _problem(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


@pytest.mark.anyio
async def test_search_answers_hits_best_first_with_every_field(seeded: World) -> None:
    response = await _search(seeded, "owner", q="redis")

    assert response.status_code == 200
    items = response.json()["items"]
    keys = [i["key"] for i in items]
    assert keys[0] == "notes/redis"  # the key matches; the others only mention it
    assert sorted(keys) == ["decisions/0001", "notes/deployment", "notes/redis"]
    entry = await seeded.hub.store.get_entry(seeded.team.id, "notes/deployment")
    assert entry is not None
    [deployment] = [i for i in items if i["key"] == "notes/deployment"]
    assert set(deployment) == {"key", "kind", "snippet", "score", "seq", "updated_at"}
    assert (deployment["kind"], deployment["seq"], deployment["updated_at"]) == (
        "text",
        entry.seq,
        entry.updated_at.isoformat(),
    )
    assert "**Redis**" in deployment["snippet"]
    scores = [i["score"] for i in items]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.anyio
async def test_prefix_and_limit_narrow_the_hits(seeded: World) -> None:
    narrowed = await _search(seeded, "owner", q="redis", prefix="decisions/")
    assert [i["key"] for i in narrowed.json()["items"]] == ["decisions/0001"]

    capped = await _search(seeded, "owner", q="redis", limit=1)
    assert [i["key"] for i in capped.json()["items"]] == ["notes/redis"]


@pytest.mark.anyio
@pytest.mark.parametrize("caller", ["viewer", "viewer-key", "editor", "admin"])
async def test_every_reader_can_search(seeded: World, caller: str) -> None:
    response = await _search(seeded, caller, q="memcached")

    assert response.status_code == 200
    assert [i["key"] for i in response.json()["items"]] == ["decisions/0001"]


@pytest.mark.anyio
@pytest.mark.parametrize("caller", ["outsider", "other-key"])
async def test_a_caller_who_cannot_see_the_workspace_gets_404(seeded: World, caller: str) -> None:
    assert _problem(await _search(seeded, caller, q="redis")) == (404, "workspace.not_found")


@pytest.mark.anyio
async def test_searching_without_a_credential_is_401(seeded: World) -> None:
    assert (await _search(seeded, "none", q="redis")).status_code == 401


@pytest.mark.anyio
@pytest.mark.parametrize("limit", [0, 101, -1])
async def test_a_limit_outside_1_to_100_is_422(seeded: World, limit: int) -> None:
    assert _problem(await _search(seeded, "owner", q="redis", limit=limit)) == (
        422,
        "request.invalid",
    )


@pytest.mark.anyio
@pytest.mark.parametrize("query", ["", "  ", '"', "-redis", "()*:"])
async def test_a_query_with_no_word_to_look_for_is_422(seeded: World, query: str) -> None:
    assert _problem(await _search(seeded, "owner", q=query)) == (422, "search.invalid_query")


@pytest.mark.anyio
async def test_a_missing_query_is_422(seeded: World) -> None:
    assert _problem(await _search(seeded, "owner")) == (422, "request.invalid")


@pytest.mark.anyio
async def test_a_prefix_no_key_can_start_with_is_422(seeded: World) -> None:
    response = await _search(seeded, "owner", q="redis", prefix="notes/\x00")
    assert _problem(response) == (422, "search.invalid_prefix")


@pytest.mark.anyio
@pytest.mark.parametrize(
    "query", ['redis"', "AND (", "redis OR", "NEAR(redis)", "redis:*", "x\x00y", "a" * 500]
)
async def test_hostile_queries_never_fail_the_server(seeded: World, query: str) -> None:
    response = await _search(seeded, "owner", q=query)

    assert response.status_code in (200, 422)
    if response.status_code == 422:
        assert response.json()["code"] == "search.invalid_query"


@pytest.mark.anyio
async def test_the_client_searches_and_raises_errors_by_code(seeded: World) -> None:
    transport = httpx.ASGITransport(app=create_app(seeded.hub, manage_hub=False))
    token = seeded.team.keys["viewer"]
    async with HubClient("http://hub", token, seeded.team.id, transport=transport) as client:
        hits = await client.search("redis", prefix="notes/", limit=5)
        assert [h["key"] for h in hits] == ["notes/redis", "notes/deployment"]
        with pytest.raises(InvalidInput) as invalid:
            await client.search("!!!")
        assert invalid.value.code == "search.invalid_query"
        with pytest.raises(NotFound) as hidden:
            await client.search("redis", workspace=seeded.other.id)
        assert hidden.value.code == "workspace.not_found"
