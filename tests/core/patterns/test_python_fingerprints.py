"""Python fingerprints: the same for code renamed, reformatted or with independent statements
reordered; different when the logic changes; nothing for trivial code."""

from __future__ import annotations

import textwrap

from hypothesis import given, settings
from hypothesis import strategies as st

from infinity_matrix.core.patterns.fingerprint import CodeUnit
from infinity_matrix.core.patterns.python import python_units

ORIGINAL = '''
def summarize(orders, tax_rate):
    """Total and count of the paid orders."""
    total = 0
    count = 0
    for order in orders:
        if order.paid:  # only paid ones
            total += order.amount * (1 + tax_rate)
            count += 1
    average = total / count if count else 0
    return {"total": round(total, 2), "count": count, "average": average}
'''

RENAMED = """
def report(items, rate):
    acc = 0
    n = 0
    for it in items:
        if it.paid:
            acc += it.amount * (1 + rate)
            n += 1
    mean = acc / n if n else 0
    return {'total': round(acc, 2), 'count': n, 'average': mean}
"""

REFORMATTED = """
def summarize(orders,
              tax_rate):
    # a comment where the docstring was
    total = 0; count = 0

    for order in orders:
        if order.paid: total += order.amount * (1 + tax_rate); count += 1
    average = (total / count) if count else 0
    return {
        "total": round(total, 2),
        "count": count,
        "average": average,
    }
"""

REORDERED = """
def summarize(orders, tax_rate):
    count = 0
    total = 0
    for order in orders:
        if order.paid:
            count += 1
            total += order.amount * (1 + tax_rate)
    average = total / count if count else 0
    return {"total": round(total, 2), "count": count, "average": average}
"""


def functions(source: str) -> list[CodeUnit]:
    return [u for u in python_units(textwrap.dedent(source)) if u.kind == "function"]


def fingerprint(source: str) -> str:
    (unit,) = [u for u in functions(source) if "." not in u.name]
    return unit.fingerprint


def test_renamed_reformatted_and_reordered_copies_share_the_fingerprint() -> None:
    original = fingerprint(ORIGINAL)

    assert [fingerprint(s) for s in (RENAMED, REFORMATTED, REORDERED)] == [original] * 3


def test_a_change_of_logic_changes_the_fingerprint() -> None:
    changes = [
        ORIGINAL.replace("total += order", "total -= order"),
        ORIGINAL.replace("if order.paid", "if not order.paid"),
        ORIGINAL.replace("count += 1\n", "pass\n"),
        ORIGINAL.replace("round(total, 2)", "int(total)"),  # another function called
        ORIGINAL.replace("order.amount", "order.price"),  # another attribute read
        ORIGINAL.replace("round(total, 2)", 'round(total, "2")'),  # a literal of another type
    ]

    prints = {fingerprint(s) for s in changes}

    assert len(prints) == len(changes)
    assert fingerprint(ORIGINAL) not in prints


def test_dependent_statements_keep_their_order() -> None:
    first = """
    def step(state, delta):
        state.value = state.value + delta
        state.history.append(state.value)
        log = [entry for entry in state.history if entry > 0]
        return log, len(log), sum(log)
    """
    swapped = """
    def step(state, delta):
        state.history.append(state.value)
        state.value = state.value + delta
        log = [entry for entry in state.history if entry > 0]
        return log, len(log), sum(log)
    """

    assert fingerprint(first) != fingerprint(swapped)


def test_bare_calls_keep_their_order_and_assignments_from_calls_do_not() -> None:
    calls = """
    def publish(event, channel, retries):
        notify(channel, event.name, event.payload)
        record(channel, event.name, event.payload)
        attempts = [channel.send(event) for _ in range(retries)]
        return len(attempts) + sum(1 for a in attempts if a) + retries
    """
    swapped_calls = """
    def publish(event, channel, retries):
        record(channel, event.name, event.payload)
        notify(channel, event.name, event.payload)
        attempts = [channel.send(event) for _ in range(retries)]
        return len(attempts) + sum(1 for a in attempts if a) + retries
    """
    assignments = """
    def publish(event, channel, retries):
        first = notify(channel.primary, event.name)
        second = record(channel.backup, event.payload)
        attempts = [first.send(event) for _ in range(retries)]
        return len(attempts) + sum(1 for a in attempts if a) + second
    """
    swapped_assignments = """
    def publish(event, channel, retries):
        second = record(channel.backup, event.payload)
        first = notify(channel.primary, event.name)
        attempts = [first.send(event) for _ in range(retries)]
        return len(attempts) + sum(1 for a in attempts if a) + second
    """

    assert fingerprint(calls) != fingerprint(swapped_calls)
    assert fingerprint(assignments) == fingerprint(swapped_assignments)


