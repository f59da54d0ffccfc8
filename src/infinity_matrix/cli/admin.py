"""``imx db`` and ``imx admin``: schema migrations and projection rebuilds on the hub's database.

Server-side: they run on the hub's machine against ``IMX_DATABASE_URL`` (SQLite in
``IMX_HOME`` by default), not through the HTTP API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from infinity_matrix.cli import render, runtime
from infinity_matrix.cli.runtime import JsonFlag

if TYPE_CHECKING:
    from infinity_matrix.core.sync.replay import ReplayReport
    from infinity_matrix.hub import Hub

db_app = typer.Typer(help="The hub's database schema (server-side).", no_args_is_help=True)
admin_app = typer.Typer(help="Maintenance of the hub's data (server-side).", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade(ctx: typer.Context) -> None:
    """Apply pending migrations (safe to repeat, and while other nodes start)."""
    revision = runtime.local(ctx, _upgrade, migrate=False)
    render.note(f"database at revision {revision}")


@db_app.command("current")
def current(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """The database's schema revision (none for a new database)."""
    revision = runtime.local(ctx, _current, migrate=False)
    if as_json:
        render.emit_json({"revision": revision})
    else:
        typer.echo(revision or "none")


@admin_app.command("replay")
def replay(
    ctx: typer.Context,
    workspace: Annotated[
        str | None, typer.Option("--workspace", "-w", help="Only this one (default: all).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Rebuild the current-state tables from the event log."""
    reports = runtime.local(ctx, lambda hub: _replay(hub, workspace), migrate=True)
    if as_json:
        render.emit_json(
            [{"workspace": r.workspace, "events": r.events, "head": r.head} for r in reports]
        )
        return
    render.table(
        ("workspace", "events replayed", "head"), [(r.workspace, r.events, r.head) for r in reports]
    )


async def _upgrade(hub: Hub) -> str | None:
    from infinity_matrix.storage.migrate import current_revision, upgrade

    await upgrade(hub.database)
    return await current_revision(hub.database)


async def _current(hub: Hub) -> str | None:
    from infinity_matrix.storage.migrate import current_revision

    return await current_revision(hub.database)


async def _replay(hub: Hub, workspace: str | None) -> list[ReplayReport]:
    from infinity_matrix.core.sync.replay import replay, replay_all

    if workspace is None:
        return await replay_all(hub.store)
    return [await replay(hub.store, workspace)]
