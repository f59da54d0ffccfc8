"""Which Python statements depend on each other, and their canonical order.

A statement depends on an earlier one of the same list when one writes a name or attribute path
(``a``, ``a.b``, ``a.[]`` for an item) that the other reads or writes. The analysis
over-approximates: a method call writes its object, any call reads the world, a bare call or
``await`` statement writes it, and ``return``, ``raise``, ``break``, ``continue``, ``yield``,
``assert``, ``try`` and ``global`` statements keep their place. Independent statements are put
in the order of a key that renaming does not change (``python.py`` supplies it), so two
orderings of the same independent statements normalise alike.
"""

from __future__ import annotations

import ast
import heapq
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

_WORLD = "<world>"
_MAX_REORDERED = 200  # longer statement lists keep their order (the analysis is quadratic)
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def is_string_statement(stmt: ast.stmt) -> bool:
    """A docstring, or a string used as a comment."""
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def bound_names(tree: ast.AST) -> frozenset[str]:
    """Every name a binding construct inside ``tree`` introduces."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, _DEFINITIONS):
            names.add(node.name)
        elif isinstance(node, ast.alias):
            names.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.add(node.rest)
    names.discard("*")
    return frozenset(names)


@dataclass(slots=True)
class _Effects:
    defs: set[str] = field(default_factory=set)
    uses: set[str] = field(default_factory=set)
    barrier: bool = False


_BARRIERS = (
    ast.Return,
    ast.Raise,
    ast.Break,
    ast.Continue,
    ast.Assert,
    ast.Global,
    ast.Nonlocal,
    ast.Try,
    ast.TryStar,
    ast.Yield,
    ast.YieldFrom,
)


def canonical_order(
    stmts: list[ast.stmt],
    key: Callable[[ast.stmt], str],
    tiebreak: Callable[[ast.stmt], str],
) -> list[ast.stmt]:
    """A topological order of the statements' dependencies, taking the smallest key first."""
    count = len(stmts)
    if count < 2 or count > _MAX_REORDERED:
        return stmts
    effects = [_effects(s) for s in stmts]
    successors: list[list[int]] = [[] for _ in stmts]
    waiting = [0] * count
    for j in range(count):
        for i in range(j):
            if _depends(effects[i], effects[j]):
                successors[i].append(j)
                waiting[j] += 1
    primary = [key(s) for s in stmts]
    tied = {k for k, n in Counter(primary).items() if n > 1}
    keys = [
        (k, tiebreak(s) if k in tied else "", i)
        for i, (k, s) in enumerate(zip(primary, stmts, strict=True))
    ]
    ready = [keys[i] for i in range(count) if waiting[i] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        *_key, i = heapq.heappop(ready)
        order.append(stmts[i])
        for j in successors[i]:
            waiting[j] -= 1
            if waiting[j] == 0:
                heapq.heappush(ready, keys[j])
    return order


def _depends(first: _Effects, second: _Effects) -> bool:
    if first.barrier or second.barrier:
        return True
    return _overlap(first.defs, second.defs | second.uses) or _overlap(second.defs, first.uses)


def _overlap(writes: set[str], touched: set[str]) -> bool:
    for write in writes:
        for other in touched:
            if write == other or other.startswith(write + ".") or write.startswith(other + "."):
                return True
    return False


def _effects(stmt: ast.stmt) -> _Effects:
    effects = _Effects()
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, (ast.Call, ast.Await)):
        effects.defs.add(_WORLD)
    if isinstance(stmt, (ast.With, ast.AsyncWith, ast.AsyncFor, ast.Delete)):
        effects.defs.add(_WORLD)
    _EffectsVisitor(effects).visit(stmt)
    return effects


class _EffectsVisitor(ast.NodeVisitor):
    """Collects what a statement reads and writes, as names and attribute paths (``a.b``,
    ``a.[]`` for an item), over-approximating: a method call writes its object."""

    def __init__(self, effects: _Effects) -> None:
        self.effects = effects

    def generic_visit(self, node: ast.AST) -> None:
        if isinstance(node, _BARRIERS):
            self.effects.barrier = True
        super().generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        target = self.effects.uses if isinstance(node.ctx, ast.Load) else self.effects.defs
        target.add(node.id)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self.path(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        self.path(node)

    def path(self, node: ast.Attribute | ast.Subscript) -> None:
        parts: list[str] = []
        current: ast.expr = node
        while isinstance(current, (ast.Attribute, ast.Subscript)):
            if isinstance(current, ast.Attribute):
                parts.append(current.attr)
            else:
                parts.append("[]")
                self.visit(current.slice)
            current = current.value
        if not isinstance(current, ast.Name):
            self.visit(current)
            return
        path = ".".join([current.id, *reversed(parts)])
        target = self.effects.uses if isinstance(node.ctx, ast.Load) else self.effects.defs
        target.add(path)
        if not isinstance(node.ctx, ast.Load):
            self.effects.uses.add(path)

    def visit_Call(self, node: ast.Call) -> None:
        self.effects.uses.add(_WORLD)
        if isinstance(node.func, ast.Attribute):
            receiver = node.func.value
            while isinstance(receiver, (ast.Attribute, ast.Subscript)):
                receiver = receiver.value
            if isinstance(receiver, ast.Name):
                self.effects.defs.add(receiver.id)  # a method call may change its object
        self.generic_visit(node)

    def visit_Await(self, node: ast.Await) -> None:
        self.effects.defs.add(_WORLD)
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.definition(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self.definition(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.definition(node)

    def definition(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        # A nested definition binds its name and reads what its body reads; what its body
        # binds, returns or raises stays inside it.
        self.effects.defs.add(node.name)
        inner = _Effects()
        _EffectsVisitor(inner).generic_visit(node)
        self.effects.uses |= inner.uses - bound_names(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.imported(node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.imported(node.names)

    def imported(self, names: list[ast.alias]) -> None:
        self.effects.uses.add(_WORLD)
        for alias in names:
            self.effects.defs.add(alias.asname or alias.name.split(".")[0])
