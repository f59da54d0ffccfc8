"""Count and time every HTTP request by the route template it matched, for Prometheus."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from fastapi.routing import RouteContext, iter_route_contexts
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infinity_matrix.observability.metrics import Metrics

UNMATCHED = "unmatched"
METRICS_PATH = "/metrics"

# Label values must stay a small fixed set; a client can send any method name it likes.
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class MetricsMiddleware:
    """Pure ASGI middleware recording ``http_requests_total`` and the request duration.

    The ``route`` label is the matched template (``/api/v1/workspaces/{ws}/context/{key:path}``),
    found from ``scope["route"]`` after the app ran, or ``unmatched``; never the raw path, whose
    values are unbounded. Scrapes of ``/metrics`` are not counted.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._templates = _RouteTemplates()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == METRICS_PATH:
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets if the app raises before answering

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_observed)
        finally:
            self.metrics.observe_request(
                _method_label(scope["method"]),
                self._templates.label(scope),
                status,
                time.perf_counter() - started,
            )


class _RouteTemplates:
    """The full template of the route a request matched.

    Since FastAPI 0.137, ``include_router`` no longer copies routes, so ``scope["route"].path``
    lacks the include prefixes (fastapi/fastapi#16051). The public ``iter_route_contexts``
    gives every route's full template; one route included twice is told apart by its regex.
    """

    def __init__(self) -> None:
        # id(route) -> (route, its contexts); the route is kept so that its id stays unique.
        self._by_route: dict[int, tuple[BaseRoute, list[RouteContext]]] = {}

    def label(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            return UNMATCHED
        entry = self._by_route.get(id(route))
        if entry is None:
            self._index(scope.get("router"))
            # A route unknown even now (one inside a mounted app) keeps its own path.
            entry = self._by_route.setdefault(id(route), (route, []))
        return _pick(entry[0], entry[1], scope["path"])

    def _index(self, router: Any) -> None:
        routes: Sequence[BaseRoute] = getattr(router, "routes", [])
        for context in iter_route_contexts(routes):
            route = context.original_route
            known = self._by_route.setdefault(id(route), (route, []))[1]
            if context not in known:
                known.append(context)


def _pick(route: BaseRoute, contexts: list[RouteContext], path: str) -> str:
    for context in contexts:
        if len(contexts) == 1 or context.path_regex.match(path):
            return context.path or UNMATCHED
    template = getattr(route, "path", None)
    return template if isinstance(template, str) else UNMATCHED


def _method_label(method: str) -> str:
    return method if method in _KNOWN_METHODS else "other"
