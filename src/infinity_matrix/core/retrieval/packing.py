"""Packing: ranked items into a token budget, greedily by score, the last one cut to fit.

Items are taken best first while they fit whole. The first one that does not fit is cut at
the last line or sentence boundary that fits, if at least ``MIN_CUT_TOKENS`` remain, and
packing stops there: a reader gets whole items and at most one cut at the end. When less than
that remains, or not even the item's first sentence fits, the item is skipped and smaller ones
further down may still fit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from infinity_matrix.core.retrieval.ranking import Ranked
from infinity_matrix.core.retrieval.records import RetrievedItem
from infinity_matrix.core.retrieval.tokens import Family, estimate_tokens

MIN_CUT_TOKENS = 32
# The line of provenance an injector prints above each item: "[insight 12 · decision · …]".
HEADER_TOKENS = 12
CUT_MARK = " …"
# After a line break, or after a sentence's end followed by white space.
_BOUNDARIES = re.compile(r"\n|(?<=[.!?;:])\s")


def pack(ranked: Sequence[Ranked], budget: int, family: Family) -> tuple[list[RetrievedItem], int]:
    """The items that fit in ``budget`` tokens (headers included) and the tokens they use."""
    items: list[RetrievedItem] = []
    used = 0
    for entry in ranked:
        room = budget - used
        if room < HEADER_TOKENS + 1:
            break
        tokens = estimate_tokens(entry.candidate.text, family) + HEADER_TOKENS
        if tokens <= room:
            items.append(RetrievedItem(entry.candidate, entry.score, entry.candidate.text, tokens))
            used += tokens
            continue
        if room < MIN_CUT_TOKENS:
            continue
        text = cut(entry.candidate.text, room - HEADER_TOKENS, family)
        if not text:  # not even its first sentence fits: smaller items still may
            continue
        tokens = estimate_tokens(text, family) + HEADER_TOKENS
        items.append(RetrievedItem(entry.candidate, entry.score, text, tokens, truncated=True))
        used += tokens
        break
    return items, used


def cut(text: str, budget: int, family: Family) -> str:
    """The longest prefix of ``text`` ending at a line or sentence boundary that costs at most
    ``budget`` tokens with the cut mark; "" when not even the first sentence fits."""
    ends = [m.start() for m in _BOUNDARIES.finditer(text)]
    # Binary search over boundaries: the cost grows with the prefix.
    low, high, best = 0, len(ends) - 1, ""
    while low <= high:
        middle = (low + high) // 2
        candidate = text[: ends[middle]].rstrip() + CUT_MARK
        if estimate_tokens(candidate, family) <= budget:
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    return best
