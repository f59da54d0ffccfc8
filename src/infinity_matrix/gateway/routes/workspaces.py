"""Workspaces and their members."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from infinity_matrix.core.records import MemberRecord, WorkspaceRecord
from infinity_matrix.gateway.deps import HubDep, IdempotencyKey, PrincipalDep
from infinity_matrix.gateway.schemas import CreateWorkspace, SetMember
from infinity_matrix.security.access import Role

router = APIRouter(prefix="/api/v1/workspaces", tags=["workspaces"])


def _workspace(record: WorkspaceRecord, role: Role) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "epoch": record.epoch,
        "head": record.head,
        "created_at": record.created_at.isoformat(),
        "role": role.value,
    }


def _member(record: MemberRecord) -> dict[str, Any]:
    return {
        "principal": record.principal,
        "username": record.principal.removeprefix("user:"),
        "role": record.role,
        "added_at": record.added_at.isoformat(),
        "added_by": record.added_by,
    }


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_workspace(
    body: CreateWorkspace, hub: HubDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Create a workspace; the calling user becomes its owner."""
    receipt = await hub.workspaces.create(principal, body.id, body.name)
    record, role = await hub.workspaces.get(principal, body.id)
    return {**_workspace(record, role), "seq": receipt.seq}


@router.get("")
async def list_workspaces(hub: HubDep, principal: PrincipalDep) -> dict[str, Any]:
    visible = await hub.workspaces.visible(principal)
    return {"items": [_workspace(record, role) for record, role in visible]}


@router.get("/{ws}")
async def get_workspace(ws: str, hub: HubDep, principal: PrincipalDep) -> dict[str, Any]:
    record, role = await hub.workspaces.get(principal, ws)
    return _workspace(record, role)


@router.delete("/{ws}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_workspace(ws: str, hub: HubDep, principal: PrincipalDep) -> Response:
    """Delete the workspace with its whole history (owners only)."""
    await hub.workspaces.delete(principal, ws)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{ws}/members")
async def list_members(ws: str, hub: HubDep, principal: PrincipalDep) -> dict[str, Any]:
    return {"items": [_member(m) for m in await hub.workspaces.members(principal, ws)]}


@router.put("/{ws}/members/{username}")
async def set_member(
    ws: str,
    username: str,
    body: SetMember,
    hub: HubDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Add a user to the workspace, or change its role."""
    receipt = await hub.workspaces.set_member(
        principal, ws, username, body.role, client_msg_id=idempotency_key
    )
    return {"username": username, "role": body.role, "seq": receipt.seq}


@router.delete("/{ws}/members/{username}")
async def remove_member(
    ws: str,
    username: str,
    hub: HubDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    receipt = await hub.workspaces.remove_member(
        principal, ws, username, client_msg_id=idempotency_key
    )
    return {"username": username, "seq": receipt.seq}
