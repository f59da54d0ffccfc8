"""Fixtures of the memory-server compatibility tests: the pinned reference server, ready to start.

Without ``node`` or ``npm`` the tests skip on a laptop and fail on CI (``CI`` set), where the
compatibility suite must run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.mcpref import reference
from tests.mcpref.reference import StdioCommand


@pytest.fixture(scope="session")
def memory_reference_argv() -> list[str]:
    """The argv that starts the reference over stdio, its packages installed (once per session)."""
    try:
        return reference.install()
    except reference.NodeMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc}; CI must run the compatibility tests", pytrace=False)
        pytest.skip(f"{exc} (install Node.js 18 or newer to run them)")
    except reference.InstallFailed as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def memory_reference(memory_reference_argv: list[str], tmp_path: Path) -> StdioCommand:
    """The reference with an empty graph in ``tmp_path/memory.jsonl``.

    Start it with ``Client(memory_reference.parameters())``.
    """
    return reference.command(memory_reference_argv, tmp_path / "memory.jsonl")
