"""Yjs rooms: one live document per entry and node, fed by the fan-out, released when unused."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import weakref
from collections.abc import Callable

import pytest

from infinity_matrix.core.protocol import ywebsocket as yws
from infinity_matrix.core.sync.documents import Document
from infinity_matrix.core.sync.rooms import AWARENESS, Rooms
from infinity_matrix.errors import InfinityMatrixError, NotFound
from infinity_matrix.hub import Hub
from infinity_matrix.security.access import Role
from infinity_matrix.security.principals import Principal

pytestmark = pytest.mark.anyio
WS = "default"
OWNER = Principal.key("o", name="owner", workspace=WS, role=Role.OWNER)
TIMEOUT = 10.0


class Peer:
    """Records what its room sends it."""

    def __init__(self, id: str) -> None:
        self.id = id
        self.updates: list[bytes] = []
        self.awareness: list[list[yws.AwarenessEntry]] = []
        self.error: InfinityMatrixError | None = None
        self._changed = asyncio.Event()

    def send_update(self, update: bytes) -> None:
        self.updates.append(update)
        self._notify()

    def send_awareness(self, update: bytes) -> None:
        self.awareness.append(yws.decode_awareness(update))
        self._notify()

    def close(self, error: InfinityMatrixError) -> None:
        self.error = error
        self._notify()

    async def until(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(TIMEOUT):
            while not predicate():
                await self._changed.wait()

    def states(self) -> dict[int, str]:
        return {e.client: e.state for update in self.awareness for e in update}

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()


@pytest.fixture
def rooms(hub: Hub) -> Rooms:
    return Rooms(hub.context, hub.fanout)


async def test_peers_of_one_entry_share_a_room_that_is_collected_after_the_last_leaves(
    rooms: Rooms,
) -> None:
    async with rooms.join(OWNER, WS, "notes/a", Peer("a")) as room:
        async with rooms.join(OWNER, WS, "notes/a", Peer("b")) as same:
            assert same is room
            assert room.peers == 2
        assert rooms.get(WS, "notes/a") is room
        assert room.peers == 1
        # The room is the only holder of its Document (whose slots take no weak reference).
        collected = weakref.ref(room)
    del room, same
    gc.collect()
    assert rooms.get(WS, "notes/a") is None
    assert collected() is None


async def test_concurrent_first_peers_open_one_room(rooms: Rooms) -> None:
    async with contextlib.AsyncExitStack() as stack:
        joined = await asyncio.gather(
            *(stack.enter_async_context(rooms.join(OWNER, WS, "k", Peer(n))) for n in "abc")
        )
        assert len({id(room) for room in joined}) == 1
        assert joined[0].peers == 3
    assert rooms.get(WS, "k") is None


async def test_a_room_starts_from_the_stored_state_and_sends_each_commit_of_its_key(
    hub: Hub, rooms: Rooms
) -> None:
    await hub.context.put(OWNER, WS, "notes/a", text="one")
    a, other = Peer("a"), Peer("other")
    async with (
        rooms.join(OWNER, WS, "notes/a", a) as room,
        rooms.join(OWNER, WS, "notes/b", other),
    ):
        peer_doc = Document(room.diff(b"\x00"))
        assert peer_doc.text == "one"
        await hub.context.put(OWNER, WS, "notes/a", text="one two")
        await a.until(lambda: len(a.updates) == 1)
        peer_doc.apply(a.updates[0])
        assert peer_doc.text == "one two"
        assert Document(room.diff(b"\x00")).text == "one two"
    assert other.updates == []


async def test_deleting_the_entry_closes_its_peers_and_the_room(hub: Hub, rooms: Rooms) -> None:
    await hub.context.put(OWNER, WS, "notes/a", text="short-lived")
    peer = Peer("a")
    async with rooms.join(OWNER, WS, "notes/a", peer) as room:
        await hub.context.delete(OWNER, WS, "notes/a")
        await peer.until(lambda: peer.error is not None)
        assert isinstance(peer.error, NotFound)
        assert peer.error.code == "context.deleted"
        assert room.closed
        async with rooms.join(OWNER, WS, "notes/a", Peer("b")) as fresh:
            assert fresh is not room
            assert Document(fresh.diff(b"\x00")).text == ""


async def test_joining_an_invisible_workspace_opens_no_room(rooms: Rooms) -> None:
    with pytest.raises(NotFound):
        async with rooms.join(OWNER, "elsewhere", "notes/a", Peer("a")):
            pass
    assert rooms.get("elsewhere", "notes/a") is None


async def test_awareness_is_relayed_here_and_from_other_nodes_and_cleared_on_leave(
    hub: Hub, rooms: Rooms
) -> None:
    a, b = Peer("a"), Peer("b")
    async with rooms.join(OWNER, WS, "k", a) as room:
        async with rooms.join(OWNER, WS, "k", b):
            await room.awareness(b, yws.encode_awareness([yws.AwarenessEntry(2, 1, '"b"')]))
            assert a.states() == b.states() == {2: '"b"'}
        assert a.states()[2] == yws.GONE

        remote = yws.encode_awareness([yws.AwarenessEntry(9, 4, '{"n":1}')])
        message = {"type": AWARENESS, "key": "k", "client": "node-2/x"}
        state = base64.b64encode(remote).decode()
        await hub.fanout.publish_presence(WS, {**message, "state": state})
        await a.until(lambda: a.states().get(9) == '{"n":1}')
        assert yws.decode_awareness(room.awareness_states() or b"") == [
            yws.AwarenessEntry(9, 4, '{"n":1}')
        ]
        await hub.fanout.publish_presence(WS, {**message, "state": None})
        await a.until(lambda: a.states().get(9) == yws.GONE)
        assert room.awareness_states() is None
