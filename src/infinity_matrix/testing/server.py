"""A real uvicorn server for a hub's app on a free loopback port, inside the test's event loop."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from infinity_matrix.gateway.app import create_app
from infinity_matrix.hub import Hub
from infinity_matrix.testing.asgi import serve_asgi


@contextlib.asynccontextmanager
async def serving(hub: Hub) -> AsyncIterator[str]:
    """Serve an already started ``hub``; yields its base URL (``http://127.0.0.1:PORT``)."""
    async with serve_asgi(create_app(hub, manage_hub=False), lifespan="on") as url:
        yield url
