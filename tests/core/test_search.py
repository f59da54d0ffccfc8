"""``parse_query`` turns any user text into words, phrases and exclusions, never syntax."""

from __future__ import annotations

import pytest

from infinity_matrix.core.search import Phrase, SearchQuery, parse_query
from infinity_matrix.errors import InvalidInput


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("redis", SearchQuery((Phrase(("redis",), prefix=True),))),
        ("redis cache ", SearchQuery((Phrase(("redis",)), Phrase(("cache",))))),
        ("src/app.py", SearchQuery((Phrase(("src", "app", "py"), prefix=True),))),
        ('"event log" is', SearchQuery((Phrase(("event", "log")), Phrase(("is",), prefix=True)))),
        ('truth "event log', SearchQuery((Phrase(("truth",)), Phrase(("event", "log"))))),
        ("truth -about", SearchQuery((Phrase(("truth",)),), (Phrase(("about",)),))),
        (
            'a -"b c" d',
            SearchQuery((Phrase(("a",)), Phrase(("d",), prefix=True)), (Phrase(("b", "c")),)),
        ),
        ('foo" AND (', SearchQuery((Phrase(("foo",)), Phrase(("AND",))))),
        ("NEAR(a b)", SearchQuery((Phrase(("NEAR", "a")), Phrase(("b",), prefix=True)))),
        (
            "naïve café 日本語",
            SearchQuery((Phrase(("naïve",)), Phrase(("café",)), Phrase(("日本語",), prefix=True))),
        ),
        ("foo_bar\x00baz", SearchQuery((Phrase(("foo", "bar", "baz"), prefix=True),))),
        ("a - b", SearchQuery((Phrase(("a",)), Phrase(("b",), prefix=True)))),
    ],
)
def test_queries_parse_into_words_phrases_and_exclusions(text: str, expected: SearchQuery) -> None:
    assert parse_query(text) == expected


@pytest.mark.parametrize("text", ["", "   ", '"', '""', "()*:^", "-redis", '-"a b"', "x" * 501])
def test_a_query_without_a_word_to_find_or_too_long_is_invalid(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_query(text)
    assert caught.value.code == "search.invalid_query"
