"""Serve an ASGI app with uvicorn on a loopback port, inside the caller's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any, Literal

import uvicorn

START_TIMEOUT = 10.0


@contextlib.asynccontextmanager
async def serve_asgi(
    app: Any, *, port: int = 0, lifespan: Literal["on", "off"] = "off"
) -> AsyncIterator[str]:
    """Serve ``app`` until the block ends (``port`` 0: a free one); yields its base URL
    (``http://127.0.0.1:PORT``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan=lifespan)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(START_TIMEOUT):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)  # polling uvicorn's flag; it offers no event
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, START_TIMEOUT)
        sock.close()
