"""pycrdt-websocket as bench/sync.py runs it: the reference Python y-websocket server, in memory.

    bench/.peers-venv/bin/python bench/peers/pycrdt/server.py --port PORT

Its documented set-up (``WebsocketServer`` behind ``ASGIServer``) served by uvicorn with the
options ``imx serve`` uses, so the HTTP and WebSocket layers are the same as the hub's and the
comparison is between the two applications. Rooms are named by the request path, kept in memory,
persisted nowhere, and dropped when their last client leaves (the defaults). Errors in a room are
logged, not raised, as jupyter-collaboration configures it. Any plain HTTP request answers 200,
which is how the bench knows the server is up. It runs in its own venv (pycrdt-websocket needs a
newer pycrdt than the hub pins), so it imports nothing from the hub.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from pycrdt.websocket import ASGIServer, WebsocketServer, exception_logger

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def application(rooms: WebsocketServer) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    websockets = ASGIServer(rooms)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await websockets(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


async def main(port: int) -> None:
    rooms = WebsocketServer(exception_handler=exception_logger)
    config = uvicorn.Config(
        application(rooms),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        server_header=False,
        ws_per_message_deflate=False,
        lifespan="off",
    )
    async with rooms:
        await uvicorn.Server(config).serve()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    logging.basicConfig(level=logging.WARNING)
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(parser.parse_args().port))
    else:
        uvloop.run(main(parser.parse_args().port))
