"""Test setup shared by the core and gateway suites: hubs, REST clients, users and keys per role.

The ``World`` is what the authorization matrix and the API tests call with: a user of each role
in a workspace, an API key of each role, a server admin, an outsider, a key of another
workspace, a revoked key and an expired access token.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from infinity_matrix.config import Settings
from infinity_matrix.gateway.app import create_app
from infinity_matrix.hub import Hub
from infinity_matrix.security.access import Role
from infinity_matrix.security.credfile import read_credentials
from infinity_matrix.security.passwords import PasswordHasher
from infinity_matrix.security.principals import Principal
from infinity_matrix.security.tokens import TokenIssuer

PASSWORD = "correct horse battery staple"
ROLES = tuple(role.value for role in Role)  # owner, maintainer, editor, viewer
TEAM = "team"
OTHER = "other"


def fast_hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost=64)


@asynccontextmanager
async def started_hub(settings: Settings) -> AsyncIterator[Hub]:
    """A started hub on ``settings`` (for tests that need settings the fixture does not use)."""
    hub = Hub.build(settings, hasher=fast_hasher())
    await hub.start()
    try:
        yield hub
    finally:
        await hub.close()


@asynccontextmanager
async def api_client(hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client that drives the REST API of an already started ``hub`` in-process."""
    transport = httpx.ASGITransport(app=create_app(hub, manage_hub=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token is not None else {}


def bootstrap_key(hub: Hub) -> str:
    """The owner key of workspace ``default`` that the first start wrote for the CLI."""
    token: str = read_credentials(hub.settings.credentials_file)["api_key"]
    return token


async def create_user(hub: Hub, username: str, *, is_admin: bool = False) -> Principal:
    await hub.identity.create_user(username, PASSWORD, is_admin=is_admin)
    return Principal.user(username, is_admin=is_admin)


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> str:
    """An access token for ``username``, obtained through ``/api/v1/auth/token``."""
    response = await client.post(
        "/api/v1/auth/token", json={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def expired_access_token(hub: Hub, username: str) -> str:
    """A correctly signed access token for ``username`` that expired a day ago."""
    assert hub.settings.secret_key is not None
    issued = datetime.now(UTC) - timedelta(days=1)
    issuer = TokenIssuer(
        hub.settings.secret_key.get_secret_value().encode(),
        access_ttl=timedelta(minutes=15),
        clock=lambda: issued,
    )
    return issuer.issue_access(username, is_admin=False)[0]


@dataclass
class Team:
    """A workspace with one member of each role (users named after their role) and its keys."""

    id: str
    keys: dict[str, str]  # role → token; plus "revoked" (an owner key, revoked)
    key_ids: dict[str, str]


@dataclass
class World:
    """Every kind of caller the API distinguishes, with a bearer token each (None = none)."""

    hub: Hub
    client: httpx.AsyncClient
    access: dict[str, str]  # username → access token
    team: Team
    other: Team
    expired: str

    def token(self, caller: str, team: Team | None = None) -> str | None:
        """The bearer token of ``caller`` (see ``CALLERS``) against ``team``'s workspace."""
        team = team or self.team
        special = {
            "none": None,
            "invalid": "imx_aaaaaaaaaaaa_" + "0" * 48,
            "revoked": team.keys["revoked"],
            "expired": self.expired,
            "other-key": self.other.keys["owner"],
        }
        if caller in special:
            return special[caller]
        if caller.endswith("-key"):
            return team.keys[caller.removesuffix("-key")]
        return self.access[caller]

    async def request(
        self, caller: str, method: str, path: str, team: Team | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = bearer(self.token(caller, team))
        return await self.client.request(method, path, headers=headers, **kwargs)


# Users by role and the other kinds of caller; "admin" is a server admin who is no member.
USER_CALLERS = (*ROLES, "admin", "outsider")
KEY_CALLERS = tuple(f"{role}-key" for role in ROLES)
BAD_CALLERS = ("none", "invalid", "revoked", "expired")
CALLERS = (*USER_CALLERS, *KEY_CALLERS, "other-key", *BAD_CALLERS)


async def build_world(hub: Hub, client: httpx.AsyncClient) -> World:
    # Concurrent writes share group-commit transactions, which keeps this setup quick.
    await asyncio.gather(
        *(create_user(hub, name) for name in (*ROLES, "outsider")),
        create_user(hub, "admin", is_admin=True),
    )
    tokens = await asyncio.gather(*(login(client, name) for name in USER_CALLERS))
    team, other = await asyncio.gather(add_team(hub, TEAM), add_team(hub, OTHER, members=False))
    access = dict(zip(USER_CALLERS, tokens, strict=True))
    return World(hub, client, access, team, other, expired_access_token(hub, "owner"))


async def add_team(hub: Hub, workspace: str, *, members: bool = True) -> Team:
    """Create ``workspace`` owned by user ``owner``, with a member and a key of each role."""
    owner = Principal.user("owner")
    await hub.workspaces.create(owner, workspace)
    roles = ROLES[1:] if members else ()
    await asyncio.gather(*(hub.workspaces.set_member(owner, workspace, r, r) for r in roles))
    created = await asyncio.gather(
        *(hub.keys.create(owner, workspace, f"{name} key", role) for name, role in _KEYS)
    )
    await hub.keys.revoke(owner, workspace, created[-1].record.id)
    names = [name for name, _ in _KEYS]
    return Team(
        workspace,
        {name: c.token for name, c in zip(names, created, strict=True)},
        {name: c.record.id for name, c in zip(names, created, strict=True)},
    )


_KEYS = [*((role, role) for role in ROLES), ("revoked", "owner")]  # (name, role); last revoked


async def snapshot(hub: Hub, workspaces: Sequence[str] | None = None) -> dict[str, Any]:
    """Everything a request could change: users, every workspace with its head, and the
    entries, members and keys of ``workspaces`` (default: all of them).

    A key's ``last_used_at`` is left out: merely authenticating with a key updates it.
    """
    records = await hub.store.list_workspaces()
    state: dict[str, Any] = {
        "users": [u.to_json() for u in await hub.credentials.list_users()],
        "workspaces": records,
    }
    for workspace in workspaces if workspaces is not None else [r.id for r in records]:
        entries = await hub.store.list_entries(workspace, limit=1000)
        keys = await hub.credentials.list_api_keys(workspace)
        state[workspace] = {
            "entries": [e.to_json() for e in entries],
            "members": await hub.store.list_members(workspace),
            "keys": [{**k.to_json(), "last_used_at": None} for k in keys],
        }
    return state


async def head(hub: Hub, workspace: str) -> int:
    record = await hub.store.get_workspace(workspace)
    assert record is not None
    return record.head
