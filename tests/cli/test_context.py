"""``imx ctx`` and ``imx events`` against a real hub, with the bootstrap key of credentials.json."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.harness import Imx


def test_walkthrough_puts_reads_lists_deletes_and_shows_history(imx: Imx) -> None:
    first = imx.seq("ctx", "put", "notes/architecture.md", "Hexagonal.", "--tag", "adr")
    second = imx.seq("ctx", "put", "notes/architecture.md", "Hexagonal, event-sourced.")
    assert second == first + 1

    assert imx.ok("ctx", "get", "notes/architecture.md").stdout == "Hexagonal, event-sourced."
    entry = imx.json("ctx", "get", "notes/architecture.md")
    assert entry["kind"] == "text"
    assert entry["text"] == "Hexagonal, event-sourced."
    assert entry["tags"] == ["adr"]
    assert entry["seq"] == second

    assert [row[0] for row in imx.rows("ctx", "ls")] == ["notes/architecture.md"]
    history = imx.json("ctx", "history", "notes/architecture.md")
    assert [e["seq"] for e in history] == [second, first]
    assert {e["source"] for e in history} == {"imx-cli"}

    removed = imx.seq("ctx", "rm", "notes/architecture.md")
    assert removed == second + 1
    assert imx.json("ctx", "ls")["items"] == []
    assert [e["type"] for e in imx.json("ctx", "history", "notes/architecture.md")] == [
        "context.deleted",
        "context.updated",
        "context.updated",
    ]


def test_put_reads_the_value_from_a_file(imx: Imx, tmp_path: Path) -> None:
    source = tmp_path / "style.md"
    source.write_text("Use ruff.\nLine length 100.\n")
    imx.seq("ctx", "put", "conventions/style", "--file", str(source))
    assert imx.ok("ctx", "get", "conventions/style").stdout == "Use ruff.\nLine length 100.\n"


def test_put_reads_the_value_from_stdin_when_absent_or_dash(imx: Imx) -> None:
    imx.seq("ctx", "put", "notes/piped", input="from a pipe\n")
    imx.seq("ctx", "put", "notes/dash", "-", input="from a dash")
    assert imx.ok("ctx", "get", "notes/piped").stdout == "from a pipe\n"
    assert imx.ok("ctx", "get", "notes/dash").stdout == "from a dash"


def test_json_data_is_stored_as_data_and_printed_as_pretty_json(imx: Imx) -> None:
    imx.seq("ctx", "put", "editor/active", '{"file": "src/app.py", "line": 42}', "--json-data")
    entry = imx.json("ctx", "get", "editor/active")
    assert (entry["kind"], entry["data"]) == ("json", {"file": "src/app.py", "line": 42})
    printed = imx.ok("ctx", "get", "editor/active").stdout
    assert json.loads(printed) == {"file": "src/app.py", "line": 42}
    assert printed.startswith("{\n  ")  # indented for people (a Y.Map keeps no key order)


def test_a_write_repeated_with_its_idempotency_key_answers_the_same_seq(imx: Imx) -> None:
    args = ("ctx", "put", "decisions/0001", "Yjs documents.", "--idempotency-key", "adr-1")
    first = imx.json(*args)
    again = imx.json(*args)
    assert (again["seq"], again["duplicate"]) == (first["seq"], True)
    assert imx.json("events")["head"] == first["seq"]


def test_ls_pages_with_limit_and_reads_every_page_with_all(imx: Imx) -> None:
    for name in ("a", "b", "c"):
        imx.seq("ctx", "put", f"notes/{name}", name)
    imx.seq("ctx", "put", "other/x", "x")

    page = imx.json("ctx", "ls", "notes/", "--limit", "2")
    assert [e["key"] for e in page["items"]] == ["notes/a", "notes/b"]
    assert page["next_cursor"] == "notes/b"
    everything = imx.json("ctx", "ls", "notes/", "--limit", "2", "--all")
    assert [e["key"] for e in everything["items"]] == ["notes/a", "notes/b", "notes/c"]
    assert everything["next_cursor"] is None


def test_events_lists_every_change_in_seq_order(imx: Imx) -> None:
    put = imx.seq("ctx", "put", "notes/a", "a")
    page = imx.json("events")
    assert [e["seq"] for e in page["events"]] == list(range(1, put + 1))
    assert page["events"][0]["type"] == "workspace.created"
    assert page["events"][-1]["subject"] == "context/notes/a"

    rows = imx.rows("events", "--after", str(put - 1))
    assert [row[:3] for row in rows] == [[str(put), "context.updated", "context/notes/a"]]


def test_a_missing_entry_exits_1_with_its_code_on_stderr(imx: Imx) -> None:
    result = imx("ctx", "get", "notes/none")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: context.not_found: ")
    assert result.stdout == ""


def test_an_unknown_workspace_exits_1_with_workspace_not_found(imx: Imx) -> None:
    for args in (("-w", "nowhere", "ctx", "ls"), ("ctx", "ls", "--workspace", "nowhere")):
        result = imx(*args)
        assert result.exit_code == 1
        assert result.stderr.startswith("error: workspace.not_found: ")


def test_usage_errors_exit_2(imx: Imx, tmp_path: Path) -> None:
    source = tmp_path / "value.txt"
    source.write_text("x")
    value_and_file = imx("ctx", "put", "notes/a", "x", "--file", str(source))
    not_an_object = imx("ctx", "put", "notes/a", "[1, 2]", "--json-data")
    not_json = imx("ctx", "put", "notes/a", "{", "--json-data")
    for result in (value_and_file, not_an_object, not_json):
        assert result.exit_code == 2
        assert result.stderr.startswith("error: cli.usage: ")
    assert imx("ctx", "get").exit_code == 2  # click's own usage error: KEY is missing
    assert imx.json("ctx", "ls")["items"] == []


def test_an_invalid_key_is_refused_by_the_hub_with_exit_1(imx: Imx) -> None:
    result = imx("ctx", "put", "../escape", "x")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: context.invalid_key: ")
