"""Real ``imx serve`` processes for multi-node tests: start, wait until ready, kill -9, restart."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

READY_TIMEOUT = 30.0
IMX = str(Path(sys.executable).with_name("imx"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Node:
    """One ``imx serve`` process with its own ``IMX_HOME`` and port."""

    name: str
    home: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Node:
        self.home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, "IMX_HOME": str(self.home), "IMX_PORT": str(self.port)}
        log = (self.home / "serve.log").open("ab")
        # Our own console script with a fixed argument list: no untrusted input reaches it.
        self.process = subprocess.Popen(  # noqa: S603
            [IMX, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)  # bounded: polling a process that offers no readiness event
        raise TimeoutError(f"{self.name} not ready: {self.log_tail()}")

    def kill(self) -> None:
        """``kill -9``: no shutdown, no flush, no goodbye."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(READY_TIMEOUT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(READY_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, lines: int = 30) -> str:
        path = self.home / "serve.log"
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            if path.exists()
            else ""
        )
