"""A minimal y-websocket client on pycrdt, for tests: one document kept in sync over one socket.

It speaks the protocol as y-websocket does (step 1 on connect, step 2 in reply to the server's
step 1, one update per local transaction, awareness as given) and records what the server
sends, so tests can wait for a state with a bound instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pycrdt
import websockets
from websockets.asyncio.client import ClientConnection

from infinity_matrix.core.protocol import ywebsocket as yws
from infinity_matrix.core.sync.documents import DATA_ROOT, TEXT_ROOT

TIMEOUT = 15.0


def yjs_url(base_url: str, workspace: str, key: str, token: str | None, **params: str) -> str:
    url = base_url.replace("http://", "ws://") + f"/api/v1/workspaces/{workspace}/yjs/{key}"
    query = {**({"token": token} if token else {}), **params}
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def clocks(state_vector: bytes) -> dict[int, int]:
    """A state vector as {client: clock} (its encoding's client order is not fixed)."""
    numbers = _varuints(state_vector)
    return {next(numbers): next(numbers) for _ in range(next(numbers))}


def _varuints(data: bytes) -> Iterator[int]:
    value = shift = 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            yield value
            value = shift = 0


class YClient:
    def __init__(self, socket: ClientConnection, doc: pycrdt.Doc[Any]) -> None:
        self.socket = socket
        self.doc = doc
        self.text = doc.get(TEXT_ROOT, type=pycrdt.Text)
        self.data: pycrdt.Map[Any] = doc.get(DATA_ROOT, type=pycrdt.Map)
        self.awareness: list[list[yws.AwarenessEntry]] = []  # every awareness update received
        self.received: list[bytes] = []  # every document update received (step 2 included)
        self.synced = asyncio.Event()
        self.close_code: int | None = None
        self._changed = asyncio.Event()

    async def edit(self, change: Callable[[YClient], None]) -> list[bytes]:
        """Make a local change in one transaction, send its update and answer it."""
        updates: list[bytes] = []
        subscription = self.doc.observe(lambda event: updates.append(event.update))
        try:
            with self.doc.transaction():
                change(self)
        finally:
            self.doc.unobserve(subscription)
        for update in updates:
            await self.socket.send(yws.sync_update(update))
        return updates

    async def committed(self, updates: list[bytes]) -> None:
        """Wait until the server sent ``updates`` back: it does once they are in the log."""
        await self.until(lambda: all(update in self.received for update in updates))

    async def send_awareness(self, client: int, clock: int, state: str) -> None:
        update = yws.encode_awareness([yws.AwarenessEntry(client, clock, state)])
        await self.socket.send(yws.awareness(update))

    async def until(self, predicate: Callable[[], bool]) -> None:
        """Wait, with a bound, until ``predicate`` holds after some message (or now)."""
        async with asyncio.timeout(TIMEOUT):
            while not predicate():
                await self._changed.wait()

    async def received_awareness(self, count: int) -> None:
        """Wait until ``count`` awareness updates have arrived in all."""
        await self.until(lambda: len(self.awareness) >= count)

    async def closed(self) -> int:
        """Wait for the server to close the connection; answers the close code."""
        await self.until(lambda: self.close_code is not None)
        assert self.close_code is not None
        return self.close_code

    def state(self) -> bytes:
        return self.doc.get_update()

    async def _receive(self) -> None:
        try:
            async for frame in self.socket:
                assert isinstance(frame, bytes)
                await self._handle(yws.decode(frame))
                self._notify()
        except websockets.ConnectionClosed:
            pass
        self.close_code = self.socket.close_code
        self._notify()

    async def _handle(self, message: yws.Message) -> None:
        if message.type == yws.AWARENESS:
            self.awareness.append(yws.decode_awareness(message.payload))
        elif message.step == yws.STEP1:
            await self.socket.send(yws.sync_step2(self.doc.get_update(message.payload)))
        else:
            self.received.append(message.payload)
            self.doc.apply_update(message.payload)
            if message.step == yws.STEP2:
                self.synced.set()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()


@contextlib.asynccontextmanager
async def connect(url: str, doc: pycrdt.Doc[Any] | None = None) -> AsyncIterator[YClient]:
    """Connect and send sync step 1; the client receives in the background until the block
    ends. Does not wait for the sync: use ``client.synced`` or ``client.until``."""
    async with websockets.connect(url, max_size=None) as socket:
        client = YClient(socket, doc if doc is not None else pycrdt.Doc())
        receiver = asyncio.create_task(client._receive())
        try:
            with contextlib.suppress(websockets.ConnectionClosed):  # e.g. refused at once
                await socket.send(yws.sync_step1(client.doc.get_state()))
            yield client
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receiver


@contextlib.asynccontextmanager
async def synced(url: str, doc: pycrdt.Doc[Any] | None = None) -> AsyncIterator[YClient]:
    async with connect(url, doc) as client:
        async with asyncio.timeout(TIMEOUT):
            await client.synced.wait()
        yield client
