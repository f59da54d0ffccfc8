"""Instruction files for file-reading assistants (``imx sync-files`` and the Copilot adapter):
the briefing rendered to ``AGENTS.md``, ``.github/copilot-instructions.md`` and
``.github/instructions/*.instructions.md``, ``CLAUDE.md``, ``GEMINI.md``, ``.cursor/rules/*.mdc``,
and the MCP client configs ``.vscode/mcp.json`` and ``.mcp.json`` pointing at the hub.

``render`` says what each target's files hold; ``plan_sync`` / ``plan_revert`` compare that with
the directory and its manifest, and ``apply`` makes the changes (see ``sync`` for the rules that
keep other people's files safe).
"""

from infinity_matrix.providers.instructions.manifest import MANIFEST_PATH, ManifestError
from infinity_matrix.providers.instructions.sync import (
    FileChange,
    SyncPlan,
    apply,
    plan_revert,
    plan_sync,
)
from infinity_matrix.providers.instructions.targets import (
    DEFAULT_GLOB,
    MARKDOWN_TARGETS,
    MARKER_PREFIX,
    SERVER_NAME,
    TARGETS,
    RenderOptions,
    Source,
    render,
    split_sections,
)

__all__ = [
    "DEFAULT_GLOB",
    "MANIFEST_PATH",
    "MARKDOWN_TARGETS",
    "MARKER_PREFIX",
    "SERVER_NAME",
    "TARGETS",
    "FileChange",
    "ManifestError",
    "RenderOptions",
    "Source",
    "SyncPlan",
    "apply",
    "plan_revert",
    "plan_sync",
    "render",
    "split_sections",
]
