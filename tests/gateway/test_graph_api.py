"""The graph over REST: the reference's bodies and answers, paged reads with a cursor, the history
of a name, Idempotency-Key on writes, NDJSON import and streamed export, and the statuses and
codes of refused requests."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from tests.world import World, api_client, bearer, bootstrap_key, head

from infinity_matrix.hub import Hub

GRAPH = "/api/v1/workspaces/default/graph"
ALICE = {"name": "Alice", "entityType": "person", "observations": ["Prefers Python"]}
BOB = {"name": "Bob", "entityType": "person", "observations": []}
MENTORS = {"from": "Alice", "to": "Bob", "relationType": "mentors"}


class Api:
    """The owner key's calls on workspace ``default``."""

    def __init__(self, hub: Hub, client: httpx.AsyncClient) -> None:
        self.hub = hub
        self.client = client
        self.headers = bearer(bootstrap_key(hub))

    async def post(self, path: str, body: Any, **headers: str) -> httpx.Response:
        return await self.client.post(GRAPH + path, json=body, headers={**self.headers, **headers})

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(GRAPH + path, params=params, headers=self.headers)


@pytest.fixture
async def api(hub: Hub) -> Any:
    async with api_client(hub) as client:
        yield Api(hub, client)


def _problem(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


@pytest.mark.anyio
async def test_the_nine_operations_answer_the_reference_shapes_with_their_seq(api: Api) -> None:
    created = await api.post("/entities", {"entities": [ALICE, BOB, ALICE]})
    assert created.status_code == 200
    assert created.json()["entities"] == [ALICE, BOB]
    related = await api.post("/relations", {"relations": [MENTORS, MENTORS]})
    assert related.json()["relations"] == [MENTORS]
    added = await api.post(
        "/observations", {"observations": [{"entityName": "Bob", "contents": ["On call", "x"]}]}
    )
    assert added.json()["results"] == [{"entityName": "Bob", "addedObservations": ["On call", "x"]}]
    assert added.json()["seq"] == related.json()["seq"] + 1

    assert (await api.get("")).json() == {
        "entities": [ALICE, {**BOB, "observations": ["On call", "x"]}],
        "relations": [MENTORS],
        "next_cursor": None,
    }
    assert (await api.get("/search", q="ON CALL")).json()["entities"] == [
        {**BOB, "observations": ["On call", "x"]}
    ]
    opened = await api.client.get(
        GRAPH + "/entities", params=[("names", "Alice"), ("names", "Nobody")], headers=api.headers
    )
    assert opened.json() == {"entities": [ALICE], "relations": [MENTORS], "next_cursor": None}

    dropped = await api.post(
        "/observations/delete", {"deletions": [{"entityName": "Bob", "observations": ["x"]}]}
    )
    assert dropped.json()["deleted"] == [{"entityName": "Bob", "observations": ["x"]}]
    unrelated = await api.post("/relations/delete", {"relations": [MENTORS]})
    assert unrelated.json()["deleted"] == [MENTORS]
    deleted = await api.post("/entities/delete", {"entityNames": ["Alice", "Nobody"]})
    assert deleted.json() == {
        "deleted": ["Alice"],
        "seq": deleted.json()["seq"],
        "duplicate": False,
    }
    assert deleted.json()["seq"] == await head(api.hub, "default")
    assert (await api.get("")).json()["entities"] == [{**BOB, "observations": ["On call"]}]


@pytest.mark.anyio
async def test_pages_continue_with_the_cursor_and_details_add_provenance(api: Api) -> None:
    entities = [{"name": f"e{i}", "entityType": "t", "observations": []} for i in range(3)]
    await api.post("/entities", {"entities": entities}, **{"X-Imx-Source": "copilot"})
    await api.post("/relations", {"relations": [{"from": "e0", "to": "e1", "relationType": "r"}]})

    first = (await api.get("", limit=2)).json()
    second = (await api.get("", limit=2, cursor=first["next_cursor"], details=True)).json()

    assert [e["name"] for e in first["entities"]] == ["e0", "e1"]
    assert [e["name"] for e in second["entities"]] == ["e2"]
    assert second["relations"][0]["from"] == "e0"
    assert second["next_cursor"] is None
    assert (second["entities"][0]["source"], second["entities"][0]["confidence"]) == (
        "copilot",
        1.0,
    )
    assert second["entities"][0]["actor"].startswith("key:")


@pytest.mark.anyio
async def test_a_write_repeated_with_its_idempotency_key_answers_the_same_seq(api: Api) -> None:
    first = await api.post("/entities", {"entities": [ALICE]}, **{"Idempotency-Key": "k1"})
    again = await api.post("/entities", {"entities": [ALICE]}, **{"Idempotency-Key": "k1"})

    assert (again.json()["seq"], again.json()["duplicate"]) == (first.json()["seq"], True)
    assert again.json()["entities"] == []
    assert await head(api.hub, "default") == first.json()["seq"]


@pytest.mark.anyio
async def test_the_history_of_a_name_runs_newest_first(api: Api) -> None:
    created = (await api.post("/entities", {"entities": [ALICE]})).json()["seq"]
    deleted = (await api.post("/entities/delete", {"entityNames": ["Alice"]})).json()["seq"]

    body = (await api.get("/history", name="Alice")).json()

    assert body["name"] == "Alice"
    assert [(e["seq"], e["type"]) for e in body["events"]] == [
        (deleted, "entity.deleted"),
        (created, "entity.created"),
    ]


@pytest.mark.anyio
async def test_an_ndjson_import_merges_and_the_export_streams_the_same_lines(api: Api) -> None:
    lines = [
        json.dumps({"type": "entity", **ALICE}, separators=(",", ":")),
        json.dumps({"type": "entity", **BOB}, separators=(",", ":")),
        json.dumps({"type": "relation", **MENTORS}, separators=(",", ":")),
    ]
    body = ("\n".join(lines) + "\n").encode()
    headers = {**api.headers, "Content-Type": "application/x-ndjson"}

    first = await api.client.post(GRAPH + "/import", content=body, headers=headers)
    again = await api.client.post(GRAPH + "/import", content=body, headers=headers)

    assert first.status_code == 200
    assert {k: first.json()[k] for k in ("lines", "entities", "observations", "relations")} == {
        "lines": 3,  # the newline that ends the file starts no line
        "entities": 2,
        "observations": 1,
        "relations": 1,
    }
    assert (again.json()["entities"], again.json()["relations"]) == (0, 0)
    exported = await api.client.get(GRAPH + "/export", headers=api.headers)
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "application/x-ndjson"
    assert exported.text.splitlines() == lines


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/entities", {"entities": [{**ALICE, "name": ""}]}, 422, "graph.invalid_name"),
        ("/entities", {"entities": [{**ALICE, "confidence": 2}]}, 422, "graph.invalid_confidence"),
        ("/entities", {"entities": [{"name": "x"}]}, 422, "request.invalid"),
        ("/relations", {"relations": [{"from": "a", "to": "b"}]}, 422, "request.invalid"),
        (
            "/observations",
            {"observations": [{"entityName": "Nobody", "contents": ["x"]}]},
            404,
            "graph.entity_not_found",
        ),
    ],
)
async def test_a_refused_write_answers_its_status_and_code_and_changes_nothing(
    api: Api, path: str, body: Any, status: int, code: str
) -> None:
    before = await head(api.hub, "default")
    assert _problem(await api.post(path, body)) == (status, code)
    assert await head(api.hub, "default") == before


