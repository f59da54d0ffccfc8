"""Interop set-up: the pinned Node packages of the stock Yjs client, installed once per machine.

``npm ci`` runs only when ``package-lock.json`` changed since the last install (a stamp in
``node_modules`` holds its digest), so a second run costs nothing. Without ``node`` or ``npm``
the tests skip on a laptop and fail on CI (``CI`` set), where the interop suite must run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).parent / "node"
INSTALL_TIMEOUT = 600.0


@pytest.fixture(scope="session")
def node_client() -> list[str]:
    """The command that starts the Node client (``client.mjs``), its packages installed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        message = "node and npm are needed for the Yjs interop tests"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run them", pytrace=False)
        pytest.skip(f"{message} (install Node.js 18 or newer to run them)")
    _install(npm)
    return [node, str(NODE_DIR / "client.mjs")]


def _install(npm: str) -> None:
    digest = hashlib.sha256((NODE_DIR / "package-lock.json").read_bytes()).hexdigest()
    stamp = NODE_DIR / "node_modules" / ".imx-lock-sha256"
    if stamp.is_file() and stamp.read_text() == digest:
        return
    command = [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"]
    result = subprocess.run(
        command, cwd=NODE_DIR, capture_output=True, text=True, timeout=INSTALL_TIMEOUT
    )
    if result.returncode != 0:
        pytest.fail(f"npm ci failed in {NODE_DIR}:\n{result.stderr}", pytrace=False)
    stamp.write_text(digest)
