"""Clone makers for bench/patterns.py: rename, reformat and reorder real functions, and make
near-miss non-clones by changing their logic.

Written independently of ``core/patterns`` (its own rename and reorder rules, stricter than the
detector's), so the bench does not grade the detector against itself.
"""

from __future__ import annotations

import ast
import copy
import random
import textwrap
from collections.abc import Iterator

_WORDS = [
    *("alpha", "bravo", "cargo", "delta", "ember", "fable", "gamma", "harbor", "ivory"),
    *("jolly", "kernel", "lemon", "mango", "nectar", "orbit", "piano", "quartz", "raven"),
    *("saddle", "tango", "umbra", "velvet", "willow", "xenon", "yonder", "zephyr"),
]


def functions(source: str) -> Iterator[tuple[str, str]]:
    """(qualified name, dedented source) of every function and method in ``source``."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return
    stack: list[tuple[str, ast.AST]] = [("", tree)]
    while stack:
        prefix, node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    text = ast.get_source_segment(source, child, padded=True)
                    if text:
                        yield name, textwrap.dedent(text)
                stack.append((name + ".", child))


def _bound(func: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    names = {func.name}
    for node in ast.walk(func):
        if isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) or (
            isinstance(node, ast.ExceptHandler) and node.name
        ):
            names.add(node.name)
    return names


def renameable(func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Renaming is safe: no ``global``/``nonlocal``, no ``locals()`` or ``eval``, no imports."""
    for node in ast.walk(func):
        if isinstance(node, (ast.Global, ast.Nonlocal, ast.Import, ast.ImportFrom)):
            return False
        if isinstance(node, ast.Name) and node.id in {"locals", "vars", "eval", "exec", "super"}:
            return False
        if isinstance(node, (ast.MatchAs, ast.MatchStar, ast.MatchMapping)):
            return False
    return True


class _Renamer(ast.NodeTransformer):
    def __init__(self, mapping: dict[str, str], attrs: dict[str, str], selves: set[str]) -> None:
        self.mapping = mapping
        self.attrs = attrs
        self.selves = selves

    def visit_Name(self, node: ast.Name) -> ast.Name:
        node.id = self.mapping.get(node.id, node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.arg = self.mapping.get(node.arg, node.arg)
        self.generic_visit(node)
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        node.name = self.mapping.get(node.name, node.name)
        self.generic_visit(node)
        return node

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment] # same fields

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.ClassDef:
        node.name = self.mapping.get(node.name, node.name)
        self.generic_visit(node)
        return node

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.ExceptHandler:
        if node.name:
            node.name = self.mapping.get(node.name, node.name)
        self.generic_visit(node)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.Attribute:
        if isinstance(node.value, ast.Name) and node.value.id in self.selves:
            node.attr = self.attrs.setdefault(node.attr, f"{node.attr}_{len(self.attrs)}x")
        self.generic_visit(node)
        return node


def rename(tree: ast.Module, rng: random.Random) -> ast.Module:
    """Every name bound in the function, and the attributes of ``self``, renamed consistently."""
    tree = copy.deepcopy(tree)
    func = tree.body[0]
    assert isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef))
    params = [*func.args.posonlyargs, *func.args.args]
    selves = {params[0].arg} if params and params[0].arg in {"self", "cls"} else set()
    # ``self`` stays: a method pasted without its class is known by it.
    names = sorted(n for n in _bound(func) - selves if not n.startswith("__"))
    fresh = {name: f"{rng.choice(_WORDS)}_{i}" for i, name in enumerate(names)}
    _Renamer(fresh, {}, selves).visit(tree)
    return tree


_CONTINUATIONS = ("else", "elif", "except", "finally", ")", "]", "}")
_OPEN = ("\\", ",", "(", "[", "{")


def _quotes(line: str) -> bool:
    return '"""' in line or "'''" in line


