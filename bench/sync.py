"""Real-time sync on the Yjs endpoint, side by side with the two reference y-websocket servers.

    python bench/sync.py [--quick] [--servers ours,pycrdt,node] [--only GROUPS] [--profile DIR]

One run starts our hub (``imx serve``: one node on SQLite; two nodes on one PostgreSQL database
and Redis for the cross-node figures), pycrdt-websocket and @y/websocket-server, and drives the
same workloads against each through the same client: propagation latency at 20 updates/s to 1 to
500 observers, sustained throughput with a bounded window, a reconnect storm, simultaneous first
joins, and memory per idle connection. It installs the peers itself (a venv in
``bench/.peers-venv``, ``npm ci`` in ``bench/peers/node``) and stops by itself. bench/README.md
says how each figure is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import gc
import hashlib
import os
import platform
import re
import secrets
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from contextlib import (
    AbstractAsyncContextManager,
    AsyncExitStack,
    asynccontextmanager,
    contextmanager,
)
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx
import pycrdt
from _common import (
    BENCH_DIR,
    environment,
    host_cpu_jiffies,
    percentile,
    process_cpu_seconds,
    profile_tables,
    serve,
)
from rich.console import Console
from rich.table import Table

from infinity_matrix.config import Settings
from infinity_matrix.core.protocol import ywebsocket as yws
from infinity_matrix.core.sync.documents import TEXT_ROOT
from infinity_matrix.security.credfile import read_credentials
from infinity_matrix.testing import services
from infinity_matrix.testing.cluster import Node, free_port

OURS, PYCRDT, NODE = "ours", "pycrdt", "node"
SERVERS = (OURS, PYCRDT, NODE)
LABELS = {OURS: "imx (ours)", PYCRDT: "pycrdt-websocket 0.16.5", NODE: "@y/websocket-server 0.1.5"}
GROUPS = ("latency", "throughput", "nodes", "storm", "join", "memory")

RATE = 20.0  # updates/s of the latency writer: the workload
STORM_RATE = 50.0  # updates/s while the storm clients drop and come back
WINDOW = 100  # updates in flight, at most, in a throughput run
WRITER_CLIENT_ID = 1_234_567_890  # the writer's Yjs client: its updates are made once per run
MARKER = re.compile(rb"<(\d{9})>")  # what update n inserts: <n> on nine digits
FRAME_CHUNK = 5_000  # updates made at a time (about 50 ms of pycrdt)

CONNECT_CONCURRENCY = 50  # handshakes in flight while a scenario sets up its observers
SETUP_SECONDS = 120.0  # to connect and sync every observer of a scenario
SETTLE_SECONDS = 10.0  # for the last update to reach every observer
STALL_SECONDS = 10.0  # a throughput run with no progress for this long has stalled
CLOSE_SECONDS = 5.0
STORM_LEAD_SECONDS = 1.0  # writing before the storm, and again after everyone is back
RESYNC_SECONDS = 30.0  # a storm client not synced again by then is counted as lost
JOIN_SECONDS = 10.0
BACKOFF = (0.1, 2.5)  # y-websocket's reconnect backoff: 100 ms doubling, at most 2.5 s
MEMORY_SETTLE_SECONDS = 2.0
PAUSE_SECONDS = 0.5  # between scenarios, for the server to finish closing the last one's sockets

P99_TARGETS_MS = {100: 5.0, 500: 15.0}
NODES_P99_TARGET_MS = 10.0
THROUGHPUT_TARGET = 5_000.0  # updates/s to 10 observers
THROUGHPUT_TARGET_OBSERVERS = 10
IDLE_TARGET_KB = 12.0

PEERS_DIR = BENCH_DIR / "peers"
NODE_DIR = PEERS_DIR / "node"
NODE_SERVER = NODE_DIR / "node_modules" / "@y" / "websocket-server" / "src" / "server.js"
PYCRDT_DIR = PEERS_DIR / "pycrdt"
PEERS_VENV = BENCH_DIR / ".peers-venv"
INSTALL_SECONDS = 600.0
START_SECONDS = 60.0
STOP_SECONDS = 20.0
REPORT_WIDTH = 160
LOGS = Path(tempfile.gettempdir()) / f"imx-bench-sync-{os.getpid()}"  # the peers' output

C = TypeVar("C", bound="Connection")


@dataclass(frozen=True, slots=True)
class Plan:
    """How much each scenario does: ``--quick`` or the full run."""

    latency_observers: tuple[int, ...]
    throughput_observers: tuple[int, ...]
    warmup: float
    latency_seconds: float
    throughput_seconds: float
    storm_clients: int
    joiners: int
    idle_connections: int
    window: int = WINDOW


FULL = Plan((1, 10, 100, 500), (1, 10, 100, 500), 1.0, 10.0, 5.0, 200, 20, 500)
QUICK = Plan((1, 10, 100), (10,), 1.0, 3.0, 3.0, 200, 20, 200)


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


# Measuring ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reading:
    at: float
    server: float  # CPU seconds of the server processes
    client: float  # CPU seconds of this process
    host: tuple[int, int]  # whole machine: busy, total clock ticks

    @classmethod
    def now(cls, pids: Sequence[int]) -> Reading:
        server = sum(process_cpu_seconds(pid) for pid in pids)
        return cls(time.perf_counter(), server, time.process_time(), host_cpu_jiffies())


@dataclass(frozen=True, slots=True)
class Usage:
    """CPU use during a window, in % of one core: the server, this client, everything else."""

    server: float
    client: float
    others: float

    @classmethod
    def between(cls, first: Reading, last: Reading) -> Usage:
        wall = max(last.at - first.at, 1e-9)
        server = 100 * (last.server - first.server) / wall
        client = 100 * (last.client - first.client) / wall
        busy, total = (b - a for a, b in zip(first.host, last.host, strict=True))
        machine = 100 * (os.cpu_count() or 1) * busy / max(1, total)
        return cls(server, client, max(0.0, machine - server - client))

    def describe(self) -> str:
        return f"{self.server:.0f} / {self.client:.0f} / {self.others:.0f}"


@dataclass(frozen=True, slots=True)
class Cell:
    """One figure of the report; ``met`` is None on a row without a target."""

    text: str
    met: bool | None = None
    usage: Usage | None = None
    operations: int = 0  # updates measured, for a profile's per-update figures


@dataclass(frozen=True, slots=True)
class Delivered:
    latencies: list[float]
    missing: int
    disordered: int
    usage: Usage
    updates: int

    def cell(self, p99_limit_ms: float | None) -> Cell:
        ordered = sorted(self.latencies)
        p50, p95, p99 = (percentile(ordered, q) * 1000 for q in (50, 95, 99))
        text = f"{p50:.2f} / {p95:.2f} / {p99:.2f}"
        if self.missing or self.disordered:
            text += f" ({self.missing:,} missing, {self.disordered:,} out of order)"
        met = None
        if p99_limit_ms is not None:
            met = p99 <= p99_limit_ms and not self.missing and not self.disordered
        return Cell(text, met, self.usage, self.updates)


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic GC in the client while it measures: its pauses would count as latency."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def new_key(name: str) -> str:
    return f"bench/{name}-{secrets.token_hex(4)}"


# Scenarios ---------------------------------------------------------------------------------------


async def latency(
    writer_at: Target, groups: Sequence[tuple[Target, int]], plan: Plan, updates: Updates
) -> list[Delivered]:
    """One writer at ``RATE`` updates/s; each group of observers on its own server."""
    key = new_key("latency")
    sent_at: list[float] = []
    total = round((plan.warmup + plan.latency_seconds) * RATE)
    measured = range(round(plan.warmup * RATE), total)
    tallies = [Tally(sent_at, measured) for _ in groups]
    updates.frame(total)  # made before the clock starts
    pids = tuple(pid for target in {writer_at, *(t for t, _ in groups)} for pid in target.pids)
    async with Clients() as clients:
        for (target, count), tally in zip(groups, tallies, strict=True):
            await clients.many(target, key, [partial(Observer, tally=tally)] * count)
        writer = await clients.synced(writer_at, key, Connection)
        with collector_paused():
            start = time.perf_counter()
            first = Reading.now(pids)
            for seq in range(total):
                delay = start + seq / RATE - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                if seq == measured.start:
                    first = Reading.now(pids)
                    writer_at.measuring(True)
                sent_at.append(time.perf_counter())
                writer.write(updates.frame(seq))
            for tally in tallies:
                await tally.everyone_has(total - 1, SETTLE_SECONDS)
            last = Reading.now(pids)
            writer_at.measuring(False)
    usage = Usage.between(first, last)
    return [
        Delivered(t.latencies, t.missing(), t.disordered, usage, len(measured)) for t in tallies
    ]


async def throughput(
    writer_at: Target, observers_at: Target, count: int, plan: Plan, updates: Updates
) -> Cell:
    """One writer as fast as every observer takes it, at most ``plan.window`` updates ahead."""
    key = new_key(f"throughput-{count}")
    sent_at: list[float] = []
    tally = Tally(sent_at, range(0))
    pids = tuple({*writer_at.pids, *observers_at.pids})
    window, half = plan.window, max(1, plan.window // 2)
    async with Clients() as clients:
        await clients.many(observers_at, key, [partial(Observer, tally=tally)] * count)
        writer = await clients.synced(writer_at, key, Connection)
        with collector_paused():
            start = time.perf_counter()
            measure_from = start + plan.warmup
            stop_at = measure_from + plan.throughput_seconds
            first: Reading | None = None
            marks: list[tuple[float, int]] = []  # (when, updates every observer has)
            sent = done = 0
            stalled = False
            while (now := time.perf_counter()) < stop_at:
                if first is None and now >= measure_from:
                    first = Reading.now(pids)
                    marks.append((now, done))
                    writer_at.measuring(True)
                while sent < done + window:
                    sent_at.append(time.perf_counter())
                    writer.write(updates.frame(sent))
                    sent += 1
                target = min(sent - 1, done + half - 1)
                if not await tally.everyone_has(target, STALL_SECONDS):
                    stalled = True
                    break
                done = target + 1
                if first is not None:
                    marks.append((time.perf_counter(), done))
            last = Reading.now(pids)
            writer_at.measuring(False)
    if stalled or first is None or len(marks) < 2:
        return Cell(f"stalled after {done:,} updates", False if count == 10 else None)
    (t0, d0), (t1, d1) = marks[0], marks[-1]
    rate = (d1 - d0) / (t1 - t0)
    met = rate >= THROUGHPUT_TARGET if count == THROUGHPUT_TARGET_OBSERVERS else None
    if tally.disordered:
        return Cell(f"{rate:,.0f} ({tally.disordered} out of order)", False, None, d1 - d0)
    return Cell(f"{rate:,.0f}", met, Usage.between(first, last), d1 - d0)


async def storm(target: Target, clients_count: int, updates: Updates) -> dict[str, Cell]:
    """Every client drops at once and comes straight back while the writer goes on."""
    key = new_key("storm")
    news = asyncio.Event()
    states = [ReplicaState(news) for _ in range(clients_count)]
    async with Clients() as clients:
        replicas = await clients.many(target, key, [partial(Replica, state=s) for s in states])
        writer = await clients.synced(target, key, Connection)
        written = 0
        stop = asyncio.Event()

        async def write() -> None:
            nonlocal written
            start = time.perf_counter()
            while not stop.is_set():
                delay = start + written / STORM_RATE - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                writer.write(updates.frame(written))
                written += 1

        writing = asyncio.create_task(write())
        await asyncio.sleep(STORM_LEAD_SECONDS)  # the workload's timing, not a synchronisation
        first = Reading.now(target.pids)
        dropped = time.perf_counter()
        for replica in replicas:
            replica.abort()
        deadline = dropped + RESYNC_SECONDS
        back = await asyncio.gather(
            *(_resync(clients, target, key, s, dropped, deadline) for s in states)
        )
        last = Reading.now(target.pids)
        await asyncio.sleep(STORM_LEAD_SECONDS)
        stop.set()
        await writing
        final = written - 1
        with contextlib.suppress(TimeoutError):  # who still lacks it counts as lost
            async with asyncio.timeout(SETTLE_SECONDS):
                while not all(final in s.seen for s in states):
                    news.clear()
                    await news.wait()
    return _storm_cells(states, back, updates.text(written), Usage.between(first, last))


async def _resync(
    clients: Clients,
    target: Target,
    key: str,
    state: ReplicaState,
    dropped: float,
    deadline: float,
) -> tuple[float | None, int]:
    """Reconnect at once, then with y-websocket's backoff; answers (seconds to sync, failures)."""
    failures = 0
    while (left := deadline - time.perf_counter()) > 0:
        try:
            async with asyncio.timeout(left):
                replica = await clients.open(target, key, partial(Replica, state=state))
                synced_at = await replica.synced
            return synced_at - dropped, failures
        except (OSError, Refused, Closed):
            failures += 1
            await asyncio.sleep(min(BACKOFF[0] * 2 ** (failures - 1), BACKOFF[1]))
        except TimeoutError:
            break
    return None, failures


