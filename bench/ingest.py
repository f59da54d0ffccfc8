"""Durable context-write throughput and latency, in the service and over HTTP, on each database.

    python bench/ingest.py [--backend sqlite|postgres|all] [--seconds N] [--quick] [--profile DIR]

Service level: N tasks call ``hub.context.put`` in this process (group commit batches them).
HTTP: N keep-alive clients PUT small text values to a hub that uvicorn serves in its own process.
Each scenario warms up, then measures a fixed window; the run stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import math
import os
import platform
import time
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
from _common import (
    BACKENDS,
    Batches,
    Environment,
    Sample,
    Server,
    environment,
    host_cpu_jiffies,
    parse_batches,
    process_cpu_seconds,
    profile_tables,
    serve,
)
from rich.console import Console
from rich.table import Table

from infinity_matrix.errors import InfinityMatrixError
from infinity_matrix.hub import Hub
from infinity_matrix.observability.logging import configure_logging
from infinity_matrix.security.credfile import read_credentials
from infinity_matrix.security.principals import Principal

WORKSPACE = "default"
SERVICE_TARGET = 10_000  # appends/s on PostgreSQL with group commit
HTTP_TARGET = 1_000  # PUTs/s on PostgreSQL
P99_TARGET_MS = 50.0  # HTTP, at 32 clients
REPORT_WIDTH = 150

Level = Literal["service", "http"]
Operation = Callable[[int, int], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Scenario:
    """``concurrency`` writers, each on a key of its own or all on one shared key."""

    level: Level
    concurrency: int
    shared_key: bool = False

    @property
    def name(self) -> str:
        return f"{self.level}-{self.concurrency}-{'shared' if self.shared_key else 'own'}"

    def key(self, writer: int) -> str:
        return f"bench/{self.name}/{0 if self.shared_key else writer}"

    def all_keys(self) -> list[str]:
        return sorted({self.key(w) for w in range(self.concurrency)})


SERVICE_SCENARIOS = [
    Scenario("service", 1),
    Scenario("service", 32),
    Scenario("service", 32, shared_key=True),
    Scenario("service", 256),
    Scenario("service", 256, shared_key=True),
]
HTTP_SCENARIOS = [
    Scenario("http", 1),
    Scenario("http", 32),
    Scenario("http", 32, shared_key=True),
]


@dataclass(frozen=True, slots=True)
class Timing:
    warmup: float
    seconds: float


@dataclass(frozen=True, slots=True)
class Reading:
    """What a probe sees at one edge of the measurement window."""

    at: float
    batches: Batches
    cpu: float  # CPU seconds of the process that runs the hub
    client_cpu: float = math.nan  # CPU seconds of this process, when it only drives HTTP clients
    host: tuple[int, int] = field(default_factory=host_cpu_jiffies)  # whole machine: busy, total


Probe = Callable[[], Awaitable[Reading]]
# Told True when the measurement window opens and False when it closes (to bracket a profile).
WindowHook = Callable[[bool], None]


@dataclass(frozen=True, slots=True)
class Result:
    backend: str
    scenario: Scenario
    sample: Sample
    batches: Batches
    cpu_percent: float
    client_cpu_percent: float
    host_percent: float  # of all the machine's CPUs, whoever used them
    state_bytes: int
    profile: Path | None


def text_value(writer: int, n: int) -> str:
    """A small text that differs from the writer's previous one, so every put appends an event."""
    return f"writer {writer} wrote value number {n} of this benchmark"


async def drive(
    concurrency: int,
    operation: Operation,
    timing: Timing,
    probe: Probe,
    hook: WindowHook | None = None,
) -> tuple[Sample, Reading, Reading]:
    """Run ``concurrency`` closed-loop writers; count what completes inside the window."""
    start = time.perf_counter()
    measure_from, stop_at = start + timing.warmup, start + timing.warmup + timing.seconds
    sample = Sample(timing.seconds)

    async def writer(w: int) -> None:
        n = 0
        while (began := time.perf_counter()) < stop_at:
            n += 1
            ok = await operation(w, n)
            ended = time.perf_counter()
            if measure_from <= ended <= stop_at:
                if ok:
                    sample.latencies.append(ended - began)
                else:
                    sample.errors += 1

    async def window() -> tuple[Reading, Reading]:
        await asyncio.sleep(measure_from - time.perf_counter())
        first = await probe()
        if hook is not None:
            hook(True)
        await asyncio.sleep(stop_at - time.perf_counter())
        if hook is not None:
            hook(False)
        return first, await probe()

    writers = [asyncio.create_task(writer(w)) for w in range(concurrency)]
    first, last = await window()
    await asyncio.gather(*writers)
    sample.seconds = last.at - first.at
    return sample, first, last


