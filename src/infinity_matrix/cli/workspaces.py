"""``imx workspace``: create, list, show, delete workspaces and choose the one in use."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from infinity_matrix.cli import render, runtime
from infinity_matrix.cli.runtime import JsonFlag
from infinity_matrix.security.credfile import update_credentials

app = typer.Typer(help="Workspaces: the unit of sharing.", no_args_is_help=True)


@app.command("create")
def create(
    ctx: typer.Context,
    workspace_id: Annotated[
        str, typer.Argument(metavar="ID", help="Lowercase letters, digits and -, at most 63.")
    ],
    name: Annotated[str | None, typer.Option(help="A display name.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a workspace; you become its owner."""
    created = runtime.call(ctx, lambda c: c.create_workspace(workspace_id, name))
    render.receipt(created, as_json)
    if not as_json:
        render.note(f"created workspace {created['id']}; use it: imx workspace use {created['id']}")


@app.command("ls")
def ls(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """The workspaces you can see, with your role in each."""
    items = runtime.call(ctx, lambda c: c.workspaces())
    if as_json:
        render.emit_json(items)
        return
    rows = [(w["id"], w["name"], w["role"], w["head"], render.when(w["created_at"])) for w in items]
    render.table(("id", "name", "role", "events", "created"), rows)


@app.command("show")
def show(
    ctx: typer.Context,
    workspace_id: Annotated[
        str | None, typer.Argument(metavar="[ID]", help="Default: the one in use.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """One workspace: name, your role, its head seq and epoch."""
    record = runtime.call(ctx, lambda c: c.get_workspace(workspace_id))
    if as_json:
        render.emit_json(record)
    else:
        render.fields(_shown(record))


@app.command("rm")
def rm(
    ctx: typer.Context,
    workspace_id: Annotated[str, typer.Argument(metavar="ID")],
    yes: Annotated[bool, typer.Option("--yes", help="Yes, delete it and its history.")] = False,
) -> None:
    """Delete a workspace with its whole history (owners only)."""
    if not yes:
        runtime.usage(f"deleting {workspace_id!r} erases its whole history; add --yes")
    runtime.call(ctx, lambda c: c.delete_workspace(workspace_id))
    render.note(f"deleted workspace {workspace_id}")


@app.command("use")
def use(ctx: typer.Context, workspace_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Make ID the workspace every command uses (stored in credentials.json)."""
    record = runtime.call(ctx, lambda c: c.get_workspace(workspace_id))
    settings = runtime.settings(ctx)
    update_credentials(settings.credentials_file, workspace=record["id"])
    render.note(f"using workspace {record['id']}")
    if settings.workspace and settings.workspace != record["id"]:
        render.note(f"note: IMX_WORKSPACE or -w ({settings.workspace}) still takes precedence")


def _shown(record: dict[str, Any]) -> dict[str, object]:
    return {
        "id": record["id"],
        "name": record["name"],
        "role": record["role"],
        "head": record["head"],
        "epoch": record["epoch"],
        "created": render.when(record["created_at"]),
    }
