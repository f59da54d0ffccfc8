"""``imx graph`` against a real hub: import, export, ls, search, show and history."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.harness import Imx

LINES = [
    {"type": "entity", "name": "Alice", "entityType": "person", "observations": ["Ärger", "tea"]},
    {"type": "entity", "name": "Bob", "entityType": "person", "observations": []},
    {"type": "relation", "from": "Alice", "to": "Bob", "relationType": "mentors"},
]


def _write(path: Path, lines: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n")
    return path


def test_an_imported_file_lists_searches_shows_and_exports_back(imx: Imx, tmp_path: Path) -> None:
    source = _write(tmp_path / "memory.jsonl", LINES)

    report = imx.json("graph", "import", str(source))
    assert {k: report[k] for k in ("entities", "observations", "relations")} == {
        "entities": 2,
        "observations": 2,
        "relations": 1,
    }
    again = imx.json("graph", "import", str(source))
    assert (again["entities"], again["observations"], again["relations"]) == (0, 0, 0)

    listed = imx.json("graph", "ls")
    assert [e["name"] for e in listed["entities"]] == ["Alice", "Bob"]
    assert imx.rows("graph", "ls")[:2] == [["Alice", "person", "2"], ["Bob", "person", "0"]]
    found = imx.json("graph", "search", "ärger")
    assert [e["name"] for e in found["entities"]] == ["Alice"]
    assert found["relations"] == [{"from": "Alice", "to": "Bob", "relationType": "mentors"}]
    shown = imx.ok("graph", "show", "Alice").stdout
    assert "Alice  (person)" in shown
    assert "  - Ärger" in shown
    history = imx.json("graph", "history", "Alice")
    assert [e["type"] for e in history] == ["relation.created", "entity.created"]
    assert {e["source"] for e in history} == {"imx-cli"}

    target = tmp_path / "out.jsonl"
    imx.ok("graph", "export", "-o", str(target))
    assert [json.loads(line) for line in target.read_text().splitlines()] == LINES
    printed = imx.ok("graph", "export").stdout
    assert printed == target.read_text()


def test_a_bad_file_is_refused_before_anything_is_sent(imx: Imx, tmp_path: Path) -> None:
    source = tmp_path / "bad.jsonl"
    source.write_text(json.dumps(LINES[0]) + "\n{not json\n")

    result = imx("graph", "import", str(source))

    assert result.exit_code == 1
    assert result.stderr.startswith("error: graph.invalid_import: line 2")
    assert imx.json("graph", "ls")["entities"] == []


def test_a_file_larger_than_one_request_is_sent_in_parts(imx: Imx, tmp_path: Path) -> None:
    padding = "x" * 200  # 12,000 lines of about 260 bytes: over the 2 MiB request limit
    lines = [
        {"type": "entity", "name": f"e{i}", "entityType": "t", "observations": [f"{i} {padding}"]}
        for i in range(12_000)
    ]
    source = _write(tmp_path / "big.jsonl", lines)
    assert source.stat().st_size > 2 * 1024 * 1024

    report = imx.json("graph", "import", str(source))

    assert (report["entities"], report["observations"]) == (12_000, 12_000)
    page = imx.json("graph", "search", "e11999")
    assert [e["name"] for e in page["entities"]] == ["e11999"]
