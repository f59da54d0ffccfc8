"""What the benchmarks share: throwaway hub environments, a hub server process, and statistics.

Every environment is private to one run: a temporary ``IMX_HOME`` and, for PostgreSQL, a database
created for the run and dropped at its end, so a benchmark never touches a developer's data.
"""

from __future__ import annotations

import asyncio
import cProfile
import math
import os
import pstats
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from rich.table import Table

from infinity_matrix.config import Settings
from infinity_matrix.gateway.app import create_app
from infinity_matrix.hub import Hub
from infinity_matrix.observability.logging import configure_logging
from infinity_matrix.testing import services

BENCH_DIR = Path(__file__).resolve().parent
BACKENDS = ("sqlite", "postgres")
# High enough that the limiter counts every request but never refuses one.
RATE_LIMIT = "10000000/minute"
SERVER_START_SECONDS = 60.0
SERVER_STOP_SECONDS = 20.0
# Set for a profiled server: where it writes its stats when told to stop profiling.
PROFILE_VARIABLE = "BENCH_PROFILE_TO"
PROFILE_START, PROFILE_STOP = signal.SIGUSR1, signal.SIGUSR2


def server_app() -> FastAPI:
    """The uvicorn factory of the benchmark server: ``imx serve`` as configured by ``IMX_*``.

    Called by uvicorn inside its running event loop, which is what the profiling signals need.
    """
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    if profile_to := os.environ.get(PROFILE_VARIABLE):
        _profile_on_signals(Path(profile_to))
    return create_app(Hub.build(settings))


def _profile_on_signals(path: Path) -> None:
    """Profile the event loop's thread from ``PROFILE_START`` until ``PROFILE_STOP``."""
    profiler = cProfile.Profile()

    def stop() -> None:
        profiler.disable()
        profiler.dump_stats(path)

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(PROFILE_START, profiler.enable)
    loop.add_signal_handler(PROFILE_STOP, stop)


@dataclass(frozen=True, slots=True)
class Environment:
    """Where one benchmark hub keeps its data."""

    backend: str
    home: Path
    database_url: str

    def variables(self) -> dict[str, str]:
        """The ``IMX_*`` variables that point a hub process at this environment."""
        return {
            "IMX_HOME": str(self.home),
            "IMX_DATABASE_URL": self.database_url,
            "IMX_SECRET_KEY": "b" * 64,
            "IMX_RATE_LIMIT": RATE_LIMIT,
            "IMX_LOG_LEVEL": "warning",
        }

    def settings(self) -> Settings:
        return Settings(
            home=self.home,
            database_url=self.database_url,
            secret_key="b" * 64,
            rate_limit=RATE_LIMIT,
            log_level="warning",
        )


@asynccontextmanager
async def environment(backend: str) -> AsyncIterator[Environment]:
    """A fresh, empty environment on ``backend``, removed (database dropped) afterwards."""
    with tempfile.TemporaryDirectory(prefix="imx-bench-") as tmp:
        home = Path(tmp) / "home"
        if backend == "sqlite":
            yield Environment(backend, home, f"sqlite+aiosqlite:///{home / 'imx.db'}")
            return
        if not services.reachable("postgres"):
            raise SystemExit("PostgreSQL is not reachable; start it or use --backend sqlite")
        name = f"imx_bench_{secrets.token_hex(4)}"
        await services.create_database(name)
        try:
            yield Environment(backend, home, services.postgres_url(name))
        finally:
            await services.drop_database(name)


@dataclass(slots=True)
class Sample:
    """Completed operations inside one measurement window, and their latencies in seconds."""

    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile_ms(self, q: float) -> float:
        return percentile(sorted(self.latencies), q) * 1000


def percentile(ordered: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0-100) of already sorted values; NaN if none."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class Batches:
    """Group-commit batch counts: the ``event_batches`` histogram, or the change between two."""

    count: float = 0.0
    events: float = 0.0
    buckets: tuple[tuple[float, float], ...] = ()  # (upper bound, cumulative count)

    @classmethod
    def from_samples(cls, samples: Mapping[str, float], buckets: Mapping[float, float]) -> Batches:
        return cls(
            count=samples.get("event_batches_count", 0.0),
            events=samples.get("event_batches_sum", 0.0),
            buckets=tuple(sorted(buckets.items())),
        )

    def __sub__(self, earlier: Batches) -> Batches:
        before = dict(earlier.buckets)
        return Batches(
            self.count - earlier.count,
            self.events - earlier.events,
            tuple((bound, n - before.get(bound, 0.0)) for bound, n in self.buckets),
        )

    def describe(self) -> str:
        """``mean/largest bucket``, e.g. ``24.1/≤32``."""
        if not self.count:
            return "—"
        largest = next((b for b, n in self.buckets if n >= self.count), math.inf)
        bound = "∞" if math.isinf(largest) else f"{largest:g}"
        return f"{self.events / self.count:.1f}/≤{bound}"


