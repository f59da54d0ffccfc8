from __future__ import annotations

import itertools
from typing import Any

import pycrdt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infinity_matrix.core.sync.documents import (
    DATA_ROOT,
    TEXT_ROOT,
    Document,
    merge_updates,
)
from infinity_matrix.errors import InvalidInput

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
json_objects = st.dictionaries(st.sampled_from(["a", "b", "c", "d", "é", "😀"]), json_values)
texts = st.text(alphabet=st.sampled_from("ab é中😀\n"), max_size=30) | st.text(max_size=30)


def replay(updates: list[bytes | None]) -> Document:
    fresh = Document()
    for update in updates:
        if update is not None:
            fresh.apply(update)
    return fresh


def live_editor(document: Document) -> pycrdt.Doc[Any]:
    """A plain pycrdt replica standing in for a browser's Yjs client."""
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    doc.apply_update(document.state())
    return doc


def exchange(a: Document, b: Document) -> None:
    a_vector, b_vector = a.state_vector(), b.state_vector()
    a.apply(b.diff(a_vector))
    b.apply(a.diff(b_vector))


@given(st.text())
def test_set_text_then_text_returns_the_value_for_any_unicode(value: str) -> None:
    document = Document()
    document.set_text(value)
    assert document.text == value


@given(st.lists(texts, max_size=6))
def test_replaying_returned_text_updates_on_a_fresh_document_reproduces_it(
    values: list[str],
) -> None:
    document = Document()
    updates = [document.set_text(value) for value in values]
    fresh = replay(updates)
    assert fresh.text == document.text == (values[-1] if values else "")
    assert Document(merge_updates(u for u in updates if u is not None)).text == document.text
    assert Document(document.state()).text == document.text


@given(st.lists(json_objects, max_size=6))
def test_replaying_returned_data_updates_on_a_fresh_document_reproduces_it(
    values: list[dict[str, Any]],
) -> None:
    document = Document()
    updates = [document.set_data(value) for value in values]
    assert replay(updates).data == document.data == (values[-1] if values else {})
    assert Document(document.state()).data == document.data


def test_edits_in_non_ascii_text_land_between_the_right_characters() -> None:
    document = Document()
    document.set_text("a😀中b — naïve \U0001d518")
    editor = live_editor(document)
    document.set_text("a😀X中🎉b — naive \U0001d518!")
    editor.apply_update(document.state())
    assert str(editor.get(TEXT_ROOT, type=pycrdt.Text)) == "a😀X中🎉b — naive \U0001d518!"


def test_whole_value_write_merges_with_a_concurrent_live_edit() -> None:
    origin = Document()
    origin.set_text("hello world")
    editor = live_editor(origin)
    writer = Document(origin.state())

    editor.get(TEXT_ROOT, type=pycrdt.Text).insert(len("hello "), "big ")
    writer.set_text("Hello world")
    writer.apply(editor.get_update())
    editor.apply_update(writer.state())

    assert writer.text == str(editor.get(TEXT_ROOT, type=pycrdt.Text)) == "Hello big world"


def test_whole_value_writes_on_two_replicas_keep_both_edits() -> None:
    a = Document()
    a.set_text("one two three")
    b = Document(a.state())
    a.set_text("one 2 three")
    b.set_text("one two three four")
    exchange(a, b)
    assert a.text == b.text == "one 2 three four"


def test_changing_one_character_of_a_long_text_yields_a_small_update() -> None:
    text = "".join(f"line {n}: the quick brown fox 中文 😀\n" for n in range(300))[:10_000]
    document = Document()
    document.set_text(text)
    update = document.set_text(text[:5_000] + "X" + text[5_001:])
    assert update is not None
    assert len(update) < 200


def test_two_far_apart_edits_of_a_long_text_yield_a_small_update() -> None:
    text = "".join(f"line {n}: the quick brown fox\n" for n in range(400))
    document = Document()
    document.set_text(text)
    changed = text.replace("line 10:", "line ten:").replace("line 390:", "line 3 9 0:")
    update = document.set_text(changed)
    assert update is not None
    assert len(update) < 200
    assert document.text == changed


def test_unchanged_values_produce_no_update() -> None:
    document = Document()
    assert document.set_text("") is None
    assert document.set_data({}) is None
    document.set_text("same")
    document.set_data({"n": 1, "f": 2.0, "list": [1, {"x": None}]})
    assert document.set_text("same") is None
    assert document.set_data({"n": 1.0, "f": 2, "list": [1, {"x": None}]}) is None


def test_set_data_changes_only_changed_keys_so_a_concurrent_key_survives() -> None:
    a = Document()
    a.set_data({"keep": 1, "edit": "old", "drop": True})
    b = Document(a.state())
    editor = live_editor(a)

    update = a.set_data({"keep": 1, "edit": "new"})
    editor.get(DATA_ROOT, type=pycrdt.Map)["added"] = "by editor"
    b.set_data({"keep": 1, "edit": "old", "drop": True, "other": [1, 2]})
    assert update is not None
    a.apply(editor.get_update())
    exchange(a, b)

    expected = {"keep": 1, "edit": "new", "added": "by editor", "other": [1, 2]}
    assert a.data == b.data == expected


