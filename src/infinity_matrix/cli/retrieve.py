"""``imx retrieve``: what the hub would hand an assistant for a task, within a token budget."""

from __future__ import annotations

from typing import Annotated, Any

import click
import typer

from infinity_matrix.cli import render, runtime
from infinity_matrix.cli.runtime import JsonFlag, WorkspaceOption


def retrieve(
    ctx: typer.Context,
    task: Annotated[str, typer.Argument(help="What the assistant is about to do.")],
    budget: Annotated[
        int, typer.Option("--budget", "-b", min=1, max=200_000, help="Token budget.")
    ] = 2000,
    target: Annotated[
        str,
        typer.Option(
            help="The assistant or model it is for (e.g. claude, gpt-5): sets how "
            "tokens are counted."
        ),
    ] = "generic",
    kinds: Annotated[
        list[str] | None,
        typer.Option(
            "--type", help="Only items of this type: context, insight, fact (repeatable)."
        ),
    ] = None,
    as_json: JsonFlag = False,
    workspace: WorkspaceOption = None,
) -> None:
    """The context entries, insights and graph facts most useful for TASK, best first, with
    their scores and sources, packed into the budget."""
    answer = runtime.call(
        ctx,
        lambda c: c.retrieve(task, target=target, budget_tokens=budget, kinds=kinds),
        workspace=workspace,
    )
    if as_json:
        render.emit_json(answer)
        return
    items: list[dict[str, Any]] = answer.get("items", [])
    if not items:
        render.note("nothing relevant found")
    for item in items:
        score = item.get("score") or {}
        name = item.get("key") or item.get("id")
        value = score.get("value", 0.0)
        click.echo(f"[{item['type']}] {name}  score {value:.3f}  {item.get('tokens', '?')} tokens")
        for line in str(item.get("text", "")).splitlines():
            click.echo(f"    {line}")
        click.echo("")
    click.echo(f"{answer.get('tokens_used', 0)} of {answer.get('budget_tokens', budget)} tokens")
