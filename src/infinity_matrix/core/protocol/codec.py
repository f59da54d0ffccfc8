"""The wire form of events between nodes: versioned JSON objects (orjson), ``data`` as base64.

One event is the object of ``Event.to_json`` plus ``"v"``, the wire version; a batch is a JSON
array of such objects. A node that meets a version it does not know refuses the message, and
its fan-out repairs the loss from the database like any other lost message, so nodes of two
versions can share a bus during a rolling upgrade.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from infinity_matrix.core.protocol.events import Event
from infinity_matrix.errors import InvalidInput

WIRE_VERSION = 1


def event_to_wire(event: Event) -> bytes:
    """Encode one event (raises ``TypeError`` if its payload is not JSON-serialisable)."""
    return orjson.dumps({"v": WIRE_VERSION, **event.to_json()})


def frame_batch(wire_events: Sequence[bytes]) -> bytes:
    """Join events already encoded by ``event_to_wire`` into one batch, encoding nothing twice."""
    return b"[" + b",".join(wire_events) + b"]"


def event_from_wire(raw: bytes | str) -> Event:
    """Decode one event; raises ``InvalidInput`` (``protocol.invalid_event``, or
    ``protocol.unsupported_version`` for another wire version)."""
    return _event(_loads(raw))


def batch_from_wire(raw: bytes | str) -> list[Event]:
    """Decode a batch made by ``frame_batch``; raises like ``event_from_wire``."""
    value = _loads(raw)
    if not isinstance(value, list):
        raise _invalid("a batch must be a JSON array")
    return [_event(item) for item in value]


def _loads(raw: bytes | str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _invalid("not JSON") from exc


def _event(value: Any) -> Event:
    if not isinstance(value, dict):
        raise _invalid("an event must be a JSON object")
    if value.get("v") != WIRE_VERSION:
        raise InvalidInput(
            f"unsupported event wire version {value.get('v')!r}",
            code="protocol.unsupported_version",
        )
    try:
        return Event(
            workspace=_text(value["workspace"]),
            seq=_seq(value["seq"]),
            id=_text(value["id"]),
            type=_text(value["type"]),
            subject=_text(value["subject"]),
            actor=_text(value["actor"]),
            source=_optional_text(value["source"]),
            client_msg_id=_optional_text(value["client_msg_id"]),
            payload=_payload(value["payload"]),
            data=_data(value["data"]),
            trace_id=_optional_text(value["trace_id"]),
            recorded_at=datetime.fromisoformat(value["recorded_at"]),
        )
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise _invalid(f"malformed event: {exc!r}") from exc


def _seq(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("seq must be a positive integer")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _payload(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError("payload must be a JSON object")
    return value


def _data(value: Any) -> bytes | None:
    return None if value is None else base64.b64decode(_text(value), validate=True)


def _invalid(detail: str) -> InvalidInput:
    return InvalidInput(detail, code="protocol.invalid_event")
