"""The bench's y-websocket client: the writer's pre-made updates, connections spoken frame by frame
on a raw socket (writer, observer, replica), and the servers as the clients see them.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import pycrdt

from infinity_matrix.core.protocol import ywebsocket as yws
from infinity_matrix.core.sync.documents import TEXT_ROOT

WRITER_CLIENT_ID = 1_234_567_890  # the writer's Yjs client: its updates are made once per run
MARKER = re.compile(rb"<(\d{9})>")  # what update n inserts: <n> on nine digits
FRAME_CHUNK = 5_000  # updates made at a time (about 50 ms of pycrdt)
CONNECT_CONCURRENCY = 50  # handshakes in flight while a scenario sets up its observers
SETUP_SECONDS = 120.0  # to connect and sync every observer of a scenario
CLOSE_SECONDS = 5.0

C = TypeVar("C", bound="Connection")


# The writer's updates ----------------------------------------------------------------------------


def marker(n: int) -> str:
    return f"<{n:09d}>"


class Updates:
    """The writer's Yjs updates as ready-to-send frames, made once per run for every server.

    Update n inserts the text ``<n>``, which is how an observer tells which update a frame
    brings without decoding Yjs. With ``replace`` it also deletes the previous marker, so the
    entry stays a few bytes long however long the run (like an ``editor/active`` entry);
    without, every marker stays and a replica's final text shows any update lost or applied
    twice. Every scenario writes to a new entry, so the same updates apply anywhere.
    """

    def __init__(self, *, replace: bool) -> None:
        self._doc: pycrdt.Doc[Any] = pycrdt.Doc(client_id=WRITER_CLIENT_ID)
        self._text = self._doc.get(TEXT_ROOT, type=pycrdt.Text)
        self._replace = replace
        self._frames: list[bytes] = []

    def frame(self, n: int) -> bytes:
        while n >= len(self._frames):
            self._extend(FRAME_CHUNK)
        return self._frames[n]

    def text(self, count: int) -> str:
        """The text of the entry after the first ``count`` updates (append mode)."""
        return "".join(marker(n) for n in range(count))

    def _extend(self, count: int) -> None:
        updates: list[bytes] = []
        subscription = self._doc.observe(lambda event: updates.append(event.update))
        try:
            for n in range(len(self._frames), len(self._frames) + count):
                with self._doc.transaction():
                    end = len(self._text)
                    self._text.insert(end, marker(n))
                    if self._replace and end:
                        del self._text[0:end]
        finally:
            self._doc.unobserve(subscription)
        self._frames += [client_frame(yws.sync_update(update)) for update in updates]


# The client: y-websocket over a raw socket -------------------------------------------------------

BINARY, CLOSE, PING, PONG = 0x2, 0x8, 0x9, 0xA
SYNC, STEP1, STEP2 = yws.SYNC, yws.STEP1, yws.STEP2
EMPTY_STATE_VECTOR = b"\x00"


class Refused(Exception):
    """The server answered the upgrade with something other than 101."""


class Closed(Exception):
    """The connection ended before it opened or synced."""


def client_frame(payload: bytes, opcode: int = BINARY) -> bytes:
    """One final, masked client frame (RFC 6455 §5.2-5.3)."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    repeated = (mask * (size // 4 + 1))[:size]
    masked = int.from_bytes(payload, "little") ^ int.from_bytes(repeated, "little")
    return head + mask + masked.to_bytes(size, "little")


