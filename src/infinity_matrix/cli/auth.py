"""``imx login``, ``imx logout``, ``imx whoami``: a person's session, kept in credentials.json."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from infinity_matrix.cli import render, runtime
from infinity_matrix.cli.runtime import JsonFlag, PasswordStdin
from infinity_matrix.client import HubClient
from infinity_matrix.security.credfile import read_credentials, update_credentials


def login(
    ctx: typer.Context,
    username: Annotated[str | None, typer.Option("--username", "-u")] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Sign in with a password; the access and refresh tokens go to credentials.json."""
    name = username or typer.prompt("Username")
    password = runtime.read_password(password_stdin, confirm=False)

    async def sign_in(client: HubClient) -> tuple[str, dict[str, Any]]:
        return client.base_url, await client.login(name, password)

    url, pair = runtime.call(ctx, sign_in)
    update_credentials(
        runtime.settings(ctx).credentials_file,
        url=url,
        username=name,
        access_token=pair["access_token"],
        refresh_token=pair["refresh_token"],
    )
    render.note(f"logged in to {url} as {name}")


def logout(ctx: typer.Context) -> None:
    """End the session on the server and forget its tokens (an API key in the file stays)."""
    path = runtime.settings(ctx).credentials_file
    refresh = read_credentials(path).get("refresh_token")
    if not refresh:
        render.note("not logged in")
        return
    try:
        runtime.call(ctx, lambda c: c.logout(refresh))
    finally:
        # Forget the tokens even when the hub cannot be told: the user asked to sign out.
        update_credentials(path, access_token=None, refresh_token=None, username=None)
    render.note("logged out")


def whoami(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Who the hub sees: a signed-in user or an API key, and where."""

    async def ask(client: HubClient) -> tuple[str, str, dict[str, Any]]:
        return client.base_url, client.workspace, await client.me()

    url, workspace, me = runtime.call(ctx, ask)
    if as_json:
        render.emit_json(me)
        return
    if me["kind"] == "user":
        render.fields(
            {"user": me["name"], "admin": me["is_admin"], "hub": url, "workspace": workspace}
        )
    else:
        render.fields(
            {
                "key": f"{me['name']} ({me['id']})",
                "role": me["role"],
                "workspace": me["workspace"],
                "hub": url,
            }
        )
