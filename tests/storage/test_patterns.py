"""The code-fingerprint index on SQLite and PostgreSQL: a key's rows are replaced whole, an
older version never overwrites a newer one, and recurring fingerprints (under two or more keys)
are found with every occurrence, filtered by fingerprint or by key."""

from __future__ import annotations

import pytest

from infinity_matrix.core.patterns.fingerprint import CodeUnit, Occurrence, Pattern
from infinity_matrix.hub import Hub
from infinity_matrix.security.principals import Principal
from infinity_matrix.storage.patterns import SqlPatternIndex

WS = "pat"
OWNER = Principal.user("owner")


def unit(fingerprint: str, start: int, end: int, name: str = "f") -> CodeUnit:
    return CodeUnit(fingerprint, name, "function", "python", start, end, 50)


def at(key: str, start: int, end: int, seq: int, name: str = "f") -> Occurrence:
    return Occurrence(key, name, "python", start, end, seq)


@pytest.fixture
async def index(hub: Hub) -> SqlPatternIndex:
    await hub.identity.create_user("owner", "correct horse battery")
    await hub.workspaces.create(OWNER, WS)
    await hub.workspaces.create(OWNER, "other")
    return SqlPatternIndex(hub.database)


@pytest.mark.anyio
async def test_fingerprints_under_two_keys_recur_with_all_their_occurrences(
    index: SqlPatternIndex,
) -> None:
    assert await index.replace(WS, "a.py", 3, [unit("aa", 1, 9), unit("bb", 2, 5)]) == []
    await index.replace(WS, "b.py", 4, [unit("aa", 10, 18, "g"), unit("aa", 20, 28, "h")])
    await index.replace(WS, "c.py", 5, [unit("bb", 1, 4)])
    await index.replace(WS, "d.py", 6, [unit("cc", 1, 4), unit("cc", 6, 9)])  # one key only
    await index.replace("other", "z.py", 7, [unit("cc", 1, 4)])  # another workspace

    assert await index.recurring(WS) == [
        Pattern(
            "aa",
            "function",
            "python",
            50,
            (at("a.py", 1, 9, 3), at("b.py", 10, 18, 4, "g"), at("b.py", 20, 28, 4, "h")),
        ),
        Pattern("bb", "function", "python", 50, (at("a.py", 2, 5, 3), at("c.py", 1, 4, 5))),
    ]
    assert [p.fingerprint for p in await index.recurring(WS, fingerprints=["bb", "cc"])] == ["bb"]
    assert [p.fingerprint for p in await index.recurring(WS, keys=["c.py"])] == ["bb"]
    assert [p.fingerprint for p in await index.recurring(WS, limit=1)] == ["aa"]
    assert await index.recurring(WS, fingerprints=[]) == []
    assert await index.keys(WS) == ["a.py", "b.py", "c.py", "d.py"]


@pytest.mark.anyio
async def test_replacing_a_key_answers_what_it_had_and_an_older_version_changes_nothing(
    index: SqlPatternIndex,
) -> None:
    await index.replace(WS, "a.py", 5, [unit("aa", 1, 9), unit("bb", 2, 5)])
    await index.replace(WS, "b.py", 5, [unit("aa", 1, 9)])

    assert await index.replace(WS, "a.py", 4, [unit("zz", 1, 2)]) is None
    assert await index.replace(WS, "a.py", 6, [unit("bb", 1, 2), unit("bb", 1, 2)]) == [
        "aa",
        "bb",
    ]
    assert await index.recurring(WS) == []
    assert await index.remove(WS, "a.py") == ["bb"]
    assert await index.remove(WS, "a.py") == []
    assert await index.keys(WS) == ["b.py"]


@pytest.mark.anyio
async def test_deleting_a_workspace_drops_its_fingerprints(
    hub: Hub, index: SqlPatternIndex
) -> None:
    await index.replace("other", "a.py", 1, [unit("aa", 1, 9)])

    await hub.workspaces.delete(OWNER, "other")

    assert await index.keys("other") == []
