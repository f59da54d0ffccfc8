"""``imx serve`` as its console script: starts, serves the CLI, stops on SIGTERM, keeps its data."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from tests.cli.harness import SECRET_KEY, Imx

IMX = Path(sys.executable).with_name("imx")
READY_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def imx_serve(home: Path, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``imx serve`` in a child process, ready on ``port``; SIGTERM-ed by the test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMX_")}
    env.update(IMX_HOME=str(home), IMX_SECRET_KEY=SECRET_KEY, IMX_LOG_FORMAT="json")
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(IMX), "serve", "--port", str(port)], env=env, stdout=out, stderr=out
        )
    try:
        wait_ready(process, f"http://127.0.0.1:{port}/readyz", log)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(STOP_TIMEOUT)


def wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, f"imx serve exited early:\n{log.read_text()}"
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)  # polling a child process's port; there is no event to wait on
    pytest.fail(f"imx serve was not ready in {READY_TIMEOUT}s:\n{log.read_text()}")


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
    home, port, log = tmp_path / "home", free_port(), tmp_path / "serve.log"
    imx = Imx(home)
    with imx_serve(home, port, log) as first:
        stored = imx.credentials
        assert stored["url"] == f"http://127.0.0.1:{port}"
        seq = imx.seq("ctx", "put", "notes/plan.md", "Ship the spine first.")
        key = imx.json("key", "create", "copilot", "--role", "editor")
        assert stop(first), log.read_text()

    with imx_serve(home, port, log) as second:
        assert imx.credentials == stored  # no second bootstrap
        assert imx.ok("ctx", "get", "notes/plan.md").stdout == "Ship the spine first."
        as_key = {"IMX_TOKEN": key["token"]}
        assert imx.json("ctx", "get", "notes/plan.md", env=as_key)["seq"] == seq
        assert stop(second), log.read_text()
    assert '"hub.serving"' in log.read_text()
