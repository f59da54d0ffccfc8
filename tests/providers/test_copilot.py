"""The Copilot adapter: no completion API (a bad request, said so), and a push that renders the
instruction files into its directory, answering the manifest and the version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infinity_matrix.core.providers.errors import ProviderBadRequest
from infinity_matrix.core.providers.records import (
    ChatRequest,
    ContextBundle,
    Message,
    ProviderConfig,
)
from infinity_matrix.providers.copilot import create_copilot

BRIEFING = "# Project briefing: team\n\nShared context.\n\n## notes\n\n### `notes/db`\n\nSQLite.\n"


def _config(**options: object) -> ProviderConfig:
    return ProviderConfig("team", "copilot", "copilot", "n/a", options=options)


@pytest.mark.anyio
async def test_a_push_renders_the_instruction_files_and_answers_the_manifest(
    tmp_path: Path,
) -> None:
    adapter = create_copilot(_config(dir=str(tmp_path), hub_url="http://127.0.0.1:8765"), None)

    result = await adapter.push(ContextBundle("team", BRIEFING, 17), time_left=5.0)

    manifest = tmp_path / ".imx" / "sync-files.json"
    assert result is not None
    assert (result.object_id, result.version) == (str(manifest), "17")
    assert sorted(json.loads(manifest.read_text())["files"]) == [
        ".github/copilot-instructions.md",
        ".github/instructions/imx-notes.instructions.md",
        ".vscode/mcp.json",
        "AGENTS.md",
    ]
    assert 'workspace "team" at seq 17' in (tmp_path / "AGENTS.md").read_text()
    assert adapter.supports_structured_output is False
    await adapter.aclose()


@pytest.mark.anyio
async def test_a_file_the_adapter_did_not_write_is_left_alone_and_named(tmp_path: Path) -> None:
    (tmp_path / "AGENTS.md").write_text("ours, not the hub's\n")
    adapter = create_copilot(_config(dir=str(tmp_path)), None)

    result = await adapter.push(ContextBundle("team", BRIEFING, 3), time_left=5.0)

    assert (tmp_path / "AGENTS.md").read_text() == "ours, not the hub's\n"
    assert result is not None
    assert "AGENTS.md" in result.detail


@pytest.mark.anyio
async def test_asking_copilot_a_question_is_a_bad_request(tmp_path: Path) -> None:
    adapter = create_copilot(_config(dir=str(tmp_path)), None)

    with pytest.raises(ProviderBadRequest) as caught:
        await adapter.complete(ChatRequest((Message("user", "hi"),)), time_left=5.0)

    assert caught.value.code == "provider.bad_request"


def test_a_copilot_provider_without_a_directory_is_a_bad_request() -> None:
    with pytest.raises(ProviderBadRequest) as caught:
        create_copilot(_config(), None)

    assert caught.value.code == "provider.bad_request"
