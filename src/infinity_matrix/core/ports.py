"""Ports the core needs from the outside world; ``storage/`` implements them.

Every method may raise ``Unavailable`` when the database cannot be reached; other errors are
named per method.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from infinity_matrix.core.knowledge.records import (
    EntityEnd,
    EntityRecord,
    EntityRow,
    ObservationEnd,
    ObservationRow,
    Relation,
    RelationEnd,
    RelationRecord,
    RelationRow,
    Selection,
)
from infinity_matrix.core.protocol.events import Event
from infinity_matrix.core.records import EntryRecord, MemberRecord, WorkspaceRecord
from infinity_matrix.core.search import SearchHit
from infinity_matrix.security.records import ApiKeyRecord


@dataclass(frozen=True, slots=True)
class PriorMessage:
    """What an earlier write with the same ``client_msg_id`` appended."""

    seq: int
    type: str
    subject: str


class LogTransaction(Protocol):
    """One open transaction on one workspace, holding the lock on its head row.

    Commit order equals seq order because every appender takes this lock first.
    """

    workspace: str
    epoch: str
    head: int

    async def prior_messages(self, client_msg_ids: Sequence[str]) -> dict[str, PriorMessage]: ...
    async def load_entry(self, key: str) -> EntryRecord | None: ...
    async def load_entries(self, keys: Sequence[str]) -> dict[str, EntryRecord]: ...
    async def insert_events(self, events: Sequence[Event]) -> None: ...
    async def set_head(self, head: int) -> None: ...
    async def save_entries(self, entries: Sequence[EntryRecord]) -> None: ...
    async def delete_entries(self, keys: Sequence[str]) -> None: ...
    async def save_member(self, member: MemberRecord) -> None: ...
    async def delete_member(self, principal: str) -> None: ...
    async def rename_workspace(self, name: str) -> None: ...
    async def insert_api_key(self, key: ApiKeyRecord) -> None: ...
    async def revoke_api_key(self, key_id: str, at: datetime) -> bool: ...
    async def clear_projections(self) -> None: ...

    # The knowledge graph: reads of live facts for ``decide``, and batched projector writes
    # (each call one statement, executed in the order the projector staged them).
    async def load_graph_entities(self, names: Sequence[str]) -> dict[str, int]:
        """Live entities among ``names``: name → seq of the event that created it."""
        ...

    async def load_graph_observations(
        self, names: Sequence[str]
    ) -> dict[str, tuple[int, list[str]]]:
        """Live entities among ``names`` with their live observations in the order they were
        added: name → (seq that created it, contents)."""
        ...

    async def load_graph_relations(self, relations: Sequence[Relation]) -> set[Relation]:
        """Which of ``relations`` are live."""
        ...

    async def load_graph_relations_touching(self, names: Sequence[str]) -> list[Relation]:
        """Live relations from or to any of ``names``, in creation order."""
        ...

    async def insert_graph_entities(self, rows: Sequence[EntityRow]) -> None: ...
    async def insert_graph_observations(self, rows: Sequence[ObservationRow]) -> None: ...
    async def insert_graph_relations(self, rows: Sequence[RelationRow]) -> None: ...
    async def end_graph_entities(self, ends: Sequence[EntityEnd]) -> None: ...
    async def end_graph_observations(self, ends: Sequence[ObservationEnd]) -> None: ...
    async def end_graph_relations(self, ends: Sequence[RelationEnd]) -> None: ...


class EventStore(Protocol):
    """The log, its projections and the workspaces' head rows."""

    def transaction(
        self, workspace: str, *, create: WorkspaceRecord | None = None
    ) -> AbstractAsyncContextManager[LogTransaction]:
        """Open a write transaction; commits on clean exit, rolls back on error.

        Raises ``NotFound`` (``workspace.not_found``) for an unknown workspace, or
        ``Conflict`` (``workspace.exists``) when ``create`` names one that exists.
        """
        ...

    async def get_workspace(self, workspace: str) -> WorkspaceRecord | None: ...
    async def list_workspaces(self, ids: Sequence[str] | None = None) -> list[WorkspaceRecord]: ...
    async def delete_workspace(self, workspace: str) -> bool: ...

    async def read_events(
        self,
        workspace: str,
        *,
        after: int = 0,
        limit: int = 100,
        subject: str | None = None,
        before: int | None = None,
        newest_first: bool = False,
    ) -> list[Event]: ...

    def iter_events(self, workspace: str, *, batch: int = 1000) -> AsyncIterator[Event]: ...

    async def get_entry(self, workspace: str, key: str) -> EntryRecord | None: ...
    async def list_entries(
        self, workspace: str, *, prefix: str = "", after_key: str | None = None, limit: int = 100
    ) -> list[EntryRecord]: ...

    async def get_member(self, workspace: str, principal: str) -> MemberRecord | None: ...
    async def list_members(self, workspace: str) -> list[MemberRecord]: ...
    async def memberships_of(self, principal: str) -> list[MemberRecord]: ...


