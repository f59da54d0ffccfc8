"""Answers "may this principal do that in this workspace?" for every service.

Unknown workspaces and workspaces the principal cannot see are both ``NotFound`` (nothing leaks
about their existence); a member whose role is too low gets ``Forbidden``.
"""

from __future__ import annotations

from infinity_matrix.core.ports import EventStore
from infinity_matrix.errors import NotFound
from infinity_matrix.security.access import Permission, Role, parse_role, require
from infinity_matrix.security.principals import Principal


class Authorizer:
    def __init__(self, store: EventStore) -> None:
        self._store = store

    async def role_in(self, principal: Principal, workspace: str) -> Role | None:
        """The principal's effective role in ``workspace``, or None if it has none."""
        if principal.kind == "key":
            return principal.role if principal.workspace == workspace else None
        if principal.is_admin:
            # Server admins act as owners everywhere, but only in workspaces that exist.
            return Role.OWNER if await self._store.get_workspace(workspace) else None
        member = await self._store.get_member(workspace, principal.id)
        return parse_role(member.role) if member else None

    async def check(self, principal: Principal, workspace: str, permission: Permission) -> Role:
        """Return the principal's role; raises ``NotFound`` or ``Forbidden``."""
        role = await self.role_in(principal, workspace)
        if role is None:
            raise NotFound(f"workspace {workspace!r} not found", code="workspace.not_found")
        require(role, permission)
        return role