def test_attributes_of_self_are_renamed_and_other_attributes_kept() -> None:
    method = """
    class Cache:
        def put(self, key, value):
            if len(self._items) >= self._limit:
                oldest = next(iter(self._items))
                del self._items[oldest]
            self._items[key] = value
            self.writes += 1
            return value
    """
    renamed = method.replace("_items", "_store").replace("_limit", "_cap").replace("writes", "puts")
    other_api = method.replace("next(iter(", "min(iter(")

    put = {u.name: u.fingerprint for u in functions(method)}["Cache.put"]
    assert {u.name: u.fingerprint for u in functions(renamed)}["Cache.put"] == put
    assert {u.name: u.fingerprint for u in functions(other_api)}["Cache.put"] != put


def test_a_method_pasted_without_its_class_matches_the_method() -> None:
    inside = """
    class Cache:
        def put(self, key, value):
            if len(self._items) >= self._limit:
                oldest = next(iter(self._items))
                del self._items[oldest]
                self.evictions += 1
            self._items[key] = value
            return value
    """
    pasted = """
    def put(self, k, v):
        if len(self._data) >= self._max:
            first = next(iter(self._data))
            del self._data[first]
            self.dropped += 1
        self._data[k] = v
        return v
    """

    (method,) = [u for u in functions(inside) if u.name == "Cache.put"]
    assert fingerprint(pasted) == method.fingerprint


def test_trivial_code_is_not_fingerprinted() -> None:
    source = """
    def name(self):
        return self._name

    def add(a, b):
        return a + b
    """

    assert python_units(textwrap.dedent(source)) == []


def test_units_carry_their_lines_from_the_first_decorator() -> None:
    source = textwrap.dedent(
        """
        import functools


        @functools.cache
        def fib(n):
            if n < 2:
                return n
            left = fib(n - 1)
            right = fib(n - 2)
            return left + right + 0 * len(str(n))
        """
    )

    units = python_units(source, min_mass=10, block_min_mass=5)

    assert [(u.name, u.kind, u.start_line, u.end_line) for u in units] == [
        ("fib", "function", 5, 11),
        ("fib:if", "block", 7, 8),
    ]


def test_significant_blocks_are_units_of_their_own() -> None:
    one = """
    def load(paths):
        found = {}
        for path in paths:
            with open(path) as handle:
                for number, line in enumerate(handle):
                    if line.strip() and not line.startswith("#"):
                        key, _, value = line.partition("=")
                        found[key.strip()] = (value.strip(), number)
        return found
    """
    other = """
    def gather(files, strict):
        if strict:
            raise ValueError(files)
        table = {}
        for name in files:
            with open(name) as stream:
                for i, text in enumerate(stream):
                    if text.strip() and not text.startswith("#"):
                        k, _, v = text.partition("=")
                        table[k.strip()] = (v.strip(), i)
        return table
    """

    def blocks(source: str) -> set[str]:
        return {u.fingerprint for u in python_units(textwrap.dedent(source)) if u.kind == "block"}

    assert fingerprint(one) != fingerprint(other)
    assert blocks(one) & blocks(other)


def test_code_that_does_not_parse_has_no_units() -> None:
    assert python_units("def broken(:\n    pass\n") == []
    assert python_units("") == []


_NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda n: (
        n not in {"if", "in", "is", "or", "and", "for", "not", "def", "del", "as", "try"}
        and n not in {"len", "sum", "range", "print", "round", "min", "max", "int", "str", "pass"}
    )
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_NAMES, min_size=7, max_size=7, unique=True))
def test_any_consistent_renaming_keeps_the_fingerprint(names: list[str]) -> None:
    template = """
    def {0}({1}, {2}):
        {3} = 0
        {4} = 0
        for {5} in {1}:
            if {5}.paid:
                {3} += {5}.amount * (1 + {2})
                {4} += 1
        {6} = {3} / {4} if {4} else 0
        return {{"total": round({3}, 2), "count": {4}, "average": {6}}}
    """

    assert fingerprint(template.format(*names)) == fingerprint(ORIGINAL)
