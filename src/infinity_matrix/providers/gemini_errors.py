"""What google-genai raises, translated into the provider error taxonomy.

google-genai raises ``APIError`` (``ClientError`` 4xx, ``ServerError`` 5xx) with the HTTP code
and Google's canonical ``status`` for an error answer, but lets everything else through
untouched: transport errors of its HTTP library (``httpx2`` here), ``json.JSONDecodeError`` for a
body that is not JSON, pydantic's ``ValidationError`` for JSON of the wrong shape, and
google-auth's errors while getting a Vertex AI token. ``translate`` maps all of them.

Google says *why* a 429 happened only in its message and details: a per-minute limit and a spent
or absent quota both answer ``RESOURCE_EXHAUSTED`` with "You exceeded your current quota". A
limit of 0, a daily quota, or a billing complaint without a ``RetryInfo`` is
``QuotaExhausted`` (waiting seconds will not help); anything else is ``ProviderRateLimited``,
waiting for the ``Retry-After`` header or else the ``RetryInfo.retryDelay`` of the details.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import httpx2
import pydantic
from google.auth import exceptions as auth_errors
from google.genai import errors as genai_errors

from infinity_matrix.core.providers.errors import (
    ContextTooLong,
    MalformedResponse,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderNotFound,
    ProviderOverloaded,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
    QuotaExhausted,
)
from infinity_matrix.providers.resilience.retry_after import MAX_RETRY_AFTER, parse_retry_after

_TOO_LONG = re.compile(
    r"input token count.*exceeds|exceeds the maximum number of tokens|too many tokens"
    r"|context (window|length)",
    re.IGNORECASE | re.DOTALL,
)
_QUOTA_SPENT = re.compile(r"limit: 0(?![\d.])|per ?day|daily", re.IGNORECASE)
_AUTH_REASONS = {"API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "ACCESS_TOKEN_EXPIRED"}
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"

_TIMEOUTS = (httpx2.TimeoutException, TimeoutError)
_TRANSPORT = (httpx2.TransportError, auth_errors.TransportError, ConnectionError)
_MALFORMED = (json.JSONDecodeError, genai_errors.UnknownApiResponseError, pydantic.ValidationError)
_CREDENTIALS = (auth_errors.RefreshError, auth_errors.DefaultCredentialsError)

SDK_ERRORS: tuple[type[BaseException], ...] = (
    genai_errors.APIError,
    *_TIMEOUTS,
    *_CREDENTIALS,
    *_TRANSPORT,
    *_MALFORMED,
)
"""Everything a google-genai call raises for a reason outside our code; ``translate`` maps it."""


def translate(exc: BaseException, *, provider: str) -> ProviderError:
    """The taxonomy's error for one of ``SDK_ERRORS``."""
    if isinstance(exc, genai_errors.APIError):
        return from_api_error(exc, provider=provider)
    if isinstance(exc, _TIMEOUTS):
        return ProviderTimeout(f"no answer in time ({type(exc).__name__})", provider=provider)
    if isinstance(exc, httpx2.RemoteProtocolError) and "message body" in str(exc):
        # "peer closed connection without sending complete message body": an answer cut short
        # (a connection dropped before any answer is a transport error, below).
        return MalformedResponse(f"answer cut short: {exc}", provider=provider)
    if isinstance(exc, _CREDENTIALS):
        return ProviderAuthError(f"no usable Google credentials: {exc}", provider=provider)
    if isinstance(exc, _TRANSPORT):
        return ProviderServerError(f"transport error: {type(exc).__name__}", provider=provider)
    if isinstance(exc, _MALFORMED):
        return MalformedResponse(f"unreadable answer: {type(exc).__name__}", provider=provider)
    return ProviderServerError(f"unexpected failure: {type(exc).__name__}", provider=provider)


