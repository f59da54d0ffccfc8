"""Refuse request bodies larger than a limit with a 413 problem, before the app reads them whole."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infinity_matrix.gateway.problems import problem_response

_CODE = "request.too_large"


class BodyLimitMiddleware:
    """Pure ASGI middleware bounding the request body of every HTTP request to ``max_bytes``.

    A declared ``Content-Length`` over the limit is refused before the app runs. A body without
    one (chunked upload) is counted as the app receives it: the chunk that crosses the limit is
    never delivered, the client gets the 413, and the app sees a client disconnect instead.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _too_large(self.max_bytes)(scope, receive, send)
            return
        guard = _BodyGuard(scope, receive, send, self.max_bytes)
        try:
            await self.app(scope, guard.receive, guard.send)
        except Exception:
            # The app failed because we cut its body off; the 413 has already been sent.
            if not guard.exceeded:
                raise


class _BodyGuard:
    """Counts body bytes on the way in and silences the app once the limit was crossed."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, max_bytes: int) -> None:
        self._scope = scope
        self._receive = receive
        self._send = send
        self._max_bytes = max_bytes
        self._received = 0
        self._response_started = False
        self.exceeded = False

    async def receive(self) -> Message:
        if self.exceeded:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            if self._received > self._max_bytes:
                await self._reject()
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self.exceeded:
            return
        if message["type"] == "http.response.start":
            self._response_started = True
        await self._send(message)

    async def _reject(self) -> None:
        self.exceeded = True
        # A streaming app may already be answering; then the connection just ends early.
        if not self._response_started:
            response = _too_large(self._max_bytes)
            await response(self._scope, self._receive, self._send)


def _too_large(max_bytes: int) -> Response:
    return problem_response(
        413, _CODE, f"the request body exceeds {max_bytes} bytes", max_bytes=max_bytes
    )


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    if value is None or not value.isdigit():
        return None
    return int(value)
