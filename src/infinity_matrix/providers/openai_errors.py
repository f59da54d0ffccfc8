"""What the OpenAI SDK (and ``httpx2`` under it) raises, translated into exactly one class of the
provider error taxonomy (``core/providers/errors.py``).

The table, by what went wrong:

- 401/403 → ``ProviderAuthError`` (the provider's message is dropped: it quotes part of the key);
- 400 ``context_length_exceeded`` (or a message about the maximum context length), 413 →
  ``ContextTooLong``; 400 ``content_filter`` / ``content_policy_violation`` → ``ContentFiltered``;
  other 400/422 and other 4xx → ``ProviderBadRequest``; 404 → ``ProviderNotFound``;
- 429 ``insufficient_quota`` → ``QuotaExhausted``; other 429 → ``ProviderRateLimited`` with
  ``retry_after`` from ``retry-after-ms`` / ``Retry-After`` (seconds or HTTP-date);
- 503 whose body says overloaded, 529 → ``ProviderOverloaded``; 408 → ``ProviderTimeout``; 409
  (OpenAI's lock timeout, which its SDK retries) and other 5xx → ``ProviderServerError``;
- timeouts → ``ProviderTimeout``; a body cut short → ``MalformedResponse``; other connection
  failures → ``ProviderServerError``; a body that is not the JSON promised → ``MalformedResponse``;
- anything else the SDK raises on its own (it validated our request) → ``ProviderBadRequest``.
"""

from __future__ import annotations

import json
import re

import httpx2
import openai

from infinity_matrix.core.providers.errors import (
    ContentFiltered,
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
from infinity_matrix.providers.resilience.retry_after import parse_retry_after

_CONTEXT_CODES = {"context_length_exceeded", "string_above_max_length"}
_CONTEXT_MESSAGE = re.compile(r"maximum context length|context window|too many tokens", re.I)
_FILTER_CODES = {"content_filter", "content_policy_violation"}
_QUOTA_CODES = {"insufficient_quota", "billing_hard_limit_reached"}
# httpcore's words for a response whose body ended before its Content-Length (a cut stream).
_CUT_BODY = "complete message body"


def translate_error(exc: BaseException, *, provider: str) -> ProviderError:
    """The taxonomy error for ``exc``; the caller raises it ``from exc``."""
    if isinstance(exc, openai.APIStatusError):
        return _from_status(exc, provider)
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException | TimeoutError):
        return ProviderTimeout("the provider did not answer in time", provider=provider)
    if isinstance(exc, openai.APIConnectionError | httpx2.TransportError):
        cause = exc.__cause__ if isinstance(exc, openai.APIConnectionError) else exc
        if _CUT_BODY in str(cause):
            return MalformedResponse("the provider's answer was cut short", provider=provider)
        return ProviderServerError(f"cannot reach the provider: {cause}", provider=provider)
    if isinstance(exc, openai.APIResponseValidationError | json.JSONDecodeError):
        return MalformedResponse("the provider's answer is not valid JSON", provider=provider)
    if isinstance(exc, openai.ContentFilterFinishReasonError):
        return ContentFiltered("the provider's content filter refused", provider=provider)
    return ProviderBadRequest(f"the request was refused by the SDK: {exc}", provider=provider)


def _from_status(exc: openai.APIStatusError, provider: str) -> ProviderError:
    cls = _status_class(exc)
    # The provider's words for a refused key quote part of the key: they are not repeated.
    detail = (
        f"the provider refused the credential ({exc.status_code})"
        if cls is ProviderAuthError
        else exc.message
    )
    return cls(
        detail,
        provider=provider,
        status=exc.status_code,
        request_id=exc.request_id,
        retry_after=parse_retry_after(dict(exc.response.headers)),
    )


def _status_class(exc: openai.APIStatusError) -> type[ProviderError]:
    status = exc.status_code
    code = (exc.code or "").lower()
    kind = exc.type.lower() if isinstance(exc.type, str) else ""
    if status in (401, 403):
        return ProviderAuthError
    if (
        status == 413
        or code in _CONTEXT_CODES
        or (status == 400 and _CONTEXT_MESSAGE.search(exc.message))
    ):
        return ContextTooLong
    if code in _FILTER_CODES or kind in _FILTER_CODES:
        return ContentFiltered
    if status == 404:
        return ProviderNotFound
    if status == 429:
        quota = code in _QUOTA_CODES or kind in _QUOTA_CODES
        return QuotaExhausted if quota else ProviderRateLimited
    if status == 529 or (status == 503 and "overloaded" in f"{code} {kind} {exc.message}".lower()):
        return ProviderOverloaded
    if status == 408:
        return ProviderTimeout
    if status == 409 or status >= 500:
        return ProviderServerError
    return ProviderBadRequest
