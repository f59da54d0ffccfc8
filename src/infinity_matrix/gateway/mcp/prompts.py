"""Prompts: the project briefing an assistant reads before it starts on a task."""

from __future__ import annotations

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.prompts.base import UserMessage

from infinity_matrix.core.briefing import DEFAULT_BUDGET_CHARS
from infinity_matrix.core.retrieval.render import relevant_section
from infinity_matrix.gateway.mcp.caller import Callers, tool_errors
from infinity_matrix.hub import Hub


def register(mcp: MCPServer, hub: Hub, callers: Callers) -> None:
    @mcp.prompt(
        name="project_briefing",
        title="Project briefing",
        description="The project's shared context (conventions, decisions, notes, what is being"
        " edited) assembled for an assistant starting on a task. Optionally narrow it to a key"
        " prefix, or give the task: the briefing then adds the context entries, insights and"
        " graph facts most relevant to it (ranked, with their sources) and ends with the task.",
    )
    async def project_briefing(
        ctx: Context, prefix: str = "", task: str = "", max_chars: str = ""
    ) -> list[UserMessage]:
        with tool_errors():
            caller = await callers(ctx)
            budget = int(max_chars) if max_chars.isdigit() else DEFAULT_BUDGET_CHARS
            briefing = await hub.briefing.build(
                caller.principal, caller.workspace, prefix=prefix, budget_chars=budget
            )
            relevant = ""
            if task:
                package = await hub.retrieval.retrieve(
                    caller.principal,
                    caller.workspace,
                    task,
                    target=_target(caller.source),
                    budget_tokens=max(200, budget // CHARS_PER_TOKEN // 2),
                )
                relevant = relevant_section(package)
        text = briefing.text + relevant
        text += (
            "\nKeep this shared picture current: record decisions, conventions and findings"
            " with the context tools (context_put), insights (insight_record; judge the ones"
            " you used with insight_feedback) and the memory tools (create_entities,"
            " add_observations) so the other assistants on this project see them.\n"
        )
        if task:
            text += f"\n## Your task\n\n{task}\n"
        return [UserMessage(text)]


CHARS_PER_TOKEN = 4


def _target(source: str | None) -> str:
    return source.removeprefix("mcp:") if source and source.startswith("mcp:") else "default"
