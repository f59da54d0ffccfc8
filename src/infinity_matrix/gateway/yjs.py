"""The Yjs WebSocket, ``/api/v1/workspaces/{ws}/yjs/{key}``: y-websocket on one context entry.

A stock ``yjs`` + ``y-websocket`` client edits the entry live::

    new WebsocketProvider(`${hub}/api/v1/workspaces/${ws}/yjs`, key, doc, {params: {token}})

On connect the server sends sync step 1 and the room's awareness states, and answers the
client's step 1 with step 2. The client's step 2 and updates are written through the log
(``ContextService.apply_update``); committed changes from every writer on every node come back
as updates. Query parameters: ``token`` (browsers cannot set headers; ``Authorization: Bearer``
works too), ``kind`` (``text``, the default, or ``json``: the kind of an entry the client
creates; an existing entry keeps its own) and ``source`` (who writes, for the log).

Updates are committed in the order they came, one commit at a time per connection; those that
arrive while one commits are merged and committed together, as one event (``UpdateQueue``).
The client sees no difference but speed: if a merged update is refused, its updates are tried
one by one, so every update before the first refused one is committed, that one and all after
it are not, and the connection closes with the refusal's code, exactly as if each had been
committed on its own. When the client leaves or a frame is refused (too large, invalid, over
the rate limit), what it sent before is committed first.

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
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from infinity_matrix.core.protocol import ywebsocket as yws
from infinity_matrix.core.sync.context import KINDS
from infinity_matrix.core.sync.rooms import Room, UpdateQueue
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


# A plain Starlette route: it takes nothing from FastAPI's dependency injection, which would
# keep a few KB more alive for as long as each connection lasts.
@router.websocket_route("/api/v1/workspaces/{ws}/yjs/{key:path}")
async def yjs(websocket: WebSocket) -> None:
    hub: Hub = websocket.app.state.hub
    ws, key = websocket.path_params["ws"], websocket.path_params["key"]
    await websocket.accept()
    close: Close | None
    try:
        principal = await hub.authenticator.authenticate(bearer_from(websocket))
        connection = _Connection(websocket, _author(websocket, hub, principal, ws, key))
        async with hub.rooms.join(principal, ws, key, connection) as room:
            close = await connection.serve(room)
    except InfinityMatrixError as exc:
        close = _close_for(exc)
    except Exception:  # a supervisor: this connection ends, the hub keeps serving
        log.exception("yjs.failed", workspace=ws, key=key)
        close = (CLOSE_INTERNAL, "internal")
    if close is not None:
        await close_quietly(websocket, *close)


@dataclass(frozen=True, slots=True)
class _Author:
    """Who writes what through this connection, checked at connect."""

    hub: Hub
    principal: Principal
    workspace: str
    key: str
    kind: str
    source: str

    async def count(self) -> None:
        """Count one update against the rate limit; ``RateLimited`` past it."""
        await self.hub.rate_limiter.hit("yjs", self.principal.id)

    async def commit(self, update: bytes) -> None:
        await self.hub.context.apply_update(
            self.principal, self.workspace, self.key, update, kind=self.kind, source=self.source
        )


def _author(websocket: WebSocket, hub: Hub, principal: Principal, ws: str, key: str) -> _Author:
    kind = websocket.query_params.get("kind", "text")
    if kind not in KINDS:
        raise InvalidInput("kind is text or json", code="context.invalid_kind")
    source = websocket.query_params.get("source", "yjs")
    if not 0 < len(source) <= MAX_SOURCE_LENGTH:
        raise InvalidInput(f"source is 1 to {MAX_SOURCE_LENGTH} characters")
    return _Author(hub, principal, ws, key, kind, source)


class _Connection:
    """One client: its room's peer, its outbox and its queue of updates to commit.

    Two tasks: the endpoint's own, which reads frames, and the sender, which drains the
    outbox. Whatever ends the connection from elsewhere (an overflowing outbox, the entry's
    deletion, a refused update, a client gone while sending) calls ``_finish``, which stops
    the reader by cancelling it, the way ``asyncio.timeout`` does.
    """

    __slots__ = (
        "_author",
        "_close",
        "_deleted",
        "_finished",
        "_interrupted",
        "_outbox",
        "_reader",
        "_updates",
        "_websocket",
        "id",
    )

    def __init__(self, websocket: WebSocket, author: _Author) -> None:
        self.id = uuid.uuid4().hex
        self._websocket = websocket
        self._author = author
        self._outbox = Outbox(OUTBOX_BYTES, on_overflow=self._too_slow)
        self._updates = UpdateQueue(
            author.commit, self._refused, max_bytes=author.hub.settings.max_request_bytes
        )
        self._reader: asyncio.Task[object] | None = None  # while it reads
        self._finished = False
        self._interrupted = False  # _finish cancelled the reader
        self._close: Close | None = None  # how to close, once finished from elsewhere
        self._deleted: InfinityMatrixError | None = None

    # Peer ---------------------------------------------------------------------------------

    def send(self, message: bytes) -> None:
        self._outbox.put(message)

    def close(self, error: InfinityMatrixError) -> None:
        """Close once what is queued has been sent (the entry was deleted, or access lost)."""
        if self._deleted is None:
            self._deleted = error
            self._updates.abandon()
            self._outbox.finish()

    # Serving ------------------------------------------------------------------------------

    async def serve(self, room: Room) -> Close | None:
        """Run until the client leaves or the connection must close; answers how."""
        self.send(yws.sync_step1(room.state_vector()))
        states = room.awareness_states()
        if states is not None:
            self.send(yws.awareness(states))
        sender = asyncio.create_task(self._send())
        try:
            failure = await self._read(room)
            await self._updates.flush()  # what the client sent before it left goes in
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        if self._close is not None or failure is None:
            return self._close
        return _close_for(failure)

    async def _read(self, room: Room) -> Exception | None:
        """Handle frames until the client leaves (None), a frame is refused (its error), or
        ``_finish`` stops it (None)."""
        task = asyncio.current_task()
        if task is None:  # an endpoint always runs in a task
            raise RuntimeError("the reader must run in a task")
        self._reader = task
        try:
            while not self._finished:
                message = await self._websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return None
                await self._handle(room, message.get("bytes"))
        except InfinityMatrixError as exc:
            return exc
        except asyncio.CancelledError:
            if not self._interrupted or task.uncancel() > 0:
                raise  # cancelled from outside, not (only) by _finish
        finally:
            self._reader = None
        return None

    async def _handle(self, room: Room, frame: bytes | None) -> None:
        """Act on one frame; raises ``InfinityMatrixError`` to close the connection."""
        if frame is None:
            raise InvalidInput("y-websocket frames are binary", code="sync.invalid_message")
        limit = self._author.hub.settings.max_request_bytes
        if len(frame) > limit:
            raise TooLarge(f"a frame is at most {limit} bytes", limit=limit)
        message = yws.decode(frame)
        if message.type == yws.AWARENESS:
            await room.awareness(self, message.payload)
        elif message.step == yws.STEP1:
            self.send(yws.sync_step2(room.diff(message.payload)))
        elif message.payload != yws.EMPTY_UPDATE and self._deleted is None:
            await self._author.count()
            self._updates.add(message.payload)

    async def _send(self) -> None:
        try:
            await self._outbox.drain_to(self._websocket)
        except (WebSocketDisconnect, RuntimeError, OSError):
            self._finish(None)  # the client is gone
            return
        if self._deleted is not None:  # all that was queued before the deletion is sent
            self._finish(_close_for(self._deleted))

    # Ending -------------------------------------------------------------------------------

    def _too_slow(self) -> None:
        self._finish((CLOSE_TOO_SLOW, "sync.too_slow"))

    def _refused(self, exc: Exception) -> None:
        self._finish(_close_for(exc))

    def _finish(self, close: Close | None) -> None:
        """End the connection, closing it with ``close`` (None: the client is gone); the
        first reason wins."""
        if self._finished:
            return
        self._finished = True
        self._close = close
        reader, self._reader = self._reader, None
        # From the reader itself (a frame it handles overflowed the outbox), it stops at its
        # next turn; a cancel would hit whatever it awaits next, even after it stopped.
        if reader is not None and reader is not asyncio.current_task():
            self._interrupted = True
            reader.cancel()


def _close_for(exc: Exception) -> Close:
    if isinstance(exc, InfinityMatrixError):
        return (close_code_for(exc), exc.code)
    log.error("yjs.failed", exc_info=exc)
    return (CLOSE_INTERNAL, "internal")
