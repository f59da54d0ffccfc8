"""The event stream WebSocket, ``/api/v1/workspaces/{ws}/stream``: JSON frames (docs/stream.md).

Thin: it authenticates, authorizes through the services, moves frames between the socket and a
``StreamSession``, and owns the connection's one writer task and its bounded outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import orjson
import structlog
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from infinity_matrix.core.sync.stream import StreamDeps, StreamSession
from infinity_matrix.errors import InfinityMatrixError
from infinity_matrix.gateway.wsbase import (
    CLOSE_TOO_LARGE,
    CLOSE_TOO_SLOW,
    Outbox,
    bearer_from,
    close_code_for,
    close_quietly,
)
from infinity_matrix.hub import Hub

router = APIRouter()
log = structlog.get_logger(__name__)

# Frames that count against the principal's rate limit: writes and presence, not liveness.
_LIMITED = frozenset({"put", "delete", "presence"})


@router.websocket("/api/v1/workspaces/{ws}/stream")
async def stream(websocket: WebSocket, ws: str) -> None:
    hub: Hub = websocket.app.state.hub
    await websocket.accept()
    try:
        principal = await hub.authenticator.authenticate(bearer_from(websocket))
        _record, role = await hub.workspaces.get(principal, ws)
    except InfinityMatrixError as exc:
        await close_quietly(websocket, close_code_for(exc), exc.code)
        return
    outbox = Outbox(hub.settings.stream_outbox_bytes)
    session = StreamSession(
        StreamDeps(hub.store, hub.fanout, hub.context),
        principal,
        ws,
        role,
        client=uuid.uuid4().hex,
        send=lambda frame: outbox.put(orjson.dumps(frame).decode()),
    )
    hub.metrics.ws_connections.labels(face="stream").inc()
    writer = asyncio.create_task(outbox.drain_to(websocket))
    reader = asyncio.create_task(_read(websocket, hub, principal.id, session))
    overflow = asyncio.create_task(outbox.overflowed.wait())
    revoked = asyncio.create_task(session.ended.wait())
    try:
        await asyncio.wait({writer, reader, overflow, revoked}, return_when=asyncio.FIRST_COMPLETED)
        if session.end_reason is not None:
            code: int | None = close_code_for(session.end_reason)
        elif outbox.overflowed.is_set():
            code = CLOSE_TOO_SLOW
        else:
            code = _close_code(reader)
    finally:
        for task in (reader, writer, overflow, revoked):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await session.close()
        hub.metrics.ws_connections.labels(face="stream").dec()
    if code is not None:
        hub.metrics.ws_closed_total.labels(face="stream", code=str(code)).inc()
        await close_quietly(websocket, code)


async def _read(websocket: WebSocket, hub: Hub, principal_id: str, session: StreamSession) -> None:
    """Feed frames to the session until the peer leaves; raises to close with a code."""
    limit = hub.settings.max_request_bytes
    try:
        while True:
            text = await websocket.receive_text()
            if len(text) > limit:
                raise _Close(CLOSE_TOO_LARGE)
            try:
                frame = orjson.loads(text)
            except orjson.JSONDecodeError:
                frame = None
            if not isinstance(frame, dict):
                await session.handle({"type": None})  # answers frame.invalid
                continue
            if frame.get("type") in _LIMITED:
                await hub.rate_limiter.hit("stream", principal_id)
            await session.handle(frame)
    except WebSocketDisconnect:
        return


class _Close(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def _close_code(reader: asyncio.Task[None]) -> int | None:
    if not reader.done() or reader.cancelled():
        return None
    exc = reader.exception()
    if exc is None:
        return None  # the peer closed
    if isinstance(exc, _Close):
        return exc.code
    if isinstance(exc, InfinityMatrixError):
        return close_code_for(exc)
    log.error("stream.failed", exc_info=exc)
    return 1011
