"""Context entries: put whole values (turned into minimal Yjs edits) or Yjs updates, get, list,
delete, history."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pycrdt

from infinity_matrix.core.authorization import Authorizer
from infinity_matrix.core.ports import EventStore, LogTransaction, SearchIndex
from infinity_matrix.core.protocol import events as ev
from infinity_matrix.core.records import MAX_KEY_LENGTH, EntryRecord, Kind, Page, validate_key
from infinity_matrix.core.search import SearchHit
from infinity_matrix.core.sync.documents import Document
from infinity_matrix.core.sync.log import EventLog, Origin, Receipt
from infinity_matrix.core.sync.projector import Projection
from infinity_matrix.errors import Conflict, InvalidInput, NotFound, TooLarge, Unavailable
from infinity_matrix.security.access import Permission, Role, require
from infinity_matrix.security.principals import Principal

MAX_TAGS = 32
MAX_TAG_LENGTH = 64
MAX_PAGE = 1000
MAX_SEARCH_LIMIT = 100
_KEY_PREFIX = re.compile(r"[A-Za-z0-9._/-]*")
KINDS: tuple[Kind, ...] = ("text", "json")
# A Yjs update can grow a value's JSON text by at most about this factor (one control character
# in a string becomes six: \u0001); below the bound an update cannot cross the size limit.
_MAX_GROWTH = 6


@dataclass(frozen=True, slots=True)
class PutEntry:
    key: str
    kind: Kind
    value: str | dict[str, Any]
    size: int
    tags: list[str] | None = None

    @property
    def subject(self) -> str:
        return ev.context_subject(self.key)

    async def decide(self, projection: Projection, tx: LogTransaction) -> list[ev.NewEvent]:
        record = await projection.entry(self.key)
        if record is not None and record.kind != self.kind:
            raise Conflict(
                f"{self.key!r} is a {record.kind} entry; delete it before writing {self.kind}",
                code="context.kind_conflict",
            )
        doc: Document = await projection.document(self.key)
        if isinstance(self.value, str):
            update = doc.set_text(self.value)
        else:
            update = doc.set_data(self.value)
        tags_changed = self.tags is not None and (record is None or record.tags != self.tags)
        if record is not None and update is None and not tags_changed:
            return []  # nothing changed: answer the entry's seq, append nothing
        payload: dict[str, Any] = {"kind": self.kind, "size": self.size}
        if self.tags is not None or record is None:
            payload["tags"] = self.tags or []
        return [ev.NewEvent(ev.CONTEXT_UPDATED, self.subject, payload, update or b"")]


@dataclass(frozen=True, slots=True)
class DeleteEntry:
    key: str

    @property
    def subject(self) -> str:
        return ev.context_subject(self.key)

    async def decide(self, projection: Projection, tx: LogTransaction) -> list[ev.NewEvent]:
        if await projection.entry(self.key) is None:
            raise NotFound(f"no context entry {self.key!r}", code="context.not_found")
        return [ev.NewEvent(ev.CONTEXT_DELETED, self.subject)]


@dataclass(frozen=True, slots=True)
class ApplyUpdate:
    """Integrate a Yjs update from a live editor; logs the update as received.

    Yjs cannot reject part of an update, so one that also writes the root of the other kind (a
    Y.Map ``data`` in a text entry) is accepted whole: it is logged and replayed, but the
    readable value shows only the entry's own root. An update that changes nothing appends
    nothing, so a reconnecting client's sync step 2 (which repeats every deletion it knows) is
    free, and allowed even to callers who may not write. Deletions of items the entry never
    had change nothing either and are dropped.
    """

    key: str
    update: bytes
    kind: Kind  # for an entry this update creates; an existing entry keeps its kind
    role: Role
    max_value_bytes: int

    @property
    def subject(self) -> str:
        return ev.context_subject(self.key)

    async def decide(self, projection: Projection, tx: LogTransaction) -> list[ev.NewEvent]:
        record = await projection.entry(self.key)
        doc = await projection.document(self.key)
        if not _changes(doc, self.update):
            return []
        require(self.role, Permission.WRITE)
        kind = record.kind if record is not None else self.kind
        if (record.size if record else 0) + _MAX_GROWTH * len(self.update) > self.max_value_bytes:
            # Near the limit: measure on a copy, since a refused update must leave the staged
            # document untouched.
            probe = Document(doc.state())
            probe.apply(self.update)
            _check_value_size(_value_size(probe, kind), self.max_value_bytes)
        doc.apply(self.update)
        payload: dict[str, Any] = {"kind": kind, "size": _value_size(doc, kind)}
        if record is None:
            payload["tags"] = []
        return [ev.NewEvent(ev.CONTEXT_UPDATED, self.subject, payload, self.update)]


class ContextService:
    """Use cases on context entries; every method checks authorization itself.

    Errors: ``NotFound`` (workspace invisible, ``context.not_found``), ``Forbidden`` (role too
    low), ``InvalidInput`` (key, value or tags), ``TooLarge`` (``context.too_large``),
    ``Conflict`` (``context.kind_conflict``, ``idempotency.conflict``).
    """

    def __init__(
        self,
        store: EventStore,
        log: EventLog,
        authorizer: Authorizer,
        *,
        max_value_bytes: int,
        search: SearchIndex | None = None,
    ) -> None:
        self._store = store
        self._log = log
        self._auth = authorizer
        self._max_value_bytes = max_value_bytes
        self._search = search

    async def put(
        self,
        principal: Principal,
        workspace: str,
        key: str,
        *,
        text: str | None = None,
        data: dict[str, Any] | None = None,
        tags: list[str] | None = None,
        client_msg_id: str | None = None,
        source: str | None = None,
    ) -> Receipt:
        """Write a whole value; answers the seq of its event (or of the unchanged entry)."""
        await self._auth.check(principal, workspace, Permission.WRITE)
        command = self._put_command(validate_key(key), text, data, _check_tags(tags))
        origin = Origin(actor=principal.actor, source=source, client_msg_id=client_msg_id)
        return await self._log.submit(workspace, command, origin)

    async def delete(
        self,
        principal: Principal,
        workspace: str,
        key: str,
        *,
        client_msg_id: str | None = None,
        source: str | None = None,
    ) -> Receipt:
        await self._auth.check(principal, workspace, Permission.WRITE)
        origin = Origin(actor=principal.actor, source=source, client_msg_id=client_msg_id)
        return await self._log.submit(workspace, DeleteEntry(validate_key(key)), origin)

    async def open_document(
        self, principal: Principal, workspace: str, key: str
    ) -> EntryRecord | None:
        """The entry a live editor opens, or None if it does not exist yet (the editor's first
        update creates it). Raises ``NotFound`` (workspace) and ``InvalidInput`` (key)."""
        await self._auth.check(principal, workspace, Permission.READ)
        return await self._store.get_entry(workspace, validate_key(key))

    async def apply_update(
        self,
        principal: Principal,
        workspace: str,
        key: str,
        update: bytes,
        *,
        kind: str | None = None,
        client_msg_id: str | None = None,
        source: str | None = None,
    ) -> Receipt:
        """Integrate a Yjs v1 update (see ``ApplyUpdate``); ``kind`` (text, the default, or
        json) is that of an entry the update creates.

        Raises ``Forbidden`` when a caller who may only read sends an update that changes
        something, ``InvalidInput`` (``sync.invalid_update``) for bytes that are no update,
        and ``TooLarge`` (``context.too_large``) when the value would outgrow the limit.
        """
        role = await self._auth.check(principal, workspace, Permission.READ)
        command = ApplyUpdate(
            validate_key(key), update, _check_kind(kind), role, self._max_value_bytes
        )
        origin = Origin(actor=principal.actor, source=source, client_msg_id=client_msg_id)
        return await self._log.submit(workspace, command, origin)

    async def get(self, principal: Principal, workspace: str, key: str) -> EntryRecord:
        await self._auth.check(principal, workspace, Permission.READ)
        record = await self._store.get_entry(workspace, validate_key(key))
        if record is None:
            raise NotFound(f"no context entry {key!r}", code="context.not_found")
        return record

    async def list_entries(
        self,
        principal: Principal,
        workspace: str,
        *,
        prefix: str = "",
        cursor: str | None = None,
        limit: int = 100,
    ) -> Page:
        """Entries in key order; ``cursor`` is the last key of the previous page."""
        await self._auth.check(principal, workspace, Permission.READ)
        limit = _check_limit(limit)
        rows = await self._store.list_entries(
            workspace, prefix=prefix, after_key=cursor, limit=limit + 1
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(items=rows, next_cursor=rows[-1].key if more and rows else None)

    async def history(
        self,
        principal: Principal,
        workspace: str,
        key: str,
        *,
        before: int | None = None,
        limit: int = 50,
    ) -> list[ev.Event]:
        """The entry's events, newest first (the entry may since have been deleted)."""
        await self._auth.check(principal, workspace, Permission.READ)
        subject = ev.context_subject(validate_key(key))
        return await self._store.read_events(
            workspace, subject=subject, before=before, limit=_check_limit(limit), newest_first=True
        )

    async def search(
        self,
        principal: Principal,
        workspace: str,
        query: str,
        *,
        prefix: str = "",
        limit: int = 20,
    ) -> list[SearchHit]:
        """Entries matching ``query`` (see ``core.search``), best first, at most ``limit``
        (1 to 100), only keys starting with ``prefix``.

        Raises ``InvalidInput`` (``search.invalid_query``: no word to look for, or too long;
        ``search.invalid_prefix``; ``request.invalid_limit``).
        """
        await self._auth.check(principal, workspace, Permission.READ)
        if not 1 <= limit <= MAX_SEARCH_LIMIT:
            raise InvalidInput(
                f"limit must be 1 to {MAX_SEARCH_LIMIT}", code="request.invalid_limit"
            )
        if len(prefix) > MAX_KEY_LENGTH or not _KEY_PREFIX.fullmatch(prefix):
            raise InvalidInput(
                "prefix must be the start of a key ([A-Za-z0-9._/-])", code="search.invalid_prefix"
            )
        if self._search is None:
            raise Unavailable("full-text search is not set up", code="search.unavailable")
        return await self._search.search_entries(workspace, query, prefix=prefix, limit=limit)

    def _put_command(
        self, key: str, text: str | None, data: dict[str, Any] | None, tags: list[str] | None
    ) -> PutEntry:
        if (text is None) == (data is None):
            raise InvalidInput("give exactly one of text or data", code="context.invalid_value")
        if text is not None:
            size = len(text.encode("utf-8", errors="surrogatepass"))
            self._check_size(size)
            return PutEntry(key, "text", text, size, tags)
        if not isinstance(data, dict):
            raise InvalidInput("data must be a JSON object", code="context.invalid_value")
        try:
            size = _json_size(data)
        except (TypeError, ValueError) as exc:
            raise InvalidInput("data is not valid JSON", code="context.invalid_value") from exc
        self._check_size(size)
        return PutEntry(key, "json", data, size, tags)

    def _check_size(self, size: int) -> None:
        _check_value_size(size, self._max_value_bytes)


