"""Syncing instruction files: a manifest of what was written, foreign files never touched, user
edits never overwritten without --force, JSON configs merged and reverted key by key, plans that
write nothing until applied, and a revert that leaves the directory as it was."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.providers.instructions.briefings import HUB, OPTIONS, source

from infinity_matrix.providers.instructions import (
    MANIFEST_PATH,
    TARGETS,
    Source,
    apply,
    plan_revert,
    plan_sync,
)
from infinity_matrix.providers.instructions.manifest import entry_hash, sha256


def _actions(plan: object) -> dict[str, str]:
    return {c.path: c.action for c in plan.changes}  # type: ignore[attr-defined]


def _sync(
    root: Path, seq: int = 42, targets: tuple[str, ...] = TARGETS, **kw: str
) -> dict[str, str]:
    plan = plan_sync(root, source(seq, **kw), list(targets), OPTIONS)
    apply(plan)
    return _actions(plan)


def test_the_manifest_lists_each_file_written_with_its_hash_target_and_seq(tmp_path: Path) -> None:
    _sync(tmp_path, targets=("agents", "mcp"))

    manifest = json.loads((tmp_path / MANIFEST_PATH).read_text())
    agents = (tmp_path / "AGENTS.md").read_text()
    ours = json.loads((tmp_path / ".mcp.json").read_text())["mcpServers"]["infinity-matrix"]
    assert (manifest["workspace"], manifest["seq"], manifest["hub"]) == ("demo", 42, HUB)
    assert manifest["files"] == {
        "AGENTS.md": {
            "target": "agents",
            "sha256": sha256(agents),
            "seq": 42,
            "format": "markdown",
        },
        ".mcp.json": {
            "target": "mcp",
            "sha256": entry_hash(ours),
            "seq": 42,
            "format": "json",
            "server": "infinity-matrix",
            "created": True,
        },
    }


def test_a_file_imx_did_not_write_is_skipped_and_left_alone_even_with_force(tmp_path: Path) -> None:
    (tmp_path / "CLAUDE.md").write_text("# My own notes\n")

    first = _sync(tmp_path, targets=("claude",))
    forced = plan_sync(tmp_path, source(), ["claude"], OPTIONS, force=True)
    apply(forced)

    assert first == {"CLAUDE.md": "skip"} == _actions(forced)
    assert (tmp_path / "CLAUDE.md").read_text() == "# My own notes\n"
    assert not (tmp_path / MANIFEST_PATH).exists()


def test_a_generated_file_edited_since_is_a_conflict_until_forced(tmp_path: Path) -> None:
    _sync(tmp_path, targets=("gemini",))
    edited = (tmp_path / "GEMINI.md").read_text() + "\nMy addition.\n"
    (tmp_path / "GEMINI.md").write_text(edited)

    plan = plan_sync(tmp_path, source(43, notes="MySQL now."), ["gemini"], OPTIONS)
    apply(plan)
    assert _actions(plan) == {"GEMINI.md": "conflict"}
    assert (tmp_path / "GEMINI.md").read_text() == edited

    forced = plan_sync(tmp_path, source(43, notes="MySQL now."), ["gemini"], OPTIONS, force=True)
    apply(forced)
    assert _actions(forced) == {"GEMINI.md": "update"}
    assert "MySQL now." in (tmp_path / "GEMINI.md").read_text()


def test_a_new_seq_alone_changes_no_file(tmp_path: Path) -> None:
    _sync(tmp_path, targets=("agents",))

    assert _sync(tmp_path, seq=50, targets=("agents",)) == {"AGENTS.md": "unchanged"}
    assert "at seq 42." in (tmp_path / "AGENTS.md").read_text()
    assert _sync(tmp_path, seq=51, targets=("agents",), notes="Changed.") == {"AGENTS.md": "update"}
    assert "at seq 51." in (tmp_path / "AGENTS.md").read_text()


def test_a_json_config_is_merged_key_by_key_and_reverted_to_what_it_was(tmp_path: Path) -> None:
    config = tmp_path / ".vscode" / "mcp.json"
    config.parent.mkdir()
    before: dict[str, Any] = {
        "inputs": [{"type": "promptString", "id": "other-token", "password": True}],
        "servers": {"github": {"type": "http", "url": "https://example.invalid/mcp"}},
        "sandbox": {"enabled": True},
    }
    config.write_text(json.dumps(before, indent=4))

    assert _sync(tmp_path, targets=("vscode",)) == {".vscode/mcp.json": "update"}
    merged = json.loads(config.read_text())
    assert merged["servers"]["github"] == before["servers"]["github"]
    assert merged["sandbox"] == before["sandbox"]
    assert merged["servers"]["infinity-matrix"] == {
        "type": "http",
        "url": f"{HUB}/mcp",
        "headers": {"Authorization": "Bearer ${input:imx-token}", "X-Workspace": "demo"},
    }
    assert [i["id"] for i in merged["inputs"]] == ["other-token", "imx-token"]

    revert = plan_revert(tmp_path)
    apply(revert)
    assert _actions(revert) == {".vscode/mcp.json": "update"}
    assert json.loads(config.read_text()) == before
    assert not (tmp_path / ".imx").exists()


def test_an_edited_server_entry_is_a_conflict_and_a_foreign_one_is_skipped(tmp_path: Path) -> None:
    _sync(tmp_path, targets=("mcp",))
    config = tmp_path / ".mcp.json"
    doc = json.loads(config.read_text())
    doc["mcpServers"]["infinity-matrix"]["url"] = "http://elsewhere/mcp"
    config.write_text(json.dumps(doc))

    assert _sync(tmp_path, seq=43, targets=("mcp",)) == {".mcp.json": "conflict"}
    assert json.loads(config.read_text()) == doc

    other = tmp_path / "other"
    other.mkdir()
    (other / ".mcp.json").write_text(json.dumps(doc))
    assert _sync(other, targets=("mcp",)) == {".mcp.json": "skip"}


def test_a_file_imx_created_is_deleted_on_revert_and_an_edited_one_kept(tmp_path: Path) -> None:
    _sync(tmp_path)
    edited = tmp_path / "CLAUDE.md"
    edited.write_text("mine now\n")

    plan = plan_revert(tmp_path)
    apply(plan)

    assert _actions(plan)["CLAUDE.md"] == "conflict"
    assert {a for p, a in _actions(plan).items() if p != "CLAUDE.md"} == {"delete"}
    assert sorted(
        p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()
    ) == [
        MANIFEST_PATH,
        "CLAUDE.md",
    ]
    assert list(json.loads((tmp_path / MANIFEST_PATH).read_text())["files"]) == ["CLAUDE.md"]


def test_a_plan_writes_nothing_until_applied(tmp_path: Path) -> None:
    (tmp_path / ".mcp.json").write_text('{"mcpServers": {}}')

    plan = plan_sync(tmp_path, source(), list(TARGETS), OPTIONS)

    assert set(_actions(plan).values()) == {"create", "update"}
    assert [p.name for p in tmp_path.iterdir()] == [".mcp.json"]
    assert (tmp_path / ".mcp.json").read_text() == '{"mcpServers": {}}'
    diff = next(c for c in plan.changes if c.path == "AGENTS.md").diff()
    assert diff.startswith("--- /dev/null\n+++ b/AGENTS.md\n")


def test_the_file_of_a_section_that_went_away_is_removed(tmp_path: Path) -> None:
    _sync(tmp_path, targets=("cursor",))
    entries_only = source().text.split("\n## Insights: Decisions")[0]
    plan = plan_sync(tmp_path, Source("demo", entries_only, 43), ["cursor"], OPTIONS)

    assert _actions(plan)[".cursor/rules/imx-notes.mdc"] == "delete"
