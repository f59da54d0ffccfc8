"""Python fingerprints through the standard library's ``ast``.

What the normalised stream keeps and drops:

- Formatting, comments, docstrings and other bare string statements, and type annotations are
  gone (``ast`` never sees the first two; the others are skipped).
- Names bound inside the unit and its enclosing functions and classes (parameters, assigned
  names, loop and ``with`` targets, nested definitions, local imports, the unit's own name) are
  renamed ``v0, v1, …`` in order of first appearance, and attributes of a method's first
  parameter (``self.x``) ``a0, a1, …``: a consistent renaming maps to the same stream. Free
  names (builtins, module globals, imported modules) and other attribute names are kept: they
  name the API the code uses, and two shapes calling different things differ.
- Literals are abstracted by type (``int``, ``str``, …); ``None`` stays ``None``.
- Adjacent statements that do not depend on each other are put in a canonical order
  (``ordering.py``); look-alike statements are ordered by how their names are used in the
  rest of the unit, which renaming and reordering keep.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from infinity_matrix.core.patterns.fingerprint import (
    BLOCK_MIN_MASS,
    MIN_MASS,
    CodeUnit,
    UnitKind,
    digest,
)
from infinity_matrix.core.patterns.ordering import bound_names, canonical_order, is_string_statement

LANGUAGE = "python"

_SKIPPED_FIELDS = frozenset({"ctx", "type_comment", "annotation", "returns", "type_params"})
_SKIPPED_FIELDS_BY_TYPE = {"AnnAssign": frozenset({"simple"}), "Constant": frozenset({"kind"})}
_STATEMENT_LISTS = frozenset({"body", "orelse", "finalbody"})
_NESTED = _STATEMENT_LISTS | {"handlers", "cases"}
_BLOCKS = (
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.If,
    ast.With,
    ast.AsyncWith,
    ast.Try,
    ast.TryStar,
    ast.Match,
)
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_SELF_NAMES = frozenset({"self", "cls"})


def python_units(
    source: str, *, min_mass: int = MIN_MASS, block_min_mass: int = BLOCK_MIN_MASS
) -> list[CodeUnit]:
    """The fingerprinted units of Python ``source``; none when it does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    finder = _UnitFinder(min_mass, block_min_mass, bound_names(tree))
    try:
        finder.statements(tree.body, _Scope(frozenset(), frozenset(), ""), module=True)
    except RecursionError:
        return finder.units
    return finder.units


@dataclass(frozen=True, slots=True)
class _Scope:
    bound: frozenset[str]  # names bound by the enclosing functions and classes
    selves: frozenset[str]  # first parameters of the enclosing methods
    qualname: str


