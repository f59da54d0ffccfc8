"""Calibration of our insight confidence against hidden truth, next to the classic baselines.

    python bench/confidence.py [--via api|model] [--seed N] [--topics N] [--quick]
                               [--reviewer all|accept] [--without colluding,...]

A seeded world (bench/confbench/world.py) has questions with one true answer among four, and
sources of hidden reliability (honest, noisy, overconfident, colluding, degrading) that assert
answers over time; a trusted reviewer judges about a third of the questions (by default it
accepts the right answer and rejects each wrong one; ``--reviewer accept`` only accepts).
``--via api`` (the default) feeds everything to an in-process hub through the public REST API
that assistants use: each source is its own API key, assistant and model; each claim is ``POST
/api/v1/workspaces/default/insights`` (topic = the question, body = the answer); each verdict is
``POST …/insights/{id}/feedback`` from the workspace owner; at the end ``GET …/insights/{id}``
gives each claim's confidence. ``--via model`` replays the same rules in memory on the pure
functions (bench/confbench/model.py). Both print the Brier score and a calibration table for
ours, majority vote, vote share, a constant 0.5 and Dawid-Skene, on the held-out questions (no
verdict on any of their answers) and on all, and say whether ours beats Dawid-Skene.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Mapping

from confbench import baselines
from confbench.report import Figures, brier_table, calibration_table, figures
from confbench.world import Claim, World, generate
from rich.console import Console

DEFAULT_TOPICS = 500
QUICK_TOPICS = 150


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--via", choices=["api", "model"], default="api")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--topics", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_TOPICS} questions")
    parser.add_argument(
        "--reviewer",
        choices=["all", "accept"],
        default="all",
        help="all: accept the right answer and reject each wrong one explicitly; "
        "accept: only accept the right answer (rejecting the others by implication)",
    )
    parser.add_argument(
        "--without",
        default="",
        help="source behaviours to leave out, comma-separated (e.g. colluding)",
    )
    args = parser.parse_args()
    topics = args.topics or (QUICK_TOPICS if args.quick else DEFAULT_TOPICS)
    console = Console(width=160)
    world = generate(args.seed, topics, [b for b in args.without.split(",") if b])
    console.print(_describe(world, args.seed))
    started = time.perf_counter()
    ours = asyncio.run(_ours(world, args.via, args.reviewer))
    fed = time.perf_counter() - started
    console.print(f"ours fed via {args.via} in {fed:.1f} s")
    estimates = {
        "ours": ours,
        "Dawid-Skene": baselines.dawid_skene(world),
        "majority vote": baselines.majority_vote(world),
        "vote share": baselines.vote_share(world),
        "constant 0.5": baselines.constant(world),
        "Dawid-Skene + labels": baselines.dawid_skene(world, labels=True),
    }
    held_out = [c for c in world.claims if not world.topics[c.topic].reviewed]
    table: dict[str, tuple[Figures, Figures]] = {
        name: (figures(world, e, held_out), figures(world, e, world.claims))
        for name, e in estimates.items()
    }
    console.print(brier_table("Brier score (lower is better)", [(n, *f) for n, f in table.items()]))
    shown = ("ours", "Dawid-Skene", "vote share")
    console.print(calibration_table("Calibration, held out", [(n, table[n][0]) for n in shown]))
    console.print(calibration_table("Calibration, all claims", [(n, table[n][1]) for n in shown]))
    console.print(_per_behaviour(world, estimates["ours"], estimates["Dawid-Skene"], held_out))
    ours_b, ds_b = table["ours"][0].brier, table["Dawid-Skene"][0].brier
    met = ours_b < ds_b
    console.print(
        f"target (held-out Brier of ours < Dawid-Skene): {ours_b:.4f} vs {ds_b:.4f} — "
        + ("[bold green]met[/]" if met else "[bold red]NOT met[/]")
        + f"; on all claims {table['ours'][1].brier:.4f} vs {table['Dawid-Skene'][1].brier:.4f}"
    )


async def _ours(world: World, via: str, reviewer: str) -> dict[Claim, float]:
    if via == "model":
        from confbench import model

        return model.run(world, reviewer)
    # Imported here: the API path builds a hub, which --via model does not need.
    from confbench import api

    return await api.run(world, reviewer)


def _describe(world: World, seed: int) -> str:
    claims = world.claims
    reviewed = sum(t.reviewed for t in world.topics)
    true = sum(world.is_true(c) for c in claims)
    behaviours: dict[str, int] = {}
    for s in world.sources:
        behaviours[s.behaviour] = behaviours.get(s.behaviour, 0) + 1
    mix = ", ".join(f"{n} {b}" for b, n in behaviours.items())
    return (
        f"seed {seed}: {len(world.topics):,} questions ({reviewed:,} reviewed), "
        f"{len(claims):,} claims ({true / len(claims):.0%} true), "
        f"{len(world.sources)} sources: {mix}"
    )


def _per_behaviour(
    world: World, ours: Mapping[Claim, float], ds: Mapping[Claim, float], claims: list[Claim]
) -> str:
    """Held-out Brier per source behaviour: where each estimate wins or loses."""
    behaviour = {s.name: s.behaviour for s in world.sources}
    lines = ["held-out Brier by source behaviour (ours / Dawid-Skene, claims):"]
    for b in dict.fromkeys(s.behaviour for s in world.sources):
        mine = [c for c in claims if behaviour[c.source] == b]
        o, d = figures(world, ours, mine), figures(world, ds, mine)
        lines.append(f"  {b:<14} {o.brier:.4f} / {d.brier:.4f}  ({o.n:,})")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
