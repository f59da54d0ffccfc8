"""Workspaces and their memberships: create, list, delete; add, change and remove members."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from infinity_matrix.core.authorization import Authorizer
from infinity_matrix.core.ports import EventStore, LogTransaction
from infinity_matrix.core.protocol import events as ev
from infinity_matrix.core.records import MemberRecord, WorkspaceRecord, validate_workspace_id
from infinity_matrix.core.sync.log import EventLog, Origin, Receipt
from infinity_matrix.core.sync.projector import Projection
from infinity_matrix.errors import Conflict, Forbidden, InvalidInput, NotFound
from infinity_matrix.security.access import Permission, Role, parse_role, require_can_grant
from infinity_matrix.security.principals import Principal

USERNAME_PRINCIPAL = "user:"


@dataclass(frozen=True, slots=True)
class CreateWorkspace:
    workspace: str
    name: str
    owner: str | None  # principal id made owner, None for a key-only (bootstrap) workspace

    @property
    def subject(self) -> str:
        return f"workspace/{self.workspace}"

    async def decide(self, projection: Projection, tx: LogTransaction) -> list[ev.NewEvent]:
        decided = [ev.NewEvent(ev.WORKSPACE_CREATED, self.subject, {"name": self.name})]
        if self.owner:
            decided.append(_member_added(self.owner, Role.OWNER))
        return decided


@dataclass(frozen=True, slots=True)
class SetMember:
    principal: str
    role: Role

    @property
    def subject(self) -> str:
        return ev.member_subject(self.principal)

    async def decide(self, projection: Projection, tx: LogTransaction) -> list[ev.NewEvent]:
        return [_member_added(self.principal, self.role)]


@dataclass(frozen=True, slots=True)
class RemoveMember:
    principal: str

    @property
    def subject(self) -> str:
        return ev.member_subject(self.principal)

    async def decide(self, projection: Projection, tx: LogTransaction) -> list[ev.NewEvent]:
        return [ev.NewEvent(ev.MEMBER_REMOVED, self.subject, {"principal": self.principal})]


def _member_added(principal: str, role: Role) -> ev.NewEvent:
    payload = {"principal": principal, "role": role.value}
    return ev.NewEvent(ev.MEMBER_ADDED, ev.member_subject(principal), payload)


class WorkspaceService:
    """Use cases on workspaces and members; every method checks authorization itself.

    Errors: ``NotFound`` (unknown or invisible workspace, unknown member), ``Forbidden`` (role
    too low, or a key where a user is needed), ``Conflict`` (``workspace.exists``),
    ``InvalidInput`` (bad id or role).
    """

    def __init__(
        self,
        store: EventStore,
        log: EventLog,
        authorizer: Authorizer,
        user_exists: Callable[[str], Awaitable[bool]],
    ) -> None:
        self._store = store
        self._log = log
        self._auth = authorizer
        self._user_exists = user_exists

    async def create(
        self, principal: Principal, workspace: str, name: str | None = None
    ) -> Receipt:
        if principal.kind != "user":
            raise Forbidden("only users can create workspaces", code="auth.forbidden")
        return await self.create_as_system(
            workspace, name, owner=principal.id, actor=principal.actor
        )

    async def create_as_system(
        self, workspace: str, name: str | None, *, owner: str | None, actor: str = "system"
    ) -> Receipt:
        """Create a workspace without a calling principal (bootstrap, admin CLI)."""
        validate_workspace_id(workspace)
        record = WorkspaceRecord(
            id=workspace,
            name=name or workspace,
            epoch=secrets.token_hex(8),
            head=0,
            created_at=datetime.now(UTC),
        )
        command = CreateWorkspace(workspace, record.name, owner)
        return await self._log.create(record, command, Origin(actor=actor))

    async def get(self, principal: Principal, workspace: str) -> tuple[WorkspaceRecord, Role]:
        role = await self._auth.check(principal, workspace, Permission.READ)
        record = await self._store.get_workspace(workspace)
        if record is None:
            raise NotFound(f"workspace {workspace!r} not found", code="workspace.not_found")
        return record, role

    async def visible(self, principal: Principal) -> list[tuple[WorkspaceRecord, Role]]:
        if principal.kind == "key":
            assert principal.workspace is not None
            assert principal.role is not None
            records = await self._store.list_workspaces([principal.workspace])
            return [(r, principal.role) for r in records]
        if principal.is_admin:
            return [(r, Role.OWNER) for r in await self._store.list_workspaces()]
        members = {m.workspace: m for m in await self._store.memberships_of(principal.id)}
        records = await self._store.list_workspaces(list(members))
        return [(r, parse_role(members[r.id].role)) for r in records]

    async def delete(self, principal: Principal, workspace: str) -> None:
        await self._auth.check(principal, workspace, Permission.DELETE_WORKSPACE)
        await self._store.delete_workspace(workspace)

    async def members(self, principal: Principal, workspace: str) -> list[MemberRecord]:
        await self._auth.check(principal, workspace, Permission.READ)
        return await self._store.list_members(workspace)

    async def set_member(
        self,
        principal: Principal,
        workspace: str,
        username: str,
        role: str,
        *,
        client_msg_id: str | None = None,
    ) -> Receipt:
        """Add a user to the workspace or change its role."""
        granter = await self._auth.check(principal, workspace, Permission.MANAGE_MEMBERS)
        new_role = parse_role(role)
        require_can_grant(granter, new_role)
        target = f"{USERNAME_PRINCIPAL}{username}"
        current = await self._store.get_member(workspace, target)
        if current is not None:
            require_can_grant(granter, parse_role(current.role))
            if new_role is not Role.OWNER:
                await self._keep_an_owner(workspace, current)
        elif not await self._user_exists(username):
            raise InvalidInput(f"no user named {username!r}", code="member.unknown_user")
        origin = Origin(actor=principal.actor, client_msg_id=client_msg_id)
        return await self._log.submit(workspace, SetMember(target, new_role), origin)

    async def remove_member(
        self,
        principal: Principal,
        workspace: str,
        username: str,
        *,
        client_msg_id: str | None = None,
    ) -> Receipt:
        target = f"{USERNAME_PRINCIPAL}{username}"
        if principal.id != target:  # anyone may leave; removing others needs the permission
            granter = await self._auth.check(principal, workspace, Permission.MANAGE_MEMBERS)
        else:
            granter = await self._auth.check(principal, workspace, Permission.READ)
        current = await self._store.get_member(workspace, target)
        if current is None:
            raise NotFound(f"{username!r} is not a member", code="member.not_found")
        if principal.id != target:
            require_can_grant(granter, parse_role(current.role))
        await self._keep_an_owner(workspace, current)
        origin = Origin(actor=principal.actor, client_msg_id=client_msg_id)
        return await self._log.submit(workspace, RemoveMember(target), origin)

    async def _keep_an_owner(self, workspace: str, leaving: MemberRecord) -> None:
        """Refuse to remove or demote the last owning user: nobody could manage the workspace."""
        if leaving.role != Role.OWNER.value:
            return
        owners = [
            m for m in await self._store.list_members(workspace) if m.role == Role.OWNER.value
        ]
        if len(owners) <= 1:
            raise Conflict("a workspace keeps at least one owner", code="member.last_owner")
