"""``imx serve`` as its console script: starts, serves the CLI, stops on SIGTERM, keeps its data."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from tests.cli.harness import SECRET_KEY, Imx

from infinity_matrix.testing.cluster import Node, free_port

STOP_TIMEOUT = 15.0


@contextmanager
def imx_serve(home: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """``imx serve`` (the console script) in a child process, ready on ``port``."""
    node = Node("hub", home, {"IMX_SECRET_KEY": SECRET_KEY, "IMX_LOG_FORMAT": "json"}, port=port)
    node.start()
    assert node.process is not None
    try:
        yield node.process
    finally:
        node.kill()


def stop(process: subprocess.Popen[bytes]) -> bool:
    """SIGTERM, then whether it ended cleanly.

    After its graceful shutdown uvicorn re-raises the signal with the default handler, so the
    parent (systemd, a container runtime) sees "ended by SIGTERM", which they count as clean.
    """
    process.send_signal(signal.SIGTERM)
    return process.wait(STOP_TIMEOUT) in {0, -signal.SIGTERM}


@pytest.mark.slow
def test_the_console_script_serves_stops_on_sigterm_and_restarts_with_its_data(
    tmp_path: Path,
) -> None:
    home, port = tmp_path / "home", free_port()
    log = home / "serve.log"
    imx = Imx(home)
    with imx_serve(home, port) as first:
        stored = imx.credentials
        assert stored["url"] == f"http://127.0.0.1:{port}"
        seq = imx.seq("ctx", "put", "notes/plan.md", "Ship the spine first.")
        key = imx.json("key", "create", "copilot", "--role", "editor")
        assert stop(first), log.read_text()

    with imx_serve(home, port) as second:
        assert imx.credentials == stored  # no second bootstrap
        assert imx.ok("ctx", "get", "notes/plan.md").stdout == "Ship the spine first."
        as_key = {"IMX_TOKEN": key["token"]}
        assert imx.json("ctx", "get", "notes/plan.md", env=as_key)["seq"] == seq
        assert stop(second), log.read_text()
    assert '"hub.serving"' in log.read_text()
