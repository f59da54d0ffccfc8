"""The context API: whole-value writes become minimal Yjs edits; keys, kinds and sizes are checked;
listing pages by cursor; history runs newest first; no-op writes append nothing."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from tests.world import api_client, bearer, bootstrap_key, head, started_hub

from infinity_matrix.config import Settings
from infinity_matrix.core.sync.documents import Document
from infinity_matrix.hub import Hub

CTX = "/api/v1/workspaces/default/context/"


class Api:
    """The owner key's calls on workspace ``default``."""

    def __init__(self, hub: Hub, client: httpx.AsyncClient) -> None:
        self.hub = hub
        self.client = client
        self.headers = bearer(bootstrap_key(hub))

    async def put(self, key: str, **body: Any) -> httpx.Response:
        return await self.client.put(CTX + key, json=body, headers=self.headers)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(path, params=params, headers=self.headers)

    async def delete(self, key: str) -> httpx.Response:
        return await self.client.delete(CTX + key, headers=self.headers)

    async def events(self, after: int) -> list[dict[str, Any]]:
        response = await self.get("/api/v1/workspaces/default/events", after=after)
        events: list[dict[str, Any]] = response.json()["events"]
        return events

    async def head(self) -> int:
        return await head(self.hub, "default")


@pytest.fixture
def api(hub: Hub, client: httpx.AsyncClient) -> Api:
    return Api(hub, client)


def _update(event: dict[str, Any]) -> bytes:
    return base64.b64decode(event["data"])


