"""The event log's write path: group commit per workspace, idempotency, projections, publish.

Writes to one workspace queue in a lane; one task drains the lane, committing everything queued
so far in a single transaction (natural batching: under load batches grow, at rest a write
commits alone). Every transaction first locks the workspace's head row, so seq order is commit
order and a reader tailing by seq never skips a late commit (DESIGN §3).
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import structlog

from infinity_matrix.core.ports import EventPublisher, EventStore, LogTransaction, PriorMessage
from infinity_matrix.core.protocol.events import Event, NewEvent
from infinity_matrix.core.records import WorkspaceRecord
from infinity_matrix.core.sync.doccache import DocumentCache
from infinity_matrix.core.sync.projector import Projection
from infinity_matrix.errors import Conflict, InfinityMatrixError

log = structlog.get_logger(__name__)


class Command(Protocol):
    """A change to one workspace: decides its events from the current (staged) state.

    ``decide`` must validate before it mutates anything staged, and raise an
    ``InfinityMatrixError`` to refuse; a refused command appends nothing. A command that
    decides a document change makes it on ``projection.document(key)`` and logs that edit's
    update: the projection does not apply it a second time.
    """

    @property
    def subject(self) -> str: ...

    async def decide(self, projection: Projection, tx: LogTransaction) -> list[NewEvent]: ...


@dataclass(frozen=True, slots=True)
class Origin:
    """Who asks for a write, through what, and the idempotency key it carries."""

    actor: str
    source: str | None = None
    client_msg_id: str | None = None
    trace_id: str | None = None


@dataclass(frozen=True, slots=True)
class Receipt:
    """The answer to a write: the seq of its (last) event, or of the earlier identical write."""

    seq: int
    duplicate: bool = False
    events: tuple[Event, ...] = ()


@dataclass(slots=True)
class _Item:
    command: Command
    origin: Origin
    future: asyncio.Future[Receipt] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass(slots=True)
class _Lane:
    pending: list[_Item] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


BatchObserver = Callable[[int, Sequence[Event]], None]


class EventLog:
    """Appends commands' events to the log with group commit; see the module docstring."""

    def __init__(
        self,
        store: EventStore,
        publisher: EventPublisher | None = None,
        *,
        max_batch: int = 256,
        wait_seconds: float = 0.0,
        observer: BatchObserver | None = None,
        documents: DocumentCache | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._max_batch = max_batch
        self._wait = wait_seconds
        self._observer = observer
        self._clock = clock
        self._lanes: dict[str, _Lane] = {}
        # This node's Yjs client id: its edits are serialised by the head lock and always made
        # on the latest committed state, so one id serves them all (see Document).
        self._client_id = secrets.randbits(32)
        self.documents = documents if documents is not None else DocumentCache()

    async def submit(self, workspace: str, command: Command, origin: Origin) -> Receipt:
        """Append ``command``'s events; returns once they are durably committed.

        Raises what the command's ``decide`` raises, ``NotFound`` for an unknown workspace,
        ``Conflict`` (``idempotency.conflict``) when the ``client_msg_id`` was used for another
        subject, and ``Unavailable`` when storage fails.
        """
        item = _Item(command, origin)
        lane = self._lanes.setdefault(workspace, _Lane())
        lane.pending.append(item)
        if lane.task is None:
            lane.task = asyncio.create_task(self._drain(workspace, lane))
        return await asyncio.shield(item.future)

    async def create(self, record: WorkspaceRecord, command: Command, origin: Origin) -> Receipt:
        """Create a workspace's head row and append its first events in one transaction."""
        item = _Item(command, origin)
        await self._commit(record.id, [item], create=record)
        return await item.future

    async def close(self) -> None:
        """Wait for queued writes to commit."""
        tasks = [lane.task for lane in self._lanes.values() if lane.task]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _drain(self, workspace: str, lane: _Lane) -> None:
        try:
            while lane.pending:
                if self._wait and len(lane.pending) < self._max_batch:
                    await asyncio.sleep(self._wait)
                batch = lane.pending[: self._max_batch]
                del lane.pending[: self._max_batch]
                await self._commit(workspace, batch)
        finally:
            lane.task = None
            if not lane.pending and self._lanes.get(workspace) is lane:
                del self._lanes[workspace]

    async def _commit(
        self, workspace: str, batch: list[_Item], *, create: WorkspaceRecord | None = None
    ) -> None:
        try:
            outcomes = await self._transact(workspace, batch, create)
        except InfinityMatrixError as exc:
            _fail_all(batch, exc)
            return
        except Exception as exc:  # a supervisor: isolate the culprit, keep serving the others
            if len(batch) == 1:
                log.exception("log.append_failed", workspace=workspace)
                _fail_all(batch, exc)
                return
            for item in batch:
                await self._commit(workspace, [item], create=create)
            return
        committed = [
            e for outcome in outcomes if isinstance(outcome, Receipt) for e in outcome.events
        ]
        for item, outcome in zip(batch, outcomes, strict=True):
            if item.future.done():
                continue
            if isinstance(outcome, BaseException):
                item.future.set_exception(outcome)
            else:
                item.future.set_result(outcome)
        if self._observer:
            self._observer(len(batch), committed)
        await self._publish(committed)

    async def _transact(
        self, workspace: str, batch: list[_Item], create: WorkspaceRecord | None
    ) -> list[Receipt | InfinityMatrixError]:
        async with self._store.transaction(workspace, create=create) as tx:
            projection = Projection(tx, client_id=self._client_id, cache=self.documents)
            await projection.preload(
                i.command.subject.removeprefix("context/")
                for i in batch
                if i.command.subject.startswith("context/")
            )
            ids = [i.origin.client_msg_id for i in batch if i.origin.client_msg_id]
            priors = await tx.prior_messages(ids) if ids else {}
            outcomes: list[Receipt | InfinityMatrixError] = []
            appended: list[Event] = []
            for item in batch:
                outcome = await self._decide(item, tx, projection, priors)
                if isinstance(outcome, Receipt) and outcome.events:
                    for event in outcome.events:
                        await projection.apply(event, local=True)
                    appended.extend(outcome.events)
                    tx.head = outcome.events[-1].seq
                outcomes.append(outcome)
            if appended:
                await projection.flush()
                await tx.insert_events(appended)
                await tx.set_head(tx.head)
        projection.keep_documents()  # committed: the edited documents are now the truth
        return outcomes

    async def _decide(
        self,
        item: _Item,
        tx: LogTransaction,
        projection: Projection,
        priors: dict[str, PriorMessage],
    ) -> Receipt | InfinityMatrixError:
        origin, command = item.origin, item.command
        prior = priors.get(origin.client_msg_id) if origin.client_msg_id else None
        if prior is not None:
            if not _is_retry(command, prior):
                return Conflict(
                    "this idempotency key was already used for another change",
                    code="idempotency.conflict",
                )
            return Receipt(seq=prior.seq, duplicate=True)
        try:
            decided = await command.decide(projection, tx)
        except InfinityMatrixError as exc:
            return exc
        if not decided:
            return Receipt(seq=await _current_seq(projection, command, tx))
        events = self._stamp(tx, decided, origin)
        if origin.client_msg_id:
            priors[origin.client_msg_id] = PriorMessage(
                events[0].seq, events[0].type, command.subject
            )
        return Receipt(seq=events[-1].seq, events=tuple(events))

    def _stamp(self, tx: LogTransaction, decided: list[NewEvent], origin: Origin) -> list[Event]:
        now = self._clock()
        return [
            Event(
                workspace=tx.workspace,
                seq=tx.head + offset + 1,
                id=uuid.uuid4().hex,
                type=new.type,
                subject=new.subject,
                actor=origin.actor,
                source=origin.source,
                client_msg_id=origin.client_msg_id if offset == 0 else None,
                payload=new.payload,
                data=new.data,
                trace_id=origin.trace_id,
                recorded_at=now,
            )
            for offset, new in enumerate(decided)
        ]

    async def _publish(self, events: list[Event]) -> None:
        if not events or self._publisher is None:
            return
        try:
            await self._publisher.publish(events)
        except Exception:  # delivery is repaired by seq; a failed publish must not fail the write
            log.exception("log.publish_failed", count=len(events))


def _is_retry(command: Command, prior: PriorMessage) -> bool:
    """Whether ``prior``, logged under the same idempotency key, is ``command`` done before.

    A command whose subject is minted per request (a new API key's id) cannot be matched by
    subject, so it may say itself through an optional ``repeats(prior)`` method.
    """
    repeats = getattr(command, "repeats", None)
    if repeats is not None:
        return bool(repeats(prior))
    return prior.subject == command.subject


async def _current_seq(projection: Projection, command: Command, tx: LogTransaction) -> int:
    """The seq a no-op write answers: its entry's last change, else the head."""
    if command.subject.startswith("context/"):
        record = await projection.entry(command.subject.removeprefix("context/"))
        if record is not None:
            return record.seq
    return tx.head


def _fail_all(batch: list[_Item], exc: BaseException) -> None:
    for item in batch:
        if not item.future.done():
            item.future.set_exception(exc)
