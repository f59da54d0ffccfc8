"""Context entries: put whole values (turned into minimal Yjs edits), get, list, delete, history."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from infinity_matrix.core.authorization import Authorizer
from infinity_matrix.core.ports import EventStore, LogTransaction
from infinity_matrix.core.protocol import events as ev
from infinity_matrix.core.records import EntryRecord, Kind, Page, validate_key
from infinity_matrix.core.sync.documents import Document
from infinity_matrix.core.sync.log import EventLog, Origin, Receipt
from infinity_matrix.core.sync.projector import Projection
from infinity_matrix.errors import Conflict, InvalidInput, NotFound, TooLarge
from infinity_matrix.security.access import Permission
from infinity_matrix.security.principals import Principal

MAX_TAGS = 32
MAX_TAG_LENGTH = 64
MAX_PAGE = 1000


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


class ContextService:
    """Use cases on context entries; every method checks authorization itself.

    Errors: ``NotFound`` (workspace invisible, ``context.not_found``), ``Forbidden`` (role too
    low), ``InvalidInput`` (key, value or tags), ``TooLarge`` (``context.too_large``),
    ``Conflict`` (``context.kind_conflict``, ``idempotency.conflict``).
    """

    def __init__(
        self, store: EventStore, log: EventLog, authorizer: Authorizer, *, max_value_bytes: int
    ) -> None:
        self._store = store
        self._log = log
        self._auth = authorizer
        self._max_value_bytes = max_value_bytes

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
            size = len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())
        except (TypeError, ValueError) as exc:
            raise InvalidInput("data is not valid JSON", code="context.invalid_value") from exc
        self._check_size(size)
        return PutEntry(key, "json", data, size, tags)

    def _check_size(self, size: int) -> None:
        if size > self._max_value_bytes:
            raise TooLarge(
                f"value is {size} bytes; the limit is {self._max_value_bytes}",
                code="context.too_large",
                limit=self._max_value_bytes,
            )


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