def parse_batches(exposition: str) -> Batches:
    """Read the ``event_batches`` histogram out of a Prometheus text exposition."""
    samples: dict[str, float] = {}
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(exposition):
        if family.name != "event_batches":
            continue
        for sample in family.samples:
            if sample.name == "event_batches_bucket":
                buckets[float(sample.labels["le"])] = sample.value
            else:
                samples[sample.name] = sample.value
    return Batches.from_samples(samples, buckets)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (all its threads); Linux only."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    # Fields 14 and 15 of proc(5) (utime, stime), counted after the ")" that ends the name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def host_cpu_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine so far, all cores, in clock ticks; Linux only.

    Other processes' load shows up here: on a shared machine it says how far figures can be
    trusted.
    """
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0]
    except OSError:
        return 0, 0
    # user nice system idle iowait irq softirq steal; guest time is already counted in user.
    ticks = [int(n) for n in first.split()[1:9]]
    idle = ticks[3] + ticks[4]
    return sum(ticks) - idle, sum(ticks)


@dataclass(frozen=True, slots=True)
class Server:
    """A hub server process on loopback."""

    url: str
    process: subprocess.Popen[bytes]

    def profile(self, on: bool) -> None:
        """Start or stop the profiler of a server started with ``profile_to``."""
        self.process.send_signal(PROFILE_START if on else PROFILE_STOP)


@contextmanager
def serve(env: Environment, *, profile_to: Path | None = None) -> Iterator[Server]:
    """Run the hub in its own process (uvicorn, as ``imx serve`` does) until the block ends.

    With ``profile_to``, ``Server.profile(True)`` and ``Server.profile(False)`` bracket what the
    server profiles; it writes the stats there when told to stop.
    """
    port = _free_port()
    variables = env.variables()
    if profile_to is not None:
        variables[PROFILE_VARIABLE] = str(profile_to)
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "_common:server_app",
        "--app-dir",
        str(BENCH_DIR),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        "--ws-per-message-deflate",
        "false",  # as imx serve does
    ]
    process = subprocess.Popen(command, env={**os.environ, **variables})
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_healthy(url, process)
        yield Server(url, process)
    finally:
        _stop(process)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the hub server exited with status {process.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling a child process's port: there is nothing to wait on instead
    raise SystemExit(f"the hub server did not answer within {SERVER_START_SECONDS:g} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        # SIGINT: uvicorn shuts down gracefully, so the lifespan closes the hub (and a
        # profiled server gets to write its stats).
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=SERVER_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def profile_tables(path: Path, operations: int, *, top: int = 20) -> list[Table]:
    """The costliest functions of a cProfile dump, per operation: by own time, and ours by total.

    cProfile counts each resumption of a coroutine as a call, so "calls/op" of async functions
    counts awaits, and the total time of an awaiting coroutine excludes the time it waited.
    """
    stats: dict[_Func, _Timings] = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    per_op = 1e6 / max(1, operations)
    own = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    ours = [item for item in stats.items() if "infinity_matrix" in item[0][0]]
    ours = sorted(ours, key=lambda item: item[1][3], reverse=True)[:top]
    titles = (f"{path.name}: own time", f"{path.name}: infinity_matrix by total time")
    tables = [_package_table(stats, operations, path.name)]
    for title, rows in zip(titles, (own, ours), strict=True):
        table = Table(title=f"{title} ({operations:,} operations)", title_justify="left")
        for column in ("own µs/op", "total µs/op", "calls/op"):
            table.add_column(column, justify="right")
        table.add_column("function")
        for func, (_cc, calls, own_s, total_s, _callers) in rows:
            table.add_row(
                f"{own_s * per_op:.1f}",
                f"{total_s * per_op:.1f}",
                f"{calls / max(1, operations):.2f}",
                _function_name(func),
            )
        tables.append(table)
    return tables


def _package_table(stats: dict[_Func, _Timings], operations: int, name: str) -> Table:
    by_package: dict[str, float] = {}
    for func, timings in stats.items():
        package = _package(func)
        by_package[package] = by_package.get(package, 0.0) + timings[2]
    total = sum(by_package.values())
    table = Table(title=f"{name}: own time by package", title_justify="left")
    table.add_column("own µs/op", justify="right")
    table.add_column("share", justify="right")
    table.add_column("package")
    table.add_row(f"{total * 1e6 / max(1, operations):.0f}", "100%", "(all)")
    for package, seconds in sorted(by_package.items(), key=lambda kv: kv[1], reverse=True)[:15]:
        share = seconds / total if total else 0.0
        table.add_row(f"{seconds * 1e6 / max(1, operations):.1f}", f"{share:.0%}", package)
    return table


def _package(func: _Func) -> str:
    file, _line, name = func
    if file == "~":
        return name if name.startswith("<built-in method") else f"builtin {name}"
    if "site-packages/" in file:
        return file.split("site-packages/", 1)[1].split("/", 1)[0]
    if "/infinity_matrix/" in file:
        return "infinity_matrix." + file.split("/infinity_matrix/", 1)[1].split("/", 1)[0]
    if "/lib/python" in file:
        return "stdlib " + file.split("/lib/python", 1)[1].split("/")[1].removesuffix(".py")
    return file


_Func = tuple[str, int, str]
_Timings = tuple[int, int, float, float, dict[_Func, tuple[int, int, float, float]]]


def _function_name(func: _Func) -> str:
    file, line, name = func
    for marker in ("site-packages/", "/src/", "/lib/python"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{name} ({file}:{line})" if file != "~" else name
