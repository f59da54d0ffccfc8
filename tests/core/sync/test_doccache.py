from infinity_matrix.core.sync.doccache import DocumentCache
from infinity_matrix.core.sync.documents import Document


def test_a_cached_document_is_served_only_for_its_seq() -> None:
    cache = DocumentCache()
    doc = Document()
    cache.put("ws", "k", 7, doc, size=10)

    assert cache.take("ws", "k", 8) is None  # another writer moved the entry on
    assert cache.take("ws", "k", 7) is None  # a stale copy is dropped, never served later
    cache.put("ws", "k", 9, doc, size=10)
    assert cache.take("ws", "k", 9) is doc
    assert cache.take("ws", "k", 9) is None  # taken out while a transaction edits it
    assert (cache.hits, cache.misses) == (1, 3)


def test_the_cache_evicts_least_recently_used_by_count_and_by_bytes() -> None:
    cache = DocumentCache(max_entries=2, max_bytes=100)
    for n in range(3):
        cache.put("ws", f"k{n}", 1, Document(), size=10)
    assert len(cache) == 2
    assert cache.take("ws", "k0", 1) is None

    cache.put("ws", "big", 1, Document(), size=95)
    assert len(cache) == 1
    cache.put("ws", "huge", 1, Document(), size=1000)  # larger than the whole cache
    assert cache.take("ws", "huge", 1) is None
