"""The typed taxonomy of provider failures (DESIGN §7).

Every adapter turns what its SDK raises into exactly one of these; the resilient caller decides
from ``retryable`` whether to try again and from ``retry_after`` how long to wait; the faces map
the whole family to 502/503/504 problem documents with the subclass's stable ``code``.

    ProviderError                    retryable
    ├── ProviderAuthError            no    provider.auth               401/403 from the provider
    ├── ProviderBadRequest           no    provider.bad_request        400/422
    ├── ContextTooLong               no    provider.context_too_long   the prompt does not fit
    ├── ContentFiltered              no    provider.content_filtered   refused by a safety filter
    ├── ProviderNotFound             no    provider.not_found          unknown model or object
    ├── ProviderRateLimited          yes   provider.rate_limited       429 (honours Retry-After)
    ├── QuotaExhausted               no    provider.quota_exhausted    429 insufficient_quota …
    ├── ProviderOverloaded           yes   provider.overloaded         529, 503 "overloaded"
    ├── ProviderServerError          yes   provider.server_error       500/502/503/504
    ├── ProviderTimeout              yes   provider.timeout            deadline or read timeout
    ├── MalformedResponse            yes   provider.malformed_response truncated/non-JSON/cut
    └── CircuitOpen                  no    provider.circuit_open       breaker open: not called
"""

from __future__ import annotations

from typing import Any, ClassVar

from infinity_matrix.errors import InfinityMatrixError


class ProviderError(InfinityMatrixError):
    """A call to a provider failed; ``kind`` names the class in the taxonomy."""

    code = "provider.error"
    kind: ClassVar[str] = "error"
    retryable: ClassVar[bool] = False
    # Counts against the deployment's circuit breaker (the provider misbehaved, not the caller).
    trips_breaker: ClassVar[bool] = False

    def __init__(
        self,
        detail: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        request_id: str | None = None,
        **extra: Any,
    ) -> None:
        # What a problem document shows besides the code: never a credential or a body.
        public: dict[str, Any] = {"provider": provider, "kind": self.kind}
        if retry_after is not None:
            public["retry_after"] = retry_after
        super().__init__(detail, **{k: v for k, v in public.items() if v is not None}, **extra)
        self.provider = provider
        self.status = status
        self.retry_after = retry_after
        self.request_id = request_id


class ProviderAuthError(ProviderError):
    code = "provider.auth"
    kind = "auth"


class ProviderBadRequest(ProviderError):
    code = "provider.bad_request"
    kind = "bad_request"


class ContextTooLong(ProviderBadRequest):
    code = "provider.context_too_long"
    kind = "context_too_long"


class ContentFiltered(ProviderError):
    code = "provider.content_filtered"
    kind = "content_filtered"


class ProviderNotFound(ProviderError):
    code = "provider.not_found"
    kind = "not_found"


class ProviderRateLimited(ProviderError):
    code = "provider.rate_limited"
    kind = "rate_limited"
    retryable = True


class QuotaExhausted(ProviderError):
    code = "provider.quota_exhausted"
    kind = "quota_exhausted"


class ProviderOverloaded(ProviderError):
    code = "provider.overloaded"
    kind = "overloaded"
    retryable = True
    trips_breaker = True


class ProviderServerError(ProviderError):
    code = "provider.server_error"
    kind = "server_error"
    retryable = True
    trips_breaker = True


class ProviderTimeout(ProviderError):
    code = "provider.timeout"
    kind = "timeout"
    retryable = True
    trips_breaker = True


class MalformedResponse(ProviderError):
    code = "provider.malformed_response"
    kind = "malformed_response"
    retryable = True
    trips_breaker = True


class CircuitOpen(ProviderError):
    code = "provider.circuit_open"
    kind = "circuit_open"


ERROR_KINDS: tuple[type[ProviderError], ...] = (
    ProviderAuthError,
    ProviderBadRequest,
    ContextTooLong,
    ContentFiltered,
    ProviderNotFound,
    ProviderRateLimited,
    QuotaExhausted,
    ProviderOverloaded,
    ProviderServerError,
    ProviderTimeout,
    MalformedResponse,
    CircuitOpen,
)