def owner_key(env: Environment) -> str:
    """The owner API key that the hub's first start wrote to ``credentials.json``."""
    path = env.settings().credentials_file
    key = read_credentials(path).get("api_key")
    if not isinstance(key, str):
        raise SystemExit(f"no api_key in {path}")
    return key


async def largest_state(hub: Hub, scenario: Scenario) -> int:
    """Bytes of the biggest Yjs state among the scenario's entries (it grows with every batch)."""
    sizes = [0]
    for key in scenario.all_keys():
        entry = await hub.store.get_entry(WORKSPACE, key)
        sizes.append(len(entry.state) if entry else 0)
    return max(sizes)


def measured_result(
    env: Environment,
    scenario: Scenario,
    measured: tuple[Sample, Reading, Reading],
    state_bytes: int,
    profile: Path | None,
) -> Result:
    sample, first, last = measured
    wall = last.at - first.at
    return Result(
        backend=env.backend,
        scenario=scenario,
        sample=sample,
        batches=last.batches - first.batches,
        cpu_percent=100 * (last.cpu - first.cpu) / wall,
        client_cpu_percent=100 * (last.client_cpu - first.client_cpu) / wall,
        host_percent=100 * (last.host[0] - first.host[0]) / max(1, last.host[1] - first.host[1]),
        state_bytes=state_bytes,
        profile=profile,
    )


def profile_path(profile_dir: Path | None, env: Environment, scenario: Scenario) -> Path | None:
    return profile_dir / f"{env.backend}-{scenario.name}.prof" if profile_dir else None


# Service level: hub.context.put in this process -------------------------------------------------


async def run_service(env: Environment, timing: Timing, profile_dir: Path | None) -> list[Result]:
    hub = Hub.build(env.settings())
    await hub.start()
    try:
        principal = await hub.authenticator.authenticate(owner_key(env))
        results = []
        for scenario in SERVICE_SCENARIOS:
            profile = profile_path(profile_dir, env, scenario)
            measured = await _service_scenario(hub, principal, scenario, timing, profile)
            state = await largest_state(hub, scenario)
            results.append(measured_result(env, scenario, measured, state, profile))
        return results
    finally:
        await hub.close()


async def _service_scenario(
    hub: Hub, principal: Principal, scenario: Scenario, timing: Timing, profile: Path | None
) -> tuple[Sample, Reading, Reading]:
    async def put(writer: int, n: int) -> bool:
        try:
            await hub.context.put(
                principal, WORKSPACE, scenario.key(writer), text=text_value(writer, n)
            )
        except InfinityMatrixError:
            return False
        return True

    async def probe() -> Reading:
        exposition = hub.metrics.render()[0].decode()
        return Reading(time.perf_counter(), parse_batches(exposition), time.process_time())

    if profile is None:
        return await drive(scenario.concurrency, put, timing, probe)
    profiler = cProfile.Profile()  # enabled on the event loop's thread, where the hub runs

    def hook(on: bool) -> None:
        if on:
            profiler.enable()
        else:
            profiler.disable()

    measured = await drive(scenario.concurrency, put, timing, probe, hook)
    profiler.dump_stats(profile)
    return measured


# HTTP: keep-alive clients here, the hub in a uvicorn process of its own -------------------------


async def run_http(env: Environment, timing: Timing, profile_dir: Path | None) -> list[Result]:
    results = []
    for scenario in HTTP_SCENARIOS:
        # One server per scenario: each starts with a fresh pool and, profiled, its own stats.
        profile = profile_path(profile_dir, env, scenario)
        with serve(env, profile_to=profile) as server:
            hook = server.profile if profile else None
            measured = await _http_scenario(server, owner_key(env), scenario, timing, hook)
        hub = Hub.build(env.settings())  # only to read the entries the server wrote
        try:
            state = await largest_state(hub, scenario)
        finally:
            await hub.close()
        results.append(measured_result(env, scenario, measured, state, profile))
    return results


async def _http_scenario(
    server: Server, api_key: str, scenario: Scenario, timing: Timing, hook: WindowHook | None
) -> tuple[Sample, Reading, Reading]:
    async with AsyncExitStack() as stack:
        # One keep-alive client per writer (and one for the probe): a single pool shared by
        # 32 tasks costs httpcore ~2 ms of CPU per request here, so it would measure the client.
        clients = [
            await stack.enter_async_context(_client(server, api_key))
            for _ in range(scenario.concurrency + 1)
        ]

        async def put(writer: int, n: int) -> bool:
            path = f"/api/v1/workspaces/{WORKSPACE}/context/{scenario.key(writer)}"
            try:
                response = await clients[writer].put(path, json={"text": text_value(writer, n)})
            except httpx.HTTPError:
                return False
            return response.status_code == 200

        async def probe() -> Reading:
            exposition = (await clients[-1].get("/metrics")).text
            return Reading(
                at=time.perf_counter(),
                batches=parse_batches(exposition),
                cpu=process_cpu_seconds(server.process.pid),
                client_cpu=time.process_time(),
            )

        return await drive(scenario.concurrency, put, timing, probe, hook)


