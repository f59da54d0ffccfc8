"""``Origin`` validation for the MCP endpoint (the spec's guard against DNS rebinding).

Clients that are not browsers send no ``Origin`` and pass. A browser page may call the
endpoint only from the hub's own origin, a loopback origin, or an origin listed in
``IMX_MCP_ALLOWED_ORIGINS``; anything else is refused with 403 before the request is read.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from infinity_matrix.gateway.problems import problem_response

_LOOPBACK = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


class OriginCheck:
    def __init__(self, app: ASGIApp, *, own_url: str, allowed: list[str]) -> None:
        self._app = app
        self._allowed = {_origin(own_url), *(_origin(o) for o in allowed)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            origin = _header(scope, b"origin")
            if origin is not None and not self._permits(origin):
                response = problem_response(
                    403, "mcp.origin_forbidden", f"requests from origin {origin!r} are refused"
                )
                await response(scope, receive, send)
                return
        await self._app(scope, receive, send)

    def _permits(self, origin: str) -> bool:
        if origin in self._allowed:
            return True
        parts = urlsplit(origin)
        return parts.scheme in {"http", "https"} and (parts.hostname or "") in _LOOPBACK


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None
