"""``imx sync-files`` against a served hub: it writes the briefing's files and the MCP configs
(never a token), previews with --dry-run, takes its files out with --revert, and with --watch
re-renders when the context changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from tests.cli.harness import Imx, ServedHub

IMX = str(Path(sys.executable).with_name("imx"))
TIMEOUT = 20.0


def _project(tmp_path: Path) -> Path:
    """A directory of its own: ``tmp_path`` also holds the hub's home."""
    project = tmp_path / "project"
    project.mkdir()
    return project


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_sync_files_writes_every_target_with_the_seq_it_renders(
    served: ServedHub, imx: Imx, tmp_path: Path
) -> None:
    imx.seq("ctx", "put", "notes/db", "SQLite by default.")
    seq = imx.seq("ctx", "put", "ops/api_key", "sk-not-for-files")
    project = _project(tmp_path)

    report = imx.json("sync-files", str(project))

    assert report["seq"] == seq
    assert {c["action"] for c in report["changes"]} == {"create"}
    assert "AGENTS.md" in _files(project)
    agents = (project / "AGENTS.md").read_text()
    assert f'from workspace "default" at seq {seq}.' in agents
    assert "SQLite by default." in agents
    mcp = json.loads((project / ".mcp.json").read_text())["mcpServers"]["infinity-matrix"]
    assert mcp["url"] == f"{served.url}/mcp"
    token = imx.credentials["api_key"]
    for path in _files(project):
        text = (project / path).read_text()
        assert token not in text
        assert "sk-not-for-files" not in text


def test_dry_run_prints_the_diffs_and_writes_nothing(imx: Imx, tmp_path: Path) -> None:
    tmp_path = _project(tmp_path)
    imx.seq("ctx", "put", "notes/db", "SQLite by default.")

    result = imx.ok("sync-files", str(tmp_path), "--target", "agents,claude", "--dry-run")

    assert "+++ b/AGENTS.md" in result.stdout
    assert "+SQLite by default." in result.stdout
    assert "would create" in result.stdout
    assert _files(tmp_path) == []


def test_revert_takes_out_what_sync_files_wrote_and_nothing_else(imx: Imx, tmp_path: Path) -> None:
    tmp_path = _project(tmp_path)
    (tmp_path / "CLAUDE.md").write_text("my own\n")
    (tmp_path / ".mcp.json").write_text('{"mcpServers": {"other": {"command": "x"}}}\n')
    imx.ok("sync-files", str(tmp_path))

    imx.ok("sync-files", str(tmp_path), "--revert")

    assert _files(tmp_path) == [".mcp.json", "CLAUDE.md"]
    assert (tmp_path / "CLAUDE.md").read_text() == "my own\n"
    assert json.loads((tmp_path / ".mcp.json").read_text()) == {
        "mcpServers": {"other": {"command": "x"}}
    }


def test_an_unknown_target_is_a_usage_error(imx: Imx, tmp_path: Path) -> None:
    result = imx("sync-files", str(tmp_path), "--target", "agents,emacs")

    assert result.exit_code == 2
    assert "error: cli.usage:" in result.stderr


def test_watch_re_renders_a_file_when_the_context_changes(imx: Imx, tmp_path: Path) -> None:
    tmp_path = _project(tmp_path)
    imx.seq("ctx", "put", "notes/db", "SQLite by default.")
    watcher = subprocess.Popen(
        [IMX, "sync-files", str(tmp_path), "--watch", "--target", "agents", "--json"],
        env={**os.environ, **imx.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    guard = threading.Timer(TIMEOUT, watcher.kill)  # a hung watcher fails the test, not the run
    guard.start()
    try:
        assert watcher.stdout is not None
        first = json.loads(watcher.stdout.readline())  # the render at start
        seq = imx.seq("ctx", "put", "notes/db", "PostgreSQL from now on.")
        renders = [first]
        while renders[-1]["seq"] < seq:
            renders.append(json.loads(watcher.stdout.readline()))
    finally:
        guard.cancel()
        watcher.terminate()
        watcher.wait(TIMEOUT)
    assert [c["action"] for c in first["changes"]] == ["create"]
    assert [c["action"] for c in renders[-1]["changes"]] == ["update"]
    agents = (tmp_path / "AGENTS.md").read_text()
    assert "PostgreSQL from now on." in agents
    assert f"at seq {seq}." in agents
