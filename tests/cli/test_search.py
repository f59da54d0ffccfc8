"""``imx ctx search`` against a real hub: ranked hits as a table or JSON, prefix and limit, and
a query with no word failing with its code."""

from __future__ import annotations

from tests.cli.harness import Imx


def _seed(imx: Imx) -> None:
    imx.seq("ctx", "put", "notes/redis", "Sessions expire\nafter an hour.")
    imx.seq("ctx", "put", "notes/deployment", "We deploy with Helm; the cache is Redis.")
    imx.seq("ctx", "put", "decisions/0001", '{"store": "Redis", "why": "streams"}', "--json-data")


def test_search_prints_the_best_hits_first_as_json(imx: Imx) -> None:
    _seed(imx)

    hits = imx.json("ctx", "search", "redis")

    assert [h["key"] for h in hits][:1] == ["notes/redis"]
    assert sorted(h["key"] for h in hits) == ["decisions/0001", "notes/deployment", "notes/redis"]
    assert set(hits[0]) == {"key", "kind", "snippet", "score", "seq", "updated_at"}
    [decision] = [h for h in hits if h["key"] == "decisions/0001"]
    assert decision["kind"] == "json"
    assert "**Redis**" in decision["snippet"]


def test_search_prints_a_table_with_one_line_snippets(imx: Imx) -> None:
    _seed(imx)

    rows = imx.rows("ctx", "search", "sessions")

    assert len(rows) == 1
    key, kind, _score, _seq, *snippet = rows[0]
    assert (key, kind) == ("notes/redis", "text")
    assert " ".join(snippet) == "**Sessions** expire after an hour."


def test_prefix_and_limit_narrow_the_hits(imx: Imx) -> None:
    _seed(imx)

    narrowed = imx.json("ctx", "search", "redis", "--prefix", "decisions/")
    assert [h["key"] for h in narrowed] == ["decisions/0001"]
    assert [h["key"] for h in imx.json("ctx", "search", "redis", "-n", "1")] == ["notes/redis"]


def test_the_last_word_matches_as_a_prefix(imx: Imx) -> None:
    _seed(imx)
    assert [h["key"] for h in imx.json("ctx", "search", "deploy hel")] == ["notes/deployment"]


def test_a_query_with_no_word_exits_1_with_search_invalid_query(imx: Imx) -> None:
    result = imx("ctx", "search", '"()"')
    assert result.exit_code == 1
    assert result.stderr.startswith("error: search.invalid_query: ")


def test_a_limit_over_100_is_a_usage_error(imx: Imx) -> None:
    assert imx("ctx", "search", "redis", "--limit", "101").exit_code == 2