def _client(server: Server, api_key: str) -> httpx.AsyncClient:
    one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    headers = {"Authorization": f"Bearer {api_key}"}
    return httpx.AsyncClient(base_url=server.url, headers=headers, limits=one, timeout=30.0)


# Report ------------------------------------------------------------------------------------------


def targets(result: Result) -> list[tuple[str, bool]]:
    """The spec's targets that apply to this row, each with whether it was met."""
    scenario, sample = result.scenario, result.sample
    found: list[tuple[str, bool]] = []
    on_postgres = result.backend == "postgres"
    if scenario.level == "service" and on_postgres and scenario.concurrency >= 32:
        found.append((f"≥ {SERVICE_TARGET:,}/s", sample.rate >= SERVICE_TARGET))
    if scenario.level == "http" and scenario.concurrency == 32:
        if on_postgres:
            found.append((f"≥ {HTTP_TARGET:,}/s", sample.rate >= HTTP_TARGET))
        found.append((f"p99 ≤ {P99_TARGET_MS:g} ms", sample.percentile_ms(99) <= P99_TARGET_MS))
    return found


def report(results: list[Result], timing: Timing) -> Table:
    table = Table(
        title=f"Durable context writes ({timing.seconds:g} s per scenario after "
        f"{timing.warmup:g} s warm-up; {os.cpu_count()} CPUs, Python {platform.python_version()})",
        title_justify="left",
    )
    for column in ("backend", "level", "writers", "keys"):
        table.add_column(column)
    for column in ("ops/s", "p50 ms", "p95 ms", "p99 ms", "errors", "batch avg/max"):
        table.add_column(column, justify="right")
    table.add_column("CPU % hub/cli/host", justify="right")
    table.add_column("Yjs state B", justify="right")
    table.add_column("target")
    for r in results:
        table.add_row(*_row(r))
    return table


def _row(r: Result) -> list[str]:
    s = r.sample
    client = "-" if math.isnan(r.client_cpu_percent) else f"{r.client_cpu_percent:.0f}"
    verdicts = [f"[{'green' if ok else 'red'}]{t} {'✓' if ok else '✗'}[/]" for t, ok in targets(r)]
    return [
        r.backend,
        r.scenario.level,
        str(r.scenario.concurrency),
        "shared" if r.scenario.shared_key else "own",
        f"{s.rate:,.0f}",
        f"{s.percentile_ms(50):.2f}",
        f"{s.percentile_ms(95):.2f}",
        f"{s.percentile_ms(99):.2f}",
        str(s.errors),
        r.batches.describe(),
        f"{r.cpu_percent:.0f}/{client}/{r.host_percent:.0f}",
        f"{r.state_bytes:,}",
        ", ".join(verdicts) or "—",
    ]


# Command ----------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--backend", choices=[*BACKENDS, "all"], default="sqlite")
    parser.add_argument("--seconds", type=float, help="measured seconds per scenario (10)")
    parser.add_argument("--quick", action="store_true", help="2 s per scenario")
    parser.add_argument("--level", choices=["service", "http", "all"], default="all")
    parser.add_argument(
        "--profile", type=Path, metavar="DIR", help="cProfile each scenario into DIR"
    )
    return parser.parse_args()


async def run(args: argparse.Namespace, timing: Timing) -> list[Result]:
    backends = BACKENDS if args.backend == "all" else (args.backend,)
    results: list[Result] = []
    for backend in backends:
        if args.level in ("service", "all"):
            async with environment(backend) as env:
                results += await run_service(env, timing, args.profile)
        if args.level in ("http", "all"):
            async with environment(backend) as env:
                results += await run_http(env, timing, args.profile)
    return results


def main() -> None:
    args = parse_args()
    configure_logging("console", "warning")  # the in-process hub's info lines would interleave
    seconds = args.seconds or (2.0 if args.quick else 10.0)
    timing = Timing(warmup=min(1.0, seconds / 4), seconds=seconds)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    results = run_loop(run(args, timing))
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, REPORT_WIDTH)  # a log file has no width to fit
    console.print(report(results, timing))
    for r in results:
        if r.profile is not None and r.profile.exists():
            for table in profile_tables(r.profile, len(r.sample.latencies)):
                console.print(table)


def run_loop(main: Coroutine[Any, Any, list[Result]]) -> list[Result]:
    """Run on uvloop when it is installed, as uvicorn does for the server."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


if __name__ == "__main__":
    main()
