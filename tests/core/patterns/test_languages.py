"""Fingerprints of JavaScript, TypeScript, Go, Rust and Java through tree-sitter (the
``patterns`` extra): the same for renamed and reformatted copies, different when the logic
changes, and no units at all when the grammar is not installed."""

from __future__ import annotations

import pytest

from infinity_matrix.core.patterns import languages
from infinity_matrix.core.patterns.languages import GRAMMARS, tree_sitter_units

pytest.importorskip("tree_sitter", reason="the patterns extra is not installed")

JS = """
// Sum the prices of the paid items, with tax.
function total(items, tax) {
  let result = 0;
  let count = 0;
  for (const item of items) {
    if (item.paid) {
      result += item.price * (1 + tax); /* taxed */
      count += 1;
    }
  }
  console.log(`total ${result} for ${count} items`);
  return { total: result, count: count };
}
"""

JS_RENAMED = """
function grandTotal(xs, rate) {let acc = 0
  let n = 0
  for (const x of xs) { if (x.paid) { acc += x.price * (1 + rate); n += 1 } }
  console.log(`sum: ${acc} / ${n}`)
  return {total: acc, count: n}}
"""

TS = """
function total(items: Item[], tax: number): { total: number; count: number } {
  let result: number = 0;
  let count: number = 0;
  for (const item of items) {
    if (item.paid) {
      result += item.price * (1 + tax);
      count += 1;
    }
  }
  console.log(`total ${result} for ${count} items`);
  return { total: result, count: count };
}
"""


def fingerprints(source: str, language: str) -> list[str]:
    return [u.fingerprint for u in tree_sitter_units(source, language) if u.kind == "function"]


def test_every_grammar_of_the_extra_loads_offline() -> None:
    assert languages.available() == list(GRAMMARS)


def test_renamed_and_reformatted_javascript_shares_the_fingerprint() -> None:
    assert fingerprints(JS_RENAMED, "javascript") == fingerprints(JS, "javascript")
    assert len(fingerprints(JS, "javascript")) == 1


def test_typescript_without_its_annotations_matches_javascript() -> None:
    assert fingerprints(TS, "typescript") == fingerprints(JS, "javascript")


def test_a_change_of_logic_changes_a_javascript_fingerprint() -> None:
    changed = [
        JS.replace("result += item", "result -= item"),
        JS.replace("if (item.paid)", "if (!item.paid)"),
        JS.replace("item.price", "item.cost"),
    ]

    prints = {fingerprints(s, "javascript")[0] for s in changed}

    assert len(prints) == 3
    assert fingerprints(JS, "javascript")[0] not in prints


def test_members_of_this_are_renamed_consistently() -> None:
    source = """
    class Cache {
      put(key, value) {
        if (this.items.size >= this.limit) {
          const oldest = this.items.keys().next().value;
          this.items.delete(oldest);
          this.evictions += 1;
        }
        this.items.set(key, value);
        return value;
      }
    }
    """
    renamed = source.replace("items", "store").replace("limit", "cap")

    def put(text: str) -> str:
        units = tree_sitter_units(text, "javascript")
        return next(u.fingerprint for u in units if u.name == "Cache.put")

    assert put(renamed) == put(source)
    assert put(source.replace(".delete(", ".remove(")) != put(source)


@pytest.mark.parametrize(
    ("language", "source", "renamed"),
    [
        (
            "go",
            """package main
func Sum(xs []int, limit int) int {
	total := 0
	for _, x := range xs {
		if x > 0 && x < limit {
			total += x * 2
		}
	}
	fmt.Println("total", total)
	return total
}
""",
            """package main
// Add adds.
func Add(values []int, max int) int {
	acc := 0
	for _, v := range values { if v > 0 && v < max { acc += v * 3 } }
	fmt.Println("sum", acc)
	return acc
}
""",
        ),
        (
            "rust",
            """fn sum(xs: &[i64], limit: i64) -> i64 {
    let mut total = 0;
    for x in xs.iter() {
        if *x > 0 && *x < limit {
            total += x * 2;
        }
    }
    println!("total {}", total);
    total
}
""",
            """fn add(values: &[i64], max: i64) -> i64 {
    // accumulate
    let mut acc = 0;
    for v in values.iter() { if *v > 0 && *v < max { acc += v * 7; } }
    println!("sum {}", acc);
    acc
}
""",
        ),
        (
            "java",
            """class A {
  int sum(int[] xs, int limit) {
    int total = 0;
    for (int x : xs) {
      if (x > 0 && x < limit) {
        total += x * 2;
      }
    }
    System.out.println("total " + total);
    return total;
  }
}
""",
            """class B {
  /** Adds. */
  int add(int[] values, int max) {
    int acc = 0;
    for (int v : values) { if (v > 0 && v < max) { acc += v * 5; } }
    System.out.println("sum " + acc);
    return acc;
  }
}
""",
        ),
    ],
)
def test_renamed_and_reformatted_functions_match_in_go_rust_and_java(
    language: str, source: str, renamed: str
) -> None:
    assert fingerprints(renamed, language) == fingerprints(source, language)
    assert fingerprints(source, language)


def test_a_grammar_that_is_not_installed_yields_no_units(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = languages.Grammar(
        "cobol",
        "tree_sitter_cobol_not_installed",
        "language",
        frozenset(),
        frozenset(),
        frozenset(),
    )
    monkeypatch.setitem(GRAMMARS, "cobol", missing)

    assert tree_sitter_units("IDENTIFICATION DIVISION.", "cobol") == []
    assert "cobol" not in languages.available()
    assert tree_sitter_units("x", "no-such-language") == []
