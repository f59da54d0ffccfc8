"""The retrieval bench's corpus: this repository's notes and code, chunked into context entries.

Markdown files are cut at their headings (one entry per section, ``docs/stream.md#resume``);
Python modules into their module head (docstring and imports, ``path::<module>``), their
top-level functions and classes (``path::name``), and the methods of long classes
(``path::Class.method``). Each entry's text starts with a line naming its file and section,
as a snippet an assistant shares would. Keys are stable as long as the names are.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_CHARS = 3_000
LONG_CLASS_LINES = 80
MIN_CHARS = 60


@dataclass(frozen=True, slots=True)
class Chunk:
    key: str
    text: str


def entry_key(name: str) -> str:
    """The context key of a chunk name: ``a.py::f`` → ``a.py/f``, ``d.md#s`` → ``d.md/s``,
    ``<module>`` → ``_module``, ``~2`` → ``-part2`` (keys are path segments)."""
    name = name.replace("::", "/").replace("#", "/").replace("<module>", "_module")
    return name.replace("~", "-part")


def build_chunks(root: Path = ROOT) -> list[Chunk]:
    """Every chunk of docs/*.md, docs/decisions/*.md, README.md and src/**/*.py."""
    chunks: list[Chunk] = []
    markdown = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    for path in markdown:
        if path.is_file():
            chunks += markdown_chunks(path.relative_to(root).as_posix(), path.read_text())
    for path in sorted((root / "src").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        chunks += python_chunks(path.relative_to(root).as_posix(), path.read_text())
    seen: set[str] = set()
    unique = []
    for chunk in chunks:
        if chunk.key not in seen and len(chunk.text) >= MIN_CHARS:
            seen.add(chunk.key)
            unique.append(Chunk(entry_key(chunk.key), chunk.text))
    return unique


def markdown_chunks(path: str, text: str) -> list[Chunk]:
    chunks: list[Chunk] = []
    title, body, heading = path, [], ""
    fenced = False
    for line in [*text.splitlines(), "# "]:
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and re.match(r"#{1,4} ", line):
            content = "\n".join(body).strip()
            if content:
                slug = _slug(heading) or "top"
                header = f"{path} — {heading}" if heading else path
                chunks += _split(f"{path}#{slug}", f"{header}\n\n{content}")
            heading, body = line.lstrip("#").strip(), []
            if not title:
                title = heading
        else:
            body.append(line)
    return chunks


def python_chunks(path: str, source: str) -> list[Chunk]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    lines = source.splitlines()
    chunks: list[Chunk] = []
    first = tree.body[0].lineno if tree.body else 1
    head_end = next(
        (
            n.lineno - 1
            for n in tree.body
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        ),
        len(lines),
    )
    head = "\n".join(lines[first - 1 : head_end]).strip()
    if head:
        chunks += _split(f"{path}::<module>", f"# {path}\n{head}")
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        segment = _segment(lines, node)
        long_class = isinstance(node, ast.ClassDef) and segment.count("\n") > LONG_CLASS_LINES
        if not long_class:
            chunks += _split(f"{path}::{node.name}", f"# {path}: {node.name}\n{segment}")
            continue
        methods = [n for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        stop = methods[0].lineno - 1 if methods else node.end_lineno or node.lineno
        start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        chunks += _split(
            f"{path}::{node.name}",
            f"# {path}: {node.name}\n" + "\n".join(lines[start - 1 : stop]).rstrip(),
        )
        for method in methods:
            name = f"{node.name}.{method.name}"
            chunks += _split(f"{path}::{name}", f"# {path}: {name}\n{_segment(lines, method)}")
    return chunks


def _segment(lines: list[str], node: ast.AST) -> str:
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])  # type: ignore[attr-defined]
    end = node.end_lineno or node.lineno  # type: ignore[attr-defined]
    return "\n".join(lines[start - 1 : end])


def _split(key: str, text: str) -> list[Chunk]:
    """Texts over ``MAX_CHARS`` are cut at blank lines into ``key``, ``key~2``, …"""
    if len(text) <= MAX_CHARS:
        return [Chunk(key, text)]
    parts: list[str] = []
    current = ""
    for block in text.split("\n\n"):
        if len(current) > MAX_CHARS // 4 and len(current) + len(block) > MAX_CHARS:
            parts.append(current)
            current = ""
        current = f"{current}\n\n{block}" if current else block
    parts.append(current)
    return [Chunk(key if i == 0 else f"{key}~{i + 1}", p[:MAX_CHARS]) for i, p in enumerate(parts)]


def _slug(heading: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")[:60]
