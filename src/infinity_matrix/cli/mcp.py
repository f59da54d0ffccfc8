"""``imx mcp``: the MCP server over stdio for local assistants, and ``imx mcp config``.

With a hub running (``--url``, ``IMX_URL``, the URL in ``credentials.json``, or the default
address answering ``/healthz``), the process bridges stdio to the hub's ``/mcp`` endpoint, so
local and remote clients share one server. Without one, it serves straight from the local
database: two assistants on one machine still see each other's writes, since every process
appends through the same log (change notifications then reach only the process's own client,
unless ``IMX_REDIS_URL`` connects them).
"""

from __future__ import annotations

import logging
from typing import Annotated

import httpx
import typer

from infinity_matrix.cli import mcpconfig, runtime, stdio
from infinity_matrix.client import HubClient
from infinity_matrix.config import Settings
from infinity_matrix.security.credfile import read_credentials

app = typer.Typer(help="Serve the hub to MCP clients over stdio; print client set-up.")
mcpconfig.register(app)

_PROBE_SECONDS = 0.5
DEFAULT_WORKSPACE = "default"


@app.callback(invoke_without_command=True)
def mcp(
    ctx: typer.Context,
    local: Annotated[
        bool,
        typer.Option("--local", help="Serve from the local database even if a hub is running."),
    ] = False,
    workspace: runtime.WorkspaceOption = None,
) -> None:
    """Serve MCP over stdio (what an assistant's config launches)."""
    if ctx.invoked_subcommand is not None:
        return
    settings = runtime.settings(ctx, workspace=workspace)
    from infinity_matrix.observability.logging import configure_logging

    configure_logging(settings.log_format, settings.log_level)  # stderr: stdout is the wire
    for name in ("httpx", "httpx2"):  # one line per relayed message is noise, not news
        logging.getLogger(name).setLevel(logging.WARNING)
    # As HubClient.from_settings: IMX_* (and the global options) first, then the file.
    stored = read_credentials(settings.credentials_file)
    url = settings.url or stored.get("url") or settings.effective_url
    token = settings.token.get_secret_value() if settings.token else None  # "" counts as unset
    token = token or stored.get("access_token") or stored.get("api_key")
    chosen = settings.workspace or stored.get("workspace")

    async def main() -> None:
        if not local and await _answers(url):
            # A signed-in user's session is refreshed as it expires, and saved back.
            async with HubClient.from_settings(settings) as session:
                from infinity_matrix.cli.mcpbridge import bridge

                await bridge(url, session, chosen)
        else:
            await _serve_local(settings, token, chosen)

    runtime.run(main)


async def _answers(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=_PROBE_SECONDS) as http:
            return (await http.get(url.rstrip("/") + "/healthz")).status_code == 200
    except httpx.HTTPError:
        return False


async def _serve_local(settings: Settings, token: str | None, workspace: str | None) -> None:
    from infinity_matrix.gateway.mcp.caller import FixedCaller
    from infinity_matrix.gateway.mcp.server import build_server
    from infinity_matrix.hub import Hub

    hub = Hub.build(settings)
    await hub.start()
    try:
        if token is None:  # start() bootstraps a new home: its owner key is in the file now
            token = read_credentials(settings.credentials_file).get("api_key")
        principal = await hub.authenticator.authenticate(token)
        caller = FixedCaller(
            principal, workspace or principal.workspace or DEFAULT_WORKSPACE, hub.rate_limiter
        )
        # Fail at start, not on the first tool call, when the workspace is not readable.
        await hub.workspaces.get(caller.principal, caller.workspace)
        face = build_server(hub, caller)
        try:
            await stdio.serve(face.server)
        finally:
            await face.notifier.close()
    finally:
        await hub.close()
