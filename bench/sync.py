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
import dataclasses
import os
import platform
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import profile_tables
from rich.console import Console
from syncbench.client import Closed, Refused, Target, Updates
from syncbench.report import Report, plan_rows
from syncbench.scenarios import (
    FULL,
    NODES_P99_TARGET_MS,
    P99_TARGETS_MS,
    QUICK,
    THROUGHPUT_TARGET_OBSERVERS,
    WINDOW,
    Cell,
    Plan,
    join,
    latency,
    memory,
    storm,
    throughput,
)
from syncbench.servers import (
    LABELS,
    OURS,
    SERVERS,
    Fleet,
    ours,
    ours_cluster,
    prepare,
    single_node,
)

GROUPS = ("latency", "throughput", "nodes", "storm", "join", "memory")
PAUSE_SECONDS = 0.5  # between scenarios, for the server to finish closing the last one's sockets
REPORT_WIDTH = 160


@dataclass(frozen=True, slots=True)
class Scenario:
    """A measurement run against each single-node server in turn; fills one or more rows."""

    name: str
    run: Callable[[Target], Awaitable[dict[str, Cell]]]
    profiled: bool = False


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
