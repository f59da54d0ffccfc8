"""Credential records (users, API keys, refresh tokens) and the store port that keeps them.

Credentials are not projections of the event log: the log records that a key was created or
revoked (for the audit trail) but never a secret or its hash. See docs/decisions/0002.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class UserRecord:
    username: str
    password_hash: str
    is_admin: bool
    created_at: datetime
    disabled: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "is_admin": self.is_admin,
            "disabled": self.disabled,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    id: str
    workspace: str
    name: str
    role: str
    hash: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": self.id,
            "workspace": self.workspace,
            "name": self.name,
            "role": self.role,
            "created_by": self.created_by,
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "revoked_at": iso(self.revoked_at),
            "last_used_at": iso(self.last_used_at),
        }


@dataclass(frozen=True, slots=True)
class RefreshTokenRecord:
    id: str
    family: str
    username: str
    hash: str
    expires_at: datetime
    created_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None


class CredentialStore(Protocol):
    """Where users, API keys and refresh tokens live.

    ``create_user`` raises ``Conflict`` (``user.exists``); other methods raise nothing on
    absence and return None or False instead.
    """

    async def create_user(self, user: UserRecord) -> None: ...
    async def get_user(self, username: str) -> UserRecord | None: ...
    async def list_users(self) -> list[UserRecord]: ...
    async def update_user(
        self,
        username: str,
        *,
        password_hash: str | None = None,
        is_admin: bool | None = None,
        disabled: bool | None = None,
    ) -> bool: ...

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None: ...
    async def list_api_keys(self, workspace: str) -> list[ApiKeyRecord]: ...
    async def touch_api_key(self, key_id: str, at: datetime) -> None: ...

    async def save_refresh_token(self, token: RefreshTokenRecord) -> None: ...
    async def get_refresh_token(self, token_hash: str) -> RefreshTokenRecord | None: ...
    async def use_refresh_token(self, token_id: str, at: datetime) -> bool:
        """Mark a token used; False if it was already used or revoked (reuse detection)."""
        ...

    async def revoke_refresh_family(self, family: str, at: datetime) -> None: ...