def _problem(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


@pytest.mark.anyio
async def test_a_changed_text_is_logged_as_one_small_yjs_edit(api: Api) -> None:
    first = (await api.put("notes/greeting", text="hello world")).json()["seq"]
    second = (await api.put("notes/greeting", text="hello brave world")).json()["seq"]

    events = await api.events(first - 1)
    assert [(e["seq"], e["type"], e["subject"]) for e in events] == [
        (first, "context.updated", "context/notes/greeting"),
        (second, "context.updated", "context/notes/greeting"),
    ]
    edit = _update(events[1])
    assert b"brave " in edit
    assert b"hello" not in edit
    assert b"world" not in edit
    doc = Document()
    for event in events:
        doc.apply(_update(event))
    assert doc.text == "hello brave world"
    entry = (await api.get(CTX + "notes/greeting")).json()
    assert (entry["kind"], entry["text"], entry["seq"]) == ("text", "hello brave world", second)


@pytest.mark.anyio
async def test_a_json_put_writes_only_the_keys_that_changed(api: Api) -> None:
    old = {"unchanged_key": "same value", "changed_key": 1, "dropped_key": True}
    new = {"unchanged_key": "same value", "changed_key": 2}
    first = (await api.put("cfg/settings", data=old)).json()["seq"]
    await api.put("cfg/settings", data=new)

    created, edit = (_update(e) for e in await api.events(first - 1))
    assert b"same value" not in edit
    # A live editor changed unchanged_key meanwhile: the REST edit merges without undoing it.
    live = Document(created)
    live.set_data({**old, "unchanged_key": "edited live"})
    live.apply(edit)
    assert live.data == {"unchanged_key": "edited live", "changed_key": 2}
    entry = (await api.get(CTX + "cfg/settings")).json()
    assert (entry["kind"], entry["data"]) == ("json", new)


@pytest.mark.anyio
async def test_writing_the_other_kind_is_a_conflict_until_the_entry_is_deleted(api: Api) -> None:
    await api.put("mixed", text="words")
    seq = await api.head()

    assert _problem(await api.put("mixed", data={"a": 1})) == (409, "context.kind_conflict")
    assert await api.head() == seq
    await api.delete("mixed")
    assert (await api.put("mixed", data={"a": 1})).status_code == 200
    assert (await api.get(CTX + "mixed")).json()["data"] == {"a": 1}


@pytest.mark.anyio
@pytest.mark.parametrize("key", ["", "/a", "a//b", "..%2Fx", "a/..%2Fx", "x" * 257])
async def test_an_invalid_key_is_refused(api: Api, key: str) -> None:
    seq = await api.head()
    assert _problem(await api.put(key, text="v")) == (422, "context.invalid_key")
    assert await api.head() == seq


@pytest.mark.anyio
async def test_a_key_of_256_characters_is_accepted(api: Api) -> None:
    assert (await api.put("x" * 256, text="v")).status_code == 200


@pytest.mark.anyio
@pytest.mark.parametrize(
    "body", [{"text": "t", "data": {"a": 1}}, {}, {"text": "t", "extra": 1}, {"data": [1, 2]}]
)
async def test_a_body_without_exactly_one_value_is_refused(api: Api, body: dict[str, Any]) -> None:
    seq = await api.head()
    response = await api.put("notes/x", **body)
    assert response.status_code == 422
    assert response.json()["code"] in {"context.invalid_value", "request.invalid"}
    assert await api.head() == seq


@pytest.mark.anyio
async def test_text_and_data_together_are_an_invalid_value(api: Api) -> None:
    response = await api.put("notes/x", text="t", data={"a": 1})
    assert _problem(response) == (422, "context.invalid_value")


@pytest.mark.anyio
async def test_a_value_over_the_limit_is_refused_counting_bytes(settings: Settings) -> None:
    changed = settings.model_copy(update={"max_value_bytes": 64})
    async with started_hub(changed) as hub, api_client(hub) as client:
        api = Api(hub, client)
        seq = await api.head()
        assert (await api.put("a", text="x" * 64)).status_code == 200
        assert _problem(await api.put("b", text="é" * 33)) == (413, "context.too_large")
        assert _problem(await api.put("c", data={"k": "x" * 60})) == (413, "context.too_large")
        assert await api.head() == seq + 1


@pytest.mark.anyio
async def test_a_request_body_over_the_limit_is_refused(settings: Settings) -> None:
    changed = settings.model_copy(update={"max_request_bytes": 1024})
    async with started_hub(changed) as hub, api_client(hub) as client:
        api = Api(hub, client)
        seq = await api.head()
        assert _problem(await api.put("big", text="x" * 2000)) == (413, "request.too_large")
        assert await api.head() == seq
        assert (await api.get(CTX + "big")).status_code == 404


@pytest.mark.anyio
async def test_listing_pages_through_a_prefix_in_key_order(api: Api) -> None:
    for key in ["notes/e", "notes/a", "notesx", "other/z", "notes/c", "notes/b", "notes/d/1"]:
        await api.put(key, text=f"text of {key}")

    keys, cursor, pages = [], None, 0
    while True:
        params = {"prefix": "notes/", "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await api.get(CTX.rstrip("/"), **params)).json()
        keys += [item["key"] for item in page["items"]]
        assert all("text" not in item for item in page["items"])
        cursor, pages = page["next_cursor"], pages + 1
        if cursor is None:
            break
    assert keys == ["notes/a", "notes/b", "notes/c", "notes/d/1", "notes/e"]
    assert pages == 3


@pytest.mark.anyio
async def test_listing_with_values_includes_text_and_data(api: Api) -> None:
    await api.put("v/text", text="words", tags=["b", "a"])
    await api.put("v/json", data={"n": 1})
    items = (await api.get(CTX.rstrip("/"), prefix="v/", values="true")).json()["items"]
    assert [(i["key"], i.get("text"), i.get("data"), i["tags"]) for i in items] == [
        ("v/json", None, {"n": 1}, []),
        ("v/text", "words", None, ["a", "b"]),
    ]


@pytest.mark.anyio
async def test_history_runs_newest_first_and_pages_with_before(api: Api) -> None:
    seqs = []
    for version in range(3):
        seqs.append((await api.put("notes/h", text=f"version {version}")).json()["seq"])
        await api.put("notes/other", text=f"noise {version}")
    path = "/api/v1/workspaces/default/history/notes/h"

    history = (await api.get(path)).json()["events"]
    assert [e["seq"] for e in history] == seqs[::-1]
    assert {e["subject"] for e in history} == {"context/notes/h"}
    assert [e["seq"] for e in (await api.get(path, before=seqs[2])).json()["events"]] == seqs[1::-1]
    assert [e["seq"] for e in (await api.get(path, limit=1)).json()["events"]] == [seqs[2]]


@pytest.mark.anyio
async def test_a_deleted_entry_is_gone_but_keeps_its_history(api: Api) -> None:
    await api.put("notes/gone", text="soon gone")
    deleted = await api.delete("notes/gone")
    assert deleted.status_code == 200

    assert _problem(await api.get(CTX + "notes/gone")) == (404, "context.not_found")
    assert _problem(await api.delete("notes/gone")) == (404, "context.not_found")
    history = (await api.get("/api/v1/workspaces/default/history/notes/gone")).json()["events"]
    assert [e["type"] for e in history] == ["context.deleted", "context.updated"]
    assert history[0]["seq"] == deleted.json()["seq"]


@pytest.mark.anyio
async def test_a_put_that_changes_nothing_answers_the_current_seq_and_appends_nothing(
    api: Api,
) -> None:
    text_seq = (await api.put("notes/same", text="same", tags=["t"])).json()["seq"]
    json_seq = (await api.put("cfg/same", data={"a": [1, {"b": None}]})).json()["seq"]
    seq = await api.head()

    again = await api.put("notes/same", text="same", tags=["t"])
    assert again.json() == {"key": "notes/same", "seq": text_seq, "duplicate": False}
    assert (await api.put("notes/same", text="same")).json()["seq"] == text_seq
    assert (await api.put("cfg/same", data={"a": [1, {"b": None}]})).json()["seq"] == json_seq
    assert await api.head() == seq
    assert await api.events(seq) == []


@pytest.mark.anyio
async def test_a_change_of_tags_alone_is_a_new_event(api: Api) -> None:
    first = (await api.put("notes/tagged", text="same", tags=["a"])).json()["seq"]
    second = (await api.put("notes/tagged", text="same", tags=["b", "a"])).json()["seq"]
    assert second == first + 1
    assert (await api.get(CTX + "notes/tagged")).json()["tags"] == ["a", "b"]
