"""Signing in: who a bearer credential is, users and passwords, access and refresh tokens."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from infinity_matrix.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from infinity_matrix.security.access import parse_role
from infinity_matrix.security.apikeys import key_id_for, verify_api_key
from infinity_matrix.security.passwords import PasswordHasher, validate_password
from infinity_matrix.security.principals import Principal
from infinity_matrix.security.records import (
    ApiKeyRecord,
    CredentialStore,
    RefreshTokenRecord,
    UserRecord,
)
from infinity_matrix.security.tokens import TokenIssuer, hash_token, new_refresh_token

USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
# last_used_at is written at most this often per key: a write per request would contend with
# the event log for SQLite's single writer.
TOUCH_INTERVAL = timedelta(seconds=60)
# A verified key's record is reused this long, so most requests need no database round trip.
# Revocation on this node (key.revoked through the bus) drops it at once; the TTL bounds how
# long another node without a shared bus may still accept it.
KEY_CACHE_SECONDS = 10.0
KEY_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime


class Authenticator:
    """Turns a bearer credential (API key or access JWT) into a ``Principal``.

    Raises ``Unauthenticated`` with ``auth.missing``, ``auth.invalid_token``,
    ``auth.token_expired``, ``auth.key_revoked`` or ``auth.key_expired``.
    """

    def __init__(
        self,
        credentials: CredentialStore,
        tokens: TokenIssuer,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._credentials = credentials
        self._tokens = tokens
        self._clock = clock
        self._touched: dict[str, datetime] = {}
        self._keys: dict[str, tuple[ApiKeyRecord, float]] = {}

    def forget_key(self, key_id: str) -> None:
        """Drop a cached key (the hub calls this when a key.revoked event is published)."""
        self._keys.pop(key_id, None)

    async def authenticate(self, bearer: str | None) -> Principal:
        if not bearer:
            raise Unauthenticated("a bearer credential is required", code="auth.missing")
        if bearer.count(".") == 2:
            return await self._user_from_jwt(bearer)
        return await self._key_principal(bearer)

    async def _user_from_jwt(self, token: str) -> Principal:
        claims = self._tokens.verify_access(token)
        user = await self._credentials.get_user(claims.subject)
        if user is None or user.disabled:
            raise Unauthenticated(
                "the user no longer exists or is disabled", code="auth.invalid_token"
            )
        # Admin rights are read from the database, not the token: revoking them takes effect now.
        return Principal.user(user.username, is_admin=user.is_admin)

    async def _key_principal(self, token: str) -> Principal:
        key_id = key_id_for(token)
        record = await self._api_key(key_id) if key_id else None
        if record is None or not verify_api_key(token, record.hash):
            raise Unauthenticated("invalid API key", code="auth.invalid_token")
        now = self._clock()
        if record.revoked_at is not None:
            raise Unauthenticated("the API key was revoked", code="auth.key_revoked")
        if record.expires_at is not None and record.expires_at <= now:
            raise Unauthenticated("the API key has expired", code="auth.key_expired")
        last = self._touched.get(record.id) or record.last_used_at
        if last is None or now - last >= TOUCH_INTERVAL:
            self._touched[record.id] = now
            await self._credentials.touch_api_key(record.id, now)
        return Principal.key(
            record.id, name=record.name, workspace=record.workspace, role=parse_role(record.role)
        )

    async def _api_key(self, key_id: str) -> ApiKeyRecord | None:
        cached = self._keys.get(key_id)
        if cached is not None and time.monotonic() - cached[1] < KEY_CACHE_SECONDS:
            return cached[0]
        record = await self._credentials.get_api_key(key_id)
        if record is not None:
            if len(self._keys) >= KEY_CACHE_SIZE:
                self._keys.clear()
            self._keys[key_id] = (record, time.monotonic())
        return record


class IdentityService:
    """Users, passwords and sessions.

    Errors: ``InvalidInput`` (username, weak password), ``Conflict`` (``user.exists``),
    ``Unauthenticated`` (``auth.bad_credentials``, ``auth.invalid_refresh``,
    ``auth.refresh_reused``), ``Forbidden`` (not an admin), ``NotFound`` (``user.not_found``).
    """

    def __init__(
        self,
        credentials: CredentialStore,
        tokens: TokenIssuer,
        hasher: PasswordHasher,
        *,
        refresh_ttl: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._credentials = credentials
        self._tokens = tokens
        self._hasher = hasher
        self._refresh_ttl = refresh_ttl
        self._clock = clock

    async def create_user(
        self, username: str, password: str, *, is_admin: bool = False
    ) -> UserRecord:
        """Create a user with no calling principal (the admin CLI on the server)."""
        if not USERNAME.fullmatch(username):
            raise InvalidInput(
                "username must match [A-Za-z0-9][A-Za-z0-9._@-]{0,63}", code="user.invalid_name"
            )
        validate_password(password)
        password_hash = await asyncio.to_thread(self._hasher.hash, password)
        user = UserRecord(username, password_hash, is_admin, self._clock())
        await self._credentials.create_user(user)
        return user

    async def create_user_as(
        self, principal: Principal, username: str, password: str, *, is_admin: bool = False
    ) -> UserRecord:
        _require_admin(principal)
        return await self.create_user(username, password, is_admin=is_admin)

    async def list_users(self, principal: Principal) -> list[UserRecord]:
        _require_admin(principal)
        return await self._credentials.list_users()

    async def all_users(self) -> list[UserRecord]:
        """Every user, with no calling principal (the admin CLI on the server)."""
        return await self._credentials.list_users()

    async def user_exists(self, username: str) -> bool:
        return await self._credentials.get_user(username) is not None

    async def set_password(self, username: str, password: str) -> None:
        validate_password(password)
        password_hash = await asyncio.to_thread(self._hasher.hash, password)
        if not await self._credentials.update_user(username, password_hash=password_hash):
            raise NotFound(f"no user {username!r}", code="user.not_found")

    async def login(self, username: str, password: str) -> TokenPair:
        user = await self._credentials.get_user(username)
        if user is None:
            await asyncio.to_thread(self._hasher.verify_dummy, password)
            raise _bad_credentials()
        if not await asyncio.to_thread(self._hasher.verify, user.password_hash, password):
            raise _bad_credentials()
        if user.disabled:
            raise _bad_credentials()
        if self._hasher.needs_rehash(user.password_hash):
            await self._credentials.update_user(
                username, password_hash=await asyncio.to_thread(self._hasher.hash, password)
            )
        return await self._issue(user, family=secrets.token_hex(16))

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Rotate: the presented token is spent, a new pair is issued in the same family.

        Presenting a spent token again revokes the whole family (RFC 9700 §4.14.2), so a stolen
        refresh token stops working for thief and owner alike.
        """
        now = self._clock()
        record = await self._credentials.get_refresh_token(hash_token(refresh_token))
        if record is None or record.expires_at <= now:
            raise Unauthenticated("invalid or expired refresh token", code="auth.invalid_refresh")
        if record.revoked_at is not None or not await self._credentials.use_refresh_token(
            record.id, now
        ):
            await self._credentials.revoke_refresh_family(record.family, now)
            raise Unauthenticated("refresh token reuse detected", code="auth.refresh_reused")
        user = await self._credentials.get_user(record.username)
        if user is None or user.disabled:
            raise Unauthenticated(
                "the user no longer exists or is disabled", code="auth.invalid_refresh"
            )
        return await self._issue(user, family=record.family)

    async def logout(self, refresh_token: str) -> None:
        record = await self._credentials.get_refresh_token(hash_token(refresh_token))
        if record is not None:
            await self._credentials.revoke_refresh_family(record.family, self._clock())

    async def _issue(self, user: UserRecord, *, family: str) -> TokenPair:
        access, access_expires = self._tokens.issue_access(user.username, is_admin=user.is_admin)
        refresh = new_refresh_token()
        now = self._clock()
        record = RefreshTokenRecord(
            id=secrets.token_hex(16),
            family=family,
            username=user.username,
            hash=hash_token(refresh),
            expires_at=now + self._refresh_ttl,
            created_at=now,
        )
        await self._credentials.save_refresh_token(record)
        return TokenPair(access, access_expires, refresh, record.expires_at)


def _bad_credentials() -> Unauthenticated:
    return Unauthenticated("wrong username or password", code="auth.bad_credentials")


def _require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("server administrators only", code="auth.admin_required")
