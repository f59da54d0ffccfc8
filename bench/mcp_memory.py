"""Knowledge-graph memory servers side by side over stdio: bulk load, single-call latency, memory.

    python bench/mcp_memory.py [--quick] [--sizes 1000,5000] [--samples 200] [NAME=ARGV ...]

For each graph size N and each server, a fresh server process (empty data directory) is loaded
with N entities and N relations through the SDK's own stdio client, then p50/p95 latency is
measured for single ``create_entities``, ``add_observations``, ``search_nodes`` and ``open_nodes``
calls, and the server process's peak resident memory is read. The default servers are the
pinned reference (``tests/mcpref``, installed with npm on first use) and ours (``imx mcp``).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import anyio
from _common import percentile
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tests.mcpref holds the pinned reference and its installer
from tests.mcpref import reference  # noqa: E402  (importable only once REPO is on the path)

SIZES = (1_000, 5_000, 20_000)
QUICK_SIZES = (1_000, 5_000)
SAMPLES = 200
WARMUP = 5
LOAD_BATCH = 500
CALL_TIMEOUT = 120.0  # one load batch on the reference at N = 20,000 takes about a second
HELP_TIMEOUT = 60.0
SESSION_TIMEOUT = 1800.0  # one server at one size, start to stop
P50_TARGET_MS = 3.0  # ours, each operation, at N = 20,000 (issue 4)
TARGET_SIZE = 20_000
OPERATIONS = ("create_entities", "add_observations", "search_nodes", "open_nodes")
ENTITY_TYPES = ("person", "service", "project", "decision")
REPORT_WIDTH = 150


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """A server to measure: a name for the report and the argv that starts it over stdio."""

    name: str
    argv: list[str]


@dataclass(slots=True)
class Result:
    server: str
    size: int
    load_seconds: float = math.nan
    latencies: dict[str, list[float]] = field(default_factory=dict)
    peak_bytes: float = math.nan
    failed: str | None = None  # why the server has no figures
    skipped: bool = False  # it has no memory tools (yet): not a failure

    def p(self, operation: str, q: float) -> float:
        return percentile(sorted(self.latencies.get(operation, [])), q) * 1000


class ServerFailed(Exception):
    """The server could not be started, or answered a tool error during the workload."""


class NoMemoryTools(Exception):
    """The server does not offer the memory tools the workload calls."""


# Workload ---------------------------------------------------------------------------------------


def entity_name(i: int) -> str:
    return f"entity-{i:06d}"  # fixed width: searching one name matches that entity only


def entity(i: int) -> dict[str, Any]:
    return {
        "name": entity_name(i),
        "entityType": ENTITY_TYPES[i % len(ENTITY_TYPES)],
        "observations": [f"note {i} about topic-{i % 97}", f"loaded in batch {i // LOAD_BATCH}"],
    }


def relation(i: int, n: int) -> dict[str, str]:
    # One relation from each entity (so none repeats) to a spread-out other one.
    return {"from": entity_name(i), "to": entity_name((i * 7919 + 1) % n), "relationType": "uses"}


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> None:
    with anyio.fail_after(CALL_TIMEOUT):
        result = await client.call_tool(tool, arguments)
    if result.is_error:
        text = " ".join(getattr(part, "text", "") for part in result.content)
        raise ServerFailed(f"{tool} answered a tool error: {text[:300]}")


async def load(client: Client, n: int) -> float:
    """Create N entities, then N relations, in batches; answers the seconds it took."""
    started = time.perf_counter()
    for first in range(0, n, LOAD_BATCH):
        batch = [entity(i) for i in range(first, min(n, first + LOAD_BATCH))]
        await call(client, "create_entities", {"entities": batch})
    for first in range(0, n, LOAD_BATCH):
        batch = [relation(i, n) for i in range(first, min(n, first + LOAD_BATCH))]
        await call(client, "create_relations", {"relations": batch})
    return time.perf_counter() - started


def operations(n: int, rng: random.Random) -> dict[str, Callable[[int], dict[str, Any]]]:
    """For each measured tool, the arguments of its k-th single call."""
    return {
        "create_entities": lambda k: {
            "entities": [{"name": f"extra-{k:06d}", "entityType": "sample", "observations": []}]
        },
        "add_observations": lambda k: {
            "observations": [
                {"entityName": entity_name(rng.randrange(n)), "contents": [f"sample note {k}"]}
            ]
        },
        "search_nodes": lambda k: {"query": entity_name(rng.randrange(n))},
        "open_nodes": lambda k: {
            "names": [entity_name(rng.randrange(n)), entity_name(rng.randrange(n))]
        },
    }


async def sample(
    client: Client, tool: str, arguments: Callable[[int], dict[str, Any]], samples: int
) -> list[float]:
    latencies = []
    for k in range(WARMUP + samples):
        started = time.perf_counter()
        await call(client, tool, arguments(k))
        if k >= WARMUP:
            latencies.append(time.perf_counter() - started)
    return latencies


async def measure(spec: ServerSpec, n: int, samples: int, console: Console) -> Result:
    """A fresh server with an empty data directory, loaded with N, then sampled."""
    result = Result(spec.name, n)
    with tempfile.TemporaryDirectory(prefix="imx-bench-mcp-") as tmp:
        log_path = Path(tmp) / "stderr.log"
        with log_path.open("w") as errlog:
            try:
                await _drive(spec, n, samples, Path(tmp), errlog, result)
            # Whatever a server does wrong (a crash, a protocol error, a timeout) is reported
            # in its row; the other servers' figures still count.
            except Exception as exc:
                result.failed = describe(exc)
                result.skipped = all(isinstance(e, NoMemoryTools) for e in leaves(exc))
        if result.skipped:
            console.print(f"[yellow]skipping {spec.name}: {result.failed}[/]")
        if result.failed and not result.skipped:
            tail = log_path.read_text(errors="replace")[-800:].strip()
            console.print(f"[red]{spec.name} at N={n:,} failed: {result.failed}[/]")
            if tail:
                console.print(f"[dim]{spec.name} stderr:\n{tail}[/]")
    return result


async def require_memory_tools(client: Client) -> None:
    offered, cursor = set(), None
    while True:
        with anyio.fail_after(CALL_TIMEOUT):
            page = await client.list_tools(cursor=cursor)
        offered |= {tool.name for tool in page.tools}
        if not (cursor := page.next_cursor):
            break
    if missing := {"create_relations", *OPERATIONS} - offered:
        raise NoMemoryTools(f"it offers no {', '.join(sorted(missing))} (not yet built?)")


def leaves(exc: BaseException) -> list[BaseException]:
    """The errors inside exception groups (the client's task groups wrap what goes wrong)."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaves(inner)]
    return [exc]


def describe(exc: BaseException) -> str:
    return "; ".join(f"{type(leaf).__name__}: {leaf}" for leaf in leaves(exc))


async def _drive(
    spec: ServerSpec, n: int, samples: int, tmp: Path, errlog: TextIO, result: Result
) -> None:
    env = {
        # Each server finds its data directory in the variable it reads; the others ignore it.
        reference.MEMORY_FILE_VARIABLE: str(tmp / "memory.jsonl"),
        "IMX_HOME": str(tmp / "home"),
        "IMX_LOG_LEVEL": "warning",
    }
    parameters = StdioServerParameters(command=spec.argv[0], args=spec.argv[1:], env=env)
    # The whole session, start-up included: a cancel scope cannot end inside the client's own.
    with anyio.fail_after(SESSION_TIMEOUT):
        async with Client(stdio_client(parameters, errlog=errlog)) as client:
            pid = newest_child_pid()
            await require_memory_tools(client)
            result.load_seconds = await load(client, n)
            rng = random.Random(n)  # the same calls for every server at one size
            for tool, arguments in operations(n, rng).items():
                result.latencies[tool] = await sample(client, tool, arguments, samples)
            result.peak_bytes = peak_rss_bytes(pid) if pid is not None else math.nan


# Memory -----------------------------------------------------------------------------------------


def _psutil() -> Any:
    """psutil when it is installed (it is optional here), else None."""
    try:
        import psutil  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError:
        return None
    return psutil


def newest_child_pid() -> int | None:
    """This process's most recently started child: the server the stdio client just spawned."""
    if (psutil := _psutil()) is None:
        return _newest_child_from_proc()
    children = psutil.Process().children()
    return max(children, key=lambda p: p.create_time()).pid if children else None


def _newest_child_from_proc() -> int | None:
    me, newest, started = os.getpid(), None, -1
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            # Fields after the ")" that ends the name: state, ppid, ..., starttime is the 20th.
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == me and int(fields[19]) > started:
            newest, started = int(entry.parent.name), int(fields[19])
    return newest


def peak_rss_bytes(pid: int) -> float:
    """The peak resident set of ``pid`` so far: VmHWM on Linux, else psutil's best figure."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    if (psutil := _psutil()) is None:
        return math.nan
    info = psutil.Process(pid).memory_info()
    # Windows keeps a true peak; elsewhere the current RSS is the best psutil offers.
    return float(getattr(info, "peak_wset", info.rss))


# Servers ----------------------------------------------------------------------------------------


def default_servers(console: Console) -> list[ServerSpec]:
    servers = []
    try:
        servers.append(ServerSpec("reference", reference.install()))
    except (reference.NodeMissing, reference.InstallFailed) as exc:
        console.print(f"[yellow]skipping the reference: {exc}[/]")
    ours = ours_argv()
    if problem := unavailable(ours):
        console.print(f"[yellow]skipping ours ({shlex.join(ours)}): {problem}[/]")
    else:
        servers.append(ServerSpec("ours", ours))
    return servers


def ours_argv() -> list[str]:
    beside_python = Path(sys.executable).with_name("imx")
    # --local: never bridge to a hub that happens to run on this machine
    return [str(beside_python) if beside_python.exists() else "imx", "mcp", "--local"]


def unavailable(argv: list[str]) -> str | None:
    """Why ``argv`` cannot serve yet (``imx mcp --help`` fails), or None."""
    try:
        done = subprocess.run(
            [*argv, "--help"], capture_output=True, text=True, timeout=HELP_TIMEOUT
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode != 0:
        # Typer draws its usage errors in a box: keep the words.
        words = [line.strip(" │╭╮╰╯─") for line in (done.stderr or done.stdout).splitlines()]
        last = next((w for w in reversed(words) if w), "no output")
        return f"exit status {done.returncode}: {last}"
    return None


def parse_server(text: str) -> ServerSpec:
    name, sep, command = text.partition("=")
    argv = shlex.split(command)
    if not sep or not name or not argv:
        raise argparse.ArgumentTypeError(f"expected NAME=ARGV (e.g. 'ours=imx mcp'), got {text!r}")
    return ServerSpec(name, argv)


# Report -----------------------------------------------------------------------------------------


def report(results: list[Result], samples: int) -> Table:
    table = Table(
        title=f"Memory tools over stdio (p50/p95 ms of {samples} single calls after {WARMUP} "
        f"warm-up; load in batches of {LOAD_BATCH}; {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()})",
        title_justify="left",
    )
    table.add_column("server")
    table.add_column("N", justify="right")
    table.add_column("load s", justify="right")
    for operation in OPERATIONS:
        table.add_column(f"{operation} p50/p95", justify="right")
    table.add_column("peak MB", justify="right")
    table.add_column("target")
    for r in results:
        table.add_row(*_row(r))
    return table


def _row(r: Result) -> list[str]:
    if r.failed:
        status = "skipped" if r.skipped else "failed"
        return [r.server, f"{r.size:,}", "—", *("—" for _ in OPERATIONS), "—", status]
    cells = [f"{r.p(op, 50):.2f}/{r.p(op, 95):.2f}" for op in OPERATIONS]
    peak = "—" if math.isnan(r.peak_bytes) else f"{r.peak_bytes / 2**20:,.0f}"
    verdict = "—"
    if r.server == "ours" and r.size == TARGET_SIZE:
        ok = all(r.p(op, 50) <= P50_TARGET_MS for op in OPERATIONS)
        verdict = f"[{'green' if ok else 'red'}]p50 ≤ {P50_TARGET_MS:g} ms {'✓' if ok else '✗'}[/]"
    return [r.server, f"{r.size:,}", f"{r.load_seconds:.1f}", *cells, peak, verdict]


# Command ----------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "servers",
        nargs="*",
        type=parse_server,
        metavar="NAME=ARGV",
        help="servers to compare (default: the reference and 'ours=imx mcp')",
    )
    parser.add_argument("--quick", action="store_true", help="N = 1,000 and 5,000 only")
    parser.add_argument("--sizes", help="comma-separated N (default 1000,5000,20000)")
    parser.add_argument("--samples", type=int, default=SAMPLES, help="calls per operation (200)")
    return parser.parse_args()


async def run(
    servers: list[ServerSpec], sizes: tuple[int, ...], samples: int, console: Console
) -> list[Result]:
    results: list[Result] = []
    for n in sizes:
        for spec in servers:
            if any(r.server == spec.name and r.skipped for r in results):
                continue  # no memory tools at one size: none at the next
            console.print(f"[dim]{spec.name}: N = {n:,} …[/]")
            results.append(await measure(spec, n, samples, console))
    return results


def main() -> None:
    args = parse_args()
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, REPORT_WIDTH)  # a log file has no width to fit
    sizes: tuple[int, ...] = QUICK_SIZES if args.quick else SIZES
    if args.sizes:
        sizes = tuple(int(s) for s in args.sizes.split(","))
    servers = args.servers or default_servers(console)
    if not servers:
        raise SystemExit("no server to measure")
    results = anyio.run(run, servers, sizes, args.samples, console)
    console.print(report(results, args.samples))


if __name__ == "__main__":
    main()
