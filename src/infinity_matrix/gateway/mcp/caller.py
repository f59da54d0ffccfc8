"""Who is calling an MCP tool, in which workspace, and how hub errors reach the model.

Over HTTP the SDK's bearer middleware authenticates each request through ``HubTokenVerifier``;
the workspace comes from the API key, or from the ``X-Workspace`` header for a user's token.
Over stdio the process was started for one principal and workspace (``FixedCaller``). Either
way the services check authorization themselves, exactly as for REST.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError

from infinity_matrix.errors import (
    Forbidden,
    InfinityMatrixError,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from infinity_matrix.security.identity import Authenticator
from infinity_matrix.security.principals import Principal
from infinity_matrix.security.ratelimit import RateLimiter

WORKSPACE_HEADER = "x-workspace"
_PRINCIPAL_CLAIM = "imx_principal"


@dataclass(frozen=True, slots=True)
class Caller:
    principal: Principal
    workspace: str
    source: str | None  # recorded on writes as the event's source: "mcp:<client name>"


class Callers(Protocol):
    """Resolves the caller of one MCP request (and counts it against its rate limit)."""

    async def __call__(self, ctx: Context) -> Caller: ...


class HubTokenVerifier:
    """The SDK's ``TokenVerifier`` over the hub's ``Authenticator`` (API keys and access JWTs).

    A refused credential answers None, which the SDK turns into 401 with
    ``WWW-Authenticate: Bearer … resource_metadata=…``.
    """

    def __init__(self, authenticator: Authenticator) -> None:
        self._authenticator = authenticator

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            principal = await self._authenticator.authenticate(token)
        except Unauthenticated:
            return None
        return AccessToken(
            token=token,
            client_id=principal.id,
            subject=principal.id,
            scopes=[],
            claims={_PRINCIPAL_CLAIM: principal},
        )


class HttpCallers:
    """Callers of the streamable HTTP endpoint, authenticated by the SDK's bearer middleware."""

    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter

    async def __call__(self, ctx: Context) -> Caller:
        token = get_access_token()
        principal = (token.claims or {}).get(_PRINCIPAL_CLAIM) if token else None
        if not isinstance(principal, Principal):
            raise Unauthenticated("a bearer credential is required", code="auth.missing")
        requested = (ctx.headers or {}).get(WORKSPACE_HEADER) or None
        workspace = workspace_for(principal, requested)
        await self._limiter.hit("api", principal.id)
        return Caller(principal, workspace, client_source(ctx))


class FixedCaller:
    """The one caller of an ``imx mcp`` stdio process."""

    def __init__(self, principal: Principal, workspace: str, limiter: RateLimiter) -> None:
        self.principal = principal
        self.workspace = workspace_for(principal, workspace)
        self._limiter = limiter

    async def __call__(self, ctx: Context) -> Caller:
        await self._limiter.hit("api", self.principal.id)
        return Caller(self.principal, self.workspace, client_source(ctx))


def workspace_for(principal: Principal, requested: str | None) -> str:
    """An API key's own workspace (a different ``requested`` one is refused); for a user, the
    requested workspace, which is required."""
    if principal.workspace is not None:
        if requested and requested != principal.workspace:
            raise Forbidden(
                f"this API key belongs to workspace {principal.workspace!r}, not {requested!r}",
                code="mcp.workspace_mismatch",
            )
        return principal.workspace
    if not requested:
        raise InvalidInput(
            "say which workspace with the X-Workspace header (or use a workspace API key)",
            code="mcp.workspace_required",
        )
    return requested


def client_source(ctx: Context) -> str:
    """``mcp:<client name>`` from the client's declared implementation info, else ``mcp``."""
    params: Any = getattr(ctx.session, "client_params", None)
    info = getattr(params, "client_info", None)
    name = getattr(info, "name", None)
    return f"mcp:{str(name)[:100]}" if name else "mcp"


def describe(exc: InfinityMatrixError) -> str:
    """The text a model reads for a refused call: the stable code, then the explanation."""
    text = f"[{exc.code}] {exc.detail}"
    retry_after = exc.extra.get("retry_after")
    if retry_after is not None:
        text += f" (retry after {retry_after} s)"
    return text


@contextmanager
def tool_errors() -> Iterator[None]:
    """Hub errors become tool errors (``isError`` results the model can read), not crashes."""
    try:
        yield
    except InfinityMatrixError as exc:
        raise ToolError(describe(exc)) from exc


@contextmanager
def resource_errors() -> Iterator[None]:
    """Hub errors on a resource read become resource errors with their code."""
    try:
        yield
    except NotFound as exc:
        raise ResourceNotFoundError(describe(exc)) from exc
    except InfinityMatrixError as exc:
        raise ResourceError(describe(exc)) from exc
