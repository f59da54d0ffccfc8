"""Context entry documents: a Yjs doc per entry, and whole-value writes turned into minimal edits.

Writers that are not Yjs clients (REST, CLI, MCP tools, provider adapters) send whole values. We
diff them against the current state and apply only the changed characters (text) or the changed
top-level keys (json), so they merge with concurrent live editors instead of overwriting them.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator
from difflib import SequenceMatcher
from typing import Any

import pycrdt

from infinity_matrix.core.records import Kind
from infinity_matrix.errors import InvalidInput

TEXT: Kind = "text"
JSON: Kind = "json"

TEXT_ROOT = "content"
DATA_ROOT = "data"

# RFC 8259 §6: integers outside ±(2**53 - 1) do not survive JSON readers that use doubles (every
# Yjs client in JavaScript), and pycrdt itself stores large negative integers as lossy doubles.
_MAX_SAFE_INT = 2**53 - 1
# Above this many characters changed, a character diff (quadratic) is done line by line.
_CHAR_DIFF_LIMIT = 2_000


class Document:
    """One context entry's Yjs document.

    Raises ``InvalidInput`` (code ``context.invalid_value``) for values that are not valid text or
    JSON, and (code ``sync.invalid_update``) for bytes that are not a Yjs v1 update/state vector.
    """

    __slots__ = ("_content", "_data", "_doc", "_held")

    def __init__(self, state: bytes | None = None, *, client_id: int | None = None) -> None:
        """Load ``state``, a whole document as one update (as ``state()`` gives it).

        ``client_id`` names this replica's own edits. A writer that always edits the latest
        committed state under a lock (the event log) should reuse one id: every new id adds an
        entry to the document's state vector forever.
        """
        self._held: list[bytes] = []  # updates waiting for changes they build on
        self._bind(pycrdt.Doc() if client_id is None else pycrdt.Doc(client_id=client_id))
        if state is not None:
            try:
                # A whole state is self-contained: nothing in it can wait for something else.
                self._doc.apply_update(state)
            except ValueError as exc:
                raise InvalidInput("not a Yjs update", code="sync.invalid_update") from exc

    @property
    def text(self) -> str:
        return str(self._content)

    @property
    def data(self) -> dict[str, Any]:
        # A Y.Map has no order; sorted keys make reads (and projections) deterministic.
        items = sorted((self._data.to_py() or {}).items())
        return {key: _plain(value) for key, value in items}

    def set_text(self, value: str) -> bytes | None:
        """Make the text equal ``value`` by a character diff; return that change's update."""
        _check_text(value)
        old = self.text
        edits = _byte_edits(old, _text_edits(old, value))
        if not edits:
            return None

        def change() -> None:
            # From the end backwards, so the byte offsets of earlier edits stay valid.
            for start, stop, replacement in reversed(edits):
                if stop > start:
                    del self._content[start:stop]
                if replacement:
                    self._content.insert(start, replacement)

        return self._local_change(change)

    def set_data(self, value: dict[str, Any]) -> bytes | None:
        """Make the data equal ``value``, writing only keys that changed; return the update."""
        if not isinstance(value, dict):
            raise InvalidInput("json context must be an object", code="context.invalid_value")
        _check_json(value)
        current = {key: _canonical(item) for key, item in self.data.items()}
        removed = [key for key in current if key not in value]
        changed = {k: v for k, v in value.items() if current.get(k) != _canonical(_plain(v))}
        if not removed and not changed:
            return None

        def change() -> None:
            for key in removed:
                del self._data[key]
            for key, item in changed.items():
                self._data[key] = item

        return self._local_change(change)

    def apply(self, update: bytes) -> None:
        """Integrate a remote or logged update; applying one twice changes nothing.

        Updates may arrive in any order: one that builds on changes not here yet is held back
        and integrated as soon as they arrive. ``state()`` covers integrated updates only.
        """
        vector = self.state_vector()
        try:
            if not self._integrate(update):
                self._held.append(update)
        except ValueError as exc:
            raise InvalidInput("not a Yjs update", code="sync.invalid_update") from exc
        while self._held and self.state_vector() != vector:
            vector = self.state_vector()
            self._held = [held for held in self._held if not self._integrate(held)]

    def state(self) -> bytes:
        return self._doc.get_update()

    def state_vector(self) -> bytes:
        return self._doc.get_state()

    def diff(self, state_vector: bytes) -> bytes:
        """Return an update holding everything this document has that the peer lacks."""
        try:
            return self._doc.get_update(state_vector)
        except ValueError as exc:
            raise InvalidInput("not a Yjs state vector", code="sync.invalid_update") from exc

    def _integrate(self, update: bytes) -> bool:
        """Apply ``update`` if it can be applied whole; return whether it was."""
        if self._covered(update) is False:
            return False  # only deletions of items that are not here yet
        self._doc.apply_update(update)
        if self._covered(update):
            return True
        # yrs 0.26 loses or misapplies changes it keeps pending (y-crdt/y-crdt#582, #628), so
        # we keep the update ourselves and reload the document without yrs's pending changes.
        doc: pycrdt.Doc[Any] = pycrdt.Doc(client_id=self._doc.client_id)
        doc.apply_update(self._doc.get_update())  # the integrated changes, none of the pending
        self._bind(doc)
        return False

    def _covered(self, update: bytes) -> bool | None:
        """None if ``update`` has items the document lacks, else whether all it deletes is here."""
        vector = self.state_vector()
        # The diff holds the items we lack (then it does not start with 0) and the update's
        # whole delete set, which in v1 is nothing but unsigned varints.
        numbers = _varuints(pycrdt.get_update(update, vector))
        if next(numbers) != 0:
            return None
        known = _pairs(_varuints(vector))
        for _ in range(next(numbers)):
            client, ranges = next(numbers), next(numbers)
            ends = [next(numbers) + next(numbers) for _ in range(ranges)]
            if max(ends, default=0) > known.get(client, 0):
                return False
        return True

    def _bind(self, doc: pycrdt.Doc[Any]) -> None:
        self._doc = doc
        self._content = doc.get(TEXT_ROOT, type=pycrdt.Text)
        self._data: pycrdt.Map[Any] = doc.get(DATA_ROOT, type=pycrdt.Map)

    def _local_change(self, change: Callable[[], None]) -> bytes:
        # The transaction's own update carries only this change's delete set, whereas
        # get_update(state_vector_before) would repeat every deletion the document ever saw.
        updates: list[bytes] = []
        subscription = self._doc.observe(lambda event: updates.append(event.update))
        try:
            with self._doc.transaction():
                change()
        finally:
            self._doc.unobserve(subscription)
        return updates[0] if len(updates) == 1 else merge_updates(updates)


