"""Offline token estimates per target assistant: how much of a budget a text costs.

Exact counts need each vendor's tokenizer, and the usual library for them (tiktoken) downloads
its tables at run time, which the hub never does. The estimate instead counts what byte-pair
and SentencePiece tokenizers do with text:

- a run of letters costs one token per ``chars_per_token`` letters, rounded up (common English
  words are one token; long identifiers split into several);
- a run of digits costs one token per three digits (numbers are split in groups of three);
- each punctuation or symbol character is one token;
- every line break is one token; other white space is folded into the following word.

Each family multiplies that count by a factor taken from the vendors' own guidance (OpenAI:
about four characters per token of English; Anthropic's tokenizer yields somewhat more tokens
for the same text; Gemini: about four characters per token). The estimate is meant to be a
little high, never low: an assistant handed a package that overflows its budget loses the end
of its prompt, one handed a package slightly under it loses nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PIECES = re.compile(r"[^\W\d_]+|\d+|\n|[^\w\s]|_")


@dataclass(frozen=True, slots=True)
class Family:
    """How one family of tokenizers is estimated."""

    name: str
    chars_per_token: float
    factor: float


FAMILIES: dict[str, Family] = {
    "openai": Family("openai", 4.0, 1.0),  # GPT-4o / o-series (o200k), Copilot, Cursor
    "anthropic": Family("anthropic", 3.6, 1.1),  # Claude
    "gemini": Family("gemini", 4.0, 1.05),  # Gemini (SentencePiece)
    "generic": Family("generic", 3.5, 1.1),  # local models and anything unknown
}

# Substrings of a target's name, looked for in this order.
_TARGETS: tuple[tuple[str, str], ...] = (
    ("claude", "anthropic"),
    ("anthropic", "anthropic"),
    ("gemini", "gemini"),
    ("google", "gemini"),
    ("vertex", "gemini"),
    ("gpt", "openai"),
    ("openai", "openai"),
    ("chatgpt", "openai"),
    ("copilot", "openai"),
    ("cursor", "openai"),
    ("codex", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
)


def family_of(target: str) -> Family:
    """The tokenizer family of a target assistant or model name (``generic`` if unknown)."""
    lowered = target.lower()
    for needle, family in _TARGETS:
        if needle in lowered:
            return FAMILIES[family]
    return FAMILIES["generic"]


def estimate_tokens(text: str, family: Family) -> int:
    """Tokens ``text`` costs in ``family`` (see the module's docstring); 0 for empty text."""
    count = 0.0
    for piece in _PIECES.findall(text):
        first = piece[0]
        if first.isdigit():
            count += -(-len(piece) // 3)
        elif first.isalpha():
            count += -(-len(piece) // family.chars_per_token)
        else:
            count += 1
    return int(count * family.factor + 0.999)
