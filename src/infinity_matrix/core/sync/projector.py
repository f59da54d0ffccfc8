"""Turns events into current state: the one place that says how each event changes projections.

Live appends and replay both go through ``Projection.apply``, which is why a replay rebuilds
exactly the state that live traffic built.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from infinity_matrix.core.insights.projection import InsightProjection
from infinity_matrix.core.knowledge.projection import GraphProjection
from infinity_matrix.core.ports import LogTransaction
from infinity_matrix.core.protocol import events as ev
from infinity_matrix.core.providers.projection import apply_provider_event
from infinity_matrix.core.records import EntryRecord, MemberRecord
from infinity_matrix.core.sync.doccache import DocumentCache
from infinity_matrix.core.sync.documents import Document

_DELETED = None


class Projection:
    """Projection changes staged inside one log transaction, written once by ``flush``.

    Entries touched several times in one batch are loaded once and written once.
    """

    def __init__(
        self,
        tx: LogTransaction,
        *,
        client_id: int | None = None,
        cache: DocumentCache | None = None,
    ) -> None:
        self._tx = tx
        self._client_id = client_id
        self._cache = cache
        self._entries: dict[str, EntryRecord | None] = {}
        self._docs: dict[str, Document] = {}
        self._dirty: set[str] = set()
        self.graph = GraphProjection(tx)
        self.insights = InsightProjection(tx)

    async def preload(self, keys: Iterable[str]) -> None:
        """Load many entries in one round trip (a batch's keys, before its commands decide)."""
        missing = sorted({k for k in keys if k not in self._entries})
        if missing:
            found = await self._tx.load_entries(missing)
            for key in missing:
                self._entries[key] = found.get(key)

    async def entry(self, key: str) -> EntryRecord | None:
        """The entry as of everything staged so far (None if absent or deleted)."""
        if key not in self._entries:
            self._entries[key] = await self._tx.load_entry(key)
        return self._entries[key]

    async def document(self, key: str) -> Document:
        """The entry's live document; a new empty one when the entry does not exist."""
        if key not in self._docs:
            record = await self.entry(key)
            cached = None
            if record is not None and self._cache is not None:
                cached = self._cache.take(self._tx.workspace, key, record.seq)
            if cached is None:
                state = record.state if record else None
                cached = Document(state, client_id=self._client_id)
            self._docs[key] = cached
        return self._docs[key]

    async def apply(self, event: ev.Event, *, local: bool = False) -> None:
        """Project ``event``; ``local`` when it was decided on this projection's documents
        (its update is in them already), as opposed to read back from the log (replay)."""
        if event.type == ev.CONTEXT_UPDATED:
            await self._apply_context_update(event, local=local)
        elif event.type == ev.CONTEXT_DELETED:
            key = event.subject.removeprefix("context/")
            self._entries[key] = _DELETED
            self._docs.pop(key, None)
            self._dirty.add(key)
        elif event.type == ev.MEMBER_ADDED:
            member = MemberRecord(
                workspace=event.workspace,
                principal=event.payload["principal"],
                role=event.payload["role"],
                added_at=event.recorded_at,
                added_by=event.actor,
            )
            await self._tx.save_member(member)
        elif event.type == ev.MEMBER_REMOVED:
            await self._tx.delete_member(event.payload["principal"])
        elif event.type == ev.WORKSPACE_CREATED:
            await self._tx.rename_workspace(event.payload["name"])
        elif event.type in ev.GRAPH_EVENTS:
            self.graph.apply(event)
        elif event.type in ev.INSIGHT_EVENTS:
            await self.insights.apply(event)
        elif event.type in ev.PROVIDER_EVENTS:
            await apply_provider_event(self._tx, event)
        # key.* events are the audit trail of credentials kept outside projections.

    async def _apply_context_update(self, event: ev.Event, *, local: bool) -> None:
        key = event.subject.removeprefix("context/")
        record = await self.entry(key)
        doc = await self.document(key)
        if event.data and not local:
            doc.apply(event.data)
        tags = event.payload.get("tags")
        # Readable values and merged state are derived from the document once, in flush().
        common = {
            "seq": event.seq,
            "size": event.payload.get("size", 0),
            "updated_at": event.recorded_at,
            "updated_by": event.actor,
        }
        if record is None:
            record = EntryRecord(
                workspace=event.workspace,
                key=key,
                kind=event.payload["kind"],
                text=None,
                data=None,
                state=b"",
                tags=list(tags or []),
                created_at=event.recorded_at,
                **common,
            )
        else:
            record = replace(record, tags=list(tags) if tags is not None else record.tags, **common)
        self._entries[key] = record
        self._dirty.add(key)

    def keep_documents(self) -> None:
        """After commit: hand the documents back to the cache, each valid for its new seq."""
        if self._cache is None:
            return
        for key, doc in self._docs.items():
            record = self._entries.get(key)
            if record is not None:
                self._cache.put(self._tx.workspace, key, record.seq, doc, record.size)

    async def flush(self) -> None:
        """Write every entry changed since the last flush: one statement for all saves."""
        saved: list[EntryRecord] = []
        deleted: list[str] = []
        for key in sorted(self._dirty):
            record = self._entries[key]
            if record is None:
                deleted.append(key)
                continue
            doc = self._docs[key]
            record.state = doc.state()
            record.text = doc.text if record.kind == "text" else None
            record.data = doc.data if record.kind == "json" else None
            saved.append(record)
        if deleted:
            await self._tx.delete_entries(deleted)
        if saved:
            await self._tx.save_entries(saved)
        self._dirty.clear()
        await self.graph.flush()
