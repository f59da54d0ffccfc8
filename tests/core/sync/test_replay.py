"""Replaying the log rebuilds exactly the projections that live writes built (DESIGN §3).

A seeded random workload of text and json puts (with tags), deletes, re-creates of either kind
and membership changes runs in concurrent rounds, so group commit batches several changes to
one entry into one transaction; replay must then give back the same entries, Yjs states and
members.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from tests.world import ROLES, create_user

from infinity_matrix.core.sync.documents import Document
from infinity_matrix.core.sync.replay import replay_all
from infinity_matrix.errors import InfinityMatrixError
from infinity_matrix.hub import Hub
from infinity_matrix.security.principals import Principal

WORKSPACES = ("alpha", "beta")
KEYS = ("notes/a", "notes/b", "notes/deep/c", "cfg/x", "cfg/y", "mixed")
USERS = ("ann", "bob", "cem", "dia")
WORDS = ("hello", "brave", "new", "world", "naïve", "café", "日本語", "🙂", "\n", "a", "z")
TAGS = ("todo", "done", "api", "ui", "urgent")
OWNER = Principal.user("owner")

Op = Callable[[], Awaitable[Any]]


def _text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 12)))


def _json(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randint(0, 7 if depth < 2 else 4)
    scalars = [None, rng.random() < 0.5, rng.randint(-1000, 1000), rng.random(), _text(rng)]
    if choice < len(scalars):
        return scalars[choice]
    if choice == 5:
        return [_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {f"f{i}": _json(rng, depth + 1) for i in range(rng.randint(0, 3))}


def _data(rng: random.Random) -> dict[str, Any]:
    return {f"k{i}": _json(rng) for i in rng.sample(range(6), rng.randint(0, 5))}


def _tags(rng: random.Random) -> list[str] | None:
    return None if rng.random() < 0.3 else rng.sample(TAGS, rng.randint(0, 3))


def _op(hub: Hub, rng: random.Random) -> Op:
    """One random change to one workspace; it may be refused (kind conflict, last owner…)."""
    ws, key, user = rng.choice(WORKSPACES), rng.choice(KEYS), rng.choice(USERS)
    ctx, members = hub.context, hub.workspaces
    choices: list[Op] = [
        lambda: ctx.put(OWNER, ws, key, text=_text(rng), tags=_tags(rng)),
        lambda: ctx.put(OWNER, ws, key, text=_text(rng), tags=_tags(rng)),
        lambda: ctx.put(OWNER, ws, key, data=_data(rng), tags=_tags(rng)),
        lambda: ctx.put(OWNER, ws, key, data=_data(rng), tags=_tags(rng)),
        lambda: ctx.delete(OWNER, ws, key),
        lambda: members.set_member(OWNER, ws, user, rng.choice(ROLES)),
        lambda: members.remove_member(OWNER, ws, user),
    ]
    return rng.choice(choices)


async def _attempt(op: Op) -> None:
    with contextlib.suppress(InfinityMatrixError):  # a refused change appends nothing
        await op()


async def _run_workload(hub: Hub, seed: int, rounds: int = 40) -> None:
    await create_user(hub, "owner")
    for user in USERS:
        await create_user(hub, user)
    for ws in WORKSPACES:
        await hub.workspaces.create(OWNER, ws)
    rng = random.Random(seed)
    for _ in range(rounds):
        # Ops are drawn before they run, so the workload depends on the seed alone.
        ops = [_op(hub, rng) for _ in range(rng.randint(1, 8))]
        await asyncio.gather(*(_attempt(op) for op in ops))


async def _projections(hub: Hub) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for workspace in await hub.store.list_workspaces():
        entries = await hub.store.list_entries(workspace.id, limit=1000)
        state[workspace.id] = {
            "workspace": workspace,
            "entries": [e.to_json() for e in entries],
            "documents": {e.key: _decoded(e.state) for e in entries},
            "members": await hub.store.list_members(workspace.id),
        }
    return state


def _decoded(state: bytes) -> tuple[str, dict[str, Any]]:
    doc = Document(state)
    return doc.text, doc.data


@pytest.mark.anyio
@pytest.mark.parametrize("seed", [7, 2026, 31337])
async def test_replay_rebuilds_the_projections_that_live_writes_built(hub: Hub, seed: int) -> None:
    await _run_workload(hub, seed)
    live = await _projections(hub)
    assert sum(len(live[ws]["entries"]) for ws in WORKSPACES) > 0

    reports = await replay_all(hub.store)

    assert {r.workspace: (r.events, r.head) for r in reports} == {
        w.id: (w.head, w.head) for w in await hub.store.list_workspaces()
    }
    assert await _projections(hub) == live


@pytest.mark.anyio
async def test_an_entrys_yjs_state_decodes_to_its_readable_value(hub: Hub) -> None:
    await _run_workload(hub, seed=99)
    for ws in WORKSPACES:
        for entry in await hub.store.list_entries(ws, limit=1000):
            text, data = _decoded(entry.state)
            assert (entry.text, entry.data) == (
                (text, None) if entry.kind == "text" else (None, data)
            )
