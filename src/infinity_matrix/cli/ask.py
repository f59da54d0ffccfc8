"""``imx ask``: consult one provider with the shared context; its insights come back."""

from __future__ import annotations

from typing import Annotated, Any

import click
import typer

from infinity_matrix.cli import render, runtime
from infinity_matrix.cli.runtime import JsonFlag, WorkspaceOption


def ask(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="The question.")],
    provider: Annotated[
        str, typer.Option("--provider", "-p", help="The configured provider to ask.")
    ],
    budget: Annotated[
        int,
        typer.Option(
            "--budget", "-b", min=100, max=100_000, help="Tokens of context sent with it."
        ),
    ] = 2000,
    as_json: JsonFlag = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Ask PROVIDER the QUESTION with the workspace's context; print the answer and the
    insights recorded from it (so every other assistant sees them)."""
    answer = runtime.call(
        ctx, lambda c: c.ask(provider, question, budget_tokens=budget), workspace=workspace
    )
    if as_json:
        render.emit_json(answer)
        return
    click.echo(answer.get("answer", ""))
    insights: list[dict[str, Any]] = answer.get("insights", [])
    if insights:
        click.echo("")
        render.table(
            ["insight", "outcome", "kind", "confidence", "title"],
            [
                (
                    i["insight"]["id"],
                    i["outcome"],
                    i["insight"]["kind"],
                    f"{i['insight'].get('confidence', {}).get('value', 0):.2f}",
                    i["insight"]["title"],
                )
                for i in insights
            ],
        )
    usage = answer.get("usage") or {}
    via = answer.get("provider")
    fallbacks = answer.get("fallbacks") or []
    note = f"answered by {via} ({answer.get('model')})"
    if fallbacks:
        note += " after " + ", ".join(f"{f['provider']} ({f['reason']})" for f in fallbacks)
    note += (
        f"; {usage.get('input_tokens', 0)} tokens in, {usage.get('output_tokens', 0)} out"
        f"; {answer.get('retrieved', 0)} context items sent"
    )
    render.note(note)
