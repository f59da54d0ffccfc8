"""Key creation through the event log: a retry is recognised although it mints a new key id."""

from __future__ import annotations

from collections.abc import Awaitable

import pytest

from infinity_matrix.errors import Conflict
from infinity_matrix.hub import Hub
from infinity_matrix.security.principals import Principal

OWNER = Principal.user("owner", is_admin=True)


async def _conflict_code(write: Awaitable[object]) -> str:
    with pytest.raises(Conflict) as caught:
        await write
    return caught.value.code


@pytest.mark.anyio
async def test_a_retried_key_creation_is_refused_and_creates_no_second_key(hub: Hub) -> None:
    first = await hub.keys.create(OWNER, "default", "bot", "viewer", client_msg_id="once")
    code = await _conflict_code(
        hub.keys.create(OWNER, "default", "bot", "viewer", client_msg_id="once")
    )
    assert code == "idempotency.key_already_created"
    names = [k.name for k in await hub.credentials.list_api_keys("default")]
    assert names.count("bot") == 1
    workspace = await hub.store.get_workspace("default")
    assert workspace is not None
    assert workspace.head == first.seq


@pytest.mark.anyio
async def test_an_idempotency_key_of_a_key_creation_cannot_be_reused_for_a_context_write(
    hub: Hub,
) -> None:
    await hub.keys.create(OWNER, "default", "bot", "viewer", client_msg_id="shared")
    code = await _conflict_code(
        hub.context.put(OWNER, "default", "notes/a", text="x", client_msg_id="shared")
    )
    assert code == "idempotency.conflict"
    await hub.context.put(OWNER, "default", "notes/b", text="y", client_msg_id="other")
    code = await _conflict_code(
        hub.keys.create(OWNER, "default", "bot", "viewer", client_msg_id="other")
    )
    assert code == "idempotency.conflict"
