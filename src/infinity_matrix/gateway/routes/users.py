"""Users, for server administrators."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from infinity_matrix.gateway.deps import HubDep, PrincipalDep
from infinity_matrix.gateway.schemas import CreateUser

router = APIRouter(prefix="/api/v1/users", tags=["users"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_user(body: CreateUser, hub: HubDep, principal: PrincipalDep) -> dict[str, Any]:
    user = await hub.identity.create_user_as(
        principal, body.username, body.password, is_admin=body.is_admin
    )
    return user.to_json()


@router.get("")
async def list_users(hub: HubDep, principal: PrincipalDep) -> dict[str, Any]:
    return {"items": [u.to_json() for u in await hub.identity.list_users(principal)]}
