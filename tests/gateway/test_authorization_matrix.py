"""Every REST endpoint called by every kind of caller answers the documented status.

401 for a credential problem, 404 for a workspace the caller cannot see, 403 for a role too low,
2xx otherwise; a refused request changes nothing (heads, entries, members, keys, users).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from tests.world import (
    BAD_CALLERS,
    CALLERS,
    PASSWORD,
    ROLES,
    TEAM,
    USER_CALLERS,
    Team,
    World,
    add_team,
    create_user,
    snapshot,
)

from infinity_matrix.security.principals import Principal

ANYONE, USERS, ADMINS = "anyone", "users", "admins"
OWNER, MAINTAINER, EDITOR, VIEWER = ROLES
WS = "/api/v1/workspaces/{ws}"

Prepare = Callable[[World, Team, int], Awaitable[str]]


async def _new_user(world: World, team: Team, n: int) -> str:
    await create_user(world.hub, f"new{n}")
    return f"new{n}"


async def _spare_member(world: World, team: Team, n: int) -> str:
    await create_user(world.hub, f"spare{n}")
    await world.hub.workspaces.set_member(Principal.user("owner"), team.id, f"spare{n}", "viewer")
    return f"spare{n}"


async def _spare_key(world: World, team: Team, n: int) -> str:
    created = await world.hub.keys.create(Principal.user("owner"), team.id, f"spare {n}", "viewer")
    return created.record.id


async def _doomed_entry(world: World, team: Team, n: int) -> str:
    await world.hub.context.put(Principal.user("owner"), team.id, f"doomed/{n}", text="bye")
    return f"doomed/{n}"


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str  # {ws}: the workspace; {n}: a value fresh for each call; {target}: from prepare
    who: str  # the lowest role allowed (each role includes those below it), or ANYONE/USERS/…
    status: int  # on success
    body: dict[str, Any] | None = None
    prepare: Prepare | None = None  # makes the thing call {n} acts on, before the snapshot
    fresh_team: bool = False  # each call gets its own workspace (the call deletes it)

    @property
    def writes(self) -> bool:
        return self.method != "GET"

    def url(self, team: Team, n: int, target: str) -> str:
        return self.path.format(ws=team.id, n=n, target=target)

    def json(self, n: int) -> dict[str, Any] | None:
        if self.body is None:
            return None
        return {k: v.format(n=n) if isinstance(v, str) else v for k, v in self.body.items()}


# The one permission table of this test. It mirrors security/access.py: viewer reads, editor
# writes context, maintainer manages members and keys and reads the event log, owner deletes.
ENDPOINTS = [
    Endpoint("workspaces.list", "GET", "/api/v1/workspaces", ANYONE, 200),
    Endpoint("workspaces.create", "POST", "/api/v1/workspaces", USERS, 201, {"id": "new-{n}"}),
    Endpoint("workspaces.get", "GET", WS, VIEWER, 200),
    Endpoint("workspaces.delete", "DELETE", WS, OWNER, 204, fresh_team=True),
    Endpoint("members.list", "GET", WS + "/members", VIEWER, 200),
    Endpoint(
        "members.put", "PUT", WS + "/members/{target}", MAINTAINER, 200, {"role": "viewer"},
        prepare=_new_user,
    ),
    Endpoint(
        "members.delete", "DELETE", WS + "/members/{target}", MAINTAINER, 200,
        prepare=_spare_member,
    ),
    Endpoint("keys.list", "GET", WS + "/keys", MAINTAINER, 200),
    Endpoint("keys.create", "POST", WS + "/keys", MAINTAINER, 201, {"name": "k", "role": "viewer"}),
    Endpoint("keys.delete", "DELETE", WS + "/keys/{target}", MAINTAINER, 200, prepare=_spare_key),
    Endpoint("context.put", "PUT", WS + "/context/notes/{n}", EDITOR, 200, {"text": "hello {n}"}),
    Endpoint("context.get", "GET", WS + "/context/notes/seed", VIEWER, 200),
    Endpoint("context.list", "GET", WS + "/context?prefix=notes/", VIEWER, 200),
    Endpoint(
        "context.delete", "DELETE", WS + "/context/{target}", EDITOR, 200, prepare=_doomed_entry
    ),
    Endpoint("history", "GET", WS + "/history/notes/seed", VIEWER, 200),
    Endpoint("events", "GET", WS + "/events", MAINTAINER, 200),
    Endpoint("users.list", "GET", "/api/v1/users", ADMINS, 200),
    Endpoint(
        "users.create", "POST", "/api/v1/users", ADMINS, 201,
        {"username": "made{n}", "password": PASSWORD},
    ),
    Endpoint("auth.me", "GET", "/api/v1/auth/me", ANYONE, 200),
]  # fmt: skip

CREDENTIAL_PROBLEMS = {
    "none": "auth.missing",
    "invalid": "auth.invalid_token",
    "revoked": "auth.key_revoked",
    "expired": "auth.token_expired",
}


def role_of(caller: str) -> str | None:
    """The caller's role in the workspace under test; a server admin acts as an owner."""
    if caller == "admin":
        return OWNER
    role = caller.removesuffix("-key")
    return role if role in ROLES else None  # outsider, other-key: not in the workspace


