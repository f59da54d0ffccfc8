"""When two insights say the same thing: normalised token sets and word shingles (pure).

An insight's *features* are the words of its title and body, normalised (Unicode NFKC, case
folded, a few English stop words dropped, a crude plural/tense suffix stripped) together with
the pairs of adjacent such words (2-shingles). The similarity of two insights is the Jaccard
index of their feature sets: word sets catch rephrasing and reordering, shingles keep "run
migrations before tests" apart from "run tests before migrations".

Two insights are *near-duplicates* when they agree on the facts that single words carry — the
same numbers (``port 5432`` is not ``port 5433``) and the same polarity (an odd number of
negations — ``not``, ``never``, ``don't`` … — on one side only is a contradiction, not a
repeat) — and either their similarity is at least ``SAME`` (0.8), or it is at least
``NEAR_DUPLICATE`` (0.5) and nothing was substituted: the title words of one include those of
the other, and so do the body words. A word swapped for another ("use Poetry" / "use uv") is
how a different answer to the same question reads, and it cannot be told from a synonym ("DB"
/ "database") without semantics, so below 0.8 it is never taken for a repeat: a missed repeat
costs a second record (or, on one topic, a visible conflict), a false one would swallow a
contradiction.
Measured: "Staging DB listens on port 5433" / "The staging DB listens on port 5433." 1.0;
/ "Port 5433 is where the staging DB listens" 0.57; "Use Poetry for dependency management" /
"Use uv for dependency management" (same title) 0.5 but substituted; "Run migrations before
tests" / "Run tests before migrations" 0.45.
"""

from __future__ import annotations

import itertools
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

NEAR_DUPLICATE = 0.5  # when one side's words include the other's
SAME = 0.8  # when each side has words the other lacks
MAX_CANDIDATE_WORDS = 12  # the rarest-looking words a candidate lookup searches for

_STOP_WORDS = (
    "a an and are as at be been but by for from has have in into is it its of on or so that"
    " the their then there these this those to was were will with we you i our your"
)
_NEGATION_WORDS = (
    "not no never none nothing nor cannot cant dont doesnt didnt isnt arent wasnt werent"
    " wont shouldnt mustnt avoid without"
)
_STOP = frozenset(_STOP_WORDS.split())
_NEGATIONS = frozenset(_NEGATION_WORDS.split())
_SUFFIXES = ("ies", "es", "s", "ed", "ing")


@dataclass(frozen=True, slots=True)
class Features:
    """What similarity compares: the normalised words, their 2-shingles, numbers, polarity."""

    words: frozenset[str]
    raw: frozenset[str]  # the same words before stemming: what the full-text index holds
    fields: tuple[frozenset[str], frozenset[str]]  # the words of the title, of the body
    shingles: frozenset[tuple[str, str]]
    numbers: frozenset[str]
    negated: bool

    @property
    def size(self) -> int:
        return len(self.words) + len(self.shingles)


def words(text: str) -> list[str]:
    """The text's words in order: runs of letters and digits, NFKC-normalised and case-folded
    (an apostrophe inside a word is dropped, so "don't" is "dont")."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("'", "").replace("\u2019", "")
    found: list[str] = []
    current: list[str] = []
    for char in text:
        if char.isalnum():
            current.append(char)
        elif current:
            found.append("".join(current))
            current = []
    if current:
        found.append("".join(current))
    return found


@lru_cache(maxsize=1024)  # an insight's text never changes; candidates recur
def features(title: str, body: str) -> Features:
    fields = [words(title), words(body)]
    raw = [w for field in fields for w in field]
    negations = sum(1 for w in raw if w in _NEGATIONS)
    # Shingles within a field only: the title's last word does not precede the body's first.
    content = [[w for w in field if w not in _STOP and w not in _NEGATIONS] for field in fields]
    kept = [[_stem(w) for w in field] for field in content]
    return Features(
        words=frozenset(w for field in kept for w in field),
        raw=frozenset(w for field in content for w in field),
        fields=(frozenset(kept[0]), frozenset(kept[1])),
        shingles=frozenset(pair for field in kept for pair in itertools.pairwise(field)),
        numbers=frozenset(w for w in raw if any(c.isdigit() for c in w)),
        negated=negations % 2 == 1,
    )


def similarity(a: Features, b: Features) -> float:
    """The Jaccard index of the two feature sets (words and shingles together), 0 to 1."""
    if not a.size and not b.size:
        return 1.0
    common = len(a.words & b.words) + len(a.shingles & b.shingles)
    return common / (a.size + b.size - common)


def near_duplicate(a: Features, b: Features) -> float | None:
    """The similarity when ``a`` and ``b`` are near-duplicates (see the module), else None."""
    if a.numbers != b.numbers or a.negated != b.negated:
        return None
    score = similarity(a, b)
    if score >= SAME:
        return score
    substituted = any(
        bool(mine - theirs) and bool(theirs - mine)
        for mine, theirs in zip(a.fields, b.fields, strict=True)
    )
    return score if score >= NEAR_DUPLICATE and not substituted else None


def candidate_words(f: Features) -> list[str]:
    """Words to look candidates up by, as written (any of them may match): numbers, then the
    longest words, since long words are the rarer ones; at most ``MAX_CANDIDATE_WORDS``. A
    near-duplicate shares most of its words, so it shares some of these."""
    ranked = sorted(f.raw | f.numbers, key=lambda w: (w not in f.numbers, -len(w), w))
    return ranked[:MAX_CANDIDATE_WORDS]


def _stem(word: str) -> str:
    """Strip one common English suffix from a longer word (database/databases, run/running)."""
    if len(word) <= 4 or word.isdigit():
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word
