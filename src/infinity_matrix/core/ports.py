"""Ports the core needs from the outside world; ``storage/`` implements them.

Every method may raise ``Unavailable`` when the database cannot be reached; other errors are
named per method.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from infinity_matrix.core.insights.records import (
    ConflictRow,
    InsightChange,
    InsightRecord,
    InsightRow,
    InsightState,
    JudgementRow,
    ServedCount,
    StatsFigures,
    SupportRecord,
    SupportRow,
    TallyRow,
)
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
from infinity_matrix.core.patterns.fingerprint import CodeUnit, Pattern
from infinity_matrix.core.protocol.events import Event
from infinity_matrix.core.providers.records import ProviderConfig
from infinity_matrix.core.providers.stored import PushStatus, SealedCredential
from infinity_matrix.core.records import EntryRecord, MemberRecord, WorkspaceRecord
from infinity_matrix.core.retrieval.records import EntryHit
from infinity_matrix.core.search import SearchHit, SearchQuery
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

    # Insights: reads for ``decide`` and the projector's writes (one statement each).
    async def load_insights(self, ids: Sequence[int]) -> dict[int, InsightState]:
        """The insights among ``ids`` that exist (any status), with their supporters."""
        ...

    async def find_insight_candidates(
        self, kind: str, words: Sequence[str], limit: int
    ) -> list[InsightState]:
        """Up to ``limit`` insights of ``kind`` that are not outdated and contain any of
        ``words`` (letters and digits only), best full-text match first."""
        ...

    async def load_insights_on_topic(self, topic: str, limit: int) -> list[InsightState]:
        """Up to ``limit`` insights of ``topic`` (any kind and status), newest first."""
        ...

    async def load_insight_conflicts(self, ids: Sequence[int]) -> dict[int, list[int]]:
        """The insights each of ``ids`` conflicts with (both directions), in id order."""
        ...

    async def load_source_tallies(self, keys: Sequence[str]) -> dict[str, TallyRow]: ...
    async def load_insight_judgements(
        self, ids: Sequence[int]
    ) -> dict[int, dict[str, JudgementRow]]:
        """What the sources' tallies hold for each of ``ids``, by source key."""
        ...

    async def save_insight_judgements(self, rows: Sequence[JudgementRow]) -> None:
        """Insert or replace these (insight, source) judgements."""
        ...

    async def insert_insight(self, row: InsightRow) -> None: ...
    async def insert_insight_supports(self, rows: Sequence[SupportRow]) -> None: ...
    async def insert_insight_conflicts(self, rows: Sequence[ConflictRow]) -> None:
        """Add conflict links; a link that exists already is kept as it is."""
        ...

    async def change_insights(self, changes: Sequence[InsightChange]) -> None: ...
    async def save_source_tallies(self, rows: Sequence[TallyRow]) -> None: ...

    # Providers: the reads ``decide`` makes, the projector's writes, and the sealed credentials
    # (written by ``decide`` in the same transaction; no projection, so a replay keeps them).
    async def load_providers(self) -> dict[str, ProviderConfig]:
        """Every provider of the workspace by name (``has_credential`` set)."""
        ...

    async def save_provider(self, config: ProviderConfig, at: datetime) -> None:
        """Insert or replace the provider's config as of event ``config.seq``."""
        ...

    async def delete_provider(self, name: str) -> None:
        """Drop the provider's config and its latest push."""
        ...

    async def save_provider_push(self, push: PushStatus) -> None: ...
    async def save_provider_credential(self, name: str, sealed: SealedCredential) -> None: ...
    async def delete_provider_credential(self, name: str) -> bool:
        """Whether there was one."""
        ...


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


class AnyWordSearch(Protocol):
    """Full-text search for retrieval: entries holding *any* of the words, best first.

    ``SearchIndex`` answers a user's query (every word must occur); a task described in a
    sentence would rarely match that way, so retrieval ranks by any word (BM25 on SQLite,
    ``ts_rank_cd`` on PostgreSQL).
    """

    async def match_entries(
        self, workspace: str, words: Sequence[str], *, limit: int
    ) -> list[EntryHit]:
        """``words`` hold letters and digits only; an empty list matches nothing."""
        ...

    async def load_entries(self, workspace: str, keys: Sequence[str]) -> list[EntryHit]:
        """The entries of these keys that exist (score 0), in no particular order."""
        ...

    async def page_entries(
        self, workspace: str, *, after_key: str | None, limit: int
    ) -> list[EntryHit]:
        """Entries in key order after ``after_key`` (score 0)."""
        ...