def merge_updates(updates: Iterable[bytes]) -> bytes:
    """Merge v1 updates into one that has the same effect as applying them all."""
    try:
        return pycrdt.merge_updates(*updates)
    except ValueError as exc:
        raise InvalidInput("not a Yjs update", code="sync.invalid_update") from exc


def _varuints(data: bytes) -> Iterator[int]:
    value = shift = 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            yield value
            value = shift = 0


def _pairs(numbers: Iterator[int]) -> dict[int, int]:
    """Decode a state vector: a count, then (client, clock) pairs."""
    return {next(numbers): next(numbers) for _ in range(next(numbers))}


def _text_edits(old: str, new: str) -> list[tuple[int, int, str]]:
    """Return (start, stop, replacement) edits over ``old`` in code points, in ascending order."""
    # commonprefix compares character by character, which is what we want here.
    prefix = len(os.path.commonprefix([old, new]))  # noqa: RUF071
    suffix = len(os.path.commonprefix([old[prefix:][::-1], new[prefix:][::-1]]))  # noqa: RUF071
    a, b = old[prefix : len(old) - suffix], new[prefix : len(new) - suffix]
    if len(a) + len(b) <= _CHAR_DIFF_LIMIT:
        return _char_edits(a, b, prefix)
    # Large changes are diffed by lines first, then by characters within changed lines, as
    # diff-match-patch does: a character diff of whole texts is quadratic.
    a_lines, b_lines = a.splitlines(keepends=True), b.splitlines(keepends=True)
    a_at, b_at = _line_starts(a_lines), _line_starts(b_lines)
    edits: list[tuple[int, int, str]] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a_lines, b_lines).get_opcodes():
        if tag != "equal":
            a_block, b_block = a[a_at[i1] : a_at[i2]], b[b_at[j1] : b_at[j2]]
            edits += _char_edits(a_block, b_block, prefix + a_at[i1])
    return edits


def _char_edits(a: str, b: str, offset: int) -> list[tuple[int, int, str]]:
    if not a or not b:
        return [(offset, offset + len(a), b)] if a or b else []
    # Past the limit, autojunk bounds the cost at the price of a coarser (still correct) diff.
    autojunk = len(a) + len(b) > _CHAR_DIFF_LIMIT
    opcodes = SequenceMatcher(None, a, b, autojunk=autojunk).get_opcodes()
    return [
        (offset + i1, offset + i2, b[j1:j2]) for tag, i1, i2, j1, j2 in opcodes if tag != "equal"
    ]


def _line_starts(lines: list[str]) -> list[int]:
    return [0, *itertools.accumulate(len(line) for line in lines)]


def _byte_edits(old: str, edits: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Convert code point offsets to the UTF-8 byte offsets pycrdt's Text indexes by."""
    converted: list[tuple[int, int, str]] = []
    position = offset = 0
    for start, stop, replacement in edits:
        offset += len(old[position:start].encode())
        length = len(old[start:stop].encode())
        converted.append((offset, offset + length, replacement))
        offset, position = offset + length, stop
    return converted


def _check_text(value: object) -> None:
    if not isinstance(value, str) or not _is_unicode(value):
        raise InvalidInput("text context must be a Unicode string", code="context.invalid_value")


def _check_json(value: object) -> None:
    if isinstance(value, list):
        for item in value:
            _check_json(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not _is_unicode(key):
                raise InvalidInput("object keys must be strings", code="context.invalid_value")
            _check_json(item)
    elif not (
        value is None
        or isinstance(value, bool)
        or (isinstance(value, int) and abs(value) <= _MAX_SAFE_INT)
        or (isinstance(value, float) and math.isfinite(value))
        or (isinstance(value, str) and _is_unicode(value))
    ):
        raise InvalidInput(f"not a safe JSON value: {value!r:.40}", code="context.invalid_value")


def _is_unicode(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:  # lone surrogates can be neither stored nor sent
        return False
    return True


def _plain(value: Any) -> Any:
    """Return ``value`` as plain JSON types; Yjs stores every number as a double."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= _MAX_SAFE_INT:
        return int(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _canonical(value: Any) -> str:
    # A string form, because == says True == 1 and would hide a change from 1 to true.
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=repr)
