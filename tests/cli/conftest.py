"""Fixtures of the CLI tests: a hub served on a free loopback port, and ``imx`` pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.cli.harness import Imx, ServedHub, serve_in_thread


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedHub]:
    with serve_in_thread(tmp_path / "home") as hub:
        yield hub


@pytest.fixture
def imx(served: ServedHub) -> Imx:
    return served.imx
