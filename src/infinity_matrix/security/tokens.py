"""Signed access tokens (JWT, HS256), opaque refresh tokens, and the signing secret's file."""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from infinity_matrix.errors import InvalidInput, Unauthenticated

__all__ = [
    "AccessClaims",
    "TokenIssuer",
    "hash_token",
    "load_or_create_secret",
    "new_refresh_token",
]

_ALGORITHM = "HS256"
_LEEWAY_SECONDS = 10
_MIN_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash output
_SECRET_BYTES = 64
_REFRESH_PREFIX = "imxr_"


@dataclass(frozen=True)
class AccessClaims:
    """What a verified access token says."""

    subject: str  # the username
    token_id: str  # jti
    expires_at: datetime
    is_admin: bool


class TokenIssuer:
    """Issues and verifies short-lived access tokens for signed-in users.

    ``verify_access`` raises ``Unauthenticated`` with ``auth.token_expired`` or
    ``auth.invalid_token``; messages never carry the token or the secret.
    """

    def __init__(
        self,
        secret: bytes,
        *,
        issuer: str = "infinity-matrix",
        audience: str = "infinity-matrix",
        access_ttl: timedelta,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if len(secret) < _MIN_SECRET_BYTES:
            raise ValueError(f"the signing secret needs at least {_MIN_SECRET_BYTES} bytes")
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        self._access_ttl = access_ttl
        self._clock = clock or _utcnow

    def issue_access(self, username: str, *, is_admin: bool) -> tuple[str, datetime]:
        """A new access token for ``username`` and the moment it expires."""
        now = self._clock().replace(microsecond=0)
        expires_at = now + self._access_ttl
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": username,
            "jti": secrets.token_urlsafe(16),
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
            "typ": "access",
            "adm": is_admin,
        }
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM), expires_at

    def verify_access(self, token: str) -> AccessClaims:
        """The claims of ``token`` if it is a valid, unexpired access token of this issuer."""
        claims = self._decode(token)
        if claims.get("typ") != "access" or not isinstance(claims.get("adm", False), bool):
            raise _invalid()
        now = self._clock().timestamp()
        # Times are checked here rather than by PyJWT so that an injected clock governs them.
        if not isinstance(claims["iat"], int) or claims["iat"] > now + _LEEWAY_SECONDS:
            raise _invalid()
        if not isinstance(claims["exp"], int):
            raise _invalid()
        if claims["exp"] <= now - _LEEWAY_SECONDS:
            raise Unauthenticated("the access token has expired", code="auth.token_expired")
        return AccessClaims(
            subject=claims["sub"],
            token_id=claims["jti"],
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            is_admin=claims.get("adm", False),
        )

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],  # fixed, never taken from the token (RFC 8725 §2.1)
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "require": ["exp", "iat", "sub", "jti", "iss", "aud"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "strict_aud": True,
                },
            )
        except jwt.InvalidTokenError as exc:
            raise _invalid() from exc


def _invalid() -> Unauthenticated:
    return Unauthenticated("the access token is invalid", code="auth.invalid_token")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def new_refresh_token() -> str:
    """A new opaque refresh token; only its ``hash_token`` is stored."""
    return _REFRESH_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The SHA-256 hex digest under which a refresh token or API key is stored.

    A plain fast hash is enough here: these tokens carry 256 random bits, so there is nothing
    for a slow hash to protect against brute force.
    """
    return hashlib.sha256(token.encode()).hexdigest()


def load_or_create_secret(path: Path) -> bytes:
    """The signing secret kept in ``path``, created (64 random bytes, hex, mode 0600) if absent.

    Several processes may start at once on a fresh data directory; all of them end up with the
    one secret that reached the disk first. ``InvalidInput`` (``secret.invalid``) if the file
    holds fewer than 32 bytes of secret.
    """
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    secret = secrets.token_bytes(_SECRET_BYTES)
    if _publish_once(path, (secret.hex() + "\n").encode()):
        return secret
    return _read_secret(path)  # a concurrent creator won the race: use its secret


def _read_secret(path: Path) -> bytes:
    raw = path.read_bytes()
    try:
        secret = bytes.fromhex(raw.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        secret = raw  # an operator may provide raw random bytes instead of hex
    if len(secret) < _MIN_SECRET_BYTES:
        raise InvalidInput(
            f"the secret file {path} holds fewer than {_MIN_SECRET_BYTES} bytes",
            code="secret.invalid",
        )
    return secret


def _publish_once(path: Path, content: bytes) -> bool:
    """Put ``content`` at ``path`` unless a file is already there; whether it was put.

    The content is written to a private temporary file first, so no reader ever sees a
    half-written secret, then hard-linked into place: unlike ``os.replace``, ``os.link`` fails
    if the target exists, so a concurrent creator's secret is never overwritten.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        return _link_or_replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _link_or_replace(tmp: Path, path: Path) -> bool:
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    except OSError as exc:
        # Some filesystems (FAT, certain network mounts) have no hard links; fall back to a
        # rename, which is atomic but could overwrite a file created in the last instant.
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        if path.exists():
            return False
        os.replace(tmp, path)
    return True
