"""StreamClient: the event stream with lossless resume, for the CLI, tests and adapters.

It keeps ``(epoch, after)``: after a dropped connection it reconnects with backoff, says hello
with them and gets exactly the events it missed. Writes not yet acknowledged are sent again with
the same id, and the hub answers a repeat with the first seq, so nothing is applied twice.
If the hub cannot resume (``recovered: false``, e.g. its history was restored from elsewhere),
the client yields a ``{"type": "reset", …}`` frame: reload state through REST, then go on.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
import uuid
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Self

import orjson
import websockets
from websockets.asyncio.client import ClientConnection

from infinity_matrix.errors import InfinityMatrixError

Frame = dict[str, Any]
_BACKOFF_MAX = 5.0


class StreamClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        workspace: str,
        *,
        prefix: str = "",
        after: int = 0,
        epoch: str | None = None,
    ) -> None:
        self.url = (
            base_url.rstrip("/").replace("http://", "ws://", 1).replace("https://", "wss://", 1)
            + f"/api/v1/workspaces/{workspace}/stream"
        )
        self._token = token
        self.prefix = prefix
        self.after = after
        self.epoch = epoch
        self._frames: asyncio.Queue[Frame] = asyncio.Queue()
        self._pending: dict[str, tuple[Frame, asyncio.Future[int]]] = {}
        self._socket: ClientConnection | None = None
        self._connected = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self.reconnects = 0

    async def __aenter__(self) -> Self:
        self._runner = asyncio.create_task(self._run())
        await self._connected.wait()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        if self._socket is not None:
            await self._socket.close()

    async def frames(self) -> AsyncIterator[Frame]:
        """Events (``type: event``), presence and ``reset`` frames, in order, forever."""
        while True:
            frame = await self._frames.get()
            if frame.get("type") == "fatal":
                raise frame["error"]
            yield frame

    async def put(
        self,
        key: str,
        *,
        text: str | None = None,
        data: dict[str, Any] | None = None,
        update: bytes | None = None,
        tags: list[str] | None = None,
    ) -> int:
        """Write through the stream; answers the seq once the hub has committed it."""
        frame: Frame = {"type": "put", "id": uuid.uuid4().hex, "key": key}
        if update is not None:
            frame["update"] = base64.b64encode(update).decode()
        elif data is not None:
            frame["data"] = data
        else:
            frame["text"] = text
        if tags is not None:
            frame["tags"] = tags
        return await self._write(frame)

    async def delete(self, key: str) -> int:
        return await self._write({"type": "delete", "id": uuid.uuid4().hex, "key": key})

    async def presence(self, state: dict[str, Any] | None) -> None:
        await self._send({"type": "presence", "state": state})

    async def _write(self, frame: Frame) -> int:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending[frame["id"]] = (frame, future)
        with contextlib.suppress(OSError, websockets.ConnectionClosed):
            await self._send(frame)  # if the link is down, the reconnect sends it
        try:
            return await future
        finally:
            self._pending.pop(frame["id"], None)

    async def _send(self, frame: Frame) -> None:
        await self._connected.wait()
        assert self._socket is not None
        await self._socket.send(orjson.dumps(frame).decode())

    async def _run(self) -> None:
        delay = 0.1
        while True:
            try:
                await self._session()
                delay = 0.1
            except InfinityMatrixError as exc:  # the hub refused us: no point in retrying
                self._frames.put_nowait({"type": "fatal", "error": exc})
                self._connected.set()
                return
            except (OSError, websockets.ConnectionClosed, websockets.InvalidStatus):
                pass
            self._connected.clear()
            self.reconnects += 1
            await asyncio.sleep(delay * (0.5 + random.random()))  # noqa: S311 - jitter, not secrecy
            delay = min(delay * 2, _BACKOFF_MAX)

    async def _session(self) -> None:
        headers = {"Authorization": f"Bearer {self._token}"}
        async with websockets.connect(self.url, additional_headers=headers) as socket:
            self._socket = socket
            hello = {"type": "hello", "after": self.after, "prefix": self.prefix}
            if self.epoch is not None:
                hello["epoch"] = self.epoch
            await socket.send(orjson.dumps(hello).decode())
            async for message in socket:
                frame = orjson.loads(message)
                self._receive(frame)
                if frame.get("type") == "welcome":
                    for pending, _future in list(self._pending.values()):
                        await socket.send(orjson.dumps(pending).decode())
            _raise_for_close(socket)

    def _receive(self, frame: Frame) -> None:
        kind = frame.get("type")
        if kind == "welcome":
            self.epoch = frame["epoch"]
            if not frame["recovered"]:
                # Nothing is replayed: go on from the hub's head, after the caller reloads.
                self._frames.put_nowait({"type": "reset", **frame})
                self.after = frame["head"]
            self._connected.set()
        elif kind == "event":
            if frame["seq"] > self.after:
                self.after = frame["seq"]
                self._frames.put_nowait(frame)
        elif kind in {"ack", "error"} and frame.get("id") in self._pending:
            _frame, future = self._pending[frame["id"]]
            if not future.done():
                if kind == "ack":
                    future.set_result(frame["seq"])
                else:
                    future.set_exception(InfinityMatrixError(frame["detail"], code=frame["code"]))
        elif kind == "presence":
            self._frames.put_nowait(frame)


def _raise_for_close(socket: ClientConnection) -> None:
    """Refusals end the client; any other close (a restart, 4408, 4429, a lost link) is a
    reason to resume after a pause."""
    code = socket.close_code or 1006
    if code in {4401, 4403, 4404}:
        raise InfinityMatrixError(
            f"the hub closed the stream ({code})", code=f"stream.closed_{code}"
        )
    raise OSError(f"the stream closed with {code}")