def _storm_cells(
    states: list[ReplicaState],
    back: list[tuple[float | None, int]],
    expected: str,
    usage: Usage,
) -> dict[str, Cell]:
    written = len(MARKER.findall(expected.encode()))
    lost = duplicated = diverged = redelivered = 0
    for state in states:
        found = Counter(int(m) for m in MARKER.findall(state.text().encode()))
        lost += sum(1 for n in range(written) if n not in found)
        duplicated += sum(n - 1 for n in found.values() if n > 1)
        diverged += state.text() != expected
        redelivered += state.redelivered
    loss = f"{lost} / {duplicated}"
    if diverged:
        loss += f" ({diverged} replicas differ from the writer)"
    loss += f"; {redelivered:,} re-sent"
    times = sorted(t for t, _ in back if t is not None)
    failures = sum(f for _, f in back)
    resync = f"{len(times)}/{len(states)}"
    if times:
        resync += f" in {percentile(times, 50):.2f} / {times[-1]:.2f} s"
    if failures:
        resync += f", {failures} failed attempts"
    all_back = len(times) == len(states)
    return {
        "storm-loss": Cell(loss, lost == duplicated == diverged == 0 and all_back, usage, written),
        "storm-time": Cell(resync, all_back, usage),
    }


async def join(target: Target, joiners: int) -> Cell:
    """``joiners`` clients open the same new entry at the same instant."""
    key = new_key("join")
    async with Clients() as clients:

        async def one() -> float | None:
            try:
                async with asyncio.timeout(JOIN_SECONDS):
                    state = ReplicaState()
                    replica = await clients.open(target, key, partial(Replica, state=state))
                    return await replica.synced
            except (OSError, Refused, Closed, TimeoutError):
                return None

        start = time.perf_counter()
        synced = await asyncio.gather(*(one() for _ in range(joiners)))
    times = sorted(t - start for t in synced if t is not None)
    text = f"{len(times)}/{joiners}"
    if times:
        text += f" in {percentile(times, 50) * 1000:.0f} / {times[-1] * 1000:.0f} ms"
    return Cell(text, len(times) == joiners)


