"""The CLI's edge: settings with the global options applied, the one crossing into async per
command, and how a failure ends a command (``error: <code>: <detail>`` on stderr, exit 1 or 2).
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import anyio
import click
import typer
from pydantic import SecretStr, ValidationError

from infinity_matrix.client import HubClient
from infinity_matrix.config import Settings
from infinity_matrix.errors import InfinityMatrixError

if TYPE_CHECKING:
    from infinity_matrix.hub import Hub

T = TypeVar("T")

EXIT_FAILURE = 1
EXIT_USAGE = 2  # the exit status click gives its own usage errors
CLIENT_SOURCE = "imx-cli"

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
WorkspaceOption = Annotated[
    str | None,
    typer.Option(
        "--workspace", "-w", help="Workspace (default: IMX_WORKSPACE, then the one in use)."
    ),
]

PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
]


@dataclass(frozen=True, slots=True)
class Globals:
    """The options given before the command (``imx --url … ctx ls``)."""

    url: str | None = None
    token: str | None = None
    workspace: str | None = None


def settings(ctx: typer.Context, *, workspace: str | None = None, **overrides: Any) -> Settings:
    """``Settings`` from the environment, then the global options, then ``overrides``."""
    try:
        base = Settings()
    except ValidationError as exc:
        # Only where and what: pydantic's message would echo the value, which may be a secret.
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        fail("config.invalid", f"bad IMX_* setting ({where})", EXIT_USAGE)
    given = ctx.find_object(Globals) or Globals()
    update: dict[str, Any] = {
        "url": given.url,
        "token": SecretStr(given.token) if given.token else None,
        "workspace": workspace or given.workspace,
        **overrides,
    }
    return base.model_copy(update={k: v for k, v in update.items() if v is not None})


def call(
    ctx: typer.Context,
    command: Callable[[HubClient], Awaitable[T]],
    *,
    workspace: str | None = None,
) -> T:
    """Run ``command`` with a client of the hub chosen by the settings."""
    resolved = settings(ctx, workspace=workspace)

    async def main() -> T:
        async with HubClient.from_settings(resolved, source=CLIENT_SOURCE) as client:
            return await command(client)

    return run(main)


def local(ctx: typer.Context, command: Callable[[Hub], Awaitable[T]], *, migrate: bool) -> T:
    """Run ``command`` on this machine's hub database (server-side admin commands).

    With ``migrate`` the schema is brought up to date first; bootstrap never runs here, so a
    new database gets no workspace and no key until ``imx serve`` starts on it.
    """
    # Imported here: commands that only talk HTTP should not pay for the server's imports.
    from infinity_matrix.hub import Hub
    from infinity_matrix.storage.migrate import upgrade

    resolved = settings(ctx)

    async def main() -> T:
        hub = Hub.build(resolved)
        try:
            if migrate:
                await upgrade(hub.database)
            return await command(hub)
        finally:
            await hub.close()

    return run(main)


def run(main: Callable[[], Awaitable[T]]) -> T:
    """Cross into async; an ``InfinityMatrixError`` ends the command with exit status 1."""
    try:
        return anyio.run(main)
    except InfinityMatrixError as exc:
        fail(exc.code, exc.detail)


def fail(code: str, detail: str, exit_code: int = EXIT_FAILURE) -> NoReturn:
    # click.echo, not Rich: a detail like "[a-z0-9]" must not be read as markup.
    click.echo(f"error: {code}: {detail}", err=True)
    raise typer.Exit(exit_code)


def usage(detail: str) -> NoReturn:
    fail("cli.usage", detail, EXIT_USAGE)


def read_password(from_stdin: bool, *, confirm: bool) -> str:
    """The first line of stdin with ``from_stdin``, else a hidden prompt (twice to ``confirm``)."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=confirm)
    if not password:
        usage("the password is empty")
    return password
