"""``imx key``: API keys of a workspace, for assistants and scripts."""

from __future__ import annotations

from typing import Annotated

import typer

from infinity_matrix.cli import render, runtime
from infinity_matrix.cli.runtime import JsonFlag, WorkspaceOption

app = typer.Typer(help="API keys: one workspace and one role each.", no_args_is_help=True)


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Who will use it, e.g. copilot.")],
    role: Annotated[str, typer.Option(help="owner, maintainer, editor or viewer.")],
    expires_in_days: Annotated[int | None, typer.Option(min=1, max=3650)] = None,
    as_json: JsonFlag = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Create a key and print its token; the token is shown this once and never again."""
    created = runtime.call(
        ctx,
        lambda c: c.create_key(name, role, expires_in_days=expires_in_days),
        workspace=workspace,
    )
    if as_json:
        render.emit_json(created)
    else:
        render.fields({"id": created["id"], "token": created["token"], "seq": created["seq"]})
    render.note("warning: the token is shown once; store it now (imx key revoke ID to undo).")


@app.command("ls")
def ls(ctx: typer.Context, as_json: JsonFlag = False, workspace: WorkspaceOption = None) -> None:
    """The workspace's keys (never their tokens)."""
    items = runtime.call(ctx, lambda c: c.list_keys(), workspace=workspace)
    if as_json:
        render.emit_json(items)
        return
    rows = [
        (
            k["id"],
            k["name"],
            k["role"],
            render.when(k["created_at"]),
            render.when(k["expires_at"]),
            render.when(k["revoked_at"]),
            render.when(k["last_used_at"]),
        )
        for k in items
    ]
    render.table(("id", "name", "role", "created", "expires", "revoked", "last used"), rows)


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(metavar="ID")],
    as_json: JsonFlag = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Revoke a key: it stops working at once."""
    answer = runtime.call(ctx, lambda c: c.revoke_key(key_id), workspace=workspace)
    render.receipt(answer, as_json)
