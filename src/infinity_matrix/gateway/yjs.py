"""The Yjs WebSocket, ``/api/v1/workspaces/{ws}/yjs/{key}``: y-websocket on one context entry.

A stock ``yjs`` + ``y-websocket`` client edits the entry live::

    new WebsocketProvider(`${hub}/api/v1/workspaces/${ws}/yjs`, key, doc, {params: {token}})

On connect the server sends sync step 1 and the room's awareness states, and answers the
client's step 1 with step 2. The client's step 2 and updates are written through the log
(``ContextService.apply_update``); committed changes from every writer on every node come back
as updates. Query parameters: ``token`` (browsers cannot set headers; ``Authorization: Bearer``
works too), ``kind`` (``text``, the default, or ``json``: the kind of an entry the client
creates; an existing entry keeps its own) and ``source`` (who writes, for the log).

Yjs cannot reject part of an update, so one that also writes the root of the other kind (a
Y.Map ``data`` in a text entry) is accepted whole: logged and replayed, but not shown in the
entry's value. A read-only role may sync and receive; an update of its that would change
anything closes the connection (4403) and writes nothing. A client gets its own committed
updates back like everyone else's: Yjs ignores what it already has.

Close codes mirror HTTP (see ``wsbase``): 4401, 4403 (a read-only role sent a change), 4404
(unknown workspace, or the entry was deleted while open), 4408, 4413, 4422, 4429. y-websocket
3 stops reconnecting on 4400-4499; a client that wants to retry after 4408 or 4429 passes its
own ``shouldReconnect``.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass

import structlog
from fastapi import APIRouter, WebSocket

from infinity_matrix.core.protocol import ywebsocket as yws
from infinity_matrix.core.sync.context import KINDS
from infinity_matrix.core.sync.rooms import Room
from infinity_matrix.errors import InfinityMatrixError, InvalidInput, TooLarge
from infinity_matrix.gateway.wsbase import (
    CLOSE_TOO_SLOW,
    Outbox,
    bearer_from,
    close_code_for,
    close_quietly,
)
from infinity_matrix.hub import Hub
from infinity_matrix.security.principals import Principal

router = APIRouter()
log = structlog.get_logger(__name__)

OUTBOX_BYTES = 4 * 1024 * 1024
MAX_SOURCE_LENGTH = 200
CLOSE_INTERNAL = 1011
Close = tuple[int, str]  # close code and reason (an error code)


@router.websocket("/api/v1/workspaces/{ws}/yjs/{key:path}")
async def yjs(websocket: WebSocket, ws: str, key: str) -> None:
    hub: Hub = websocket.app.state.hub
    await websocket.accept()
    peer = _Peer(uuid.uuid4().hex, Outbox(OUTBOX_BYTES))
    close: Close | None
    try:
        principal = await hub.authenticator.authenticate(bearer_from(websocket))
        writer = _writer(websocket, hub, principal, ws, key)
        async with hub.rooms.join(principal, ws, key, peer) as room:
            close = await _serve(websocket, _Session(writer, room, peer))
    except InfinityMatrixError as exc:
        close = (close_code_for(exc), exc.code)
    except Exception:  # a supervisor: this connection ends, the hub keeps serving
        log.exception("yjs.failed", workspace=ws, key=key)
        close = (CLOSE_INTERNAL, "internal")
    if close is not None:
        await close_quietly(websocket, *close)


class _Peer:
    """The connection as its room sees it: frames go to the outbox and never block."""

    def __init__(self, id: str, outbox: Outbox) -> None:
        self.id = id
        self.outbox = outbox
        self.closing: InfinityMatrixError | None = None

    def send_update(self, update: bytes) -> None:
        self.outbox.put(yws.sync_update(update))

    def send_awareness(self, update: bytes) -> None:
        self.outbox.put(yws.awareness(update))

    def close(self, error: InfinityMatrixError) -> None:
        """Close once what is queued has been sent (the entry was deleted)."""
        if self.closing is None:
            self.closing = error
            self.outbox.finish()


@dataclass(frozen=True, slots=True)
class _Writer:
    """Who writes what through this connection, checked at connect."""

    hub: Hub
    principal: Principal
    workspace: str
    key: str
    kind: str
    source: str

    async def write(self, update: bytes) -> None:
        await self.hub.rate_limiter.hit("yjs", self.principal.id)
        await self.hub.context.apply_update(
            self.principal, self.workspace, self.key, update, kind=self.kind, source=self.source
        )


def _writer(websocket: WebSocket, hub: Hub, principal: Principal, ws: str, key: str) -> _Writer:
    kind = websocket.query_params.get("kind", "text")
    if kind not in KINDS:
        raise InvalidInput("kind is text or json", code="context.invalid_kind")
    source = websocket.query_params.get("source", "yjs")
    if not 0 < len(source) <= MAX_SOURCE_LENGTH:
        raise InvalidInput(f"source is 1 to {MAX_SOURCE_LENGTH} characters")
    return _Writer(hub, principal, ws, key, kind, source)


@dataclass(frozen=True, slots=True)
class _Session:
    writer: _Writer
    room: Room
    peer: _Peer

    async def handle(self, frame: bytes) -> None:
        """Act on one frame; raises ``InfinityMatrixError`` to close the connection."""
        limit = self.writer.hub.settings.max_request_bytes
        if len(frame) > limit:
            raise TooLarge(f"a frame is at most {limit} bytes", limit=limit)
        message = yws.decode(frame)
        if message.type == yws.AWARENESS:
            await self.room.awareness(self.peer, message.payload)
        elif message.step == yws.STEP1:
            self.peer.outbox.put(yws.sync_step2(self.room.diff(message.payload)))
        elif message.payload != yws.EMPTY_UPDATE and self.peer.closing is None:
            await self.writer.write(message.payload)


async def _serve(websocket: WebSocket, session: _Session) -> Close | None:
    """Run the connection until the client leaves or it must be closed; answers how."""
    outbox = session.peer.outbox
    outbox.put(yws.sync_step1(session.room.state_vector()))
    states = session.room.awareness_states()
    if states is not None:
        outbox.put(yws.awareness(states))
    writer = asyncio.create_task(outbox.drain_to(websocket))
    reader = asyncio.create_task(_read(websocket, session))
    overflow = asyncio.create_task(outbox.overflowed.wait())
    try:
        await asyncio.wait({writer, reader, overflow}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (reader, writer, overflow):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    return _outcome(session.peer, reader, writer)


async def _read(websocket: WebSocket, session: _Session) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        frame = message.get("bytes")
        if frame is None:
            raise InvalidInput("y-websocket frames are binary", code="sync.invalid_message")
        await session.handle(frame)


def _outcome(peer: _Peer, reader: asyncio.Task[None], writer: asyncio.Task[None]) -> Close | None:
    if peer.outbox.overflowed.is_set():
        return (CLOSE_TOO_SLOW, "sync.too_slow")
    if peer.closing is not None and _finished(writer):  # all queued before the close was sent
        return (close_code_for(peer.closing), peer.closing.code)
    if not reader.done() or reader.cancelled():
        return None  # the writer failed: the client is gone
    exc = reader.exception()
    if exc is None:
        return None  # the client closed
    if isinstance(exc, InfinityMatrixError):
        return (close_code_for(exc), exc.code)
    log.error("yjs.failed", exc_info=exc)
    return (CLOSE_INTERNAL, "internal")


def _finished(task: asyncio.Task[None]) -> bool:
    return task.done() and not task.cancelled() and task.exception() is None
