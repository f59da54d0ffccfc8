"""``imx member``: who belongs to a workspace, and with which role."""

from __future__ import annotations

from typing import Annotated

import typer

from infinity_matrix.cli import render, runtime
from infinity_matrix.cli.runtime import JsonFlag, WorkspaceOption

app = typer.Typer(help="Members of a workspace.", no_args_is_help=True)

Username = Annotated[str, typer.Argument(metavar="USER", help="A username.")]


@app.command("add")
def add(
    ctx: typer.Context,
    username: Username,
    role: Annotated[str, typer.Option(help="owner, maintainer, editor or viewer.")],
    as_json: JsonFlag = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Add a user to the workspace, or change the role of a member."""
    answer = runtime.call(ctx, lambda c: c.set_member(username, role), workspace=workspace)
    render.receipt(answer, as_json)


@app.command("ls")
def ls(ctx: typer.Context, as_json: JsonFlag = False, workspace: WorkspaceOption = None) -> None:
    """The workspace's members and their roles."""
    items = runtime.call(ctx, lambda c: c.members(), workspace=workspace)
    if as_json:
        render.emit_json(items)
        return
    rows = [(m["username"], m["role"], render.when(m["added_at"]), m["added_by"]) for m in items]
    render.table(("user", "role", "added", "by"), rows)


@app.command("rm")
def rm(
    ctx: typer.Context,
    username: Username,
    as_json: JsonFlag = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Remove a member (anyone may remove themselves)."""
    answer = runtime.call(ctx, lambda c: c.remove_member(username), workspace=workspace)
    render.receipt(answer, as_json)