def from_api_error(exc: genai_errors.APIError, *, provider: str) -> ProviderError:
    """Classify an error answer by HTTP code, Google status, message and details."""
    code = int(exc.code or 0)
    status = str(exc.status or "")
    message = str(exc.message or "")
    details = error_details(exc)
    detail = f"{code} {status}: {message}".strip()
    common: dict[str, Any] = {"provider": provider, "status": code}
    if code in (401, 403) or _error_reason(details) in _AUTH_REASONS:
        return ProviderAuthError(detail, **common)
    if code in (400, 413) and _TOO_LONG.search(message):
        return ContextTooLong(detail, **common)
    if code == 404:
        return ProviderNotFound(detail, **common)
    if code == 408:
        return ProviderTimeout(detail, **common)
    if code == 429:
        return _exhausted(exc, message, details, detail, common)
    if code == 503:
        return ProviderOverloaded(detail, **common)
    if code == 504:
        return ProviderTimeout(detail, **common)
    if 400 <= code < 500:
        return ProviderBadRequest(detail, **common)
    return ProviderServerError(detail, **common)


def is_missing_cache(exc: BaseException | None) -> bool:
    """The provider no longer knows a cached content (expired or deleted): the Gemini API says
    403 "CachedContent not found (or permission denied)", Vertex AI 404 "cached content"."""
    if not isinstance(exc, genai_errors.APIError) or exc.code not in (403, 404):
        return False
    return "cachedcontent" in str(exc.message or "").lower().replace(" ", "")


def is_cache_too_small(exc: BaseException | None) -> bool:
    """The real services refuse a cached content under a minimum token count (400)."""
    if not isinstance(exc, genai_errors.APIError) or exc.code != 400:
        return False
    message = str(exc.message or "").lower()
    return "too small" in message or "min_total_token_count" in message


def error_details(exc: genai_errors.APIError) -> list[Mapping[str, Any]]:
    """The ``details`` array of Google's error body (``google.rpc`` messages)."""
    body = exc.details
    error = body.get("error", body) if isinstance(body, Mapping) else {}
    details = error.get("details") if isinstance(error, Mapping) else None
    return [d for d in details if isinstance(d, Mapping)] if isinstance(details, list) else []


def _exhausted(
    exc: genai_errors.APIError,
    message: str,
    details: list[Mapping[str, Any]],
    detail: str,
    common: dict[str, Any],
) -> ProviderError:
    delay = _retry_delay(details)
    if _quota_spent(message, details) or ("billing" in message.lower() and delay is None):
        return QuotaExhausted(detail, **common)
    headers = getattr(exc.response, "headers", None)
    retry_after = parse_retry_after(dict(headers) if headers is not None else None)
    return ProviderRateLimited(
        detail, retry_after=retry_after if retry_after is not None else delay, **common
    )


def _quota_spent(message: str, details: list[Mapping[str, Any]]) -> bool:
    if _QUOTA_SPENT.search(message):
        return True
    for detail in details:
        if detail.get("@type") != _QUOTA_FAILURE:
            continue
        for violation in detail.get("violations") or ():
            if not isinstance(violation, Mapping):
                continue
            if str(violation.get("quotaValue", "")) == "0":
                return True
            names = f"{violation.get('quotaId', '')} {violation.get('quotaMetric', '')}"
            if _QUOTA_SPENT.search(names):
                return True
    return False


def _retry_delay(details: list[Mapping[str, Any]]) -> float | None:
    """``RetryInfo.retryDelay`` ("7s", "0.5s", a protobuf Duration in JSON), capped."""
    for detail in details:
        if detail.get("@type") == _RETRY_INFO:
            raw = str(detail.get("retryDelay", "")).strip().removesuffix("s")
            try:
                seconds = float(raw)
            except ValueError:
                return None
            if seconds != seconds:  # NaN
                return None
            return min(max(seconds, 0.0), MAX_RETRY_AFTER)
    return None


def _error_reason(details: list[Mapping[str, Any]]) -> str:
    for detail in details:
        if detail.get("@type") == _ERROR_INFO:
            return str(detail.get("reason", ""))
    return ""
