"""Builds the hub's MCP server (official SDK ``MCPServer``) and its streamable HTTP app.

One server object serves both protocol eras: the stateless 2026-07-28 protocol and the
session protocol of 2025-06-18 / 2025-11-25. Over HTTP it sits at ``/mcp`` behind the SDK's
bearer middleware (RFC 9728 metadata, ``WWW-Authenticate`` on 401) and our ``Origin`` check;
over stdio (``imx mcp``) it runs for one principal.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcp.server import MCPServer
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette

from infinity_matrix import __version__
from infinity_matrix.gateway.mcp import (
    context_tools,
    insight_tools,
    memory_tools,
    prompts,
    provider_tools,
    resources,
)
from infinity_matrix.gateway.mcp.caller import Callers, HttpCallers, HubTokenVerifier
from infinity_matrix.gateway.mcp.notify import ResourceNotifier
from infinity_matrix.hub import Hub

MCP_PATH = "/mcp"
METADATA_PATH = "/.well-known/oauth-protected-resource" + MCP_PATH
MCP_ROUTES = (MCP_PATH, METADATA_PATH)
INSTRUCTIONS = """Infinity Matrix is this project's shared memory, used by every assistant and
person working on it. Before starting a task, read the `project_briefing` prompt (or the
`imx://<workspace>/briefing` resource) and search the context (`context_search`) and the
knowledge graph (`search_nodes`). When you decide something, learn a convention or find a
pitfall, record it (`context_put` under decisions/, conventions/ or notes/; `create_entities`
and `add_observations` for facts about people, components and systems) so the other
assistants know it too. `changes_since` tells what others changed since you last looked."""


@dataclass(frozen=True, slots=True)
class McpFace:
    server: MCPServer
    notifier: ResourceNotifier


def build_server(hub: Hub, callers: Callers, *, auth: AuthSettings | None = None) -> McpFace:
    """The MCP server with every tool, resource and prompt, calling the hub's services."""
    notifier = ResourceNotifier(hub.fanout)
    server = MCPServer(
        "infinity-matrix",
        title="Infinity Matrix",
        instructions=INSTRUCTIONS,
        version=__version__,
        token_verifier=HubTokenVerifier(hub.authenticator) if auth else None,
        auth=auth,
        subscriptions=notifier.bus,
        log_level="WARNING",
    )
    context_tools.register(server, hub, callers)
    memory_tools.register(server, hub, callers)
    insight_tools.register(server, hub, callers)
    provider_tools.register(server, hub, callers)
    resources.register(server, hub, callers, notifier)
    prompts.register(server, hub, callers)
    return McpFace(server, notifier)


def build_http(hub: Hub) -> tuple[McpFace, Starlette]:
    """The server for streamable HTTP and its ASGI app (routes ``/mcp`` and the RFC 9728
    document ``/.well-known/oauth-protected-resource/mcp``). Run
    ``face.server.session_manager.run()`` for the app's lifetime."""
    base = hub.settings.effective_url.rstrip("/")
    auth = AuthSettings(
        issuer_url=base,  # pydantic parses the URL
        resource_server_url=base + MCP_PATH,
        # Bearer credentials are the hub's own API keys and JWTs, not audience-bound tokens.
        validate_token_resource=False,
    )
    face = build_server(hub, HttpCallers(hub.rate_limiter), auth=auth)
    app = face.server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        # Plain JSON answers for calls (no tool streams progress): one task less per request.
        # Listen streams and the session's GET stream stay SSE, with the SDK's keep-alive pings.
        json_response=True,
        # Origin is checked by OriginCheck in front of this app, for any bound host.
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        max_request_body_size=hub.settings.max_request_bytes,
    )
    return face, app