class EventPublisher(Protocol):
    """Where committed events go for live delivery (the bus); called after commit."""

    async def publish(self, events: Sequence[Event]) -> None: ...


EventHandler = Callable[[Sequence[Event]], Awaitable[None]]
PresenceHandler = Callable[[str, dict[str, Any]], Awaitable[None]]


class EventBus(EventPublisher, Protocol):
    """Carries committed events, and ephemeral presence, between the nodes of one hub.

    A bus may lose, repeat or reorder messages (pub/sub does): every event carries its seq, so
    ``Fanout`` sees a loss and repairs it from ``replay`` or from the database. Presence is
    best effort and never stored.
    """

    async def start(self, on_events: EventHandler, on_presence: PresenceHandler) -> None:
        """Begin handing every published event (from any node, this one included) over."""
        ...

    async def replay(self, workspace: str, after: int, until: int) -> list[Event] | None:
        """Events with ``after < seq <= until`` in order if the bus still holds all of them,
        else None (the caller reads the database instead)."""
        ...

    async def publish_presence(self, workspace: str, message: dict[str, Any]) -> None: ...

    async def ready(self) -> None:
        """Raises ``Unavailable`` unless the bus can publish."""
        ...

    async def close(self) -> None: ...


class SearchIndex(Protocol):
    """Full-text search over the projections, kept in step with them by the database itself."""

    async def search_entries(
        self, workspace: str, query: str, *, prefix: str = "", limit: int = 20
    ) -> list[SearchHit]:
        """The ``workspace``'s context entries (keys starting with ``prefix``) that match
        ``query`` (see ``core.search.parse_query``), best first, at most ``limit``.

        Raises ``InvalidInput`` (``search.invalid_query``) for a query with no word to look for.
        """
        ...


class GraphStore(Protocol):
    """Reads of the knowledge graph's live facts, paged by creation seq (``after`` exclusive)."""

    async def page(
        self,
        workspace: str,
        selection: Selection,
        *,
        entities_after: int | None,
        relations_after: int,
        limit: int,
    ) -> tuple[list[EntityRecord], list[RelationRecord]]:
        """Up to ``limit`` items of ``selection``, read at one point in time: the entities
        after ``entities_after`` (none when it is None), then as many relations after
        ``relations_after`` as there is room for (see ``relations``)."""
        ...

    async def entities(
        self, workspace: str, selection: Selection, *, after: int = 0, limit: int = 100
    ) -> list[EntityRecord]:
        """Live entities in ``selection`` with their live observations, in creation order."""
        ...

    async def relations(
        self, workspace: str, selection: Selection, *, after: int = 0, limit: int = 100
    ) -> list[RelationRecord]:
        """Live relations in creation order: all of them when ``selection`` selects all,
        otherwise those from or to a live entity in ``selection``."""
        ...
