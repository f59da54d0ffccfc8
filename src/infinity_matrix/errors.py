"""The one exception tree of Infinity Matrix; every error carries a stable ``code``.

    InfinityMatrixError
    ├── InvalidInput            (422)  request.invalid, context.invalid_key, workspace.invalid_id, …
    ├── TooLarge                (413)  request.too_large, context.too_large
    ├── Unauthenticated         (401)  auth.missing, auth.invalid_token, auth.token_expired, …
    ├── Forbidden               (403)  auth.forbidden
    ├── NotFound                (404)  workspace.not_found, context.not_found, …
    ├── Conflict                (409)  workspace.exists, context.kind_conflict, idempotency.…
    ├── RateLimited             (429)  rate.limited (carries ``retry_after`` seconds)
    └── Unavailable             (503)  storage.unavailable

Faces (HTTP, WebSocket, MCP, CLI) map these classes to their own vocabulary through one table
each; nothing above ``storage/`` sees a driver exception.
"""

from __future__ import annotations

from typing import Any


class InfinityMatrixError(Exception):
    """Root of every error the hub raises on purpose."""

    code: str = "error"

    def __init__(self, detail: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.extra = extra


class InvalidInput(InfinityMatrixError):
    code = "request.invalid"


class TooLarge(InfinityMatrixError):
    code = "request.too_large"


class Unauthenticated(InfinityMatrixError):
    code = "auth.unauthenticated"


class Forbidden(InfinityMatrixError):
    code = "auth.forbidden"


class NotFound(InfinityMatrixError):
    code = "not_found"


class Conflict(InfinityMatrixError):
    code = "conflict"


class RateLimited(InfinityMatrixError):
    code = "rate.limited"

    def __init__(self, detail: str, *, retry_after: int, **extra: Any) -> None:
        super().__init__(detail, retry_after=retry_after, **extra)
        self.retry_after = retry_after


class Unavailable(InfinityMatrixError):
    code = "storage.unavailable"
