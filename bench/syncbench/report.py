"""The report: one row per figure, one column per server, the targets beside them, and the CPU
use during each measured window."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.table import Table

from syncbench.scenarios import (
    IDLE_TARGET_KB,
    NODES_P99_TARGET_MS,
    P99_TARGETS_MS,
    RATE,
    THROUGHPUT_TARGET,
    THROUGHPUT_TARGET_OBSERVERS,
    Cell,
    Plan,
)
from syncbench.servers import LABELS, OURS


@dataclass(slots=True)
class Row:
    label: str
    target: str = ""
    cells: dict[str, Cell] = field(default_factory=dict)


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
