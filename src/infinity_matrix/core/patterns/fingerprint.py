"""Code units and their syntax fingerprints: what two pieces of code share when one is the other
with identifiers renamed, formatting, comments and docstrings changed, or independent statements
reordered.

A fingerprint hashes a normalised token stream of a unit's syntax tree (``python.py`` for Python
through ``ast``, ``languages.py`` for the tree-sitter grammars). Units below a minimum mass (the
number of syntax nodes they keep) are trivial code and are not fingerprinted, so a getter or a
one-line wrapper never counts as a recurring pattern.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

UnitKind = Literal["function", "class", "block"]

# Masses are counts of syntax nodes after normalisation: a function of three or four ordinary
# lines weighs about 30, a six-line nested loop about 45.
MIN_MASS = 40
BLOCK_MIN_MASS = 45


@dataclass(frozen=True, slots=True)
class CodeUnit:
    """One function, class or significant statement block, with lines counted from 1 in the
    text it came from."""

    fingerprint: str
    name: str
    kind: UnitKind
    language: str
    start_line: int
    end_line: int
    mass: int

    def shifted(self, lines: int) -> CodeUnit:
        """The same unit ``lines`` further down (a snippet inside a longer text)."""
        return CodeUnit(
            fingerprint=self.fingerprint,
            name=self.name,
            kind=self.kind,
            language=self.language,
            start_line=self.start_line + lines,
            end_line=self.end_line + lines,
            mass=self.mass,
        )


@dataclass(frozen=True, slots=True)
class Occurrence:
    """Where a fingerprint occurs: a unit of a context entry (``seq`` of the entry's version)."""

    key: str
    name: str
    language: str
    start_line: int
    end_line: int
    seq: int

    def contains(self, other: Occurrence) -> bool:
        return (
            self.key == other.key
            and self.start_line <= other.start_line
            and other.end_line <= self.end_line
        )


@dataclass(frozen=True, slots=True)
class Pattern:
    """A fingerprint that occurs in at least two distinct context entries."""

    fingerprint: str
    kind: UnitKind
    language: str
    mass: int
    occurrences: tuple[Occurrence, ...]

    @property
    def keys(self) -> list[str]:
        return sorted({o.key for o in self.occurrences})


def digest(language: str, tokens: Iterable[str]) -> str:
    """The fingerprint of a normalised token stream: 128 bits of BLAKE2b, hex."""
    h = hashlib.blake2b(digest_size=16)
    h.update(language.encode())
    for token in tokens:
        h.update(b"\x00")
        h.update(token.encode())
    return h.hexdigest()


def maximal(patterns: Sequence[Pattern]) -> list[Pattern]:
    """The patterns not implied by a larger one: a pattern is dropped when each of its
    occurrences lies inside an occurrence of another recurring pattern (the loop inside a cloned
    function recurs because the function does). Of two patterns on the very same lines, the one
    with the smaller fingerprint stays."""
    by_key: dict[str, list[tuple[Occurrence, str]]] = {}
    for pattern in patterns:
        for occurrence in pattern.occurrences:
            by_key.setdefault(occurrence.key, []).append((occurrence, pattern.fingerprint))

    def implied(occurrence: Occurrence, fingerprint: str) -> bool:
        for big, other in by_key[occurrence.key]:
            if other == fingerprint or not big.contains(occurrence):
                continue
            same_lines = (big.start_line, big.end_line) == (
                occurrence.start_line,
                occurrence.end_line,
            )
            if not same_lines or other < fingerprint:
                return True
        return False

    return [p for p in patterns if not all(implied(o, p.fingerprint) for o in p.occurrences)]