@dataclass
class _UnitFinder:
    min_mass: int
    block_min_mass: int
    module_bound: frozenset[str]
    units: list[CodeUnit] = field(default_factory=list)

    def statements(self, body: Sequence[ast.stmt], scope: _Scope, *, module: bool = False) -> None:
        run: list[ast.stmt] = []
        for stmt in body:
            if module and not isinstance(stmt, (*_DEFINITIONS, ast.Import, ast.ImportFrom)):
                if not is_string_statement(stmt):
                    run.append(stmt)
            else:
                self.run(run)
                run = []
            self.statement(stmt, scope, module=module)
        self.run(run)

    def statement(self, stmt: ast.stmt, scope: _Scope, *, module: bool) -> None:
        if isinstance(stmt, _FUNCTIONS):
            self.function(stmt, scope)
        elif isinstance(stmt, ast.ClassDef):
            self.klass(stmt, scope)
        elif isinstance(stmt, _BLOCKS):
            bound = self.module_bound if module else scope.bound
            name = f"{scope.qualname or '<module>'}:{type(stmt).__name__.lower()}"
            self.add(name, "block", [stmt], bound, scope.selves, self.block_min_mass)
            for child in _child_statement_lists(stmt):
                self.statements(child, scope, module=module)

    def function(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef, scope: _Scope, method: bool = False
    ) -> None:
        bound = scope.bound | bound_names(node) | {node.name}
        selves = scope.selves
        params = [*node.args.posonlyargs, *node.args.args]
        static = any(
            isinstance(d, ast.Name) and d.id == "staticmethod" for d in node.decorator_list
        )
        # A method pasted without its class (a snippet) is known by its ``self`` or ``cls``.
        if params and not static and (method or params[0].arg in _SELF_NAMES):
            selves = selves | {params[0].arg}
        qualname = f"{scope.qualname}.{node.name}" if scope.qualname else node.name
        self.add(qualname, "function", [node], bound, selves, self.min_mass)
        self.statements(node.body, _Scope(bound, selves, qualname))

    def klass(self, node: ast.ClassDef, scope: _Scope) -> None:
        bound = scope.bound | bound_names(node) | {node.name}
        qualname = f"{scope.qualname}.{node.name}" if scope.qualname else node.name
        selves = scope.selves | {
            m.args.args[0].arg
            for m in node.body
            if isinstance(m, _FUNCTIONS) and m.args.args and not m.args.posonlyargs
        }
        self.add(qualname, "class", [node], bound, selves, self.min_mass)
        inner = _Scope(bound, scope.selves, qualname)
        for stmt in node.body:
            if isinstance(stmt, _FUNCTIONS):
                self.function(stmt, inner, method=True)
            else:
                self.statement(stmt, inner, module=False)

    def run(self, run: list[ast.stmt]) -> None:
        if len(run) >= 2:  # a lone compound statement is a block unit already
            name = "<module>"
            self.add(name, "block", run, self.module_bound, frozenset(), self.block_min_mass)

    def add(
        self,
        name: str,
        kind: UnitKind,
        stmts: list[ast.stmt],
        bound: frozenset[str],
        selves: frozenset[str],
        min_mass: int,
    ) -> None:
        writer = _Writer(_Normaliser(bound, selves, stmts))
        try:
            if len(stmts) == 1:
                writer.node(stmts[0])
            else:
                writer.statements(stmts)
        except RecursionError:
            return
        if writer.mass < min_mass:
            return
        first = stmts[0]
        decorators = getattr(first, "decorator_list", [])
        start = min([first.lineno, *(d.lineno for d in decorators)])
        end = max(s.end_lineno or s.lineno for s in stmts)
        self.units.append(
            CodeUnit(
                fingerprint=digest(LANGUAGE, writer.tokens),
                name=name,
                kind=kind,
                language=LANGUAGE,
                start_line=start,
                end_line=end,
                mass=writer.mass,
            )
        )


def _child_statement_lists(stmt: ast.stmt) -> Iterator[list[ast.stmt]]:
    for name in ("body", "orelse", "finalbody"):
        value = getattr(stmt, name, None)
        if value:
            yield value
    for handler in getattr(stmt, "handlers", ()):
        yield handler.body
    for case in getattr(stmt, "cases", ()):
        yield case.body


class _Normaliser:
    """What one unit's streams share: its bound names and the canonical statement orders."""

    def __init__(
        self, bound: frozenset[str], selves: frozenset[str], roots: list[ast.stmt]
    ) -> None:
        self.bound = bound
        self.selves = selves
        self._roots = roots
        self._orders: dict[int, list[ast.stmt]] = {}
        self._keys: dict[int, str] = {}
        self._mentions: dict[str, list[tuple[ast.AST, str]]] | None = None
        self._signatures: dict[str, str] = {}

    def ordered(self, stmts: list[ast.stmt]) -> list[ast.stmt]:
        order = self._orders.get(id(stmts))
        if order is None:
            kept = [s for s in stmts if not is_string_statement(s)]
            order = self._orders[id(stmts)] = canonical_order(kept, self.key, self.tiebreak)
        return order

    def key(self, stmt: ast.stmt) -> str:
        """The statement's stream with every bound name abstracted: invariant under renaming,
        so it can order statements before the names are numbered."""
        key = self._keys.get(id(stmt))
        if key is None:
            writer = _Writer(self, abstract=True)
            writer.node(stmt)
            key = self._keys[id(stmt)] = " ".join(writer.tokens)
        return key

    def tiebreak(self, stmt: ast.stmt) -> str:
        """Orders statements whose keys are equal (``a = x[0]`` and ``b = y[0]``) by how the
        names they mention are used across the unit, which renaming and reordering keep."""
        writer = _Writer(self, abstract=True, seen=set())
        writer.header(stmt)
        return "||".join(sorted(self.signature(name) for name in writer.seen or ()))

    def signature(self, name: str) -> str:
        signature = self._signatures.get(name)
        if signature is None:
            headers = []
            for owner, context in self.mentions().get(name, ()):
                writer = _Writer(self, abstract=True, marked=name)
                writer.header(owner)
                headers.append(context + " ".join(writer.tokens))
            signature = self._signatures[name] = "|".join(sorted(headers))
        return signature

    def mentions(self) -> dict[str, list[tuple[ast.AST, str]]]:
        """Bound name → the statements (and handlers, cases) whose own header mentions it,
        each with the headers of the statements it is nested in."""
        if self._mentions is None:
            self._mentions = {}
            pending: list[tuple[ast.AST, str]] = [(root, "") for root in self._roots]
            while pending:
                owner, context = pending.pop()
                writer = _Writer(self, abstract=True, seen=set())
                writer.header(owner)
                for name in writer.seen or ():
                    self._mentions.setdefault(name, []).append((owner, context))
                inner = context + " ".join(writer.tokens) + " / "
                for field_name in (*_STATEMENT_LISTS, "handlers", "cases"):
                    pending.extend((child, inner) for child in getattr(owner, field_name, ()) or ())
        return self._mentions


