"""Clone detection by syntax fingerprints: precision and recall on clones of real code.

Real functions come from modules of the Python standard library on this machine (found through
the ``ast`` module's path) and from this project's ``src/``. Each gets clones of four types:

- ``format``: re-printed by ``ast.unparse``, indented by two spaces, comments and blank lines
  added, the docstring changed;
- ``rename``: every bound name (parameters, locals, the function's own name) and the attributes
  of ``self`` renamed consistently, then re-formatted;
- ``reorder``: adjacent independent assignments swapped (the bench's own, stricter rule);
- ``all``: renamed, reordered and re-formatted at once;

and non-clones: ``near-miss`` (one change of logic — a comparison, an operator, a negated or
swapped condition, a dropped statement, a changed return — then renamed and re-formatted).
All of them go into one pool, as into a workspace. Predicted clone pairs are the pairs of
snippets whose function fingerprints are equal; true pairs are the pairs made from the same
function without a logic change. Precision is over every predicted pair of the pool (other
real functions included: a fingerprint shared by two different functions counts against it);
recall is given per clone type.

    .venv/bin/python bench/patterns.py                # about 1,500 functions
    .venv/bin/python bench/patterns.py --functions 300 --seed 7
"""

from __future__ import annotations

import argparse
import ast
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from patbench import clones
from rich.console import Console
from rich.table import Table

from infinity_matrix.core.patterns.fingerprint import MIN_MASS
from infinity_matrix.core.patterns.python import python_units

PROJECT_SRC = Path(__file__).resolve().parents[1] / "src"
CLONE_TYPES = ("format", "rename", "reorder", "all")
TARGETS = {"precision": 0.95, "recall": 0.90}  # on rename/format clones (issue 5)


@dataclass(frozen=True)
class Snippet:
    origin: str  # the real function it was made from
    kind: str  # "original", a clone type, or "near-miss:<mutation>"
    text: str

    @property
    def family(self) -> str:
        """Snippets of one family are clones of each other."""
        return (
            self.origin if not self.kind.startswith("near-miss") else f"{self.kind}@{self.origin}"
        )


def source_files() -> list[Path]:
    stdlib = Path(ast.__file__).parent
    files = sorted(p for p in stdlib.glob("*.py"))
    files += sorted((stdlib / "json").glob("*.py")) + sorted((stdlib / "email").glob("*.py"))
    files += sorted(PROJECT_SRC.rglob("*.py"))
    return files


def fingerprint(text: str) -> str | None:
    """The fingerprint of the snippet's outermost function (None when it is trivial)."""
    units = [u for u in python_units(text) if u.kind == "function" and "." not in u.name]
    return units[0].fingerprint if units else None


def originals(limit: int, rng: random.Random) -> list[tuple[str, ast.Module, str]]:
    found: list[tuple[str, ast.Module, str]] = []
    seen: set[str] = set()
    files = source_files()
    rng.shuffle(files)
    for path in files:
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for name, text in clones.functions(source):
            try:
                tree = ast.parse(text)
            except SyntaxError:
                continue
            func = tree.body[0]
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            dump = ast.dump(tree)
            if dump in seen or not clones.renameable(func) or fingerprint(text) is None:
                continue  # textually identical copies would be clones of each other
            seen.add(dump)
            found.append((f"{path.stem}:{name}", tree, text))
            if len(found) >= limit:
                return found
    return found


def make_pool(limit: int, seed: int) -> list[Snippet]:
    rng = random.Random(seed)
    pool = []
    for origin, tree, text in originals(limit, rng):
        pool.append(Snippet(origin, "original", text))
        pool.append(Snippet(origin, "format", clones.reformat(tree, rng)))
        renamed = clones.rename(tree, rng)
        pool.append(Snippet(origin, "rename", clones.reformat(renamed, rng)))
        reordered = clones.reorder(tree)
        if reordered is not None:
            pool.append(Snippet(origin, "reorder", ast.unparse(reordered) + "\n"))
            everything = clones.reorder(renamed)
            if everything is not None:
                pool.append(Snippet(origin, "all", clones.reformat(everything, rng)))
        mutated = clones.near_miss(tree, rng)
        if mutated is not None and ast.dump(mutated[0]) != ast.dump(tree):
            changed = clones.reformat(clones.rename(mutated[0], rng), rng)
            pool.append(Snippet(origin, f"near-miss:{mutated[1]}", changed))
    return pool


def evaluate(pool: list[Snippet]) -> None:
    console = Console()
    started = time.perf_counter()
    prints = [fingerprint(s.text) for s in pool]
    elapsed = time.perf_counter() - started
    by_print: dict[str, list[int]] = defaultdict(list)
    for i, fp in enumerate(prints):
        if fp is not None:
            by_print[fp].append(i)
    predicted = {pair for group in by_print.values() for pair in combinations(group, 2)}
    true_positive = {(i, j) for i, j in predicted if pool[i].family == pool[j].family}
    false_positive = predicted - true_positive

    originals = {s.origin: i for i, s in enumerate(pool) if s.kind == "original"}
    table = Table(title="clone pairs (original, clone) by type")
    for column in ("type", "pairs", "found", "recall"):
        table.add_column(column, justify="right" if column != "type" else "left")
    recalls = {}
    for kind in CLONE_TYPES:
        pairs = [(originals[s.origin], i) for i, s in enumerate(pool) if s.kind == kind]
        found = sum(1 for i, j in pairs if (min(i, j), max(i, j)) in predicted)
        recalls[kind] = found / len(pairs) if pairs else float("nan")
        table.add_row(kind, str(len(pairs)), str(found), f"{recalls[kind]:.3f}")
    console.print(table)

    misses = Table(title="non-clones (near-miss vs its original) wrongly matched")
    for column in ("mutation", "pairs", "matched"):
        misses.add_column(column)
    near = Counter(s.kind for s in pool if s.kind.startswith("near-miss"))
    wrong = Counter(
        pool[j].kind if pool[j].kind.startswith("near-miss") else pool[i].kind
        for i, j in false_positive
        if pool[i].origin == pool[j].origin
    )
    for kind, count in sorted(near.items()):
        misses.add_row(kind.split(":")[1], str(count), str(wrong.get(kind, 0)))
    console.print(misses)

    precision = len(true_positive) / len(predicted) if predicted else float("nan")
    cross = [(i, j) for i, j in false_positive if pool[i].origin != pool[j].origin]
    functions = len(originals)
    console.print(
        f"pool: {len(pool)} snippets from {functions} functions; predicted pairs"
        f" {len(predicted)}, true {len(true_positive)}, false {len(false_positive)}"
        f" ({len(cross)} between different functions)"
    )
    console.print(
        f"precision {precision:.3f} (target ≥ {TARGETS['precision']});"
        f" recall rename {recalls['rename']:.3f}, format {recalls['format']:.3f}"
        f" (target ≥ {TARGETS['recall']}); reorder {recalls['reorder']:.3f},"
        f" all {recalls['all']:.3f}"
    )
    console.print(
        f"fingerprinting: {elapsed:.2f} s for {len(pool)} snippets"
        f" ({1000 * elapsed / len(pool):.2f} ms each; minimum mass {MIN_MASS})"
    )
    for i, j in cross[:5]:
        console.print(f"  shared by different functions: {pool[i].origin} ~ {pool[j].origin}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    sys.setrecursionlimit(10_000)
    started = time.perf_counter()
    pool = make_pool(args.functions, args.seed)
    print(f"pool built in {time.perf_counter() - started:.1f} s")
    evaluate(pool)


if __name__ == "__main__":
    main()
