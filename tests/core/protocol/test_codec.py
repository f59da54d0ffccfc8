"""Events survive the bus's wire form exactly; anything else is refused with a code."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from infinity_matrix.core.protocol.codec import (
    WIRE_VERSION,
    batch_from_wire,
    event_from_wire,
    event_to_wire,
    frame_batch,
)
from infinity_matrix.core.protocol.events import Event
from infinity_matrix.errors import InvalidInput

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)
_events = st.builds(
    Event,
    workspace=st.from_regex(r"[a-z0-9][a-z0-9-]{0,10}", fullmatch=True),
    seq=st.integers(1, 2**53),
    id=st.text(min_size=1),
    type=st.sampled_from(["context.updated", "member.added"]),
    subject=st.text(),
    actor=st.text(),
    source=st.none() | st.text(),
    client_msg_id=st.none() | st.text(),
    payload=st.dictionaries(st.text(), _json, max_size=4),
    data=st.none() | st.binary(),
    trace_id=st.none() | st.text(),
    recorded_at=st.datetimes(timezones=st.just(UTC)),
)


def _event(seq: int = 1, **changes: object) -> Event:
    fields: dict[str, object] = {
        "workspace": "team",
        "seq": seq,
        "id": f"id{seq}",
        "type": "context.updated",
        "subject": "context/notes",
        "actor": "user:ada",
        "source": None,
        "client_msg_id": None,
        "payload": {"kind": "text"},
        "data": b"\x00\x01",
        "trace_id": None,
        "recorded_at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
    }
    return Event(**(fields | changes))  # type: ignore[arg-type]


@given(_events)
def test_an_event_decodes_to_an_equal_event(event: Event) -> None:
    assert event_from_wire(event_to_wire(event)) == event


@given(st.lists(_events, max_size=4))
def test_a_batch_decodes_to_the_same_events_in_the_same_order(events: list[Event]) -> None:
    assert batch_from_wire(frame_batch([event_to_wire(e) for e in events])) == events


def test_the_wire_form_is_the_json_form_with_a_version() -> None:
    event = _event()

    assert orjson.loads(event_to_wire(event)) == {"v": WIRE_VERSION, **event.to_json()}


def _wire(field: str, value: object) -> bytes:
    """A wire event with one field changed."""
    return orjson.dumps({"v": WIRE_VERSION, **_event().to_json(), field: value})


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"not json", "protocol.invalid_event"),
        (b"[1]", "protocol.invalid_event"),
        (orjson.dumps({**_event().to_json(), "v": 99}), "protocol.unsupported_version"),
        (orjson.dumps(_event().to_json()), "protocol.unsupported_version"),
        (orjson.dumps({"v": WIRE_VERSION, "seq": 1}), "protocol.invalid_event"),
        (_wire("seq", "1"), "protocol.invalid_event"),
        (_wire("seq", True), "protocol.invalid_event"),
        (_wire("data", "%%"), "protocol.invalid_event"),
        (_wire("payload", []), "protocol.invalid_event"),
        (_wire("actor", 7), "protocol.invalid_event"),
        (_wire("recorded_at", "x"), "protocol.invalid_event"),
    ],
)
def test_a_malformed_event_is_refused_with_a_code(raw: bytes, code: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        event_from_wire(raw)

    assert refused.value.code == code


def test_a_batch_must_be_an_array() -> None:
    with pytest.raises(InvalidInput) as refused:
        batch_from_wire(event_to_wire(_event()))

    assert refused.value.code == "protocol.invalid_event"