def test_a_change_from_one_to_true_is_a_change() -> None:
    document = Document()
    document.set_data({"flag": 1})
    assert document.set_data({"flag": True}) is not None
    assert document.data == {"flag": True}


def test_nested_values_round_trip_as_plain_dicts_and_lists() -> None:
    value = {"n": {"list": [1, 2.5, {"deep": [None, True, "ü"]}], "empty": {}}, "count": 3}
    document = Document()
    document.set_data(value)
    data = Document(document.state()).data
    assert data == value
    assert type(data["n"]) is dict
    assert type(data["n"]["list"]) is list
    assert type(data["count"]) is int


@pytest.mark.parametrize(
    "value",
    [
        {"big": 2**53},
        {"nan": float("nan")},
        {"inf": float("inf")},
        {"tuple": (1, 2)},
        {"nested": {1: "int key"}},
        {"surrogate": "\ud800"},
        ["not", "an", "object"],
    ],
)
def test_values_that_are_not_safe_json_are_refused(value: Any) -> None:
    document = Document()
    with pytest.raises(InvalidInput) as caught:
        document.set_data(value)
    assert caught.value.code == "context.invalid_value"
    assert document.data == {}


def test_text_with_lone_surrogates_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        Document().set_text("a\udc80b")
    assert caught.value.code == "context.invalid_value"


@pytest.mark.parametrize("garbage", [b"", b"garbage"])
def test_bytes_that_are_not_an_update_are_refused(garbage: bytes) -> None:
    with pytest.raises(InvalidInput) as caught:
        Document().apply(garbage)
    assert caught.value.code == "sync.invalid_update"
    with pytest.raises(InvalidInput) as caught:
        Document(garbage)
    assert caught.value.code == "sync.invalid_update"


def test_applying_an_update_twice_changes_nothing() -> None:
    source = Document()
    update = source.set_text("once")
    assert update is not None
    target = Document()
    target.apply(update)
    target.apply(update)
    assert target.text == "once"


@pytest.mark.parametrize("kind", ["text", "data"])
def test_updates_arriving_in_any_order_give_the_same_document(kind: str) -> None:
    # pycrdt 0.13.1 (yrs 0.26) alone loses deletions for some of these orders.
    source = Document()
    if kind == "text":
        updates = [source.set_text(v) for v in ["0", "😀", "😀中", "中", "x中"]]
    else:
        values: list[dict[str, Any]] = [{"a": 1}, {"b": 2}, {"a": 3}, {}, {"c": [1]}]
        updates = [source.set_data(value) for value in values]
    for order in itertools.permutations(updates):
        replica = replay(list(order))
        assert (replica.text, replica.data) == (source.text, source.data)


def test_diff_holds_exactly_what_the_peer_lacks() -> None:
    a = Document()
    a.set_text("shared")
    b = Document(a.state())
    a.set_text("shared and more")
    b.apply(a.diff(b.state_vector()))
    assert b.text == "shared and more"
    assert Document().diff(a.state_vector()) == Document().state()


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_replicas_converge_whatever_the_order_updates_arrive_in(data: st.DataObject) -> None:
    replicas = [Document() for _ in range(3)]
    log: list[bytes] = []
    for _ in range(data.draw(st.integers(1, 15))):
        replica = data.draw(st.sampled_from(replicas))
        action = data.draw(st.sampled_from(["text", "data", "deliver"]))
        if action == "deliver":
            if log:
                replica.apply(data.draw(st.sampled_from(log)))
            continue
        update = (
            replica.set_text(data.draw(texts))
            if action == "text"
            else replica.set_data(data.draw(json_objects))
        )
        if update is not None:
            log.append(update)
    for replica in replicas:
        for update in data.draw(st.permutations(log)):
            replica.apply(update)
    assert len({replica.text for replica in replicas}) == 1
    assert all(replica.data == replicas[0].data for replica in replicas)
    assert replay(list(log)).text == replicas[0].text


@settings(max_examples=60, deadline=None)
@given(
    base=texts,
    edits=st.lists(st.lists(texts, min_size=1, max_size=3), min_size=2, max_size=4),
    data=st.data(),
)
def test_concurrent_edits_of_several_replicas_delivered_in_any_order_converge(
    base: str, edits: list[list[str]], data: st.DataObject
) -> None:
    origin = Document()
    first = origin.set_text(base)
    replicas = [Document(origin.state(), client_id=100 + i) for i in range(len(edits))]
    # Every replica edits concurrently from the same base, unaware of the others.
    updates = [
        u
        for replica, values in zip(replicas, edits, strict=True)
        for v in values
        if (u := replica.set_text(v)) is not None
    ]
    for replica in replicas:
        order = data.draw(st.permutations(updates))
        for update in order:
            replica.apply(update)
    late = Document()  # a replica that joins late and gets everything in yet another order
    for update in data.draw(st.permutations([u for u in [first, *updates] if u is not None])):
        late.apply(update)

    texts_seen = {r.text for r in [*replicas, late]}
    assert len(texts_seen) == 1
    vectors = {Document(r.state()).text for r in [*replicas, late]}
    assert vectors == texts_seen
