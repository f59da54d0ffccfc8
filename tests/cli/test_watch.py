"""``imx ctx watch``: the real console script replays, then follows changes live."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.cli.harness import Imx, ServedHub

IMX = str(Path(sys.executable).with_name("imx"))
TIMEOUT = 15.0


def test_watch_replays_then_prints_each_change_under_its_prefix_live(
    served: ServedHub, imx: Imx
) -> None:
    before = imx.seq("ctx", "put", "notes/a", "one")
    imx.seq("ctx", "put", "other/x", "not watched")
    watcher = subprocess.Popen(
        [IMX, "ctx", "watch", "notes/", "--after", str(before - 1), "--json"],
        env={**os.environ, **imx.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watcher.stdout is not None
        first = json.loads(watcher.stdout.readline())  # replayed from the log
        after = imx.seq("ctx", "put", "notes/b", "two")
        second = json.loads(watcher.stdout.readline())  # live
    finally:
        watcher.terminate()
        watcher.wait(TIMEOUT)
    assert (first["seq"], first["subject"]) == (before, "context/notes/a")
    assert (second["seq"], second["subject"]) == (after, "context/notes/b")
