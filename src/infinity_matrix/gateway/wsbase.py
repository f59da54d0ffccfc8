"""What both WebSocket faces share: credentials, close codes, and a byte-bounded outbox.

Close codes mirror HTTP statuses (4000 + status): 4401 bad credential, 4403 role too low,
4404 unknown or invisible workspace, 4408 too slow (outbox overflow; resume by seq),
4413 frame too large, 4422 invalid, 4429 rate limited, 4503 storage unavailable.
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import WebSocket

from infinity_matrix.errors import InfinityMatrixError
from infinity_matrix.gateway.problems import status_for

CLOSE_TIMEOUT_SECONDS = 60.0
CLOSE_TOO_SLOW = 4408
CLOSE_TOO_LARGE = 4413


def bearer_from(websocket: WebSocket) -> str | None:
    """The credential: ``Authorization: Bearer`` or, for browsers, the ``token`` parameter."""
    header = websocket.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return websocket.query_params.get("token")


def close_code_for(exc: InfinityMatrixError) -> int:
    return 4000 + status_for(exc)


class Outbox:
    """The frames waiting for one slow or fast connection, bounded in bytes, not in count:
    a client that falls this far behind is closed (4408) and resumes by seq instead of making
    the hub buffer without end."""

    def __init__(self, max_bytes: int) -> None:
        self._queue: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self._bytes = 0
        self._max_bytes = max_bytes
        self.overflowed = asyncio.Event()

    def put(self, message: str | bytes) -> None:
        if self.overflowed.is_set():
            return
        size = len(message)
        # An empty outbox takes any frame: one large event alone must not look like a stall.
        if self._bytes and self._bytes + size > self._max_bytes:
            self.overflowed.set()
            self._queue.put_nowait(None)
            return
        self._bytes += size
        self._queue.put_nowait(message)

    def finish(self) -> None:
        self._queue.put_nowait(None)

    async def drain_to(self, websocket: WebSocket) -> None:
        """Send until ``finish`` or overflow; the one task that writes to the socket."""
        while (message := await self._queue.get()) is not None:
            self._bytes -= len(message)
            if isinstance(message, bytes):
                await websocket.send_bytes(message)
            else:
                await websocket.send_text(message)


async def close_quietly(websocket: WebSocket, code: int, reason: str = "") -> None:
    # Already closed by the peer or the server. A peer that stopped reading gets the close
    # frame once it drains what it was sent; one that died is dropped by uvicorn's keepalive
    # pings, which ends this wait too — the timeout is only the last resort.
    with contextlib.suppress(RuntimeError, OSError, TimeoutError):
        async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
            await websocket.close(code=code, reason=reason[:120])