async def memory(target: Target, connections: int, updates: Updates) -> Cell:
    """RSS growth of the server over ``connections`` idle, synced clients of one entry."""
    key = new_key("idle")
    async with Clients() as clients:
        writer = await clients.synced(target, key, Connection)
        writer.write(updates.frame(0))  # the entry exists and has content
        await asyncio.sleep(MEMORY_SETTLE_SECONDS)  # the server's own settling, nothing to await
        before = sum(rss_bytes(pid) for pid in target.pids)
        await clients.many(target, key, [Connection] * connections)
        await asyncio.sleep(MEMORY_SETTLE_SECONDS)
        after = sum(rss_bytes(pid) for pid in target.pids)
    per_connection = (after - before) / connections / 1024
    return Cell(f"{per_connection:.1f}", per_connection <= IDLE_TARGET_KB)


def rss_bytes(pid: int) -> int:
    """Resident set size of ``pid``; Linux only."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


# Servers -----------------------------------------------------------------------------------------


def prepare(wanted: Sequence[str], console: Console) -> tuple[list[str], dict[str, str]]:
    """Install what the peers need; answers the servers that can run, and why others cannot."""
    ready, skipped = [], {}
    for server in wanted:
        try:
            if server == PYCRDT:
                peers_python()
            elif server == NODE:
                node_command()
        except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
            skipped[server] = str(exc)
            console.print(f"[yellow]{LABELS[server]} will not run: {exc}[/]")
            continue
        ready.append(server)
    return ready, skipped


def peers_python() -> Path:
    """The venv's python with the pinned pycrdt-websocket, (re)installed when the pins change."""
    requirements = PYCRDT_DIR / "requirements.txt"
    python = PEERS_VENV / "bin" / "python"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    stamp = PEERS_VENV / ".imx-requirements-sha256"
    if python.exists() and stamp.is_file() and stamp.read_text() == digest:
        return python
    # ``python -m venv`` from inside a venv builds on the base interpreter, not on this venv.
    _run([sys.executable, "-m", "venv", "--clear", str(PEERS_VENV)], BENCH_DIR)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run([*pip, "-r", str(requirements)], BENCH_DIR)
    stamp.write_text(digest)
    return python


