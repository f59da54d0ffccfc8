"""The y-websocket wire format: y-protocols sync and awareness messages, encoded and decoded.

A frame is one message: ``varuint type`` then, for ``sync`` (0), ``varuint step`` and the
payload as a length-prefixed byte string (step 1: a state vector; step 2 and update: a Yjs v1
update); for ``awareness`` (1), an awareness update as a length-prefixed byte string. An
awareness update is ``varuint n`` then n times ``varuint client, varuint clock, varstring
state`` where state is JSON text and ``null`` says the client left (y-protocols/awareness.js).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from pycrdt import YMessageType, YSyncMessageType, write_message, write_var_uint

from infinity_matrix.errors import InvalidInput

SYNC = int(YMessageType.SYNC)
AWARENESS = int(YMessageType.AWARENESS)
STEP1 = int(YSyncMessageType.SYNC_STEP1)
STEP2 = int(YSyncMessageType.SYNC_STEP2)
UPDATE = int(YSyncMessageType.SYNC_UPDATE)

EMPTY_UPDATE = b"\x00\x00"  # no structs, no deletions: what a client with nothing new sends
GONE = "null"
# lib0 writes numbers of at most 53 bits; anything longer is not a varuint it could have sent.
_MAX_VARUINT_BYTES = 8


@dataclass(frozen=True, slots=True)
class Message:
    """One decoded frame; ``step`` is set for sync messages only."""

    type: int
    step: int | None
    payload: bytes


@dataclass(frozen=True, slots=True)
class AwarenessEntry:
    """One client's awareness state (JSON text) at its clock; ``GONE`` when it left."""

    client: int
    clock: int
    state: str

    @property
    def gone(self) -> bool:
        return self.state == GONE


def decode(frame: bytes) -> Message:
    """Decode a frame; raises ``InvalidInput`` (``sync.invalid_message``) if it is not one."""
    reader = _Reader(frame)
    kind = reader.uint()
    if kind == AWARENESS:
        return Message(AWARENESS, None, reader.bytes())
    if kind == SYNC:
        step = reader.uint()
        if step in (STEP1, STEP2, UPDATE):
            return Message(SYNC, step, reader.bytes())
    raise _invalid(f"unknown message type {kind}")


def sync_step1(state_vector: bytes) -> bytes:
    return _sync(STEP1, state_vector)


def sync_step2(update: bytes) -> bytes:
    return _sync(STEP2, update)


def sync_update(update: bytes) -> bytes:
    return _sync(UPDATE, update)


def awareness(update: bytes) -> bytes:
    return bytes([AWARENESS]) + write_message(update)


def decode_awareness(update: bytes) -> list[AwarenessEntry]:
    """Decode an awareness update; every state must be JSON text (peers parse it)."""
    reader = _Reader(update)
    entries = []
    for _ in range(reader.uint()):
        client, clock, state = reader.uint(), reader.uint(), reader.string()
        try:
            json.loads(state)
        except ValueError as exc:
            raise _invalid("an awareness state is not JSON") from exc
        entries.append(AwarenessEntry(client, clock, state))
    return entries


def encode_awareness(entries: Iterable[AwarenessEntry]) -> bytes:
    entries = list(entries)
    parts = [write_var_uint(len(entries))]
    for entry in entries:
        # pycrdt's Encoder prefixes strings with their length in characters; lib0 reads bytes.
        parts += [write_var_uint(entry.client), write_var_uint(entry.clock)]
        parts.append(write_message(entry.state.encode()))
    return b"".join(parts)


def _sync(step: int, payload: bytes) -> bytes:
    return bytes([SYNC, step]) + write_message(payload)


class _Reader:
    """A strict lib0 decoder: running out of bytes is an error, not a short read."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def uint(self) -> int:
        value = 0
        for index in range(_MAX_VARUINT_BYTES):
            if self._at >= len(self._data):
                raise _invalid("the message ends early")
            byte = self._data[self._at]
            self._at += 1
            value |= (byte & 0x7F) << (7 * index)
            if byte < 0x80:
                return value
        raise _invalid("a number is too long")

    def bytes(self) -> bytes:
        length = self.uint()
        end = self._at + length
        if end > len(self._data):
            raise _invalid("the message ends early")
        chunk, self._at = self._data[self._at : end], end
        return chunk

    def string(self) -> str:
        try:
            return self.bytes().decode()
        except UnicodeDecodeError as exc:
            raise _invalid("a string is not UTF-8") from exc


def _invalid(detail: str) -> InvalidInput:
    return InvalidInput(detail, code="sync.invalid_message")
