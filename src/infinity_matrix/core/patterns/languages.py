"""Fingerprints of other languages through tree-sitter, when the ``patterns`` extra is installed.

The grammars are the tree-sitter project's own wheels (``tree-sitter-javascript``,
``-typescript``, ``-go``, ``-rust``, ``-java``): compiled parsers inside the wheel, nothing
fetched at run time. Without them these languages are simply not fingerprinted.

One normaliser serves every grammar: comments and type annotations dropped, literals abstracted
by type, identifiers that the unit binds (declared names, parameters, assignment targets, and
those of its enclosing units) renamed consistently in order of first appearance, other names
and member names kept, members of ``this``/``self`` renamed. Unlike Python, statements keep
their order: there is no def/use analysis for these grammars.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from infinity_matrix.core.patterns.fingerprint import (
    BLOCK_MIN_MASS,
    MIN_MASS,
    CodeUnit,
    UnitKind,
    digest,
)

_PUNCTUATION = frozenset(";,()[]{}.:")
_COMMENTS = frozenset({"comment", "line_comment", "block_comment", "html_comment"})
_SKIPPED = frozenset(
    {"type_annotation", "type_parameters", "type_arguments", "return_type", "decorator"}
)
_SKIPPED_FIELDS = frozenset({"return_type", "type_parameters"})
_IDENTIFIERS = frozenset({"identifier", "shorthand_property_identifier"})
_MEMBERS = frozenset({"property_identifier", "field_identifier", "private_property_identifier"})
_SELVES = frozenset({"this", "self"})
# Children that bind the identifiers under them.
_BINDING_FIELDS = frozenset({"name", "left", "pattern", "parameter", "parameters", "alias"})
_TRANSPARENT = frozenset({"required_parameter"})
_INTERPOLATIONS = frozenset({"template_substitution", "interpolation"})


@dataclass(frozen=True, slots=True)
class Grammar:
    """A tree-sitter grammar and which of its node types are units."""

    name: str
    module: str
    function: str  # the module's function answering the language
    functions: frozenset[str]
    classes: frozenset[str]
    blocks: frozenset[str]
    family: str = ""  # grammars whose normalised trees compare (JavaScript and TypeScript)

    def kind(self, node_type: str) -> UnitKind | None:
        if node_type in self.functions:
            return "function"
        if node_type in self.classes:
            return "class"
        if node_type in self.blocks:
            return "block"
        return None


_JS_FUNCTIONS = frozenset(
    {
        "function_declaration",
        "generator_function_declaration",
        "function_expression",
        "function",
        "generator_function",
        "arrow_function",
        "method_definition",
    }
)
_JS_BLOCKS = frozenset(
    {
        "for_statement",
        "for_in_statement",
        "while_statement",
        "do_statement",
        "if_statement",
        "try_statement",
        "switch_statement",
    }
)
_JS_CLASSES = frozenset({"class_declaration", "class", "abstract_class_declaration"})

GRAMMARS: dict[str, Grammar] = {
    g.name: g
    for g in (
        Grammar(
            "javascript",
            "tree_sitter_javascript",
            "language",
            _JS_FUNCTIONS,
            _JS_CLASSES,
            _JS_BLOCKS,
            "javascript",
        ),
        Grammar(
            "typescript",
            "tree_sitter_typescript",
            "language_typescript",
            _JS_FUNCTIONS,
            _JS_CLASSES,
            _JS_BLOCKS,
            "javascript",
        ),
        Grammar(
            "tsx",
            "tree_sitter_typescript",
            "language_tsx",
            _JS_FUNCTIONS,
            _JS_CLASSES,
            _JS_BLOCKS,
            "javascript",
        ),
        Grammar(
            "go",
            "tree_sitter_go",
            "language",
            frozenset({"function_declaration", "method_declaration", "func_literal"}),
            frozenset(),
            frozenset(
                {
                    "for_statement",
                    "if_statement",
                    "expression_switch_statement",
                    "type_switch_statement",
                    "select_statement",
                }
            ),
        ),
        Grammar(
            "rust",
            "tree_sitter_rust",
            "language",
            frozenset({"function_item", "closure_expression"}),
            frozenset({"impl_item", "trait_item"}),
            frozenset(
                {
                    "for_expression",
                    "while_expression",
                    "loop_expression",
                    "if_expression",
                    "match_expression",
                }
            ),
        ),
        Grammar(
            "java",
            "tree_sitter_java",
            "language",
            frozenset({"method_declaration", "constructor_declaration", "lambda_expression"}),
            frozenset({"class_declaration", "interface_declaration", "enum_declaration"}),
            frozenset(
                {
                    "for_statement",
                    "enhanced_for_statement",
                    "while_statement",
                    "do_statement",
                    "if_statement",
                    "try_statement",
                    "switch_expression",
                }
            ),
        ),
    )
}


@cache
def _language(language: str) -> Any | None:
    grammar = GRAMMARS.get(language)
    if grammar is None:
        return None
    try:
        tree_sitter = importlib.import_module("tree_sitter")
        module = importlib.import_module(grammar.module)
        return tree_sitter.Language(getattr(module, grammar.function)())
    except (ImportError, AttributeError, ValueError, TypeError):
        return None


def parser_for(language: str) -> Any | None:
    """A new tree-sitter parser for ``language`` (parsers are not shared between threads), or
    None when its packages are not installed."""
    loaded = _language(language)
    if loaded is None:
        return None
    return importlib.import_module("tree_sitter").Parser(loaded)


def installed(language: str) -> bool:
    """Whether the grammar of ``language`` is installed."""
    return _language(language) is not None


def available() -> list[str]:
    """The tree-sitter languages that can be fingerprinted here."""
    return [name for name in GRAMMARS if installed(name)]


def tree_sitter_units(
    source: str,
    language: str,
    *,
    min_mass: int = MIN_MASS,
    block_min_mass: int = BLOCK_MIN_MASS,
) -> list[CodeUnit]:
    """The fingerprinted units of ``source``; none when the grammar is not installed."""
    parser = parser_for(language)
    if parser is None:
        return []
    tree = parser.parse(source.encode("utf-8"))
    grammar = GRAMMARS[language]
    units: list[CodeUnit] = []
    _find(tree.root_node, grammar, frozenset(), "", units, min_mass, block_min_mass)
    return units


def _find(
    node: Any,
    grammar: Grammar,
    bound: frozenset[str],
    qualname: str,
    units: list[CodeUnit],
    min_mass: int,
    block_min_mass: int,
) -> None:
    for child in node.named_children:
        kind = grammar.kind(child.type)
        inner_bound, inner_name = bound, qualname
        if kind is not None:
            if kind != "block":
                inner_bound = bound | _bound_names(child)
                inner_name = _qualname(child, qualname)
            writer = _Writer(inner_bound)
            writer.node(child)
            if writer.mass >= (block_min_mass if kind == "block" else min_mass):
                name = inner_name if kind != "block" else f"{qualname or '<module>'}:{child.type}"
                units.append(
                    CodeUnit(
                        fingerprint=digest(grammar.family or grammar.name, writer.tokens),
                        name=name,
                        kind=kind,
                        language=grammar.name,
                        start_line=child.start_point[0] + 1,
                        end_line=child.end_point[0] + 1,
                        mass=writer.mass,
                    )
                )
        _find(child, grammar, inner_bound, inner_name, units, min_mass, block_min_mass)


def _qualname(node: Any, outer: str) -> str:
    name_node = node.child_by_field_name("name")
    name = _text(name_node) if name_node is not None else "<anonymous>"
    return f"{outer}.{name}" if outer else name


def _text(node: Any) -> str:
    return bytes(node.text or b"").decode("utf-8", "replace")


def _bound_names(unit: Any) -> frozenset[str]:
    names: set[str] = set()
    for node, binding in _walk_bindings(unit, binding=False):
        if binding and node.type in _IDENTIFIERS:
            names.add(_text(node))
    return frozenset(names)


def _walk_bindings(node: Any, *, binding: bool) -> Iterator[tuple[Any, bool]]:
    """Every node with whether it sits under a binding position (a declared name, a
    parameter list, an assignment target)."""
    stack = [(node, binding)]
    while stack:
        current, under = stack.pop()
        yield current, under
        inside = under or "parameter" in current.type
        for i, child in enumerate(current.children):
            field_name = current.field_name_for_child(i)
            stack.append((child, inside or field_name in _BINDING_FIELDS))


@dataclass
class _Writer:
    bound: frozenset[str]
    tokens: list[str] = field(default_factory=list)
    mass: int = 0
    _names: dict[str, str] = field(default_factory=dict)
    _attrs: dict[str, str] = field(default_factory=dict)

    def node(self, node: Any) -> None:
        kind: str = node.type
        if not node.is_named:
            if kind not in _PUNCTUATION:
                self.tokens.append(kind)
            return
        if kind in _COMMENTS or kind in _SKIPPED:
            return
        if kind in _TRANSPARENT and node.named_child_count == 1 + sum(
            1 for c in node.named_children if c.type in _SKIPPED
        ):
            self.node(node.named_children[0])  # TypeScript's typed parameter, as JavaScript's
            return
        self.mass += 1
        literal = _literal(kind)
        if literal is not None:
            self.literal(node, literal)
        elif kind in _IDENTIFIERS:
            self.tokens.append(self.name(_text(node)))
        elif kind in _MEMBERS:
            self.tokens.append(self.member(node))
        elif node.child_count == 0:
            self.tokens.append(kind if kind == _text(node) else f"{kind}:{_text(node)}")
        else:
            self.tokens.append("(" + kind)
            for i, child in enumerate(node.children):
                if node.field_name_for_child(i) not in _SKIPPED_FIELDS:
                    self.node(child)
            self.tokens.append(")")

    def literal(self, node: Any, literal: str) -> None:
        parts = [c for c in node.named_children if c.type in _INTERPOLATIONS]
        if not parts:
            self.tokens.append(literal)
            return
        self.tokens.append("(" + literal)
        for part in parts:
            self.node(part)
        self.tokens.append(")")

    def name(self, name: str) -> str:
        if name not in self.bound:
            return name
        return self._names.setdefault(name, f"v{len(self._names)}")

    def member(self, node: Any) -> str:
        text = _text(node)
        parent = node.parent
        target = parent.named_children[0] if parent is not None and parent.named_children else None
        if target is not None and target.type in _SELVES and target != node:
            return self._attrs.setdefault(text, f"a{len(self._attrs)}")
        return text


_LITERAL_WORDS: tuple[tuple[Callable[[str], bool], str], ...] = (
    (lambda t: t in {"true", "false", "boolean_literal"}, "bool"),
    (lambda t: t in {"null", "nil", "undefined", "null_literal", "unit_expression"}, "null"),
    (lambda t: "string" in t or "char" in t or t in {"text_block", "regex"}, "str"),
    (lambda t: "integer" in t or "int_" in t or t == "number" or "float" in t, "num"),
    (lambda t: t == "imaginary_literal", "num"),
)


def _literal(kind: str) -> str | None:
    if not (kind.endswith(("_literal", "string")) or kind in _LITERAL_KINDS):
        return None
    for test, word in _LITERAL_WORDS:
        if test(kind):
            return word
    return "lit"


_LITERAL_KINDS = frozenset(
    {"number", "regex", "true", "false", "null", "nil", "undefined", "text_block", "string"}
)
