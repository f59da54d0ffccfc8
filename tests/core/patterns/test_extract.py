"""Code units of context entries: source files by extension, fenced blocks of notes and answers
with lines counted in the entry, nothing from prose; and which recurring fingerprints a larger
one implies."""

from __future__ import annotations

import textwrap

from infinity_matrix.core.patterns.extract import (
    Fence,
    entry_units,
    fences,
    language_of_key,
    may_hold_code,
)
from infinity_matrix.core.patterns.fingerprint import Occurrence, Pattern, maximal

FUNCTION = textwrap.dedent(
    """\
    def summarize(orders, tax_rate):
        total = 0
        count = 0
        for order in orders:
            if order.paid:
                total += order.amount * (1 + tax_rate)
                count += 1
        return {"total": round(total, 2), "count": count}
    """
)


def test_keys_name_their_language_by_extension() -> None:
    assert [
        language_of_key(k)
        for k in ("src/app.py", "web/x.TS", "a/b.tsx", "main.go", "notes/plan.md", "editor/active")
    ] == ["python", "typescript", "tsx", "go", None, None]


def test_a_source_file_is_code_with_its_own_line_numbers() -> None:
    text = "import os\n\n\n" + FUNCTION

    units = entry_units("src/orders.py", text)

    assert [(u.name, u.kind, u.start_line, u.end_line) for u in units] == [
        ("summarize", "function", 4, 11)
    ]


def test_an_answer_contributes_its_fenced_blocks_at_their_lines_in_the_entry() -> None:
    answer = (
        "Here is how to total the orders:\n"
        "\n"
        "```python\n" + FUNCTION + "```\n"
        "\n"
        "And the same in a list item:\n"
        "1. Step one\n"
        "   ~~~py title=orders.py\n" + textwrap.indent(FUNCTION, "   ") + "   ~~~\n"
    )

    units = entry_units("answers/claude/42", answer)

    assert [(u.name, u.start_line, u.end_line) for u in units] == [
        ("summarize", 4, 11),
        ("summarize", 17, 24),
    ]
    assert units[0].fingerprint == units[1].fingerprint


def test_fences_report_their_language_and_skip_unknown_ones() -> None:
    text = "```bash\nls -la\n```\n```\nx = 1\n```\n```ts\nlet a = 1;\n```\n````js\nf()\n"

    assert fences(text) == [
        Fence(None, "", "x = 1", 4),
        Fence("typescript", "ts", "let a = 1;", 7),
        Fence("javascript", "js", "f()\n", 10),
    ]


def test_prose_json_and_untagged_text_that_is_not_python_yield_nothing() -> None:
    assert entry_units("notes/plan.md", "We will total the orders.\n\nThen ship.") == []
    assert entry_units("notes/plan.md", "```\nthis is not python at all {\n```") == []
    assert entry_units("notes/plan.md", None) == []
    assert entry_units("src/broken.py", "def (:") == []
    assert not may_hold_code("notes/plan.md", "no fence here")
    assert may_hold_code("notes/plan.md", "see ```python")
    assert may_hold_code("src/app.py", "x = 1")
    assert not may_hold_code("src/app.py", "")


def _pattern(fingerprint: str, *spans: tuple[str, int, int]) -> Pattern:
    return Pattern(
        fingerprint,
        "block",
        "python",
        50,
        tuple(Occurrence(k, "f", "python", a, b, 1) for k, a, b in spans),
    )


def test_a_pattern_inside_a_larger_recurring_one_is_implied_by_it() -> None:
    function = _pattern("f1", ("a.py", 10, 30), ("b.py", 1, 21))
    loop = _pattern("f2", ("a.py", 12, 20), ("b.py", 3, 11))
    loop_elsewhere_too = _pattern("f3", ("a.py", 14, 18), ("b.py", 5, 9), ("c.py", 1, 5))
    same_lines = _pattern("f0", ("a.py", 10, 30), ("b.py", 1, 21))

    kept = maximal([function, loop, loop_elsewhere_too, same_lines])

    assert [p.fingerprint for p in kept] == ["f3", "f0"]
