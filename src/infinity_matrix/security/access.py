"""Roles, permissions and the one table that says which role may do what (DESIGN §2).

Every face (REST, WebSocket, MCP, CLI) reaches authorization through the services, and the
services ask only this module, so the same principal gets the same answer everywhere.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

from infinity_matrix.errors import Forbidden, InvalidInput

__all__ = [
    "PERMISSIONS",
    "Permission",
    "Role",
    "allows",
    "parse_role",
    "require",
    "require_can_grant",
]


class Role(enum.StrEnum):
    """A member's role in a workspace; each role includes every role below it."""

    OWNER = "owner"
    MAINTAINER = "maintainer"
    EDITOR = "editor"
    VIEWER = "viewer"

    @property
    def rank(self) -> int:
        """Higher is more powerful: viewer 0 … owner 3."""
        return _RANKS[self]

    def includes(self, other: Role) -> bool:
        """Whether this role holds at least everything ``other`` holds."""
        return self.rank >= other.rank


_RANKS: Mapping[Role, int] = MappingProxyType(
    {Role.VIEWER: 0, Role.EDITOR: 1, Role.MAINTAINER: 2, Role.OWNER: 3}
)


class Permission(enum.StrEnum):
    """Something a role may do inside one workspace."""

    READ = "workspace.read"  # see the workspace, read context entries and their history
    WRITE = "context.write"  # put/delete context entries
    INVOKE_PROVIDERS = "providers.invoke"
    MANAGE_MEMBERS = "members.manage"
    MANAGE_KEYS = "keys.manage"
    READ_AUDIT = "audit.read"  # the whole event log
    DELETE_WORKSPACE = "workspace.delete"
    MANAGE_PROVIDERS = "providers.manage"  # configure and remove providers and credentials


_VIEWER = frozenset({Permission.READ})
_EDITOR = _VIEWER | {Permission.WRITE, Permission.INVOKE_PROVIDERS}
_MAINTAINER = _EDITOR | {
    Permission.MANAGE_MEMBERS,
    Permission.MANAGE_KEYS,
    Permission.READ_AUDIT,
    Permission.MANAGE_PROVIDERS,
}
_OWNER = _MAINTAINER | {Permission.DELETE_WORKSPACE}

PERMISSIONS: Mapping[Role, frozenset[Permission]] = MappingProxyType(
    {
        Role.VIEWER: _VIEWER,
        Role.EDITOR: _EDITOR,
        Role.MAINTAINER: _MAINTAINER,
        Role.OWNER: _OWNER,
    }
)


def allows(role: Role, permission: Permission) -> bool:
    """Whether ``role`` holds ``permission``."""
    return permission in PERMISSIONS[role]


def require(role: Role, permission: Permission) -> None:
    """Raise ``Forbidden`` (``auth.forbidden``) unless ``role`` holds ``permission``."""
    if not allows(role, permission):
        raise Forbidden(
            f"role {role.value!r} may not {permission.value}",
            code="auth.forbidden",
            role=role.value,
            permission=permission.value,
        )


def require_can_grant(granter: Role, role: Role) -> None:
    """Raise ``Forbidden`` unless ``granter`` may grant or revoke ``role``.

    A principal may hand out (or take away) only roles at or below its own, and only an owner
    may make another owner. This checks ranks only: callers first ``require`` the permission
    the action needs (``MANAGE_MEMBERS`` or ``MANAGE_KEYS``), and on a role change they check
    both the member's current role and the new one.
    """
    if not granter.includes(role) or (role is Role.OWNER and granter is not Role.OWNER):
        raise Forbidden(
            f"role {granter.value!r} may not grant or revoke role {role.value!r}",
            code="auth.forbidden",
            role=granter.value,
            target_role=role.value,
        )


def parse_role(value: str) -> Role:
    """The ``Role`` named ``value``; ``InvalidInput`` (``role.invalid``) if there is none."""
    try:
        return Role(value)
    except ValueError:
        expected = ", ".join(role.value for role in Role)
        raise InvalidInput(
            f"unknown role {value!r}; expected one of {expected}", code="role.invalid"
        ) from None
