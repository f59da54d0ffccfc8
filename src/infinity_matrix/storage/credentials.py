"""SqlCredentialStore: users, API keys and refresh tokens in SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from infinity_matrix.errors import Conflict
from infinity_matrix.security.records import ApiKeyRecord, RefreshTokenRecord, UserRecord
from infinity_matrix.storage import tables as t
from infinity_matrix.storage.database import Database


class SqlCredentialStore:
    """Implements ``security.records.CredentialStore``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create_user(self, user: UserRecord) -> None:
        try:
            async with self._db.write() as conn:
                await conn.execute(
                    t.users.insert().values(
                        username=user.username,
                        password_hash=user.password_hash,
                        is_admin=user.is_admin,
                        disabled=user.disabled,
                        created_at=user.created_at,
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"user {user.username!r} already exists", code="user.exists") from exc

    async def get_user(self, username: str) -> UserRecord | None:
        async with self._db.read() as conn:
            row = (
                await conn.execute(sa.select(t.users).where(t.users.c.username == username))
            ).first()
        return _user(row) if row else None

    async def list_users(self) -> list[UserRecord]:
        async with self._db.read() as conn:
            rows = await conn.execute(sa.select(t.users).order_by(t.users.c.username))
            return [_user(r) for r in rows]

    async def update_user(
        self,
        username: str,
        *,
        password_hash: str | None = None,
        is_admin: bool | None = None,
        disabled: bool | None = None,
    ) -> bool:
        values: dict[str, Any] = {
            k: v
            for k, v in {
                "password_hash": password_hash,
                "is_admin": is_admin,
                "disabled": disabled,
            }.items()
            if v is not None
        }
        if not values:
            return await self.get_user(username) is not None
        async with self._db.write() as conn:
            result = await conn.execute(
                t.users.update().where(t.users.c.username == username).values(**values)
            )
            return bool(result.rowcount)

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        async with self._db.read() as conn:
            row = (
                await conn.execute(sa.select(t.api_keys).where(t.api_keys.c.id == key_id))
            ).first()
        return _api_key(row) if row else None

    async def list_api_keys(self, workspace: str) -> list[ApiKeyRecord]:
        c = t.api_keys.c
        query = sa.select(t.api_keys).where(c.workspace_id == workspace).order_by(c.created_at)
        async with self._db.read() as conn:
            return [_api_key(r) for r in await conn.execute(query)]

    async def touch_api_key(self, key_id: str, at: datetime) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                t.api_keys.update().where(t.api_keys.c.id == key_id).values(last_used_at=at)
            )

    async def save_refresh_token(self, token: RefreshTokenRecord) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                t.refresh_tokens.insert().values(
                    id=token.id,
                    family=token.family,
                    username=token.username,
                    hash=token.hash,
                    expires_at=token.expires_at,
                    created_at=token.created_at,
                )
            )

    async def get_refresh_token(self, token_hash: str) -> RefreshTokenRecord | None:
        c = t.refresh_tokens.c
        async with self._db.read() as conn:
            row = (
                await conn.execute(sa.select(t.refresh_tokens).where(c.hash == token_hash))
            ).first()
        if row is None:
            return None
        return RefreshTokenRecord(
            id=row.id,
            family=row.family,
            username=row.username,
            hash=row.hash,
            expires_at=row.expires_at,
            created_at=row.created_at,
            used_at=row.used_at,
            revoked_at=row.revoked_at,
        )

    async def use_refresh_token(self, token_id: str, at: datetime) -> bool:
        c = t.refresh_tokens.c
        async with self._db.write() as conn:
            # Compare-and-set: of two concurrent refreshes with one token, exactly one wins.
            result = await conn.execute(
                t.refresh_tokens.update()
                .where(c.id == token_id, c.used_at.is_(None), c.revoked_at.is_(None))
                .values(used_at=at)
            )
            return bool(result.rowcount)

    async def revoke_refresh_family(self, family: str, at: datetime) -> None:
        c = t.refresh_tokens.c
        async with self._db.write() as conn:
            await conn.execute(
                t.refresh_tokens.update()
                .where(c.family == family, c.revoked_at.is_(None))
                .values(revoked_at=at)
            )


def _user(r: sa.Row[Any]) -> UserRecord:
    return UserRecord(r.username, r.password_hash, r.is_admin, r.created_at, r.disabled)


def _api_key(r: sa.Row[Any]) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=r.id,
        workspace=r.workspace_id,
        name=r.name,
        role=r.role,
        hash=r.hash,
        created_by=r.created_by,
        created_at=r.created_at,
        expires_at=r.expires_at,
        revoked_at=r.revoked_at,
        last_used_at=r.last_used_at,
    )
