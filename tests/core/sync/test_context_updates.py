"""Yjs updates from live editors through the log: ``ContextService.apply_update``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pycrdt
import pytest
from tests.world import head, started_hub

from infinity_matrix.config import Settings
from infinity_matrix.core.sync.documents import DATA_ROOT, TEXT_ROOT, Document
from infinity_matrix.core.sync.replay import replay_all
from infinity_matrix.errors import Forbidden, InvalidInput, TooLarge
from infinity_matrix.hub import Hub
from infinity_matrix.security.access import Role
from infinity_matrix.security.principals import Principal

pytestmark = pytest.mark.anyio
WS = "default"
EDITOR = Principal.key("e", name="editor", workspace=WS, role=Role.EDITOR)
VIEWER = Principal.key("v", name="viewer", workspace=WS, role=Role.VIEWER)


class Editor:
    """A Yjs replica that records the update of each of its transactions."""

    def __init__(self, state: bytes | None = None) -> None:
        self.doc: pycrdt.Doc[Any] = pycrdt.Doc()
        if state:
            self.doc.apply_update(state)
        self.text = self.doc.get(TEXT_ROOT, type=pycrdt.Text)
        self.data: pycrdt.Map[Any] = self.doc.get(DATA_ROOT, type=pycrdt.Map)

    def change(self, edit: Any) -> bytes:
        updates: list[bytes] = []
        subscription = self.doc.observe(lambda event: updates.append(event.update))
        with self.doc.transaction():
            edit(self)
        self.doc.unobserve(subscription)
        return updates[0]


async def test_an_update_creates_an_entry_of_the_asked_kind_and_replays_to_the_same_state(
    hub: Hub,
) -> None:
    editor = Editor()
    first = editor.change(lambda e: e.data.update({"theme": "dark"}))
    receipt = await hub.context.apply_update(EDITOR, WS, "cfg/app", first, kind="json")
    await hub.context.apply_update(
        EDITOR, WS, "cfg/app", editor.change(lambda e: e.data.update({"size": 2}))
    )
    await hub.context.put(EDITOR, WS, "cfg/app", data={"size": 3, "theme": "dark"})

    entry = await hub.context.get(VIEWER, WS, "cfg/app")
    assert (entry.kind, entry.data, entry.tags) == ("json", {"size": 3, "theme": "dark"}, [])
    (event,) = await hub.store.read_events(WS, after=receipt.seq - 1, limit=1)
    assert (event.type, event.data, event.payload["kind"]) == ("context.updated", first, "json")
    before = [e.to_json() | {"state": e.state} for e in await hub.store.list_entries(WS)]
    await replay_all(hub.store)
    after = [e.to_json() | {"state": e.state} for e in await hub.store.list_entries(WS)]
    assert _readable(after) == _readable(before)


def _readable(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # The merged state is compared by content: its encoding orders clients freely.
    return [{**e, "state": Document(e["state"]).data} for e in entries]


async def test_an_existing_entry_keeps_its_kind(hub: Hub) -> None:
    await hub.context.put(EDITOR, WS, "notes/a", text="abc")
    editor = Editor((await hub.context.get(EDITOR, WS, "notes/a")).state)
    update = editor.change(lambda e: e.text.insert(3, "d"))
    await hub.context.apply_update(EDITOR, WS, "notes/a", update, kind="json")
    entry = await hub.context.get(EDITOR, WS, "notes/a")
    assert (entry.kind, entry.text, entry.size) == ("text", "abcd", 4)


async def test_an_update_that_changes_nothing_appends_nothing_even_from_a_viewer(
    hub: Hub,
) -> None:
    seq = (await hub.context.put(EDITOR, WS, "notes/a", text="hello cruel world")).seq
    seq = (await hub.context.put(EDITOR, WS, "notes/a", text="hello world")).seq
    known = (await hub.context.get(EDITOR, WS, "notes/a")).state  # deletions included
    for principal in (VIEWER, EDITOR):
        receipt = await hub.context.apply_update(principal, WS, "notes/a", known)
        assert receipt.seq == seq
    assert await head(hub, WS) == seq


async def test_a_change_from_a_viewer_is_forbidden_and_appends_nothing(hub: Hub) -> None:
    await hub.context.put(EDITOR, WS, "notes/a", text="read me")
    before = await head(hub, WS)
    editor = Editor((await hub.context.get(EDITOR, WS, "notes/a")).state)
    update = editor.change(lambda e: e.text.insert(0, "vandal "))
    with pytest.raises(Forbidden):
        await hub.context.apply_update(VIEWER, WS, "notes/a", update)
    assert await head(hub, WS) == before
    # The refused edit left nothing behind in the document the next write builds on.
    await hub.context.put(EDITOR, WS, "notes/a", text="read me now")
    assert (await hub.context.get(EDITOR, WS, "notes/a")).text == "read me now"


async def test_an_update_past_the_size_limit_is_refused_and_changes_nothing(
    tmp_path: Path, settings: Settings
) -> None:
    small = settings.model_copy(update={"max_value_bytes": 10, "home": tmp_path / "small"})
    async with started_hub(small) as hub:
        await hub.context.put(EDITOR, WS, "notes/a", text="12345")
        editor = Editor((await hub.context.get(EDITOR, WS, "notes/a")).state)
        update = editor.change(lambda e: e.text.insert(5, "678901"))
        with pytest.raises(TooLarge) as refused:
            await hub.context.apply_update(EDITOR, WS, "notes/a", update)
        assert refused.value.code == "context.too_large"
        await hub.context.put(EDITOR, WS, "notes/a", text="123456")
        assert (await hub.context.get(EDITOR, WS, "notes/a")).text == "123456"


async def test_an_update_to_the_root_of_the_other_kind_is_kept_but_not_shown(hub: Hub) -> None:
    await hub.context.put(EDITOR, WS, "notes/a", text="plain")
    editor = Editor((await hub.context.get(EDITOR, WS, "notes/a")).state)
    receipt = await hub.context.apply_update(
        EDITOR, WS, "notes/a", editor.change(lambda e: e.data.update({"stray": 1}))
    )
    entry = await hub.context.get(EDITOR, WS, "notes/a")
    assert (entry.seq, entry.kind, entry.text, entry.data) == (receipt.seq, "text", "plain", None)
    assert Document(entry.state).data == {"stray": 1}


async def test_bytes_that_are_no_update_or_an_unknown_kind_are_invalid(hub: Hub) -> None:
    before = await head(hub, WS)
    with pytest.raises(InvalidInput) as bad_update:
        await hub.context.apply_update(EDITOR, WS, "notes/a", b"\xff\xff")
    with pytest.raises(InvalidInput) as bad_kind:
        await hub.context.apply_update(EDITOR, WS, "notes/a", b"\x00\x00", kind="xml")
    assert (bad_update.value.code, bad_kind.value.code) == (
        "sync.invalid_update",
        "context.invalid_kind",
    )
    assert await head(hub, WS) == before
