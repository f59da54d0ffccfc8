"""Code units of context entries: a source file is code in its language (known by the key's
extension); any other text entry (notes, assistants' answers) contributes its fenced code
blocks. Line numbers are those of the entry's text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from infinity_matrix.core.patterns.fingerprint import BLOCK_MIN_MASS, MIN_MASS, CodeUnit
from infinity_matrix.core.patterns.languages import installed, tree_sitter_units
from infinity_matrix.core.patterns.python import python_units

EXTENSIONS = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
}
FENCE_TAGS = {
    "python": "python",
    "python3": "python",
    "py": "python",
    "py3": "python",
    "javascript": "javascript",
    "js": "javascript",
    "jsx": "javascript",
    "node": "javascript",
    "mjs": "javascript",
    "typescript": "typescript",
    "ts": "typescript",
    "tsx": "tsx",
    "go": "go",
    "golang": "go",
    "rust": "rust",
    "rs": "rust",
    "java": "java",
}
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$")
_TAG = re.compile(r"[A-Za-z0-9_+#-]+")
_MAX_SOURCE = 2_000_000  # characters; larger values are not fingerprinted


@dataclass(frozen=True, slots=True)
class Fence:
    """A fenced code block: its language (None when untagged or unknown), its code, and the
    line of the entry just before its first code line."""

    language: str | None
    tag: str
    code: str
    offset: int


def language_of_key(key: str) -> str | None:
    """The language of a key that names a source file (``src/app.py``), else None."""
    return EXTENSIONS.get(PurePosixPath(key).suffix.lower())


def supported(language: str) -> bool:
    """Whether ``language`` can be fingerprinted here (Python always; the others when the
    ``patterns`` extra is installed)."""
    return language == "python" or installed(language)


def may_hold_code(key: str, text: str | None) -> bool:
    """A cheap test for entries worth parsing: a source file, or a text with a fence."""
    if not text:
        return False
    language = language_of_key(key)
    if language is not None:
        return supported(language)
    return "```" in text or "~~~" in text


def units_of(
    source: str,
    language: str,
    *,
    min_mass: int = MIN_MASS,
    block_min_mass: int = BLOCK_MIN_MASS,
) -> list[CodeUnit]:
    """The fingerprinted units of ``source`` in ``language`` (none for an unsupported one)."""
    if len(source) > _MAX_SOURCE:
        return []
    if language == "python":
        return python_units(source, min_mass=min_mass, block_min_mass=block_min_mass)
    return tree_sitter_units(source, language, min_mass=min_mass, block_min_mass=block_min_mass)


def entry_units(
    key: str,
    text: str | None,
    *,
    min_mass: int = MIN_MASS,
    block_min_mass: int = BLOCK_MIN_MASS,
) -> list[CodeUnit]:
    """The code units of a text entry: the whole text of a source file, else the fenced code
    blocks (an untagged one counts when it parses as Python)."""
    if not text:
        return []
    language = language_of_key(key)
    if language is not None:
        return units_of(text, language, min_mass=min_mass, block_min_mass=block_min_mass)
    units: list[CodeUnit] = []
    for fence in fences(text):
        found = units_of(
            fence.code,
            fence.language or "python",
            min_mass=min_mass,
            block_min_mass=block_min_mass,
        )
        units.extend(u.shifted(fence.offset) for u in found)
    return units


def fences(text: str) -> list[Fence]:
    """The fenced code blocks of a Markdown text (an unclosed one runs to the end), in a
    language this module knows or untagged."""
    lines = text.split("\n")
    found: list[Fence] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent = len(opening["indent"])
        marker = opening["fence"]
        tag_match = _TAG.match(opening["info"].strip())
        tag = tag_match.group(0).lower() if tag_match else ""
        start = i + 1
        end = start
        while end < len(lines) and not _closes(lines[end], marker):
            end += 1
        code = "\n".join(_dedent(line, indent) for line in lines[start:end])
        language = FENCE_TAGS.get(tag)
        if language is not None or not tag:
            found.append(Fence(language, tag, code, start))
        i = end + 1
    return found


def _closes(line: str, marker: str) -> bool:
    stripped = line.strip()
    return (
        stripped.startswith(marker[0] * len(marker))
        and set(stripped) == {marker[0]}
        and len(stripped) >= len(marker)
    )


def _dedent(line: str, indent: int) -> str:
    """The line without the fence's indentation (as CommonMark strips it)."""
    removed = 0
    while removed < indent and removed < len(line) and line[removed] in " \t":
        removed += 1
    return line[removed:]