@pytest.mark.anyio
async def test_bad_reads_and_a_bad_import_answer_their_codes(api: Api) -> None:
    assert _problem(await api.get("", cursor="nope")) == (422, "graph.invalid_cursor")
    assert _problem(await api.get("", limit=0)) == (422, "request.invalid")
    headers = {**api.headers, "Content-Type": "application/x-ndjson"}
    bad = await api.client.post(GRAPH + "/import", content=b'{"type":"entity"}\n', headers=headers)
    assert _problem(bad) == (422, "graph.invalid_import")
    assert bad.json()["line"] == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("caller", "read", "write"),
    [
        ("viewer", 200, 403),
        ("viewer-key", 200, 403),
        ("editor", 200, 200),
        ("outsider", 404, 404),
        ("other-key", 404, 404),
        ("none", 401, 401),
    ],
)
async def test_reading_and_writing_the_graph_follow_the_callers_role(
    world: World, caller: str, read: int, write: int
) -> None:
    base = f"/api/v1/workspaces/{world.team.id}/graph"
    before = await head(world.hub, world.team.id)
    reads = [
        await world.request(caller, "GET", base),
        await world.request(caller, "GET", base + "/search", params={"q": "a"}),
        await world.request(caller, "GET", base + "/export"),
    ]
    writes = [
        await world.request(caller, "POST", base + "/entities", json={"entities": [ALICE]}),
        await world.request(caller, "POST", base + "/import", content=b""),
    ]
    assert [r.status_code for r in reads] == [read] * len(reads)
    assert [r.status_code for r in writes] == [write] * len(writes)
    if write != 200:
        assert await head(world.hub, world.team.id) == before