def node_command() -> list[str]:
    """The stock server of @y/websocket-server, installed by ``npm ci`` from the lock."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise RuntimeError("node and npm are needed (Node.js 18 or newer)")
    digest = hashlib.sha256((NODE_DIR / "package-lock.json").read_bytes()).hexdigest()
    stamp = NODE_DIR / "node_modules" / ".imx-lock-sha256"
    if not (stamp.is_file() and stamp.read_text() == digest):
        _run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], NODE_DIR)
        stamp.write_text(digest)
    return [node, str(NODE_SERVER)]


def _run(command: list[str], cwd: Path) -> None:
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=INSTALL_SECONDS, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} failed:\n{result.stderr[-2000:]}")


def owner_key(home: Path) -> str:
    """The owner API key that a hub's first start wrote to ``credentials.json`` in ``home``."""
    path = Settings(home=home).credentials_file
    key = read_credentials(path).get("api_key")
    if not isinstance(key, str):
        raise RuntimeError(f"no api_key in {path}")
    return key


OURS_PREFIX = "/api/v1/workspaces/default/yjs/"


@asynccontextmanager
async def ours(profile_to: Path | None = None) -> AsyncIterator[Target]:
    """``imx serve`` on SQLite in a temporary home (or, profiled, the bench's uvicorn server)."""
    async with environment("sqlite") as env:
        if profile_to is not None:
            with serve(env, profile_to=profile_to) as server:
                port = int(server.url.rsplit(":", 1)[1])
                pid = server.process.pid
                yield Target(OURS, port, (pid,), OURS_PREFIX, owner_key(env.home), server.profile)
            return
        node = Node("ours", env.home, env.variables())
        node.start()
        try:
            process = node.process
            assert process is not None
            token = owner_key(env.home)
            yield Target(
                OURS, node.port, (process.pid,), OURS_PREFIX, token, exited=_exit_of(process)
            )
        finally:
            node.stop()


