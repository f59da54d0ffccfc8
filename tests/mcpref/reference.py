"""The reference memory server (``@modelcontextprotocol/server-memory``), pinned and installed.

``package-lock.json`` pins it; ``npm ci`` installs it into ``node_modules`` here only when the lock
changed since the last install (a stamp in ``node_modules`` holds its digest), so a second run
costs nothing. The conftest and ``bench/mcp_memory.py`` both use this module, so it needs no
pytest.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from mcp.client.stdio import StdioServerParameters

PACKAGE_DIR = Path(__file__).resolve().parent
ENTRY = (
    PACKAGE_DIR / "node_modules" / "@modelcontextprotocol" / "server-memory" / "dist" / "index.js"
)
INSTALL_TIMEOUT = 600.0
# The variable the reference reads for the path of its JSONL file (see its ``index.js``).
MEMORY_FILE_VARIABLE = "MEMORY_FILE_PATH"


class NodeMissing(RuntimeError):
    """``node`` or ``npm`` is not on PATH."""


class InstallFailed(RuntimeError):
    """``npm ci`` failed; the message holds its stderr."""


@dataclass(frozen=True, slots=True)
class StdioCommand:
    """How to start a stdio MCP server: its argv and the variables added to a minimal env."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)

    def parameters(self) -> StdioServerParameters:
        """For the SDK's ``Client`` (``Client(command.parameters())``)."""
        return StdioServerParameters(command=self.argv[0], args=self.argv[1:], env=self.env)


def install() -> list[str]:
    """Install the pinned reference if needed; answers the argv that starts it over stdio.

    Raises ``NodeMissing`` without node or npm, ``InstallFailed`` when ``npm ci`` fails.
    """
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise NodeMissing("node and npm are needed for the reference memory server")
    digest = hashlib.sha256((PACKAGE_DIR / "package-lock.json").read_bytes()).hexdigest()
    stamp = PACKAGE_DIR / "node_modules" / ".imx-lock-sha256"
    if not (stamp.is_file() and stamp.read_text() == digest and ENTRY.is_file()):
        command = [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"]
        result = subprocess.run(
            command, cwd=PACKAGE_DIR, capture_output=True, text=True, timeout=INSTALL_TIMEOUT
        )
        if result.returncode != 0:
            raise InstallFailed(f"npm ci failed in {PACKAGE_DIR}:\n{result.stderr}")
        stamp.write_text(digest)
    return [node, str(ENTRY)]


def command(argv: list[str], memory_file: Path) -> StdioCommand:
    """The reference keeping its graph in ``memory_file`` (a fresh path gives an empty graph)."""
    return StdioCommand(argv, {MEMORY_FILE_VARIABLE: str(memory_file)})
