"""Yjs rooms: on each node, one live document per context entry, shared by its local editors.

A room follows the log through the workspace's fan-out: every committed ``context.updated`` of
its key is applied to the room's document and sent to every peer, the writer included (Yjs
ignores what it has, and a peer cannot otherwise tell that its write was committed); the
message is encoded once for all of them. Writes go the other way through an ``UpdateQueue``
per editor and ``ContextService.apply_update`` — the log, not the room, decides. When
the entry is deleted (``context.deleted``) the room closes every peer with ``NotFound``
(``context.deleted``) and goes away; a client that comes back opens the entry afresh, and its
first update creates it again.

Awareness (cursors, names) is relayed, never logged: to the room's local peers and, through
``Fanout.publish_presence``, to the rooms of the same key on other nodes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

import structlog

from infinity_matrix.core.protocol import events as ev
from infinity_matrix.core.protocol.ywebsocket import (
    GONE,
    AwarenessEntry,
    awareness,
    decode_awareness,
    encode_awareness,
    sync_update,
)
from infinity_matrix.core.records import EntryRecord
from infinity_matrix.core.sync.context import ContextService
from infinity_matrix.core.sync.documents import Document, merge_updates
from infinity_matrix.core.sync.fanout import Fanout
from infinity_matrix.errors import (
    InfinityMatrixError,
    InvalidInput,
    NotFound,
    Unauthenticated,
    Unavailable,
)
from infinity_matrix.security.principals import Principal

log = structlog.get_logger(__name__)

AWARENESS = "awareness"  # the presence message type of rooms; other faces use their own
# A y-websocket client speaks for one awareness client (its doc's); a few more are tolerated.
MAX_AWARENESS_CLIENTS = 16
# At most this many of an editor's updates go into one commit (and at most a frame's bytes).
MAX_MERGED_UPDATES = 256


class Peer(Protocol):
    """A local editor's connection. Nothing here may block: a peer that cannot keep up closes
    itself (the client then reconnects and syncs)."""

    @property
    def id(self) -> str:
        """Unique across nodes: it names the peer's awareness in presence messages."""
        ...

    def send(self, message: bytes) -> None:
        """Send a y-websocket message (an update or awareness), encoded once for every peer."""
        ...

    def close(self, error: InfinityMatrixError) -> None:
        """End the connection with ``error``'s close code once what is queued is sent (the
        entry was deleted, or the peer lost access); nothing more it sends is committed."""
        ...


