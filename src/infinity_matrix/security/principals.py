"""Who is calling: a user signed in with a password or token, or an API key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from infinity_matrix.security.access import Role

__all__ = ["Principal"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller.

    A user's rights come from its memberships; a key carries its one workspace and role with it.
    """

    id: str  # "user:<username>" or "key:<key id>"
    kind: Literal["user", "key"]
    name: str  # username or key name
    is_admin: bool = False
    workspace: str | None = None  # keys only: the one workspace the key belongs to
    role: Role | None = None  # keys only

    def __post_init__(self) -> None:
        # A malformed principal is a programming error, and one that could widen access.
        if not self.id.startswith(f"{self.kind}:"):
            raise ValueError(f"principal id {self.id!r} does not match kind {self.kind!r}")
        is_key = self.kind == "key"
        if is_key != (self.workspace is not None) or is_key != (self.role is not None):
            raise ValueError("a key principal has a workspace and a role; a user has neither")

    @classmethod
    def user(cls, username: str, *, is_admin: bool = False) -> Principal:
        """The principal of a signed-in user."""
        return cls(id=f"user:{username}", kind="user", name=username, is_admin=is_admin)

    @classmethod
    def key(cls, key_id: str, *, name: str, workspace: str, role: Role) -> Principal:
        """The principal of an API key, bound to one workspace and role."""
        return cls(id=f"key:{key_id}", kind="key", name=name, workspace=workspace, role=role)

    @property
    def actor(self) -> str:
        """What events record as their ``actor``."""
        return self.id