class Embedder(Protocol):
    """A local sentence-embedding model (``providers/embeddings.py``): CPU-bound and
    thread-safe, so callers run it in a worker thread.

    Raises ``Unavailable`` (``embeddings.unavailable``) when the model cannot run here.
    """

    dimension: int

    @property
    def model(self) -> str:
        """The model's name and weights digest: cached vectors are keyed by it."""
        ...

    def embed(self, texts: Sequence[str]) -> list[bytes]:
        """One L2-normalised vector per text, as little-endian float32 bytes, in order."""
        ...


class EmbeddingCache(Protocol):
    """Vectors computed once for every node: keyed by (model, sha256 of the text)."""

    async def load_vectors(self, model: str, digests: Sequence[str]) -> dict[str, bytes]: ...
    async def save_vectors(self, model: str, vectors: Mapping[str, bytes]) -> None: ...


class VectorIndex(Protocol):
    """Per-workspace vectors of retrievable items in memory, searched by brute-force cosine.

    Item ids are ``kind:ref`` (``context:notes/a.md``, ``insight:12``, ``fact:Alice``).
    """

    def loaded(self, workspace: str) -> bool: ...
    def upsert(self, workspace: str, ids: Sequence[str], vectors: Sequence[bytes]) -> None: ...
    def remove(self, workspace: str, ids: Sequence[str]) -> None: ...
    def drop(self, workspace: str) -> None: ...

    def nearest(
        self,
        workspace: str,
        vector: bytes,
        *,
        limit: int,
        kinds: Collection[str] | None = None,
    ) -> list[tuple[str, float]]:
        """Up to ``limit`` (item id, cosine) pairs, most similar first, of the given kinds."""
        ...


class InsightStore(Protocol):
    """Reads of the insights' projection, and the usage counters (which are not projections:
    a replay leaves them alone)."""

    async def get(self, workspace: str, ids: Sequence[int]) -> dict[int, InsightRecord]:
        """The insights among ``ids`` with their supports and conflicts (no confidence)."""
        ...

    async def page(
        self,
        workspace: str,
        *,
        kind: str | None,
        tag: str | None,
        topic: str | None,
        statuses: Sequence[str],
        match: SearchQuery | None,
        before: int | None,
        limit: int,
    ) -> list[InsightRecord]:
        """Insights newest first with ids below ``before``, filtered; ``match`` is a parsed
        query (``SearchQuery``) every listed insight must match."""
        ...

    async def search(
        self,
        workspace: str,
        query: SearchQuery,
        *,
        any_word: bool,
        statuses: Sequence[str],
        kinds: Sequence[str] | None,
        limit: int,
    ) -> list[tuple[InsightRecord, float]]:
        """Full-text matches, best first, with their rank (higher is better)."""
        ...

    async def supports(
        self, workspace: str, ids: Sequence[int]
    ) -> dict[int, list[SupportRecord]]: ...

    async def tallies(self, workspace: str, keys: Sequence[str]) -> dict[str, TallyRow]: ...
    async def stats(self, workspace: str) -> StatsFigures: ...
    async def add_served(self, counts: Sequence[ServedCount]) -> None:
        """Add to the usage counters (an UPSERT increment per row)."""
        ...


class PatternIndex(Protocol):
    """The index of code fingerprints: derived from the context entries (not a projection of
    the log), so it is rebuilt by scanning them rather than by replay."""

    async def replace(
        self, workspace: str, key: str, seq: int, units: Sequence[CodeUnit]
    ) -> list[str] | None:
        """Make ``units`` (of the entry's version ``seq``) the key's rows and answer the
        fingerprints it had before; None, changing nothing, when rows of a newer version are
        there already."""
        ...

    async def remove(self, workspace: str, key: str) -> list[str]:
        """Drop the key's rows; answers the fingerprints it had."""
        ...

    async def keys(self, workspace: str) -> list[str]:
        """The keys that have rows, in key order."""
        ...

    async def recurring(
        self,
        workspace: str,
        *,
        fingerprints: Collection[str] | None = None,
        keys: Collection[str] | None = None,
        limit: int = 1000,
    ) -> list[Pattern]:
        """Fingerprints occurring under at least two distinct keys, each with all its
        occurrences (in key and line order), at most ``limit`` of them in fingerprint order:
        all such fingerprints, or those among ``fingerprints``, or those that occur under one
        of ``keys`` (both filters apply when both are given)."""
        ...
