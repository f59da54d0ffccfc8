"""The FastAPI application: middleware, error handlers and routers around one ``Hub``."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.routing import Route

from infinity_matrix import __version__
from infinity_matrix.gateway import stream, yjs
from infinity_matrix.gateway.bodylimit import BodyLimitMiddleware
from infinity_matrix.gateway.mcp.origin import OriginCheck
from infinity_matrix.gateway.mcp.server import MCP_ROUTES, build_http
from infinity_matrix.gateway.metricsmw import MetricsMiddleware
from infinity_matrix.gateway.problems import install_problem_handlers
from infinity_matrix.gateway.requestid import RequestIdMiddleware
from infinity_matrix.gateway.routes import (
    ask,
    auth,
    briefing,
    context,
    events,
    graph,
    health,
    insights,
    keys,
    patterns,
    providers,
    retrieve,
    search,
    users,
    workspaces,
)
from infinity_matrix.hub import Hub

DESCRIPTION = """Infinity Matrix keeps one living picture of a project and shares it with every
assistant and person working on it. Authenticate with `Authorization: Bearer <API key or access
token>`. Errors are `application/problem+json` with a stable `code`."""


def create_app(hub: Hub, *, manage_hub: bool = True) -> FastAPI:
    """Build the app; with ``manage_hub`` the app's lifespan starts and closes the hub."""

    mcp_face, mcp_app = build_http(hub)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if manage_hub:
            await hub.start()
            # What start-up made lives as long as the app: out of the collector's sight, full
            # collections no longer walk it (they paused the hub ~100 ms, issue 3).
            gc.collect()
            gc.freeze()
        try:
            async with mcp_face.server.session_manager.run():
                yield
        finally:
            await mcp_face.notifier.close()
            if manage_hub:
                await hub.close()
                gc.unfreeze()  # an app in a longer-lived process (tests) leaves nothing frozen

    app = FastAPI(
        title="Infinity Matrix",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.hub = hub
    install_problem_handlers(app)
    for module in (health, auth, users, workspaces, keys, context, search, events, graph, retrieve):
        app.include_router(module.router)
    app.include_router(insights.router)
    app.include_router(patterns.router)
    app.include_router(providers.router)
    app.include_router(briefing.router)
    app.include_router(ask.router)
    app.include_router(stream.router)
    app.include_router(yjs.router)
    # /mcp and its RFC 9728 document are served by the SDK's app, behind the Origin check.
    mcp_gate = OriginCheck(
        mcp_app, own_url=hub.settings.effective_url, allowed=hub.settings.mcp_allowed_origins
    )
    # First in the table: MCP clients call often, and need not be matched against every route.
    for path in reversed(MCP_ROUTES):
        app.router.routes.insert(0, Route(path, mcp_gate, include_in_schema=False))
    # Outermost last: request id wraps metrics wraps the body limit wraps the app.
    app.add_middleware(BodyLimitMiddleware, max_bytes=hub.settings.max_request_bytes)
    app.add_middleware(MetricsMiddleware, metrics=hub.metrics)
    app.add_middleware(RequestIdMiddleware)
    return app
