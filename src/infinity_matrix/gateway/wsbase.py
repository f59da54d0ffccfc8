"""What both WebSocket faces share: credentials, close codes, and a byte-bounded outbox.

Close codes mirror HTTP statuses (4000 + status): 4401 bad credential, 4403 role too low,
4404 unknown or invisible workspace, 4408 too slow (outbox overflow; resume by seq),
4413 frame too large, 4422 invalid, 4429 rate limited, 4503 storage unavailable.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

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
    the hub buffer without end.

    Light, since every connection has one: a list and, while the sender waits, a future. The
    sender (``drain_to``) takes everything queued at each wake-up.
    """

    __slots__ = (
        "_bytes",
        "_finished",
        "_frames",
        "_max_bytes",
        "_on_overflow",
        "_over",
        "_overflowed",
        "_wake",
    )

    def __init__(self, max_bytes: int, on_overflow: Callable[[], None] | None = None) -> None:
        """``on_overflow`` is called once, when a frame does not fit."""
        self._frames: list[str | bytes] = []
        self._bytes = 0
        self._max_bytes = max_bytes
        self._on_overflow = on_overflow
        self._over = False
        self._finished = False
        self._wake: asyncio.Future[None] | None = None
        self._overflowed: asyncio.Event | None = None

    @property
    def overflowed(self) -> asyncio.Event:
        """Set once a frame did not fit (made on first use: most connections never ask)."""
        if self._overflowed is None:
            self._overflowed = asyncio.Event()
            if self._over:
                self._overflowed.set()
        return self._overflowed

    def put(self, message: str | bytes) -> None:
        if self._over or self._finished:
            return
        size = len(message)
        # An empty outbox takes any frame: one large event alone must not look like a stall.
        if self._bytes and self._bytes + size > self._max_bytes:
            self._overflow()
            return
        self._bytes += size
        self._frames.append(message)
        self._wakeup()

    def finish(self) -> None:
        """Send what is queued, then nothing more: ``drain_to`` returns."""
        self._finished = True
        self._wakeup()

    async def drain_to(self, websocket: WebSocket) -> None:
        """Send until ``finish`` or overflow; the one task that writes to the socket."""
        while True:
            if not self._frames:
                if self._finished or self._over:
                    return
                self._wake = asyncio.get_running_loop().create_future()
                await self._wake
                continue
            frames, self._frames = self._frames, []
            for message in frames:
                if self._over:
                    return
                if isinstance(message, bytes):
                    await websocket.send_bytes(message)
                else:
                    await websocket.send_text(message)
                self._bytes -= len(message)

    def _overflow(self) -> None:
        self._over = True
        self._frames.clear()
        if self._overflowed is not None:
            self._overflowed.set()
        self._wakeup()
        if self._on_overflow is not None:
            self._on_overflow()

    def _wakeup(self) -> None:
        wake, self._wake = self._wake, None
        if wake is not None and not wake.done():
            wake.set_result(None)


async def close_quietly(websocket: WebSocket, code: int, reason: str = "") -> None:
    # Already closed by the peer or the server. A peer that stopped reading gets the close
    # frame once it drains what it was sent; one that died is dropped by uvicorn's keepalive
    # pings, which ends this wait too — the timeout is only the last resort.
    with contextlib.suppress(RuntimeError, OSError, TimeoutError):
        async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
            await websocket.close(code=code, reason=reason[:120])
