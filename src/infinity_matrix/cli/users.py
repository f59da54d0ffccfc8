"""``imx user``: server-side administration of users, run on the hub's machine.

These commands open the hub's database directly (``IMX_HOME`` / ``IMX_DATABASE_URL``), not the
HTTP API: whoever can read that database administers the hub anyway. They apply pending
migrations first and never bootstrap.
"""

from __future__ import annotations

from typing import Annotated

import typer

from infinity_matrix.cli import render, runtime
from infinity_matrix.cli.runtime import JsonFlag, PasswordStdin

app = typer.Typer(
    help="Users (server-side: runs on the hub's machine, on its database).", no_args_is_help=True
)

Username = Annotated[str, typer.Argument(metavar="NAME")]


@app.command("create")
def create(
    ctx: typer.Context,
    username: Username,
    admin: Annotated[bool, typer.Option("--admin", help="A server administrator.")] = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a user (asks for the password twice unless --password-stdin)."""
    password = runtime.read_password(password_stdin, confirm=True)
    runtime.local(
        ctx, lambda hub: hub.identity.create_user(username, password, is_admin=admin), migrate=True
    )
    render.note(f"created user {username}{' (server administrator)' if admin else ''}")


@app.command("ls")
def ls(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Every user of the hub."""
    # The credential store directly: no principal calls here, the operator owns the database.
    users = runtime.local(ctx, lambda hub: hub.identity.all_users(), migrate=True)
    items = [user.to_json() for user in users]
    if as_json:
        render.emit_json(items)
        return
    rows = [
        (u["username"], u["is_admin"], u["disabled"], render.when(u["created_at"])) for u in items
    ]
    render.table(("user", "admin", "disabled", "created"), rows)


@app.command("passwd")
def passwd(ctx: typer.Context, username: Username, password_stdin: PasswordStdin = False) -> None:
    """Set a user's password."""
    password = runtime.read_password(password_stdin, confirm=True)
    runtime.local(ctx, lambda hub: hub.identity.set_password(username, password), migrate=True)
    render.note(f"password of {username} changed")
