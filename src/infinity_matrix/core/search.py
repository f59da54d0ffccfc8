"""Full-text search, free of any database: what a hit is, and a user's query parsed into words.

A user types free text; ``parse_query`` keeps only words, so nothing a user types can become
operator syntax of SQLite FTS5 or of a PostgreSQL ``tsquery`` (``storage/search.py`` renders a
``SearchQuery`` for each). The query language, the same on both databases:

- words are runs of letters and digits; everything else separates them (case is ignored);
- a chunk with separators inside (``src/app.py``, ``foo_bar``) is a phrase of its words;
- ``"quoted words"`` form a phrase (an unclosed quote runs to the end);
- ``-word`` or ``-"a phrase"`` excludes entries that contain it;
- every other word must occur (AND); the last one also matches as a prefix, so that typing
  ahead works (``archi`` finds ``architecture``), unless the query ends with a space.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from infinity_matrix.core.records import Kind
from infinity_matrix.errors import InvalidInput

MAX_QUERY_LENGTH = 500
# How matches are marked in a snippet: Markdown bold, readable as is by people and models.
HIGHLIGHT_START = "**"
HIGHLIGHT_STOP = "**"
SNIPPET_ELLIPSIS = "…"


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One entry that matched: ``score`` is higher for better matches and comparable only
    between hits of one result; ``snippet`` is a short excerpt with matches in ``**``."""

    key: str
    kind: Kind
    snippet: str
    score: float
    seq: int
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "snippet": self.snippet,
            "score": self.score,
            "seq": self.seq,
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Phrase:
    """Words that must occur together, in this order; with ``prefix`` the last one may be the
    start of a longer word. Words hold letters and digits only."""

    words: tuple[str, ...]
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A parsed query: every ``include`` phrase must match, no ``exclude`` phrase may."""

    include: tuple[Phrase, ...]
    exclude: tuple[Phrase, ...] = ()


def parse_query(text: str) -> SearchQuery:
    """Parse a user's query (see the module's docstring); never fails on odd characters.

    Raises ``InvalidInput`` (``search.invalid_query``) when the query is longer than
    ``MAX_QUERY_LENGTH`` characters or has no word to look for.
    """
    if len(text) > MAX_QUERY_LENGTH:
        raise InvalidInput(
            f"the query is longer than {MAX_QUERY_LENGTH} characters", code="search.invalid_query"
        )
    include: list[Phrase] = []
    exclude: list[Phrase] = []
    last_bare = False
    for chunk, quoted, negated in _chunks(text):
        words = tuple(_words(chunk))
        if not words:
            continue
        (exclude if negated else include).append(Phrase(words))
        last_bare = not quoted and not negated
    if not include:
        raise InvalidInput("the query has no word to search for", code="search.invalid_query")
    if last_bare and not text[-1].isspace():
        include[-1] = Phrase(include[-1].words, prefix=True)
    return SearchQuery(tuple(include), tuple(exclude))


def is_word_character(char: str) -> bool:
    """Letters, digits and private-use characters: what SQLite's ``unicode61`` tokenizer keeps
    (its default ``categories 'L* N* Co'``); everything else separates words."""
    category = unicodedata.category(char)
    return category[0] in "LN" or category == "Co"


def _chunks(text: str) -> list[tuple[str, bool, bool]]:
    """``(chunk, quoted, negated)`` for each whitespace-separated chunk or quoted phrase."""
    chunks: list[tuple[str, bool, bool]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        negated = text[i] == "-" and i + 1 < n and not text[i + 1].isspace()
        if negated:
            i += 1
        if text[i] == '"':
            end = text.find('"', i + 1)
            end = n if end < 0 else end
            chunks.append((text[i + 1 : end], True, negated))
            i = end + 1
            continue
        start = i
        while i < n and not text[i].isspace() and text[i] != '"':
            i += 1
        chunks.append((text[start:i], False, negated))
    return chunks


def _words(chunk: str) -> list[str]:
    words: list[str] = []
    current: list[str] = []
    for char in chunk:
        if is_word_character(char):
            current.append(char)
        elif current:
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    return words
