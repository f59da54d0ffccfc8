"""The ``imx`` command: global options and the command groups (entry point ``run``)."""

from __future__ import annotations

from typing import Annotated

import typer

from infinity_matrix.cli import (
    admin,
    ask,
    auth,
    context,
    events,
    graph,
    insights,
    keys,
    mcp,
    members,
    provider_ops,
    providers,
    retrieve,
    runtime,
    serve,
    syncfiles,
    users,
    workspaces,
)

app = typer.Typer(
    name="imx",
    help="Infinity Matrix: one shared, living context for all your AI assistants.",
    no_args_is_help=True,
    add_completion=False,
    # A local variable may hold a password or a token: never print them in a traceback.
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    url: Annotated[
        str | None, typer.Option(help="The hub (default: IMX_URL, then credentials).")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(help="API key or access token; prefer IMX_TOKEN (others can see argv)."),
    ] = None,
    workspace: Annotated[
        str | None,
        typer.Option("--workspace", "-w", help="Default: IMX_WORKSPACE, then the one in use."),
    ] = None,
) -> None:
    """Infinity Matrix: one shared, living context for all your AI assistants."""
    ctx.obj = runtime.Globals(url=url, token=token, workspace=workspace)


app.command("serve")(serve.serve)
app.command("login")(auth.login)
app.command("logout")(auth.logout)
app.command("whoami")(auth.whoami)
app.command("events")(events.events)
app.command("retrieve")(retrieve.retrieve)
app.command("sync-files")(syncfiles.sync_files)
app.add_typer(context.app, name="ctx")
app.add_typer(graph.app, name="graph")
app.add_typer(insights.app, name="insight")
app.add_typer(mcp.app, name="mcp")
app.add_typer(workspaces.app, name="workspace")
app.add_typer(members.app, name="member")
app.add_typer(keys.app, name="key")
app.add_typer(users.app, name="user")
app.add_typer(providers.app, name="provider")
app.command("ask")(ask.ask)
providers.app.command("test")(provider_ops.check_provider)
providers.app.command("status")(provider_ops.status)
providers.app.command("sync")(provider_ops.sync)
providers.app.command("demo")(provider_ops.demo)
app.add_typer(admin.db_app, name="db")
app.add_typer(admin.admin_app, name="admin")


def run() -> None:
    """The console script ``imx``."""
    app(prog_name="imx")
