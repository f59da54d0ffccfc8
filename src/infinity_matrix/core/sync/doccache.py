"""The in-process tier of document caching: live Yjs documents kept between writes.

Loading an entry's document from its stored state costs more than the edit itself, so the log
keeps recently written documents. Each is valid for exactly one seq of its entry: a writer on
another node moves the entry's seq on and the cached copy is simply never used again. A
document is taken out while a transaction edits it and put back only after that transaction
commits, so a rolled-back edit can never leak into the cache.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from infinity_matrix.core.sync.documents import Document


@dataclass(slots=True)
class _Cached:
    seq: int
    doc: Document
    weight: int


class DocumentCache:
    """A bounded LRU of documents keyed by (workspace, key), weighted by value size."""

    def __init__(self, *, max_entries: int = 1024, max_bytes: int = 64 * 1024 * 1024) -> None:
        self._items: OrderedDict[tuple[str, str], _Cached] = OrderedDict()
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def take(self, workspace: str, key: str, seq: int) -> Document | None:
        """Remove and return the document if it is the one for ``seq``; else None."""
        item = self._items.pop((workspace, key), None)
        if item is not None:
            self._bytes -= item.weight
            if item.seq == seq:
                self.hits += 1
                return item.doc
        self.misses += 1
        return None

    def put(self, workspace: str, key: str, seq: int, doc: Document, size: int) -> None:
        previous = self._items.pop((workspace, key), None)
        if previous is not None:
            self._bytes -= previous.weight
        weight = max(size, 1)
        if weight > self._max_bytes:
            return
        self._items[(workspace, key)] = _Cached(seq, doc, weight)
        self._bytes += weight
        while len(self._items) > self._max_entries or self._bytes > self._max_bytes:
            _, evicted = self._items.popitem(last=False)
            self._bytes -= evicted.weight

    def __len__(self) -> int:
        return len(self._items)

    def figures(self) -> dict[str, float]:
        """For ``/metrics``: hits and misses so far, entries and bytes held now."""
        return {
            "hits": self.hits,
            "misses": self.misses,
            "entries": len(self._items),
            "bytes": self._bytes,
        }
