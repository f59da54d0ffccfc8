"""Brier scores and calibration tables of each estimate against the hidden truth."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from rich.table import Table

from confbench.world import Claim, World

BINS = 10


@dataclass(frozen=True, slots=True)
class Figures:
    n: int
    brier: float
    calibration: tuple[tuple[int, float, float], ...]  # per bin: (claims, mean predicted, observed)


def figures(world: World, estimate: Mapping[Claim, float], claims: Iterable[Claim]) -> Figures:
    pairs = [(estimate[c], 1.0 if world.is_true(c) else 0.0) for c in claims]
    if not pairs:
        return Figures(0, float("nan"), ())
    brier = sum((p - y) ** 2 for p, y in pairs) / len(pairs)
    bins: list[list[tuple[float, float]]] = [[] for _ in range(BINS)]
    for p, y in pairs:
        bins[min(BINS - 1, int(p * BINS))].append((p, y))
    calibration = tuple(
        (len(b), sum(p for p, _ in b) / len(b), sum(y for _, y in b) / len(b)) if b else (0, 0, 0)
        for b in bins
    )
    return Figures(len(pairs), brier, calibration)


def brier_table(title: str, rows: Sequence[tuple[str, Figures, Figures]]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("estimate")
    table.add_column("Brier, held out", justify="right")
    table.add_column("claims", justify="right")
    table.add_column("Brier, all", justify="right")
    table.add_column("claims", justify="right")
    for name, held_out, overall in rows:
        table.add_row(
            name,
            f"{held_out.brier:.4f}",
            f"{held_out.n:,}",
            f"{overall.brier:.4f}",
            f"{overall.n:,}",
        )
    return table


def calibration_table(title: str, rows: Sequence[tuple[str, Figures]]) -> Table:
    """One column per estimate; each cell is ``mean predicted → observed (claims)``."""
    table = Table(title=title, title_justify="left")
    table.add_column("bin")
    for name, _ in rows:
        table.add_column(f"{name}: predicted → observed (n)", justify="right")
    for b in range(BINS):
        cells = []
        for _, fig in rows:
            n, predicted, observed = fig.calibration[b] if fig.calibration else (0, 0, 0)
            cells.append(f"{predicted:.2f} → {observed:.2f} ({n})" if n else "—")
        table.add_row(f"{b / BINS:.1f}-{(b + 1) / BINS:.1f}", *cells)
    return table