def reformat(tree: ast.Module, rng: random.Random) -> str:
    """Re-printed by ``ast.unparse``, indented by two spaces, with comments and blank lines
    sprinkled in and the docstring changed."""
    tree = copy.deepcopy(tree)
    func = tree.body[0]
    assert isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef))
    if (
        func.body
        and isinstance(func.body[0], ast.Expr)
        and isinstance(func.body[0].value, ast.Constant)
        and isinstance(func.body[0].value.value, str)
    ):
        func.body[0].value.value = "Rewritten documentation."
    lines = []
    in_string = False
    for line in ast.unparse(tree).splitlines():
        stripped = line.lstrip(" ")
        indent = "  " * ((len(line) - len(stripped)) // 4)
        if in_string:
            lines.append(line)  # inside a multi-line string: leave it alone
        else:
            if rng.random() < 0.2 and stripped and not stripped.startswith(_CONTINUATIONS):
                lines.append(f"{indent}# note: {rng.choice(_WORDS)}")
            if rng.random() < 0.1:
                lines.append("")
            trailing = rng.random() < 0.1 and not stripped.endswith(_OPEN) and not _quotes(stripped)
            lines.append(indent + stripped + ("  # trailing" if trailing else ""))
        if stripped.count('"""') % 2 == 1 or stripped.count("'''") % 2 == 1:
            in_string = not in_string
    text = "\n".join(lines) + "\n"
    try:
        ast.parse(text)
    except SyntaxError:  # a multi-line string the line-wise rewrite could not tell apart
        return f"# reformatted\n{ast.unparse(tree)}\n"
    return text


def _simple(stmt: ast.stmt) -> tuple[set[str], set[str]] | None:
    """(defs, uses) of an assignment to plain names that calls nothing, else None."""
    if not isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        return None
    defs: set[str] = set()
    uses: set[str] = set()
    for node in ast.walk(stmt):
        if isinstance(node, (ast.Call, ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)):
            return None
        if isinstance(node, (ast.Attribute, ast.Subscript)) and not isinstance(node.ctx, ast.Load):
            return None
        if isinstance(node, ast.Name):
            (uses if isinstance(node.ctx, ast.Load) else defs).add(node.id)
    if isinstance(stmt, ast.AugAssign):
        uses |= defs
    return defs, uses


def reorder(tree: ast.Module) -> ast.Module | None:
    """Swap adjacent independent simple assignments (names disjoint, no calls); None when the
    function has no such pair."""
    tree = copy.deepcopy(tree)
    lists = [
        value
        for node in ast.walk(tree)
        for name in ("body", "orelse", "finalbody")
        if isinstance(value := getattr(node, name, None), list)
        and value
        and isinstance(value[0], ast.stmt)
    ]
    swapped = 0
    for body in lists:
        i = 0
        while i < len(body) - 1:
            a, b = _simple(body[i]), _simple(body[i + 1])
            independent = a and b and not (a[0] & (b[0] | b[1])) and not (b[0] & a[1])
            if independent and ast.dump(body[i]) != ast.dump(body[i + 1]):
                body[i], body[i + 1] = body[i + 1], body[i]
                swapped += 1
                i += 1
            i += 1
    return tree if swapped else None


class _Mutations(ast.NodeVisitor):
    def __init__(self) -> None:
        self.sites: list[tuple[str, ast.AST]] = []

    def visit_Compare(self, node: ast.Compare) -> None:
        self.sites.append(("compare", node))
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        self.sites.append(("binop", node))
        self.generic_visit(node)

    def visit_arg(self, node: ast.arg) -> None:
        pass  # annotations are not logic

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for child in (node.args, *node.body, *node.decorator_list):
            self.visit(child)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment] # same fields

    def visit_If(self, node: ast.If) -> None:
        self.sites.append(("negate", node))
        if node.orelse:
            self.sites.append(("swap", node))
        self.generic_visit(node)

    def visit_Return(self, node: ast.Return) -> None:
        if node.value is not None:
            self.sites.append(("return", node))
        self.generic_visit(node)


_COMPARE = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
            ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn,
            ast.NotIn: ast.In}  # fmt: skip
_BINOP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv, ast.Div: ast.Mult,
          ast.FloorDiv: ast.Mult, ast.Mod: ast.FloorDiv, ast.BitOr: ast.BitAnd,
          ast.BitAnd: ast.BitOr, ast.Pow: ast.Mult, ast.LShift: ast.RShift,
          ast.RShift: ast.LShift, ast.MatMult: ast.Mult, ast.BitXor: ast.BitOr}  # fmt: skip


def near_miss(tree: ast.Module, rng: random.Random) -> tuple[ast.Module, str] | None:
    """One change of logic (a comparison, an operator, a negated or swapped condition, a
    dropped statement, a changed return value); None when none applies."""
    tree = copy.deepcopy(tree)
    finder = _Mutations()
    finder.visit(tree)
    bodies = [
        node.body
        for node in ast.walk(tree)
        if isinstance(getattr(node, "body", None), list)
        and len([s for s in node.body if not _is_string(s)]) > 1
    ]
    choices = finder.sites + [("drop", body) for body in bodies]  # type: ignore[misc]
    if not choices:
        return None
    kind, site = rng.choice(choices)
    if kind == "compare":
        assert isinstance(site, ast.Compare)
        site.ops[0] = _COMPARE.get(type(site.ops[0]), ast.Lt)()
    elif kind == "binop":
        assert isinstance(site, ast.BinOp)
        site.op = _BINOP.get(type(site.op), ast.Add)()
    elif kind == "negate":
        assert isinstance(site, ast.If)
        site.test = ast.UnaryOp(op=ast.Not(), operand=site.test)
    elif kind == "swap":
        assert isinstance(site, ast.If)
        site.body, site.orelse = site.orelse, site.body
    elif kind == "return":
        assert isinstance(site, ast.Return)
        none = isinstance(site.value, ast.Constant) and site.value.value is None
        site.value = ast.Constant(value=True if none else None)
    else:
        body = site
        assert isinstance(body, list)
        del body[rng.choice([i for i, s in enumerate(body) if not _is_string(s)])]
    ast.fix_missing_locations(tree)
    return tree, kind


def _is_string(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )
