"""Server-side commands on the hub's database: ``imx db`` and ``imx admin replay``."""

from __future__ import annotations

from pathlib import Path

from tests.cli.harness import Imx, ServedHub


def test_db_upgrade_is_idempotent_on_a_new_database(tmp_path: Path) -> None:
    imx = Imx(tmp_path / "home")
    assert imx.json("db", "current") == {"revision": None}
    assert imx.ok("db", "current").stdout == "none\n"

    imx.ok("db", "upgrade")
    revision = imx.json("db", "current")["revision"]
    assert revision
    imx.ok("db", "upgrade")
    assert imx.json("db", "current")["revision"] == revision
    assert not (imx.home / "credentials.json").exists()  # no bootstrap outside `imx serve`


def test_db_upgrade_leaves_a_served_database_at_its_revision(imx: Imx) -> None:
    before = imx.json("db", "current")["revision"]
    imx.ok("db", "upgrade")
    assert imx.json("db", "current")["revision"] == before


def test_admin_replay_rebuilds_every_workspace_and_reports_it(served: ServedHub) -> None:
    imx = served.imx
    imx.seq("ctx", "put", "notes/a", "first")
    head = imx.seq("ctx", "put", "notes/a", "second", "--tag", "x")

    assert imx.json("admin", "replay") == [{"workspace": "default", "events": head, "head": head}]
    entry = imx.json("ctx", "get", "notes/a")
    assert (entry["text"], entry["tags"], entry["seq"]) == ("second", ["x"], head)

    assert imx.rows("admin", "replay", "--workspace", "default") == [
        ["default", str(head), str(head)]
    ]


def test_admin_replay_of_an_unknown_workspace_exits_1(imx: Imx) -> None:
    result = imx("admin", "replay", "--workspace", "nowhere")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: workspace.not_found: ")