class Room:
    """One entry's document on this node and its local peers; a fan-out ``Subscriber``."""

    def __init__(self, workspace: str, key: str, fanout: Fanout) -> None:
        self.workspace = workspace
        self.key = key
        self.closed = False
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._fanout = fanout
        self._subject = ev.context_subject(key)
        self._peers: dict[str, Peer] = {}
        self._principals: dict[str, Principal] = {}  # by peer id: whose access to follow
        self._document: Document | None = None
        self._early: list[bytes] = []  # committed updates that arrived while loading
        self._awareness: dict[str, dict[int, AwarenessEntry]] = {}  # by peer, local or remote

    @property
    def peers(self) -> int:
        return len(self._peers)

    def load(self, record: EntryRecord | None) -> None:
        """Start from the entry's stored state (None: it does not exist yet)."""
        if self.closed:
            return
        self._document = Document(record.state if record and record.state else None)
        for update in self._early:
            self._document.apply(update)
        self._early.clear()

    def state_vector(self) -> bytes:
        return self._loaded().state_vector()

    def diff(self, state_vector: bytes) -> bytes:
        """What a peer at ``state_vector`` lacks; ``InvalidInput`` for a bad vector."""
        return self._loaded().diff(state_vector)

    def awareness_states(self) -> bytes | None:
        """Every known awareness state, for a peer that just joined (None if there is none)."""
        entries = [e for states in self._awareness.values() for e in states.values()]
        return encode_awareness(entries) if entries else None

    def add(self, peer: Peer, principal: Principal) -> None:
        self._peers[peer.id] = peer
        self._principals[peer.id] = principal

    def remove(self, peer: Peer) -> bool:
        """Drop ``peer`` and tell the local peers that its awareness clients left; answers
        whether it had any (then ``left`` should tell the other nodes)."""
        self._peers.pop(peer.id, None)
        self._principals.pop(peer.id, None)
        removal = self._forget(peer.id)
        if removal is not None:
            self._broadcast_awareness(removal)
        return removal is not None

    async def left(self, peer: Peer) -> None:
        """Tell the rooms of other nodes that ``peer``'s awareness clients left."""
        await self._publish_awareness(peer.id, None)

    async def awareness(self, peer: Peer, update: bytes) -> None:
        """Relay a local peer's awareness update to every local peer and to other nodes.

        The sender gets it back too: y-websocket clients take any message as a sign of life
        and reconnect after 30 silent seconds, and the reference server echoes the same way.
        """
        self._remember(peer.id, decode_awareness(update))
        self._broadcast_awareness(update)
        await self._publish_awareness(peer.id, update)

    def close(self) -> None:
        self.closed = True
        self._document = None
        self._early.clear()

    # Subscriber ---------------------------------------------------------------------------

    def offer(self, event: ev.Event) -> None:
        if self.closed:
            return
        if event.type in (ev.KEY_REVOKED, ev.MEMBER_REMOVED):
            self._lost_access(event)
            return
        if event.subject != self._subject:
            return
        if event.type == ev.CONTEXT_DELETED:
            self._deleted()
        elif event.type == ev.CONTEXT_UPDATED and event.data:
            if self._document is None:
                self._early.append(event.data)
                return
            try:
                self._document.apply(event.data)
            except InvalidInput:  # the log accepted it; a peer may still make sense of it
                log.exception("rooms.bad_logged_update", workspace=self.workspace, seq=event.seq)
            message = sync_update(event.data)
            for peer in list(self._peers.values()):
                peer.send(message)

    def _lost_access(self, event: ev.Event) -> None:
        """Close the peers whose key was revoked or who were removed from the workspace now,
        not at their next connect; what they had not yet committed is dropped."""
        if event.type == ev.KEY_REVOKED:
            lost = f"key:{event.payload.get('id')}"
            error: InfinityMatrixError = Unauthenticated(
                "the API key was revoked", code="auth.key_revoked"
            )
        else:
            lost = str(event.payload.get("principal"))
            error = NotFound(f"workspace {self.workspace!r} not found", code="workspace.not_found")
        for peer_id, principal in list(self._principals.items()):
            peer = self._peers.get(peer_id)
            if peer is not None and principal.id == lost and not principal.is_admin:
                peer.close(error)

    def presence(self, message: dict[str, Any]) -> None:
        """Awareness from other nodes (this node's own messages come back too: ignored)."""
        client = message.get("client")
        if (
            message.get("type") != AWARENESS
            or message.get("key") != self.key
            or not isinstance(client, str)
            or client in self._peers
        ):
            return
        try:
            self._remote_awareness(client, message.get("state"))
        except (InvalidInput, TypeError, binascii.Error):
            log.warning("rooms.bad_presence", workspace=self.workspace, client=client)

    # Internals ----------------------------------------------------------------------------

    def _loaded(self) -> Document:
        if self._document is None:
            raise _deleted(self.key)
        return self._document

    def _deleted(self) -> None:
        error = _deleted(self.key)
        self.close()
        for peer in list(self._peers.values()):
            peer.close(error)

    def _remote_awareness(self, client: str, state: object) -> None:
        if state is None:
            removal = self._forget(client)
            if removal is not None:
                self._broadcast_awareness(removal)
            return
        if not isinstance(state, str):
            raise TypeError("an awareness state is base64 text")
        update = base64.b64decode(state, validate=True)
        self._remember(client, decode_awareness(update))
        self._broadcast_awareness(update)

    def _remember(self, peer_id: str, entries: list[AwarenessEntry]) -> None:
        states = self._awareness.setdefault(peer_id, {})
        for entry in entries:
            if entry.gone:
                states.pop(entry.client, None)
            else:
                states[entry.client] = entry
        if len(states) > MAX_AWARENESS_CLIENTS:
            raise InvalidInput("too many awareness clients", code="sync.invalid_message")
        if not states:
            del self._awareness[peer_id]

    def _forget(self, peer_id: str) -> bytes | None:
        states = self._awareness.pop(peer_id, {})
        if not states:
            return None
        # A later clock with a null state is how y-protocols says that a client left.
        left = [AwarenessEntry(e.client, e.clock + 1, GONE) for e in states.values()]
        return encode_awareness(left)

    def _broadcast_awareness(self, update: bytes) -> None:
        message = awareness(update)
        for peer in list(self._peers.values()):
            peer.send(message)

    async def _publish_awareness(self, peer_id: str, update: bytes | None) -> None:
        state = base64.b64encode(update).decode() if update is not None else None
        message = {"type": AWARENESS, "key": self.key, "client": peer_id, "state": state}
        try:
            await self._fanout.publish_presence(self.workspace, message)
        except Unavailable:  # awareness is best effort: editing goes on without it
            log.warning("rooms.awareness_unpublished", workspace=self.workspace)


