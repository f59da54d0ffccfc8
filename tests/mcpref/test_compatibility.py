"""Drop-in compatibility: the same scripted sequence of the nine memory tools against the
reference memory server and against ours (over stdio and over streamable HTTP) answers the
same, result shapes included."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters
from tests.mcp.client import mcp_client
from tests.mcpref.memory_script import normalise, run_script
from tests.mcpref.reference import StdioCommand
from tests.world import bootstrap_key

from infinity_matrix.hub import Hub
from infinity_matrix.testing.server import serving

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
START_TIMEOUT = 120
IMX = str(Path(sys.executable).with_name("imx"))


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'imx.db'}"


async def _reference_answers(memory_reference: StdioCommand) -> list[dict[str, object]]:
    with anyio.fail_after(START_TIMEOUT):
        async with Client(memory_reference.parameters()) as client:
            return normalise(await run_script(client))


async def test_ours_over_stdio_answers_the_script_like_the_reference(
    memory_reference: StdioCommand, tmp_path: Path
) -> None:
    expected = await _reference_answers(memory_reference)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "IMX_HOME": str(tmp_path / "home"),
        "IMX_LOG_LEVEL": "warning",
    }
    params = StdioServerParameters(command=IMX, args=["mcp", "--local"], env=env)
    with anyio.fail_after(START_TIMEOUT):
        async with Client(params, mode="legacy") as client:
            ours = normalise(await run_script(client))

    assert ours == expected


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_ours_over_http_answers_the_script_like_the_reference(
    memory_reference: StdioCommand, hub: Hub, mode: str
) -> None:
    expected = await _reference_answers(memory_reference)
    async with serving(hub) as url, mcp_client(url, bootstrap_key(hub), mode=mode) as client:
        ours = normalise(await run_script(client))

    assert ours == expected
