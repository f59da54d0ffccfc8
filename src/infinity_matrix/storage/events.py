"""SqlEventStore: the event log, its projections and the workspaces' head rows, in SQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from infinity_matrix.core.knowledge.records import (
    EntityEnd,
    EntityRow,
    ObservationEnd,
    ObservationRow,
    Relation,
    RelationEnd,
    RelationRow,
)
from infinity_matrix.core.ports import PriorMessage
from infinity_matrix.core.protocol.events import Event
from infinity_matrix.core.records import EntryRecord, MemberRecord, WorkspaceRecord
from infinity_matrix.errors import Conflict, NotFound
from infinity_matrix.security.records import ApiKeyRecord
from infinity_matrix.storage import graph_tx as graph
from infinity_matrix.storage import insights_tx, providers_tx
from infinity_matrix.storage import tables as t
from infinity_matrix.storage.database import Database
from infinity_matrix.storage.upsert import upsert


class SqlLogTransaction(insights_tx.InsightTxMixin, providers_tx.ProviderTxMixin):
    """A ``LogTransaction`` on an open connection that holds the workspace's head row lock."""

    def __init__(self, conn: AsyncConnection, workspace: str, epoch: str, head: int) -> None:
        self._conn = conn
        self.workspace = workspace
        self.epoch = epoch
        self.head = head

    async def prior_messages(self, client_msg_ids: Sequence[str]) -> dict[str, PriorMessage]:
        e = t.events.c
        rows = await self._conn.execute(
            sa.select(e.client_msg_id, e.seq, e.type, e.subject).where(
                e.workspace_id == self.workspace, e.client_msg_id.in_(set(client_msg_ids))
            )
        )
        return {r.client_msg_id: PriorMessage(r.seq, r.type, r.subject) for r in rows}

    async def load_entry(self, key: str) -> EntryRecord | None:
        return (await self.load_entries([key])).get(key)

    async def load_entries(self, keys: Sequence[str]) -> dict[str, EntryRecord]:
        c = t.context_entries.c
        rows = await self._conn.execute(
            sa.select(t.context_entries).where(
                c.workspace_id == self.workspace, c.key.in_(list(keys))
            )
        )
        return {row.key: _entry(row) for row in rows}

    async def insert_events(self, events: Sequence[Event]) -> None:
        await self._conn.execute(t.events.insert(), [_event_row(e) for e in events])

    async def set_head(self, head: int) -> None:
        await self._conn.execute(
            t.workspaces.update().where(t.workspaces.c.id == self.workspace).values(last_seq=head)
        )

    async def save_entries(self, entries: Sequence[EntryRecord]) -> None:
        rows = [_entry_row(entry) for entry in entries]
        await upsert(self._conn, t.context_entries, rows, ("workspace_id", "key"))

    async def delete_entries(self, keys: Sequence[str]) -> None:
        c = t.context_entries.c
        await self._conn.execute(
            t.context_entries.delete().where(
                c.workspace_id == self.workspace, c.key.in_(list(keys))
            )
        )

    async def save_member(self, member: MemberRecord) -> None:
        row = {
            "workspace_id": member.workspace,
            "principal": member.principal,
            "role": member.role,
            "added_at": member.added_at,
            "added_by": member.added_by,
        }
        await upsert(self._conn, t.memberships, [row], ("workspace_id", "principal"))

    async def delete_member(self, principal: str) -> None:
        c = t.memberships.c
        await self._conn.execute(
            t.memberships.delete().where(c.workspace_id == self.workspace, c.principal == principal)
        )

    async def rename_workspace(self, name: str) -> None:
        await self._conn.execute(
            t.workspaces.update().where(t.workspaces.c.id == self.workspace).values(name=name)
        )

    async def insert_api_key(self, key: ApiKeyRecord) -> None:
        await self._conn.execute(
            t.api_keys.insert().values(
                id=key.id,
                workspace_id=key.workspace,
                name=key.name,
                role=key.role,
                hash=key.hash,
                created_by=key.created_by,
                created_at=key.created_at,
                expires_at=key.expires_at,
            )
        )

    async def revoke_api_key(self, key_id: str, at: datetime) -> bool:
        c = t.api_keys.c
        result = await self._conn.execute(
            t.api_keys.update()
            .where(c.id == key_id, c.workspace_id == self.workspace, c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return bool(result.rowcount)

    async def clear_projections(self) -> None:
        for table in (t.context_entries, t.memberships):
            await self._conn.execute(table.delete().where(table.c.workspace_id == self.workspace))
        await graph.clear(self._conn, self.workspace)
        await insights_tx.clear(self._conn, self.workspace)
        await providers_tx.clear(self._conn, self.workspace)

    async def load_graph_entities(self, names: Sequence[str]) -> dict[str, int]:
        return await graph.load_entities(self._conn, self.workspace, names)

    async def load_graph_observations(
        self, names: Sequence[str]
    ) -> dict[str, tuple[int, list[str]]]:
        return await graph.load_observations(self._conn, self.workspace, names)

    async def load_graph_relations(self, relations: Sequence[Relation]) -> set[Relation]:
        return await graph.load_relations(self._conn, self.workspace, relations)

    async def load_graph_relations_touching(self, names: Sequence[str]) -> list[Relation]:
        return await graph.load_relations_touching(self._conn, self.workspace, names)

    async def insert_graph_entities(self, rows: Sequence[EntityRow]) -> None:
        await graph.insert_entities(self._conn, self.workspace, rows)

    async def insert_graph_observations(self, rows: Sequence[ObservationRow]) -> None:
        await graph.insert_observations(self._conn, self.workspace, rows)

    async def insert_graph_relations(self, rows: Sequence[RelationRow]) -> None:
        await graph.insert_relations(self._conn, self.workspace, rows)

    async def end_graph_entities(self, ends: Sequence[EntityEnd]) -> None:
        await graph.end_entities(self._conn, self.workspace, ends)

    async def end_graph_observations(self, ends: Sequence[ObservationEnd]) -> None:
        await graph.end_observations(self._conn, self.workspace, ends)

    async def end_graph_relations(self, ends: Sequence[RelationEnd]) -> None:
        await graph.end_relations(self._conn, self.workspace, ends)


class SqlEventStore:
    """Implements ``core.ports.EventStore`` on SQLite or PostgreSQL."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @asynccontextmanager
    async def transaction(
        self, workspace: str, *, create: WorkspaceRecord | None = None
    ) -> AsyncIterator[SqlLogTransaction]:
        async with self._db.write() as conn:
            if create is not None:
                await _insert_workspace(conn, create)
            w = t.workspaces.c
            # A no-op UPDATE takes the head row lock for the whole transaction (PostgreSQL);
            # SQLite's BEGIN IMMEDIATE already holds the database write lock.
            row = (
                await conn.execute(
                    t.workspaces.update()
                    .where(w.id == workspace)
                    .values(last_seq=w.last_seq)
                    .returning(w.last_seq, w.epoch)
                )
            ).first()
            if row is None:
                raise NotFound(f"workspace {workspace!r} not found", code="workspace.not_found")
            yield SqlLogTransaction(conn, workspace, row.epoch, row.last_seq)

    async def get_workspace(self, workspace: str) -> WorkspaceRecord | None:
        rows = await self.list_workspaces([workspace])
        return rows[0] if rows else None

    async def list_workspaces(self, ids: Sequence[str] | None = None) -> list[WorkspaceRecord]:
        query = sa.select(t.workspaces).order_by(t.workspaces.c.id)
        if ids is not None:
            query = query.where(t.workspaces.c.id.in_(list(ids)))
        async with self._db.read() as conn:
            return [_workspace(r) for r in await conn.execute(query)]

    async def delete_workspace(self, workspace: str) -> bool:
        async with self._db.write() as conn:
            result = await conn.execute(t.workspaces.delete().where(t.workspaces.c.id == workspace))
            return bool(result.rowcount)

    async def read_events(
        self,
        workspace: str,
        *,
        after: int = 0,
        limit: int = 100,
        subject: str | None = None,
        before: int | None = None,
        newest_first: bool = False,
    ) -> list[Event]:
        e = t.events.c
        query = sa.select(t.events).where(e.workspace_id == workspace, e.seq > after)
        if subject is not None:
            query = query.where(e.subject == subject)
        if before is not None:
            query = query.where(e.seq < before)
        query = query.order_by(e.seq.desc() if newest_first else e.seq).limit(limit)
        async with self._db.read() as conn:
            return [_event(workspace, r) for r in await conn.execute(query)]

    async def iter_events(self, workspace: str, *, batch: int = 1000) -> AsyncIterator[Event]:
        after = 0
        while True:
            chunk = await self.read_events(workspace, after=after, limit=batch)
            for event in chunk:
                yield event
            if len(chunk) < batch:
                return
            after = chunk[-1].seq

    async def get_entry(self, workspace: str, key: str) -> EntryRecord | None:
        c = t.context_entries.c
        query = sa.select(t.context_entries).where(c.workspace_id == workspace, c.key == key)
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        return _entry(row) if row else None

    async def list_entries(
        self, workspace: str, *, prefix: str = "", after_key: str | None = None, limit: int = 100
    ) -> list[EntryRecord]:
        c = t.context_entries.c
        query = sa.select(t.context_entries).where(c.workspace_id == workspace)
        if prefix:
            # A range instead of LIKE: no escaping of % and _, and it uses the primary key.
            query = query.where(c.key >= prefix, c.key < prefix + "\U0010ffff")
        if after_key is not None:
            query = query.where(c.key > after_key)
        async with self._db.read() as conn:
            rows = await conn.execute(query.order_by(c.key).limit(limit))
            return [_entry(r) for r in rows]

    async def get_member(self, workspace: str, principal: str) -> MemberRecord | None:
        c = t.memberships.c
        query = sa.select(t.memberships).where(
            c.workspace_id == workspace, c.principal == principal
        )
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        return _member(row) if row else None

    async def list_members(self, workspace: str) -> list[MemberRecord]:
        c = t.memberships.c
        query = sa.select(t.memberships).where(c.workspace_id == workspace).order_by(c.principal)
        async with self._db.read() as conn:
            return [_member(r) for r in await conn.execute(query)]

    async def memberships_of(self, principal: str) -> list[MemberRecord]:
        c = t.memberships.c
        query = sa.select(t.memberships).where(c.principal == principal).order_by(c.workspace_id)
        async with self._db.read() as conn:
            return [_member(r) for r in await conn.execute(query)]


async def _insert_workspace(conn: AsyncConnection, record: WorkspaceRecord) -> None:
    try:
        async with conn.begin_nested():
            await conn.execute(
                t.workspaces.insert().values(
                    id=record.id,
                    name=record.name,
                    epoch=record.epoch,
                    last_seq=0,
                    created_at=record.created_at,
                )
            )
    except IntegrityError as exc:
        raise Conflict(f"workspace {record.id!r} already exists", code="workspace.exists") from exc


def _entry_row(entry: EntryRecord) -> dict[str, Any]:
    return {
        "workspace_id": entry.workspace,
        "key": entry.key,
        "kind": entry.kind,
        "text": entry.text,
        "data": entry.data,
        "tags": entry.tags,
        "state": entry.state,
        "seq": entry.seq,
        "size": entry.size,
        "created_at": entry.created_at,
        "updated_at": entry.updated_at,
        "updated_by": entry.updated_by,
    }


def _event_row(e: Event) -> dict[str, Any]:
    return {
        "workspace_id": e.workspace,
        "seq": e.seq,
        "id": e.id,
        "type": e.type,
        "subject": e.subject,
        "actor": e.actor,
        "source": e.source,
        "client_msg_id": e.client_msg_id,
        "payload": e.payload,
        "data": e.data,
        "trace_id": e.trace_id,
        "recorded_at": e.recorded_at,
    }


def _event(workspace: str, r: sa.Row[Any]) -> Event:
    return Event(
        workspace=workspace,
        seq=r.seq,
        id=r.id,
        type=r.type,
        subject=r.subject,
        actor=r.actor,
        source=r.source,
        client_msg_id=r.client_msg_id,
        payload=r.payload,
        data=r.data,
        trace_id=r.trace_id,
        recorded_at=r.recorded_at,
    )


def _entry(r: sa.Row[Any]) -> EntryRecord:
    return EntryRecord(
        workspace=r.workspace_id,
        key=r.key,
        kind=r.kind,
        text=r.text,
        data=r.data,
        tags=list(r.tags),
        state=r.state,
        seq=r.seq,
        size=r.size,
        created_at=r.created_at,
        updated_at=r.updated_at,
        updated_by=r.updated_by,
    )


def _member(r: sa.Row[Any]) -> MemberRecord:
    return MemberRecord(r.workspace_id, r.principal, r.role, r.added_at, r.added_by)


def _workspace(r: sa.Row[Any]) -> WorkspaceRecord:
    return WorkspaceRecord(r.id, r.name, r.epoch, r.last_seq, r.created_at)