class Rooms:
    """This node's rooms by (workspace, key). A room opens with its first peer and is released
    (unsubscribed, its document dropped) when its last peer leaves."""

    def __init__(self, context: ContextService, fanout: Fanout) -> None:
        self._context = context
        self._fanout = fanout
        self._rooms: dict[tuple[str, str], Room] = {}
        self._opening: dict[Room, asyncio.Task[None]] = {}

    def get(self, workspace: str, key: str) -> Room | None:
        return self._rooms.get((workspace, key))

    @asynccontextmanager
    async def join(
        self, principal: Principal, workspace: str, key: str, peer: Peer
    ) -> AsyncIterator[Room]:
        """Authorize (read), then make ``peer`` a member of the entry's room for the block.

        Raises what ``ContextService.open_document`` raises (``NotFound``, ``InvalidInput``),
        and ``NotFound`` (``context.deleted``) if the entry is deleted while the room opens.
        """
        await self._context.open_document(principal, workspace, key)
        room = self._rooms.get((workspace, key))
        if room is None or room.closed:
            room = self._rooms[(workspace, key)] = Room(workspace, key, self._fanout)
            self._opening[room] = asyncio.create_task(self._open(room, principal))
        room.add(peer, principal)  # before any wait: a room with a peer is never released under it
        try:
            await asyncio.shield(room.opened)
            if room.closed:
                raise _deleted(key)
            yield room
        finally:
            had_awareness = room.remove(peer)
            if room.peers == 0:
                self._release(room)
            if had_awareness:
                await room.left(peer)

    async def _open(self, room: Room, principal: Principal) -> None:
        try:
            # Subscribe before reading the state, so no commit can fall between the two; one
            # that the read saw may also arrive live, which Yjs applies as a no-op.
            await self._fanout.subscribe(room.workspace, room)
            room.load(await self._context.open_document(principal, room.workspace, room.key))
        except asyncio.CancelledError:  # released: every peer left before it opened
            room.opened.cancel()
            raise
        except Exception as exc:
            self._opening.pop(room, None)
            room.opened.set_exception(exc)
            room.opened.exception()  # marked as seen: every peer may have left already
            self._release(room)
        else:
            room.opened.set_result(None)
        finally:
            self._opening.pop(room, None)

    def _release(self, room: Room) -> None:
        opening = self._opening.pop(room, None)
        if opening is not None:
            opening.cancel()
        self._fanout.unsubscribe(room.workspace, room)
        if self._rooms.get((room.workspace, room.key)) is room:
            del self._rooms[(room.workspace, room.key)]
        room.close()


class UpdateQueue:
    """One live editor's updates on their way to the log, committed in the order they came.

    One commit at a time: updates that arrive while one is in flight wait, then go together,
    merged into one update (one command, one event; at most ``MAX_MERGED_UPDATES`` and
    ``max_bytes`` at once), so an editor that outpaces commits costs one transaction per batch
    instead of one per update. ``ApplyUpdate`` takes or refuses an update whole, a merged one
    too; when it refuses a merged update, its updates are tried again one by one, so exactly
    the updates before the first refused one are committed, as if each had been committed on
    its own. Nothing is committed after a refusal (later updates build on the refused one):
    ``failure`` says why, and ``refused`` is called once with it.

    ``commit`` raises ``InfinityMatrixError`` to refuse (see ``ContextService.apply_update``).
    """

    def __init__(
        self,
        commit: Callable[[bytes], Awaitable[object]],
        refused: Callable[[Exception], None],
        *,
        max_bytes: int,
        max_updates: int = MAX_MERGED_UPDATES,
    ) -> None:
        self.failure: Exception | None = None
        self._commit = commit
        self._refused = refused
        self._max_bytes = max_bytes
        self._max_updates = max_updates
        self._pending: list[bytes] = []
        self._task: asyncio.Task[None] | None = None  # only while there is something to commit
        self._abandoned = False

    def add(self, update: bytes) -> None:
        """Queue ``update`` after the others; ignored once one was refused or abandoned."""
        if self.failure is not None or self._abandoned:
            return
        self._pending.append(update)
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    def abandon(self) -> None:
        """Drop what is not committing yet, and whatever comes next (the entry is gone)."""
        self._abandoned = True
        self._pending.clear()

    async def flush(self) -> None:
        """Wait until every update queued so far is committed or refused.

        Shielded: a caller that is cancelled leaves the commit running, to its end.
        """
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _run(self) -> None:
        try:
            while self._pending:
                batch = self._take()
                try:
                    await self._commit_batch(batch)
                except InfinityMatrixError as exc:
                    self._fail(exc)
                except Exception as exc:  # a supervisor: this editor's writes end, others go on
                    log.exception("rooms.commit_failed")
                    self._fail(exc)
        finally:
            self._task = None

    def _take(self) -> list[bytes]:
        count, size = 0, 0
        for update in self._pending:
            size += len(update)
            if count and (count == self._max_updates or size > self._max_bytes):
                break
            count += 1
        batch = self._pending[:count]
        del self._pending[:count]
        return batch

    async def _commit_batch(self, batch: list[bytes]) -> None:
        if len(batch) > 1:
            try:
                await self._commit(merge_updates(batch))
                return
            except InfinityMatrixError:
                pass  # which update is at fault shows one at a time; those before it go in
        for update in batch:
            await self._commit(update)

    def _fail(self, exc: Exception) -> None:
        self.failure = exc
        self._pending.clear()
        self._refused(exc)


def _deleted(key: str) -> NotFound:
    return NotFound(f"context entry {key!r} was deleted", code="context.deleted")