class Connection(asyncio.Protocol):
    """One y-websocket client connection, spoken frame by frame on a raw socket.

    It does on the wire what y-websocket does (sync step 1 once open, step 2 in reply to the
    server's step 1, pong to ping, close in reply to close) and no more, so a server frame
    costs a header parse and the role's ``received``: 500 of them measure the server, not the
    client. One timestamp per ``data_received``. As such it is the writer and the idle client;
    ``Observer`` and ``Replica`` add what they keep.
    """

    def __init__(self, request: bytes) -> None:
        loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = loop.create_future()
        self.synced: asyncio.Future[float] = loop.create_future()  # when step 2 came
        self.closed: asyncio.Future[None] = loop.create_future()
        self.close_code: int | None = None
        self._request = request
        self._buffer = bytearray()
        self._upgraded = False

    # Roles --------------------------------------------------------------------------------

    def hello(self) -> bytes:
        """The state vector sent in sync step 1."""
        return EMPTY_STATE_VECTOR

    def answer(self, message: bytes) -> bytes:
        """The update for the server's step 1 (``message``): nothing, for a client with none."""
        return yws.EMPTY_UPDATE

    def received(self, message: bytes, at: float) -> None:
        """A sync step 2 or update message arrived at ``at``."""

    # Sending ------------------------------------------------------------------------------

    def write(self, frame: bytes) -> None:
        """Send an already encoded frame (see ``client_frame``)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame)

    def send(self, message: bytes) -> None:
        self.write(client_frame(message))

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(client_frame(struct.pack("!H", 1000), CLOSE))
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection as a network failure would: no close frame."""
        if self.transport is not None:
            self.transport.abort()

    # asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        for future in (self.opened, self.synced):
            if not future.done():
                future.set_exception(Closed(f"closed with {self.close_code or exc or 'EOF'}"))
                future.exception()  # seen: nobody may be waiting any more
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        at = time.perf_counter()
        buffer = self._buffer
        buffer += data
        if not self._upgraded and not self._upgrade():
            return
        start, end = 0, len(buffer)
        while end - start >= 2:
            size, head = buffer[start + 1] & 0x7F, 2
            if size == 126:
                if end - start < 4:
                    break
                size, head = int.from_bytes(buffer[start + 2 : start + 4], "big"), 4
            elif size == 127:
                if end - start < 10:
                    break
                size, head = int.from_bytes(buffer[start + 2 : start + 10], "big"), 10
            stop = start + head + size
            if stop > end:
                break
            opcode, payload = buffer[start] & 0x0F, bytes(buffer[start + head : stop])
            start = stop
            if opcode == BINARY:
                self._message(payload, at)
            else:
                self._control(opcode, payload)
        del buffer[:start]

    def _upgrade(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        status = bytes(self._buffer[: self._buffer.find(b"\r\n")])
        del self._buffer[: end + 4]
        if status.split(b" ")[1:2] != [b"101"]:
            self.opened.set_exception(Refused(status.decode(errors="replace")))
            self.opened.exception()
            self.abort()
            return False
        self._upgraded = True
        self.opened.set_result(None)
        self.send(yws.sync_step1(self.hello()))
        return True

    def _message(self, message: bytes, at: float) -> None:
        if message[0] != SYNC:
            return  # awareness: not measured
        if message[1] == STEP1:
            self.send(yws.sync_step2(self.answer(message)))
            return
        self.received(message, at)
        if message[1] == STEP2 and not self.synced.done():
            self.synced.set_result(at)

    def _control(self, opcode: int, payload: bytes) -> None:
        if opcode == PING:
            self.write(client_frame(payload, PONG))
        elif opcode == CLOSE and self.transport is not None:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.write(client_frame(payload[:2], CLOSE))
            self.transport.close()


class Tally:
    """What a group of observers received: latencies of the measured updates, and progress.

    Updates on one connection arrive in order, so an observer's progress is the last update it
    saw; ``everyone_has`` is what the throughput writer's window waits on.
    """

    def __init__(self, sent_at: list[float], measured: range) -> None:
        self.sent_at = sent_at
        self.measured = measured
        self.observers: list[Observer] = []
        self.latencies: list[float] = []
        self.disordered = 0  # an update that came after a later one, or twice
        self._target = -1
        self._reached = 0
        self._arrived = asyncio.Event()

    def record(self, observer: Observer, seq: int, at: float) -> None:
        last = observer.last
        if seq <= last:
            self.disordered += 1
            return
        observer.last = seq
        if seq in self.measured:
            self.latencies.append(at - self.sent_at[seq])
        if last < self._target <= seq:
            self._reached += 1
            if self._reached == len(self.observers):
                self._arrived.set()

    async def everyone_has(self, seq: int, within: float) -> bool:
        """Wait until every observer has received update ``seq``; False after ``within`` s."""
        self._target = seq
        self._reached = sum(1 for observer in self.observers if observer.last >= seq)
        if self._reached == len(self.observers):
            return True
        self._arrived = asyncio.Event()
        try:
            async with asyncio.timeout(within):
                await self._arrived.wait()
        except TimeoutError:
            return False
        return True

    def missing(self) -> int:
        return len(self.observers) * len(self.measured) - len(self.latencies)


class Observer(Connection):
    """Reads which updates a frame brings from their markers; keeps nothing else.

    Usually one; a server that merges queued updates into one message sends several.
    """

    def __init__(self, request: bytes, tally: Tally) -> None:
        super().__init__(request)
        self.tally = tally
        self.last = -1
        tally.observers.append(self)

    def received(self, message: bytes, at: float) -> None:
        for found in MARKER.finditer(message):
            self.tally.record(self, int(found[1]), at)


@dataclass(slots=True)
class ReplicaState:
    """A storm or join client's document, which outlives its connections."""

    news: asyncio.Event | None = None  # set whenever an update arrives, if given
    doc: pycrdt.Doc[Any] = field(default_factory=pycrdt.Doc)
    seen: set[int] = field(default_factory=set)
    redelivered: int = 0  # frames bringing an update the replica had already (Yjs ignores them)

    def text(self) -> str:
        return str(self.doc.get(TEXT_ROOT, type=pycrdt.Text))


class Replica(Connection):
    """A client with a real Yjs document: it resumes from its state vector, as y-websocket does."""

    def __init__(self, request: bytes, state: ReplicaState) -> None:
        super().__init__(request)
        self.state = state

    def hello(self) -> bytes:
        return self.state.doc.get_state()

    def answer(self, message: bytes) -> bytes:
        return self.state.doc.get_update(yws.decode(message).payload)

    def received(self, message: bytes, at: float) -> None:
        update = yws.decode(message).payload
        for found in MARKER.finditer(update):
            seq = int(found[1])
            if seq in self.state.seen:
                self.state.redelivered += 1
            self.state.seen.add(seq)
        self.state.doc.apply_update(update)
        if self.state.news is not None:
            self.state.news.set()


@dataclass(frozen=True, slots=True)
class Target:
    """A running y-websocket server as the clients see it."""

    server: str
    port: int
    pids: tuple[int, ...]  # the processes whose CPU time and memory count
    path_prefix: str  # the request path is this plus the entry key
    token: str | None = None
    window: Callable[[bool], None] | None = None  # profiling: told when a window opens, closes
    exited: Callable[[], str | None] = lambda: None  # why the server is gone, if it is
    host: str = "127.0.0.1"

    def request(self, key: str) -> bytes:
        lines = [
            f"GET {self.path_prefix}{key} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
            "Sec-WebSocket-Version: 13",
        ]
        if self.token:
            lines.append(f"Authorization: Bearer {self.token}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def measuring(self, on: bool) -> None:
        if self.window is not None:
            self.window(on)


class Clients:
    """The connections of one scenario; all are closed when it ends, whatever happened."""

    def __init__(self) -> None:
        self._all: list[Connection] = []

    async def __aenter__(self) -> Clients:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for connection in self._all:
            connection.close()
        pending = [c.closed for c in self._all if not c.closed.done()]
        if pending:
            await asyncio.wait(pending, timeout=CLOSE_SECONDS)
        for connection in self._all:
            connection.abort()  # whatever did not close in time
        self._all.clear()

    async def open(self, target: Target, key: str, factory: Callable[[bytes], C]) -> C:
        """Connect and upgrade; raises ``OSError``, ``Refused`` or ``Closed``."""
        loop = asyncio.get_running_loop()
        request = target.request(key)
        _transport, connection = await loop.create_connection(
            lambda: factory(request), target.host, target.port
        )
        self._all.append(connection)
        await connection.opened
        return connection

    async def synced(self, target: Target, key: str, factory: Callable[[bytes], C]) -> C:
        connection = await self.open(target, key, factory)
        await connection.synced
        return connection

    async def many(
        self, target: Target, key: str, factories: Sequence[Callable[[bytes], C]]
    ) -> list[C]:
        """Connect and sync one client per factory, a bounded number of handshakes at a time.

        The first one alone: pycrdt-websocket leaves clients that open a new room at the same
        instant unsynced (the join scenario measures that), which is not what a set-up is for.
        """
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def one(factory: Callable[[bytes], C]) -> C:
            async with gate:
                return await self.synced(target, key, factory)

        if not factories:
            return []
        async with asyncio.timeout(SETUP_SECONDS):
            first = await one(factories[0])
            return [first, *await asyncio.gather(*(one(f) for f in factories[1:]))]
