"""API keys of a workspace; a new key's token is answered once and never again."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from infinity_matrix.gateway.deps import HubDep, IdempotencyKey, PrincipalDep
from infinity_matrix.gateway.schemas import CreateKey

router = APIRouter(prefix="/api/v1/workspaces/{ws}/keys", tags=["keys"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_key(
    ws: str,
    body: CreateKey,
    hub: HubDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    created = await hub.keys.create(
        principal,
        ws,
        body.name,
        body.role,
        expires_in_days=body.expires_in_days,
        client_msg_id=idempotency_key,
    )
    return {**created.record.to_json(), "token": created.token, "seq": created.seq}


@router.get("")
async def list_keys(ws: str, hub: HubDep, principal: PrincipalDep) -> dict[str, Any]:
    return {"items": [k.to_json() for k in await hub.keys.list_keys(principal, ws)]}


@router.delete("/{key_id}")
async def revoke_key(
    ws: str,
    key_id: str,
    hub: HubDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    receipt = await hub.keys.revoke(principal, ws, key_id, client_msg_id=idempotency_key)
    return {"id": key_id, "seq": receipt.seq}
