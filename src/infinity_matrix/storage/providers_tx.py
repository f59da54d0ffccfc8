"""The providers' statements inside a log transaction: the configs ``decide`` reads, the
projector's writes and the sealed credentials. ``ProviderTxMixin`` adds them to
``SqlLogTransaction``."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from infinity_matrix.core.providers.records import ProviderConfig
from infinity_matrix.core.providers.stored import (
    PushStatus,
    SealedCredential,
    config_from_json,
    stored_json,
)
from infinity_matrix.storage import tables as t
from infinity_matrix.storage.upsert import upsert

_p = t.providers.c
_k = t.provider_credentials.c
_u = t.provider_pushes.c


class ProviderTxMixin:
    """The provider methods of ``core.ports.LogTransaction``; needs ``_conn`` and ``workspace``."""

    _conn: AsyncConnection
    workspace: str

    async def load_providers(self) -> dict[str, ProviderConfig]:
        credentialed = set(
            (
                await self._conn.execute(
                    sa.select(_k.name).where(_k.workspace_id == self.workspace)
                )
            ).scalars()
        )
        rows = await self._conn.execute(
            sa.select(_p.name, _p.config, _p.seq).where(_p.workspace_id == self.workspace)
        )
        return {
            r.name: config_from_json(
                self.workspace, r.config, seq=r.seq, has_credential=r.name in credentialed
            )
            for r in rows
        }

    async def save_provider(self, config: ProviderConfig, at: datetime) -> None:
        row = {
            "workspace_id": self.workspace,
            "name": config.name,
            "config": stored_json(config),
            "seq": config.seq,
            "updated_at": at,
        }
        await upsert(self._conn, t.providers, [row], ("workspace_id", "name"))

    async def delete_provider(self, name: str) -> None:
        await self._conn.execute(
            t.providers.delete().where(_p.workspace_id == self.workspace, _p.name == name)
        )
        await self._conn.execute(
            t.provider_pushes.delete().where(_u.workspace_id == self.workspace, _u.provider == name)
        )

    async def save_provider_push(self, push: PushStatus) -> None:
        row = {
            "workspace_id": self.workspace,
            "provider": push.provider,
            "object_id": push.object_id,
            "version": push.version,
            "status": push.status,
            "error_code": push.error_code,
            "error_detail": push.error_detail,
            "digest": push.digest,
            "seq": push.seq,
            "at": push.at,
        }
        await upsert(self._conn, t.provider_pushes, [row], ("workspace_id", "provider"))

    async def save_provider_credential(self, name: str, sealed: SealedCredential) -> None:
        row = {
            "workspace_id": self.workspace,
            "name": name,
            "ciphertext": sealed.ciphertext,
            "key_id": sealed.key_id,
            "updated_at": sealed.updated_at,
        }
        await upsert(self._conn, t.provider_credentials, [row], ("workspace_id", "name"))

    async def delete_provider_credential(self, name: str) -> bool:
        result = await self._conn.execute(
            t.provider_credentials.delete().where(
                _k.workspace_id == self.workspace, _k.name == name
            )
        )
        return bool(result.rowcount)


async def clear(conn: AsyncConnection, workspace: str) -> None:
    """Delete the workspace's provider projections (a replay rebuilds them); the sealed
    credentials are no projection and stay."""
    for table in (t.provider_pushes, t.providers):
        await conn.execute(table.delete().where(table.c.workspace_id == workspace))
