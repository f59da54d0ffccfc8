"""What the Anthropic SDK raises, translated into exactly one class of the provider taxonomy.

Anthropic answers errors as ``{"type": "error", "error": {"type": …, "message": …}}``
(https://docs.anthropic.com/en/api/errors). The status decides most cases; the error type and,
where Anthropic gives nothing better, the message decide the rest: a prompt that is too long and
an exhausted credit balance both come back as a 400 ``invalid_request_error``.
"""

from __future__ import annotations

from collections.abc import Mapping

import anthropic
import httpx2

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
from infinity_matrix.providers.resilience.retry_after import parse_retry_after

# Anthropic words these only in the message; its error type is a generic invalid_request_error.
_TOO_LONG = ("prompt is too long", "exceed context limit", "context window", "too many tokens")
_BILLING = ("credit balance", "billing", "quota", "spend limit", "usage limit")


def translate_error(exc: Exception, *, provider: str) -> ProviderError:
    """The taxonomy error for ``exc``, raised by the SDK or by httpx2 while a body was read.

    Body-read failures (a response cut short after its headers) are malformed responses; failures
    before any response (refused or reset connections) are server errors.
    """
    if isinstance(exc, anthropic.APIStatusError):
        return _from_status(exc, provider)
    if isinstance(exc, anthropic.APITimeoutError | httpx2.TimeoutException):
        return ProviderTimeout("the request timed out", provider=provider)
    if isinstance(exc, anthropic.APIConnectionError):
        return ProviderServerError(f"could not reach the provider: {exc}", provider=provider)
    if isinstance(exc, anthropic.APIResponseValidationError | httpx2.TransportError):
        return MalformedResponse(f"the response could not be read: {exc}", provider=provider)
    return ProviderServerError(f"the provider call failed: {exc}", provider=provider)


def _from_status(exc: anthropic.APIStatusError, provider: str) -> ProviderError:
    status = exc.status_code
    error_type = str(exc.type or "")
    message = exc.api_message or str(exc.body or exc.message)
    lowered = message.lower()
    headers: Mapping[str, str] = exc.response.headers
    cls = _classify(status, error_type, lowered)
    retry_after = parse_retry_after(headers) if cls.retryable else None
    return cls(
        f"{status} {error_type or 'error'}: {message}",
        provider=provider,
        status=status,
        retry_after=retry_after,
        request_id=exc.request_id,
    )


def _classify(status: int, error_type: str, message: str) -> type[ProviderError]:
    if status in (401, 403) or error_type in ("authentication_error", "permission_error"):
        return ProviderAuthError
    if status == 402 or error_type == "billing_error":
        return QuotaExhausted
    if status in (400, 429) and any(word in message for word in _BILLING):
        return QuotaExhausted
    if status == 413 or (status == 400 and any(words in message for words in _TOO_LONG)):
        return ContextTooLong
    if status == 404:
        return ProviderNotFound
    if status == 429:
        return ProviderRateLimited
    if status == 529 or error_type == "overloaded_error":
        return ProviderOverloaded
    if status == 408 or error_type == "timeout_error":
        return ProviderTimeout
    if status >= 500:
        return ProviderServerError
    return ProviderBadRequest
