"""``imx mcp config``: the snippet that connects an MCP client to the hub, printed or merged in.

The clients' entries and the merging live in ``infinity_matrix.clientconfig`` (the instruction
files use them too); this module is the command. No file ever receives a token: an HTTP entry
names the ``IMX_TOKEN`` variable (or, in VS Code, a password input) and a stdio entry starts
``imx mcp``, which finds its own credential in ``IMX_HOME/credentials.json``.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path
from typing import Annotated

import click
import typer

from infinity_matrix.cli import render, runtime
from infinity_matrix.cli.runtime import WorkspaceOption
from infinity_matrix.clientconfig import (
    NAME_PATTERN,
    PROJECT_FILES,
    SERVERS_KEY,
    TITLES,
    TOKEN_VARIABLE,
    USER_BY_DEFAULT,
    USER_FILES,
    VSCODE_INPUT,
    ClientName,
    Scope,
    Server,
    Transport,
    Unusable,
    document,
    dumps_json,
    dumps_toml,
    entry,
    merge_json,
    merge_toml,
    target,
    token_input,
    toml_block,
    write_file,
)
from infinity_matrix.security.credfile import read_credentials

# Re-exported: the command's callers and tests name them here.
__all__ = [
    "NAME_PATTERN",
    "PROJECT_FILES",
    "SERVERS_KEY",
    "TITLES",
    "TOKEN_VARIABLE",
    "USER_BY_DEFAULT",
    "USER_FILES",
    "VSCODE_INPUT",
    "ClientName",
    "Scope",
    "Server",
    "Transport",
    "Unusable",
    "claude_add_command",
    "config",
    "document",
    "dumps_json",
    "dumps_toml",
    "entry",
    "imx_program",
    "merge_json",
    "merge_toml",
    "register",
    "target",
    "token_input",
    "token_note",
    "toml_block",
]


# The command ------------------------------------------------------------------------------------


def config(
    ctx: typer.Context,
    client: Annotated[ClientName, typer.Option("--client", help="The MCP client to set up.")],
    transport: Annotated[
        Transport,
        typer.Option(help="stdio: the client starts `imx mcp`; http: it calls the hub's /mcp."),
    ] = Transport.STDIO,
    write: Annotated[
        bool, typer.Option("--write", help="Merge into the client's file instead of printing.")
    ] = False,
    scope: Annotated[
        Scope | None,
        typer.Option(
            help="The project's file or the user's (default: project; Claude Desktop "
            "and Codex: user)."
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(help="The hub (default: IMX_URL, then credentials, then IMX_HOST:IMX_PORT)."),
    ] = None,
    workspace: WorkspaceOption = None,
    name: Annotated[str, typer.Option(help="The server's name in the client.")] = "imx",
    program: Annotated[
        str | None,
        typer.Option(
            "--command", help="The imx program a stdio client starts (default: this one)."
        ),
    ] = None,
    project_dir: Annotated[
        Path, typer.Option(file_okay=False, help="The project of a project-scoped file.")
    ] = Path(),
) -> None:
    """Print (or --write) the configuration that connects an MCP client to the hub."""
    if not NAME_PATTERN.fullmatch(name):
        runtime.usage(f"the server name {name!r} must match {NAME_PATTERN.pattern}")
    chosen = scope or (Scope.USER if client in USER_BY_DEFAULT else Scope.PROJECT)
    if chosen is Scope.PROJECT and client not in PROJECT_FILES:
        runtime.usage(f"{TITLES[client]} has no project file; use --scope user")
    if transport is Transport.HTTP and client is ClientName.CLAUDE_DESKTOP:
        runtime.usage(
            "Claude Desktop reads only stdio servers from its file: use --transport stdio (it "
            "reaches a running hub too), or add the URL under Settings > Connectors"
        )
    server = _server(ctx, transport, name, url, workspace, program)
    path = target(client, chosen, project_dir.absolute(), Path.home())
    codex = client is ClientName.CODEX
    snippet = toml_block(server) if codex else dumps_json(document(client, server))
    if write:
        _write(client, server, path)
    click.echo(snippet, nl=not snippet.endswith("\n"))
    render.note(f"# {'wrote' if write else 'goes in'} {path}")
    if client is ClientName.CLAUDE and not write:
        render.note(f"# or run: {claude_add_command(server, chosen)}")
    render.note(f"# {token_note(client, server)}")


def register(app: typer.Typer) -> None:
    """Add ``config`` to the given group (``imx mcp``)."""
    app.command("config")(config)


def _server(
    ctx: typer.Context,
    transport: Transport,
    name: str,
    url: str | None,
    workspace: str | None,
    program: str | None,
) -> Server:
    settings = runtime.settings(ctx, workspace=workspace, **({"url": url} if url else {}))
    if transport is Transport.HTTP:
        hub = settings.url or read_credentials(settings.credentials_file).get("url")
        base = str(hub or settings.effective_url).rstrip("/")
        endpoint = base if base.endswith("/mcp") else f"{base}/mcp"
        return Server(name, transport, url=endpoint, workspace=settings.workspace)
    # Global options, before ``mcp``: they are how every ``imx`` command is pointed at a hub.
    argv = [program or imx_program()]
    if settings.url:
        argv += ["--url", settings.url]
    if settings.workspace:
        argv += ["--workspace", settings.workspace]
    env = {"IMX_HOME": str(settings.home)} if "home" in settings.model_fields_set else {}
    return Server(name, transport, argv=[*argv, "mcp"], env=env)


def imx_program() -> str:
    """This ``imx``, by absolute path: a client's PATH is rarely the shell's.

    Not resolved through symlinks, so a link such as ``~/.local/bin/imx`` keeps working after
    the tool that made it reinstalls.
    """
    invoked = Path(sys.argv[0])
    if invoked.stem == "imx" and invoked.is_file():
        return str(invoked.absolute())
    beside = Path(sys.executable).with_name("imx.exe" if sys.platform == "win32" else "imx")
    if beside.is_file():
        return str(beside)
    found = shutil.which("imx")
    return str(Path(found).absolute()) if found else "imx"


def claude_add_command(server: Server, scope: Scope) -> str:
    """The ``claude mcp add`` line that writes the same entry."""
    words = ["claude", "mcp", "add", "--transport", server.transport.value, "--scope", scope.value]
    if server.transport is Transport.STDIO:
        for key, value in server.env.items():
            words += ["--env", f"{key}={value}"]
        return shlex.join([*words, server.name, "--", *server.argv])
    for key, value in entry(ClientName.CLAUDE, server)["headers"].items():
        words += ["--header", f"{key}: {value}"]
    return shlex.join([*words, server.name, server.url])


def token_note(client: ClientName, server: Server) -> str:
    """How the client gets the credential; never by a token in the file."""
    title = TITLES[client]
    if server.transport is Transport.STDIO:
        return (
            f"imx mcp signs in with {TOKEN_VARIABLE} if {title} passes it on, else with the key "
            "in IMX_HOME/credentials.json (written by `imx serve` on first start, or `imx login`)"
        )
    if client is ClientName.VSCODE:
        return (
            f"VS Code asks for the token (input {VSCODE_INPUT!r}) when it first starts the "
            "server and keeps it in its secret storage"
        )
    return (
        f"set {TOKEN_VARIABLE} to an API key (`imx key create {client.value} --role editor`) "
        f"in the environment {title} starts from; the file names the variable, not the token"
    )


def _write(client: ClientName, server: Server, path: Path) -> None:
    real = path.resolve()  # a symlinked config file (dotfiles) stays a link
    try:
        # utf-8-sig: Windows editors may start the file with a byte-order mark.
        text = real.read_text(encoding="utf-8-sig") if real.exists() else ""
        if client is ClientName.CODEX:
            merged, kept = merge_toml(text, server)
            if not kept:
                render.note(f"# note: {path} was rewritten whole; its comments were not kept")
        else:
            merged = merge_json(text, client, server)
        _replace(real, merged)
    except (Unusable, UnicodeDecodeError) as exc:
        detail = f"{path} is left as it was: {exc} (without --write, imx prints the snippet)"
        runtime.fail("mcp_config.unusable", detail, runtime.EXIT_USAGE)
    except OSError as exc:
        runtime.fail("mcp_config.io", f"{path}: {exc.strerror or exc}")


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` at once (a reader never sees half a file), keeping its mode."""
    write_file(path, text)