@asynccontextmanager
async def ours_cluster() -> AsyncIterator[tuple[Target, Target]]:
    """Two ``imx serve`` nodes on a scratch PostgreSQL database and Redis, under a new prefix."""
    if not services.reachable("redis"):
        raise RuntimeError("Redis is not reachable at 127.0.0.1:6379")
    prefix = f"imxbench-{secrets.token_hex(4)}"
    async with environment("postgres") as env:
        variables = {
            **env.variables(),
            "IMX_REDIS_URL": services.REDIS_URL,
            "IMX_REDIS_PREFIX": prefix,
        }
        nodes = [Node(name, env.home / name, variables) for name in ("a", "b")]
        try:
            for node in nodes:  # one at a time: the first sets up the database
                node.start()
            token = owner_key(nodes[0].home)
            a, b = (
                Target(OURS, n.port, (n.process.pid,), OURS_PREFIX, token)
                for n in nodes
                if n.process is not None
            )
            yield a, b
        finally:
            for node in nodes:
                node.stop()
            await _drop_redis_keys(prefix)


async def _drop_redis_keys(prefix: str) -> None:
    import redis.asyncio as redis

    client = redis.from_url(services.REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@asynccontextmanager
async def peer(server: str) -> AsyncIterator[Target]:
    """One of the reference servers, in memory, on a free port; its output goes to a log file
    in ``LOGS`` (kept after the run: a server that crashed says why there)."""
    port = free_port()
    if server == PYCRDT:
        command = [str(peers_python()), str(PYCRDT_DIR / "server.py"), "--port", str(port)]
        variables = {}
    else:
        command = node_command()
        variables = {"HOST": "127.0.0.1", "PORT": str(port)}
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{server}-{port}.log"
    process = _start(command, variables, log)
    try:
        _wait_until_up(port, process, log)
        yield Target(server, port, (process.pid,), "/", exited=_exit_of(process, log))
    finally:
        _stop(process)


def _exit_of(process: subprocess.Popen[bytes], log: Path | None = None) -> Callable[[], str | None]:
    def exited() -> str | None:
        if process.poll() is None:
            return None
        where = f", see {log}" if log is not None else ""
        return f"the server exited with status {process.returncode}{where}"

    return exited


def _start(command: list[str], variables: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            command, env={**os.environ, **variables}, stdout=out, stderr=subprocess.STDOUT
        )


def _wait_until_up(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling a child process's port: there is nothing to wait on instead
    raise RuntimeError(f"not up within {START_SECONDS:g} s: {log.read_text()[-2000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def single_node(server: str) -> AbstractAsyncContextManager[Target]:
    """Run ``server`` on one node (one process) for the block."""
    return ours() if server == OURS else peer(server)


# Running and reporting ---------------------------------------------------------------------------


@dataclass(slots=True)
class Row:
    label: str
    target: str = ""
    cells: dict[str, Cell] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Scenario:
    """A measurement run against each single-node server in turn; fills one or more rows."""

    name: str
    run: Callable[[Target], Awaitable[dict[str, Cell]]]
    profiled: bool = False


class Report:
    def __init__(self, servers: Sequence[str]) -> None:
        self.servers = list(servers)
        self.rows: dict[str, Row] = {}
        self.profiles: list[tuple[Path, int]] = []
        self.notes: list[str] = []

    def add(self, key: str, label: str, target: str = "") -> None:
        self.rows[key] = Row(label, target)

    def put(self, server: str, cells: dict[str, Cell]) -> None:
        for key, cell in cells.items():
            self.rows[key].cells[server] = cell

    def figures(self, title: str) -> Table:
        table = Table(title=title, title_justify="left", show_lines=False)
        table.add_column("scenario")
        for server in self.servers:
            table.add_column(LABELS[server], justify="right")
        table.add_column("target")
        for row in self.rows.values():
            values = [_shown(row.cells.get(server)) for server in self.servers]
            table.add_row(row.label, *values, row.target or "—")
        return table

    def usage(self) -> Table:
        table = Table(
            title="CPU % of one core during each measured window: server / client / others",
            title_justify="left",
        )
        table.add_column("scenario")
        for server in self.servers:
            table.add_column(LABELS[server], justify="right")
        for row in self.rows.values():
            cells = [row.cells.get(server) for server in self.servers]
            if any(c is not None and c.usage is not None for c in cells):
                usage = [c.usage.describe() if c and c.usage else "—" for c in cells]
                table.add_row(row.label, *usage)
        return table


def _shown(cell: Cell | None) -> str:
    if cell is None:
        return "—"
    if cell.met is None:
        return cell.text
    return f"[{'green' if cell.met else 'red'}]{cell.text} {'✓' if cell.met else '✗'}[/]"


def plan_rows(report: Report, plan: Plan, groups: Sequence[str], servers: Sequence[str]) -> None:
    if "latency" in groups:
        for n in plan.latency_observers:
            limit = P99_TARGETS_MS.get(n)
            report.add(
                f"latency-{n}",
                f"(a) latency, 1 writer at {RATE:g}/s → {n} observer{'s' * (n > 1)}, "
                "ms p50 / p95 / p99",
                f"p99 ≤ {limit:g} ms" if limit else "",
            )
    if "throughput" in groups:
        for n in plan.throughput_observers:
            goal = f"≥ {THROUGHPUT_TARGET:,.0f}/s" if n == THROUGHPUT_TARGET_OBSERVERS else ""
            report.add(
                f"throughput-{n}",
                f"(a) throughput, 1 writer → {n} observer{'s' * (n > 1)}, updates/s",
                goal,
            )
    if "nodes" in groups and OURS in servers:
        report.add(
            "nodes-local",
            "(b) latency on PostgreSQL + Redis, observer on the writer's node, ms",
        )
        report.add(
            "nodes-latency",
            "(b) latency across nodes through Redis, ms p50 / p95 / p99",
            f"p99 ≤ {NODES_P99_TARGET_MS:g} ms",
        )
        report.add(
            "nodes-throughput",
            f"(b) throughput across nodes → {THROUGHPUT_TARGET_OBSERVERS} observers, updates/s",
        )
    if "storm" in groups:
        report.add(
            "storm-loss",
            f"(c) reconnect storm of {plan.storm_clients}: lost / duplicated updates",
            "0 / 0",
        )
        report.add("storm-time", "(c) storm: clients synced again, time p50 / max", "all")
    if "join" in groups:
        report.add(
            "join",
            f"(c) {plan.joiners} clients join a new entry at once: synced, time p50 / max",
            "all",
        )
    if "memory" in groups:
        report.add(
            "memory",
            f"memory per idle connection ({plan.idle_connections} connections), KB",
            f"≤ {IDLE_TARGET_KB:g} KB",
        )


def scenarios(
    plan: Plan, groups: Sequence[str], replaced: Updates, appended: Updates
) -> list[Scenario]:
    found: list[Scenario] = []
    if "latency" in groups:
        for n in plan.latency_observers:

            async def run_latency(target: Target, n: int = n) -> dict[str, Cell]:
                delivered = await latency(target, [(target, n)], plan, replaced)
                return {f"latency-{n}": delivered[0].cell(P99_TARGETS_MS.get(n))}

            found.append(Scenario(f"latency to {n}", run_latency, profiled=True))
    if "throughput" in groups:
        for n in plan.throughput_observers:

            async def run_throughput(target: Target, n: int = n) -> dict[str, Cell]:
                return {f"throughput-{n}": await throughput(target, target, n, plan, replaced)}

            found.append(Scenario(f"throughput to {n}", run_throughput, profiled=True))
    if "storm" in groups:

        async def run_storm(target: Target) -> dict[str, Cell]:
            return await storm(target, plan.storm_clients, appended)

        found.append(Scenario("reconnect storm", run_storm))
    if "join" in groups:

        async def run_join(target: Target) -> dict[str, Cell]:
            return {"join": await join(target, plan.joiners)}

        found.append(Scenario("simultaneous joins", run_join))
    return found


async def run(args: argparse.Namespace, plan: Plan, report: Report, console: Console) -> None:
    groups, servers = args.only, report.servers
    replaced, appended = Updates(replace=True), Updates(replace=False)
    # Interleaved: each scenario runs on every server in turn, so a burst of load from other
    # processes on the shared machine does not land on one server's figures only.
    async with Fleet(servers) as fleet:
        for scenario in scenarios(plan, groups, replaced, appended):
            for server in servers:
                profile = None
                if args.profile and server == OURS and scenario.profiled:
                    profile = args.profile / f"ours-{scenario.name.replace(' ', '-')}.prof"
                target = await fleet.target(server)
                cells = await _attempt(scenario, server, target, profile, console)
                if (why := target.exited()) is not None:
                    report.notes.append(f"{LABELS[server]}, {scenario.name}: {why}; restarted")
                    cells = {k: _crashed(c) for k, c in cells.items()}
                report.put(server, cells)
                if profile is not None and profile.exists():
                    operations = max((c.operations for c in cells.values()), default=0)
                    report.profiles.append((profile, operations))
                await asyncio.sleep(PAUSE_SECONDS)
    if "memory" in groups:
        for server in servers:  # each on a fresh process: earlier scenarios leave heaps behind
            async with single_node(server) as target:
                cell = await _guarded(memory(target, plan.idle_connections, replaced), console)
                report.put(server, {"memory": cell})
                console.print(f"[dim]{LABELS[server]}: memory per idle connection {cell.text}[/]")
    if "nodes" in groups and OURS in servers:
        await _across_nodes(plan, replaced, report, console)


class Fleet:
    """The single-node servers, started once and shared by the scenarios; one that crashed is
    started again before its next scenario."""

    def __init__(self, servers: Sequence[str]) -> None:
        self._servers = servers
        self._stacks: dict[str, AsyncExitStack] = {}
        self._targets: dict[str, Target] = {}

    async def __aenter__(self) -> Fleet:
        for server in self._servers:
            await self._start(server)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for stack in self._stacks.values():
            await stack.aclose()

    async def target(self, server: str) -> Target:
        if self._targets[server].exited() is not None:
            await self._stacks.pop(server).aclose()
            await self._start(server)
        return self._targets[server]

    async def _start(self, server: str) -> None:
        stack = AsyncExitStack()
        self._targets[server] = await stack.enter_async_context(single_node(server))
        self._stacks[server] = stack


def _crashed(cell: Cell) -> Cell:
    return Cell(f"{cell.text}; then the server crashed", False, cell.usage, cell.operations)


async def _attempt(
    scenario: Scenario, server: str, target: Target, profile: Path | None, console: Console
) -> dict[str, Cell]:
    started = time.perf_counter()
    try:
        if profile is not None:  # a fresh profiled hub, so the profile covers this run only
            async with ours(profile_to=profile) as profiled:
                cells = await scenario.run(profiled)
        else:
            cells = await scenario.run(target)
    except (OSError, Refused, Closed, TimeoutError, RuntimeError) as exc:
        console.print(f"[red]{LABELS[server]}: {scenario.name} failed: {exc!r}[/]")
        cells = {}
    shown = ", ".join(c.text for c in cells.values()) or "failed"
    seconds = time.perf_counter() - started
    console.print(f"[dim]{LABELS[server]}: {scenario.name}: {shown} ({seconds:.1f} s)[/]")
    return cells


async def _guarded(measurement: Awaitable[Cell], console: Console) -> Cell:
    try:
        return await measurement
    except (OSError, Refused, Closed, TimeoutError, RuntimeError) as exc:
        console.print(f"[red]failed: {exc!r}[/]")
        return Cell(f"failed: {type(exc).__name__}", False)


async def _across_nodes(plan: Plan, updates: Updates, report: Report, console: Console) -> None:
    try:
        async with ours_cluster() as (a, b):
            local, across = await latency(a, [(a, 1), (b, 1)], plan, updates)
            report.put(OURS, {"nodes-local": local.cell(None)})
            report.put(OURS, {"nodes-latency": across.cell(NODES_P99_TARGET_MS)})
            console.print(f"[dim]across nodes: latency {across.cell(None).text}[/]")
            await asyncio.sleep(PAUSE_SECONDS)
            flow = await throughput(a, b, THROUGHPUT_TARGET_OBSERVERS, plan, updates)
            report.put(OURS, {"nodes-throughput": Cell(flow.text, None, flow.usage)})
            console.print(f"[dim]across nodes: throughput {flow.text}[/]")
    except (OSError, Refused, Closed, TimeoutError, RuntimeError, SystemExit) as exc:
        console.print(f"[red]across nodes failed: {exc!r}[/]")
        report.notes.append(f"(b) did not run: {exc}")
    for key in ("nodes-local", "nodes-latency", "nodes-throughput"):
        for server in report.servers:
            if server != OURS:
                report.rows[key].cells[server] = Cell("n/a: one process")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer observers, shorter windows")
    parser.add_argument(
        "--servers", type=_names(SERVERS), default=list(SERVERS), help="ours,pycrdt,node"
    )
    parser.add_argument(
        "--only", type=_names(GROUPS), default=list(GROUPS), help=",".join(GROUPS) + " (all)"
    )
    parser.add_argument("--seconds", type=float, help="measured seconds of each latency run")
    parser.add_argument("--window", type=int, default=WINDOW, help="throughput window (100)")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="cProfile our hub during each latency and throughput run (a fresh server each)",
    )
    return parser.parse_args()


def _names(allowed: Sequence[str]) -> Callable[[str], list[str]]:
    def parse(value: str) -> list[str]:
        names = [n.strip() for n in value.split(",") if n.strip()]
        unknown = [n for n in names if n not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown: {', '.join(unknown)}")
        return names

    return parse


def main() -> None:
    args = parse_args()
    plan = dataclasses.replace(QUICK if args.quick else FULL, window=args.window)
    if args.seconds:
        plan = dataclasses.replace(plan, latency_seconds=args.seconds)
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, REPORT_WIDTH)  # a log file has no width to fit
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    servers, skipped = prepare(args.servers, console)
    report = Report(servers)
    plan_rows(report, plan, args.only, servers)
    load = os.getloadavg()
    started = time.perf_counter()
    run_loop(run(args, plan, report, console))
    minutes = (time.perf_counter() - started) / 60
    title = (
        f"Real-time sync, Yjs endpoint ({'quick' if args.quick else 'full'} run, {minutes:.1f} "
        f"min; {os.cpu_count()} CPUs shared, load {load[0]:.2f} at start; Python "
        f"{platform.python_version()})"
    )
    console.print(report.figures(title))
    console.print(report.usage())
    for server, reason in skipped.items():
        console.print(f"[yellow]{LABELS[server]} did not run: {reason}[/]")
    for note in report.notes:
        console.print(f"[yellow]{note}[/]")
    for path, operations in report.profiles:
        for table in profile_tables(path, operations):
            console.print(table)


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop when it is installed, as the servers do."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


if __name__ == "__main__":
    main()
