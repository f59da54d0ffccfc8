"""SqlProviderStore: reads of the providers configured per workspace, their sealed credentials
and the latest push to each (implements ``core.providers.stored.ProviderStore``)."""

from __future__ import annotations

import builtins
from typing import Any

import sqlalchemy as sa

from infinity_matrix.core.providers.records import ProviderConfig
from infinity_matrix.core.providers.stored import PushStatus, SealedCredential, config_from_json
from infinity_matrix.storage import tables as t
from infinity_matrix.storage.database import Database

_p = t.providers.c
_k = t.provider_credentials.c
_u = t.provider_pushes.c


class SqlProviderStore:
    """Implements ``ProviderStore`` on SQLite or PostgreSQL."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def list(self, workspace: str) -> list[ProviderConfig]:
        return await self._configs(workspace, None)

    async def get(self, workspace: str, name: str) -> ProviderConfig | None:
        found = await self._configs(workspace, name)
        return found[0] if found else None

    async def sealed_credential(self, workspace: str, name: str) -> SealedCredential | None:
        query = sa.select(_k.ciphertext, _k.key_id, _k.updated_at).where(
            _k.workspace_id == workspace, _k.name == name
        )
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        return SealedCredential(row.ciphertext, row.key_id, row.updated_at) if row else None

    async def pushes(self, workspace: str) -> dict[str, PushStatus]:
        query = sa.select(t.provider_pushes).where(_u.workspace_id == workspace)
        async with self._db.read() as conn:
            return {r.provider: _push(r) for r in await conn.execute(query)}

    async def _configs(self, workspace: str, name: str | None) -> builtins.list[ProviderConfig]:
        has_credential = (
            sa.select(_k.name)
            .where(_k.workspace_id == _p.workspace_id, _k.name == _p.name)
            .exists()
            .label("has_credential")
        )
        query = sa.select(_p.name, _p.config, _p.seq, has_credential).where(
            _p.workspace_id == workspace
        )
        if name is not None:
            query = query.where(_p.name == name)
        async with self._db.read() as conn:
            rows = await conn.execute(query.order_by(_p.name))
            return [
                config_from_json(
                    workspace, r.config, seq=r.seq, has_credential=bool(r.has_credential)
                )
                for r in rows
            ]


def _push(r: sa.Row[Any]) -> PushStatus:
    return PushStatus(
        workspace=r.workspace_id,
        provider=r.provider,
        status=r.status,
        object_id=r.object_id,
        version=r.version,
        error_code=r.error_code,
        error_detail=r.error_detail,
        digest=r.digest,
        seq=r.seq,
        at=r.at,
    )
