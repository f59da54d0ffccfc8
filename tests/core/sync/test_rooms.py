"""Yjs rooms: one live document per entry and node, fed by the fan-out, released when unused."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import weakref
from collections.abc import Callable
from typing import Any

import pycrdt
import pytest

from infinity_matrix.core.protocol import ywebsocket as yws
from infinity_matrix.core.sync.documents import TEXT_ROOT, Document
from infinity_matrix.core.sync.rooms import AWARENESS, Rooms, UpdateQueue
from infinity_matrix.errors import InfinityMatrixError, InvalidInput, NotFound, TooLarge
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
        self.messages: list[bytes] = []  # as sent
        self.updates: list[bytes] = []
        self.awareness: list[list[yws.AwarenessEntry]] = []
        self.error: InfinityMatrixError | None = None
        self._changed = asyncio.Event()

    def send(self, message: bytes) -> None:
        self.messages.append(message)
        decoded = yws.decode(message)
        if decoded.type == yws.AWARENESS:
            self.awareness.append(yws.decode_awareness(decoded.payload))
        else:
            assert decoded.step == yws.UPDATE
            self.updates.append(decoded.payload)
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


async def test_a_room_encodes_each_committed_update_once_for_all_its_peers(
    hub: Hub, rooms: Rooms
) -> None:
    a, b = Peer("a"), Peer("b")
    async with rooms.join(OWNER, WS, "k", a), rooms.join(OWNER, WS, "k", b):
        await hub.context.put(OWNER, WS, "k", text="shared")
        await b.until(lambda: len(b.messages) == 1)
        assert a.messages[0] is b.messages[0]
        assert Document(a.updates[0]).text == "shared"


# UpdateQueue ----------------------------------------------------------------------------------


def _updates(count: int) -> list[bytes]:
    """``count`` updates of one editor, each appending the marker ``<n>``."""
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    text = doc.get(TEXT_ROOT, type=pycrdt.Text)
    updates: list[bytes] = []
    subscription = doc.observe(lambda event: updates.append(event.update))
    for n in range(count):
        text += f"<{n}>"
    doc.unobserve(subscription)
    return updates


def _text(n: int) -> str:
    return "".join(f"<{i}>" for i in range(n))


class FakeLog:
    """Stands in for ``ContextService.apply_update``: a document that takes each commit (and
    refuses bytes that are no update, as the log does), held back while ``open`` is clear."""

    def __init__(self, refuse: Callable[[Document], InfinityMatrixError | None] | None = None):
        self.document = Document()
        self.commits: list[bytes] = []
        self.open = asyncio.Event()
        self.committing = asyncio.Event()  # a commit has started
        self.refusals: list[Exception] = []
        self._refuse = refuse

    async def commit(self, update: bytes) -> None:
        self.committing.set()
        await self.open.wait()
        probe = Document(self.document.state())
        probe.apply(update)  # InvalidInput for bytes that are no update
        if self._refuse is not None and (error := self._refuse(probe)) is not None:
            raise error
        self.document.apply(update)
        self.commits.append(update)

    def queue(self, **bounds: int) -> UpdateQueue:
        return UpdateQueue(self.commit, self.refusals.append, **{"max_bytes": 1 << 20, **bounds})


async def test_updates_queued_while_one_commits_go_together_in_one_merged_commit() -> None:
    log = FakeLog()
    queue = log.queue()
    updates = _updates(12)
    for update in updates[:10]:
        queue.add(update)
    await log.committing.wait()  # with all ten
    for update in updates[10:]:
        queue.add(update)
    log.open.set()
    await queue.flush()
    assert len(log.commits) == 2
    assert Document(log.commits[0]).text == _text(10)
    assert log.document.text == _text(12)
    assert (log.refusals, queue.failure) == ([], None)


async def test_a_commit_takes_at_most_the_bounded_number_of_updates() -> None:
    log = FakeLog()
    queue = log.queue(max_updates=3)
    for update in _updates(8):
        queue.add(update)
    log.open.set()
    await queue.flush()
    assert [c.count(b"<") for c in log.commits] == [3, 3, 2]  # strings go in verbatim
    assert log.document.text == _text(8)


async def test_a_refused_merged_update_lets_in_the_updates_before_the_culprit_and_no_more() -> None:
    too_large = TooLarge("over the limit", code="context.too_large", limit=20)
    log = FakeLog(refuse=lambda doc: too_large if len(doc.text) > 20 else None)
    queue = log.queue()
    for update in _updates(10):  # <0>..<9>: three characters each
        queue.add(update)
    log.open.set()
    await queue.flush()
    assert log.document.text == _text(6)  # 18 characters; <6> would make 21
    assert len(log.commits) == 6  # the merged one was refused, then one at a time
    assert queue.failure is too_large
    assert log.refusals == [too_large]
    queue.add(_updates(11)[10])
    await queue.flush()
    assert log.document.text == _text(6)  # nothing after a refusal


async def test_bytes_that_are_no_update_in_a_batch_are_refused_after_the_updates_before_them() -> (
    None
):
    log = FakeLog()
    queue = log.queue()
    updates = _updates(4)
    for update in [*updates[:2], b"\xff\xff", *updates[2:]]:
        queue.add(update)
    log.open.set()
    await queue.flush()
    assert log.document.text == _text(2)
    assert isinstance(queue.failure, InvalidInput)
    assert queue.failure.code == "sync.invalid_update"


async def test_an_abandoned_queue_commits_only_what_was_already_committing() -> None:
    log = FakeLog()
    queue = log.queue()
    updates = _updates(3)
    queue.add(updates[0])
    await log.committing.wait()
    queue.add(updates[1])
    queue.abandon()
    queue.add(updates[2])
    log.open.set()
    await queue.flush()
    assert log.document.text == _text(1)
    assert queue.failure is None
