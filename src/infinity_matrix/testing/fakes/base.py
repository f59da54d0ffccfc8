"""What every fake provider server shares: the request log, the fault script, and serving an
ASGI app on a free loopback port.

A fault is queued with ``FakeServer.script.add(...)`` and consumed by the next request whose
path contains ``path`` (default: any request). Faults:

- ``Fault.status(code, body, headers)``: answer that status with a JSON body (``Retry-After``
  and the like go in ``headers``);
- ``Fault.slow(seconds)``: wait, then answer normally (past a client's deadline);
- ``Fault.truncated()``: a 200 whose JSON body is cut in half (valid HTTP, invalid JSON);
- ``Fault.non_json()``: a 200 with an HTML body;
- ``Fault.cut()``: announce a body, send part of it, drop the connection (a stream cut short).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from infinity_matrix.testing.asgi import serve_asgi

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Fault:
    kind: Literal["status", "slow", "truncated", "non_json", "cut"]
    status: int = 200
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0
    path: str = ""

    @classmethod
    def status_code(
        cls, status: int, body: Any = None, headers: dict[str, str] | None = None, *, path: str = ""
    ) -> Fault:
        return cls(
            "status",
            status=status,
            body=body if body is not None else {"error": {"message": f"scripted {status}"}},
            headers=tuple((headers or {}).items()),
            path=path,
        )

    @classmethod
    def slow(cls, seconds: float, *, path: str = "") -> Fault:
        return cls("slow", seconds=seconds, path=path)

    @classmethod
    def truncated(cls, *, path: str = "") -> Fault:
        return cls("truncated", path=path)

    @classmethod
    def non_json(cls, *, path: str = "") -> Fault:
        return cls("non_json", path=path)

    @classmethod
    def cut(cls, *, path: str = "") -> Fault:
        return cls("cut", path=path)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None


@dataclass(slots=True)
class Script:
    """Faults waiting for their request, in order."""

    faults: list[Fault] = field(default_factory=list)

    def add(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def clear(self) -> None:
        self.faults.clear()

    def take(self, path: str) -> Fault | None:
        for i, fault in enumerate(self.faults):
            if fault.path in path:
                return self.faults.pop(i)
        return None


class FaultInjector:
    """ASGI middleware: records every HTTP request, then answers the next matching fault or
    passes the request (its body replayed) to ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.script = Script()
        self.requests: list[RecordedRequest] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        self.requests.append(
            RecordedRequest(
                method=scope["method"],
                path=scope["path"],
                query=scope.get("query_string", b"").decode(),
                headers={k.decode().lower(): v.decode() for k, v in scope["headers"]},
                body=body,
            )
        )
        fault = self.script.take(scope["path"])
        if fault is not None and fault.kind != "slow":
            await _answer_fault(fault, send)
            return
        if fault is not None:
            await asyncio.sleep(fault.seconds)
        await self.app(scope, _replay(body), send)


async def read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # nothing more: the client is still connected
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _answer_fault(fault: Fault, send: Send) -> None:
    if fault.kind == "status":
        await _send(send, fault.status, orjson.dumps(fault.body), "application/json", fault.headers)
    elif fault.kind == "truncated":
        whole = orjson.dumps({"id": "truncated", "object": "chat.completion", "choices": []})
        await _send(send, 200, whole[: len(whole) // 2], "application/json", ())
    elif fault.kind == "non_json":
        await _send(send, 200, b"<html><body>Bad gateway</body></html>", "text/html", ())
    else:  # cut: promise more than is sent, then drop the connection
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"id": "cut", "cho', "more_body": True})
        raise ConnectionAbortedError("scripted cut")


async def _send(
    send: Send, status: int, body: bytes, content_type: str, headers: tuple[tuple[str, str], ...]
) -> None:
    raw = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class FakeServer:
    """A fake provider served on a free loopback port for the duration of ``serving()``."""

    def __init__(self, app: ASGIApp) -> None:
        self.injector = FaultInjector(app)
        self.url = ""

    @property
    def script(self) -> Script:
        return self.injector.script

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.injector.requests

    def requests_to(self, path_part: str) -> list[RecordedRequest]:
        return [r for r in self.requests if path_part in r.path]

    @contextlib.asynccontextmanager
    async def serving(self, port: int = 0) -> AsyncIterator[str]:
        """Serve until the block ends; yields the base URL (``http://127.0.0.1:PORT``)."""
        async with serve_asgi(self.injector, port=port) as url:
            self.url = url
            yield url