class _Writer:
    def __init__(
        self,
        normaliser: _Normaliser,
        *,
        abstract: bool = False,
        marked: str | None = None,
        seen: set[str] | None = None,
    ) -> None:
        self.n = normaliser
        self.abstract = abstract
        self.marked = marked
        self.seen = seen
        self.tokens: list[str] = []
        self.mass = 0
        self._names: dict[str, str] = {}
        self._attrs: dict[str, str] = {}

    def name(self, name: str) -> str:
        if name not in self.n.bound:
            return name
        if self.seen is not None:
            self.seen.add(name)
        if self.abstract:
            return "*" if name == self.marked else "_"
        return self._names.setdefault(name, f"v{len(self._names)}")

    def attr(self, attr: str) -> str:
        if self.abstract:
            return "_"
        return self._attrs.setdefault(attr, f"a{len(self._attrs)}")

    def header(self, node: ast.AST) -> None:
        """The node without the statements nested in it."""
        kind = type(node).__name__
        self.tokens.append("(" + kind)
        skipped = _SKIPPED_FIELDS_BY_TYPE.get(kind, frozenset())
        for name, value in ast.iter_fields(node):
            if name in _NESTED:
                self.tokens.append("…")
            elif name not in _SKIPPED_FIELDS and name not in skipped:
                self.field(kind, name, value)
        self.tokens.append(")")

    def statements(self, stmts: list[ast.stmt]) -> None:
        self.tokens.append("[")
        for stmt in self.n.ordered(stmts):
            self.node(stmt)
        self.tokens.append("]")

    def node(self, node: ast.AST) -> None:
        self.mass += 1
        if isinstance(node, ast.Constant):
            value = node.value
            self.tokens.append("None" if value is None else type(value).__name__)
            return
        if isinstance(node, ast.Name):
            self.tokens.append(self.name(node.id))
            return
        kind = type(node).__name__
        self.tokens.append("(" + kind)
        if isinstance(node, ast.Attribute):
            self.node(node.value)
            is_self = isinstance(node.value, ast.Name) and node.value.id in self.n.selves
            self.tokens.append(self.attr(node.attr) if is_self else node.attr)
        else:
            skipped = _SKIPPED_FIELDS_BY_TYPE.get(kind, frozenset())
            for name, value in ast.iter_fields(node):
                if name not in _SKIPPED_FIELDS and name not in skipped:
                    self.field(kind, name, value)
        self.tokens.append(")")

    def field(self, kind: str, name: str, value: object) -> None:
        if isinstance(value, ast.AST):
            self.node(value)
        elif isinstance(value, list):
            if name in _STATEMENT_LISTS and value and isinstance(value[0], ast.stmt):
                self.statements(value)
                return
            self.tokens.append("[")
            for item in value:
                self.field(kind, name, item)
            self.tokens.append("]")
        elif isinstance(value, str):
            self.tokens.append(self.identifier(kind, name, value))
        else:
            self.tokens.append(repr(value))

    def identifier(self, kind: str, name: str, value: str) -> str:
        if kind == "keyword" or kind == "ImportFrom" or (kind == "alias" and name == "name"):
            return value  # keyword argument names and imported things name an API
        if kind == "MatchClass":
            return value  # kwd_attrs are attributes of the matched class
        return self.name(value)
