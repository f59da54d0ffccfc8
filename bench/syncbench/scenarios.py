"""The workloads, run the same way against every server, and what they measure: latency,
throughput, a reconnect storm, simultaneous joins, memory per idle connection."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import secrets
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from _common import host_cpu_jiffies, percentile, process_cpu_seconds

from syncbench.client import (
    MARKER,
    Clients,
    Closed,
    Connection,
    Observer,
    Refused,
    Replica,
    ReplicaState,
    Tally,
    Target,
    Updates,
)

RATE = 20.0  # updates/s of the latency writer: the workload
STORM_RATE = 50.0  # updates/s while the storm clients drop and come back
WINDOW = 100  # updates in flight, at most, in a throughput run
SETTLE_SECONDS = 10.0  # for the last update to reach every observer
STALL_SECONDS = 10.0  # a throughput run with no progress for this long has stalled
STORM_LEAD_SECONDS = 1.0  # writing before the storm, and again after everyone is back
RESYNC_SECONDS = 30.0  # a storm client not synced again by then is counted as lost
JOIN_SECONDS = 10.0
BACKOFF = (0.1, 2.5)  # y-websocket's reconnect backoff: 100 ms doubling, at most 2.5 s
MEMORY_SETTLE_SECONDS = 2.0

P99_TARGETS_MS = {100: 5.0, 500: 15.0}
NODES_P99_TARGET_MS = 10.0
THROUGHPUT_TARGET = 5_000.0  # updates/s to 10 observers
THROUGHPUT_TARGET_OBSERVERS = 10
IDLE_TARGET_KB = 12.0


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
