"""The context bundle each provider receives: the workspace briefing filtered by the
provider's routing rules (secret-looking keys never), at the workspace's current seq."""

from __future__ import annotations

from infinity_matrix.core.briefing import DEFAULT_BUDGET_CHARS, BriefingService
from infinity_matrix.core.providers.records import ContextBundle, ProviderConfig
from infinity_matrix.security.access import Role
from infinity_matrix.security.principals import Principal

MIN_BUDGET_CHARS = 2_000


def flow_reader(workspace: str) -> Principal:
    """The principal the context flow reads a workspace as: a viewer of that workspace only,
    so the flow can never see more than a viewer key would."""
    return Principal.key(
        "system-context-flow", name="context flow", workspace=workspace, role=Role.VIEWER
    )


class Bundles:
    def __init__(self, briefing: BriefingService) -> None:
        self._briefing = briefing

    async def for_provider(self, config: ProviderConfig) -> ContextBundle:
        """The bundle for ``config``, at the workspace head the briefing reflects."""
        briefing = await self._briefing.build(
            flow_reader(config.workspace),
            config.workspace,
            budget_chars=budget_chars(config),
            routing=config.routing,
        )
        return ContextBundle(config.workspace, briefing.text, briefing.seq)


def budget_chars(config: ProviderConfig) -> int:
    """The briefing's share of the provider's window: at most a quarter of it (about four
    characters a token), never more than the default briefing."""
    if config.context_window is None:
        return DEFAULT_BUDGET_CHARS
    return max(MIN_BUDGET_CHARS, min(DEFAULT_BUDGET_CHARS, config.context_window))
