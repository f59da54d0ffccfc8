"""Give each HTTP request an id, bind it to the request's logs, echo it, and log an access line."""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Request-ID"

# An id from outside ends up in our logs and headers, so only a short plain token is trusted.
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")

_log = structlog.get_logger(__name__)


class RequestIdMiddleware:
    """Pure ASGI middleware: ``X-Request-ID`` in (if sane) or a fresh uuid4 hex, and back out.

    While the request runs, ``request_id``, ``method`` and ``path`` are bound with
    ``structlog.contextvars`` so every line logged on its behalf carries them. The path is
    logged without its query string, which may hold a token (WebSocket clients send one there).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_id(scope) or uuid.uuid4().hex
        method, path = scope["method"], scope["path"]
        status = 500  # what the client gets if the app raises before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(
            request_id=request_id, method=method, path=path
        ):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                duration_ms = round((time.perf_counter() - started) * 1000, 3)
                _log.info(
                    "http.access", method=method, path=path, status=status, duration_ms=duration_ms
                )


def _incoming_id(scope: Scope) -> str | None:
    value = Headers(scope=scope).get(HEADER)
    if value is not None and _SANE_ID.fullmatch(value):
        return value
    return None
