"""``imx events``: the workspace's audit trail, in seq order."""

from __future__ import annotations

from typing import Annotated

import typer

from infinity_matrix.cli import render, runtime
from infinity_matrix.cli.runtime import JsonFlag, WorkspaceOption


def events(
    ctx: typer.Context,
    after: Annotated[int, typer.Option(min=0, help="Only events with a seq above this.")] = 0,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000)] = 100,
    as_json: JsonFlag = False,
    workspace: WorkspaceOption = None,
) -> None:
    """List the workspace's events: every change with its seq, actor and time (maintainers)."""
    page = runtime.call(ctx, lambda c: c.events(after=after, limit=limit), workspace=workspace)
    if as_json:
        render.emit_json(page)
        return
    rows = [
        (e["seq"], e["type"], e["subject"], e["actor"], render.when(e["recorded_at"]))
        for e in page["events"]
    ]
    render.table(("seq", "type", "subject", "actor", "time"), rows)
    if page["next_after"] < page["head"]:
        render.note(f"more events: imx events --after {page['next_after']}")
