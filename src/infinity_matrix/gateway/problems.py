"""Render every HTTP error as ``application/problem+json`` (RFC 9457) with a stable ``code``.

The body is ``{"type": "urn:imx:problem:<code>", "title": <reason phrase>, "status", "detail",
"code", ...extra}``. Clients branch on ``code``; ``detail`` is for people and may change.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from infinity_matrix import errors
from infinity_matrix.core.providers import errors as provider_errors
from infinity_matrix.security.ratelimit import RateLimitState, rate_limit_headers

PROBLEM_MEDIA_TYPE = "application/problem+json"

STATUS_BY_ERROR: dict[type[errors.InfinityMatrixError], int] = {
    errors.InvalidInput: 422,
    errors.TooLarge: 413,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.RateLimited: 429,
    errors.Unavailable: 503,
    # A provider failed the hub (docs/providers-resilience.md): never passed on as the
    # provider's own status — a provider's 429 is not the client's.
    provider_errors.ProviderError: 502,
    provider_errors.ContextTooLong: 422,
    provider_errors.ContentFiltered: 422,
    provider_errors.ProviderRateLimited: 503,
    provider_errors.QuotaExhausted: 503,
    provider_errors.ProviderOverloaded: 503,
    provider_errors.CircuitOpen: 503,
    provider_errors.ProviderTimeout: 504,
}

# RFC 6750 §3.1: a rejected bearer token is reported as error="invalid_token".
_INVALID_TOKEN_CODES = frozenset({"auth.invalid_token", "auth.token_expired"})
_RESERVED_FIELDS = frozenset({"type", "title", "status", "detail", "code"})
# Starlette's default handler sends these with no body; a problem document would be invalid.
_BODYLESS_STATUSES = frozenset({204, 304})
_ROUTE_CODES = {404: "route.not_found", 405: "route.method_not_allowed", 413: "request.too_large"}

_log = structlog.get_logger(__name__)


def status_for(exc: errors.InfinityMatrixError) -> int:
    """The status of the nearest class of ``exc`` in ``STATUS_BY_ERROR``; 500 if none."""
    for cls in type(exc).__mro__:
        status = STATUS_BY_ERROR.get(cls)
        if status is not None:
            return status
    return 500


def problem_response(
    status: int,
    code: str,
    detail: str,
    /,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    """A problem+json response; ``extra`` adds members but never overrides the standard ones."""
    return _problem(status, code, detail, headers or {}, extra)


def _problem(
    status: int, code: str, detail: str, headers: Mapping[str, str], extra: Mapping[str, Any]
) -> Response:
    body = {key: value for key, value in extra.items() if key not in _RESERVED_FIELDS}
    body.update(
        type=f"urn:imx:problem:{code}",
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        code=code,
    )
    return JSONResponse(
        jsonable_encoder(body),
        status_code=status,
        headers=dict(headers),
        media_type=PROBLEM_MEDIA_TYPE,
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every exception reaching ``app`` into a problem."""
    app.add_exception_handler(errors.InfinityMatrixError, _handle_hub_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _handle_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _handle_http_exception)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _handle_unexpected)


async def _handle_hub_error(request: Request, exc: errors.InfinityMatrixError) -> Response:
    status = status_for(exc)
    if status >= 500:
        _log.warning("request.server_error", code=exc.code, detail=exc.detail)
    # exc.extra may hold any key (even "headers"), so it is passed as a mapping.
    return _problem(status, exc.code, exc.detail, _error_headers(exc, status), exc.extra)


def _error_headers(exc: errors.InfinityMatrixError, status: int) -> dict[str, str]:
    if status == 401:
        challenge = "Bearer"
        if exc.code in _INVALID_TOKEN_CODES:
            challenge = 'Bearer error="invalid_token"'
        return {"WWW-Authenticate": challenge}
    if isinstance(exc, errors.RateLimited):
        limit = exc.extra.get("limit")
        if isinstance(limit, int):
            state = RateLimitState(limit=limit, remaining=0, reset_after=exc.retry_after)
            return rate_limit_headers(state, exceeded=True)
        return {"Retry-After": str(max(1, exc.retry_after))}
    if isinstance(exc, provider_errors.ProviderError) and exc.retry_after and status == 503:
        return {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
    return {}


async def _handle_validation_error(request: Request, exc: RequestValidationError) -> Response:
    # Only loc/msg/type: pydantic's "input" and "ctx" can echo a submitted secret back.
    details = [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type")}
        for error in exc.errors()
    ]
    return problem_response(422, "request.invalid", "the request is invalid", errors=details)


async def _handle_http_exception(request: Request, exc: StarletteHTTPException) -> Response:
    headers = dict(exc.headers or {})
    if exc.status_code in _BODYLESS_STATUSES:
        return Response(status_code=exc.status_code, headers=headers)
    code = _ROUTE_CODES.get(exc.status_code, f"http.{exc.status_code}")
    if isinstance(exc.detail, str):
        return problem_response(exc.status_code, code, exc.detail, headers=headers)
    # FastAPI's HTTPException allows any JSON detail; keep it as data, not as its repr.
    phrase = HTTPStatus(exc.status_code).phrase
    return problem_response(exc.status_code, code, phrase, headers=headers, details=exc.detail)


async def _handle_unexpected(request: Request, exc: Exception) -> Response:
    # Last resort: the stack goes to the log, the client learns nothing about the internals.
    _log.error("request.failed", exc_info=exc, path=request.url.path)
    return problem_response(500, "internal", "internal server error")