def expected(endpoint: Endpoint, caller: str) -> tuple[int, str | None]:
    """The status and error code the API documents for ``caller`` on ``endpoint``."""
    if caller in CREDENTIAL_PROBLEMS:
        return 401, CREDENTIAL_PROBLEMS[caller]
    if endpoint.who == ANYONE:
        return endpoint.status, None
    if endpoint.who == USERS:
        return (endpoint.status, None) if caller in USER_CALLERS else (403, "auth.forbidden")
    if endpoint.who == ADMINS:
        return (endpoint.status, None) if caller == "admin" else (403, "auth.admin_required")
    role = role_of(caller)
    if role is None:
        return 404, "workspace.not_found"
    if ROLES.index(role) <= ROLES.index(endpoint.who):  # ROLES runs from owner down to viewer
        return endpoint.status, None
    return 403, "auth.forbidden"


def test_the_matrix_covers_every_caller_and_credential_problem() -> None:
    assert set(CREDENTIAL_PROBLEMS) == set(BAD_CALLERS)
    assert len(CALLERS) == len(set(CALLERS)) == 15
    assert {e.method for e in ENDPOINTS} == {"GET", "POST", "PUT", "DELETE"}


async def _call(world: World, endpoint: Endpoint, caller: str, n: int) -> list[str]:
    """Make call ``n``; the ways its answer or its effect differ from the documented ones."""
    team = await add_team(world.hub, f"gone-{n}") if endpoint.fresh_team else world.team
    target = await endpoint.prepare(world, team, n) if endpoint.prepare else ""
    status, code = expected(endpoint, caller)
    watch = status >= 400 or endpoint.writes  # an allowed read need not be watched
    before = await snapshot(world.hub, [team.id]) if watch else None
    response = await world.request(
        caller, endpoint.method, endpoint.url(team, n, target), team, json=endpoint.json(n)
    )
    got_code = response.json().get("code") if response.status_code >= 400 else None
    problems = []
    if (response.status_code, got_code) != (status, code):
        problems.append(f"{caller}: got {response.status_code} {got_code}, want {status} {code}")
    changed = watch and await snapshot(world.hub, [team.id]) != before
    if status >= 400 and changed:
        problems.append(f"{caller}: refused with {status} but the state changed")
    if status < 400 and endpoint.writes and not changed:
        problems.append(f"{caller}: allowed write changed nothing")
    return problems


@pytest.mark.anyio
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
async def test_every_caller_gets_the_documented_status_and_a_refusal_changes_nothing(
    world: World, endpoint: Endpoint
) -> None:
    await world.hub.context.put(Principal.user("owner"), TEAM, "notes/seed", text="seed")
    problems = [
        p for n, caller in enumerate(CALLERS) for p in await _call(world, endpoint, caller, n)
    ]
    assert problems == []