def _check_value_size(size: int, limit: int) -> None:
    if size > limit:
        raise TooLarge(
            f"value is {size} bytes; the limit is {limit}", code="context.too_large", limit=limit
        )


def _json_size(data: dict[str, Any]) -> int:
    return len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())


def _value_size(doc: Document, kind: Kind) -> int:
    return len(doc.text.encode()) if kind == "text" else _json_size(doc.data)


def _changes(doc: Document, update: bytes) -> bool:
    """Whether applying ``update`` would change ``doc``; ``InvalidInput`` if it is no update."""
    try:
        missing = pycrdt.get_update(update, doc.state_vector())
    except ValueError as exc:
        raise InvalidInput("not a Yjs update", code="sync.invalid_update") from exc
    if missing[:1] != b"\x00":
        return True  # it holds items the document lacks (a leading varuint count, not 0)
    # Only deletions: whether any is new shows only by trying them, on a copy.
    probe = Document(doc.state())
    before = probe.state()
    probe.apply(update)
    return probe.state() != before


def _check_kind(kind: str | None) -> Kind:
    if kind is None:
        return "text"
    for known in KINDS:
        if kind == known:
            return known
    raise InvalidInput("kind is text or json", code="context.invalid_kind")


def _check_tags(tags: list[str] | None) -> list[str] | None:
    if tags is None:
        return None
    if len(tags) > MAX_TAGS or any(not t or len(t) > MAX_TAG_LENGTH for t in tags):
        raise InvalidInput(
            f"at most {MAX_TAGS} tags of 1 to {MAX_TAG_LENGTH} characters",
            code="context.invalid_tags",
        )
    return sorted(set(tags))


def _check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1 to {MAX_PAGE}", code="request.invalid_limit")
    return limit
