"""GitHub Copilot: no completion API, so its sync target is all there is. A push renders the
briefing to Copilot's instruction files (and, with a hub URL, VS Code's MCP config) in a
directory on the hub's machine, with the renderer ``imx sync-files`` uses.

Options: ``dir`` (required: the project directory), ``targets`` (default ``copilot`` and
``agents``; ``vscode`` too when ``hub_url`` is set), ``hub_url`` (the hub as the editor reaches
it), ``apply_to`` (section slug → glob), ``force`` (overwrite generated files edited since).
"""

from __future__ import annotations

from pathlib import Path

import anyio

from infinity_matrix.core.providers.errors import ProviderBadRequest
from infinity_matrix.core.providers.ports import Adapter
from infinity_matrix.core.providers.records import (
    ChatRequest,
    ChatResult,
    ContextBundle,
    ProviderConfig,
    PushResult,
)
from infinity_matrix.providers.instructions import (
    TARGETS,
    ManifestError,
    RenderOptions,
    Source,
    SyncPlan,
    apply,
    plan_sync,
)

DEFAULT_TARGETS = ("copilot", "agents")


class CopilotAdapter:
    """Renders pushes to files; ``complete`` always raises ``ProviderBadRequest``."""

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        options = config.options
        directory = options.get("dir")
        if not isinstance(directory, str) or not directory:
            raise ProviderBadRequest(
                "a copilot provider needs options.dir: the directory to write its files in",
                provider=config.name,
            )
        self.directory = Path(directory)
        hub_url = options.get("hub_url")
        self.options = RenderOptions(
            hub_url=hub_url if isinstance(hub_url, str) and hub_url else None,
            apply_to=_str_map(options.get("apply_to")),
        )
        self.targets = _targets(options.get("targets"), self.options.hub_url is not None)
        self.force = bool(options.get("force", False))

    @property
    def supports_structured_output(self) -> bool:
        return False

    @property
    def pushes_remotely(self) -> bool:
        return False  # files are written here, not sent

    async def complete(self, request: ChatRequest, *, time_left: float) -> ChatResult:
        raise ProviderBadRequest(
            "GitHub Copilot has no completion API: it reads the instruction files this"
            " provider writes, and the hub's MCP server",
            provider=self.config.name,
        )

    async def push(self, bundle: ContextBundle, *, time_left: float) -> PushResult:
        """Write the files; answers the manifest's path and the bundle's version. Files that
        are not ours, or that were edited since, are left alone and named in ``detail``."""
        source = Source(bundle.workspace, bundle.text, bundle.version)
        with anyio.fail_after(max(time_left, 0.001)):
            plan = await anyio.to_thread.run_sync(self._write, source)
        held = [f"{c.path}: {c.reason}" for c in plan.changes if c.action in ("skip", "conflict")]
        written = sum(plan.count(a) for a in ("create", "update", "delete"))
        detail = f"{written} files written" + (f"; left alone: {'; '.join(held)}" if held else "")
        return PushResult(str(plan.manifest_path), str(bundle.version), detail)

    def _write(self, source: Source) -> SyncPlan:
        try:
            plan = plan_sync(
                self.directory, source, list(self.targets), self.options, force=self.force
            )
            apply(plan)
        except (ManifestError, OSError) as exc:
            raise ProviderBadRequest(
                f"cannot write the instruction files: {exc}", provider=self.config.name
            ) from exc
        return plan

    async def aclose(self) -> None:
        return None


def create_copilot(config: ProviderConfig, credential: str | None) -> Adapter:
    """The adapter factory (entry point ``copilot``); Copilot takes no credential.

    Raises ``ProviderBadRequest`` when ``options.dir`` is missing."""
    return CopilotAdapter(config)


def _targets(raw: object, with_hub: bool) -> tuple[str, ...]:
    if raw is None:
        return (*DEFAULT_TARGETS, "vscode") if with_hub else DEFAULT_TARGETS
    chosen = [raw] if isinstance(raw, str) else list(raw) if isinstance(raw, list) else []
    unknown = [t for t in chosen if t not in TARGETS]
    if not chosen or unknown:
        raise ProviderBadRequest(f"options.targets: use some of {', '.join(TARGETS)}")
    return tuple(chosen)


def _str_map(raw: object) -> dict[str, str]:
    if not isinstance(raw, dict):
        return {}
    return {str(k): str(v) for k, v in raw.items()}
