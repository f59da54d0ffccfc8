"""The Yjs WebSocket over a real server: y-websocket sync, live writes from REST, access, errors."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pycrdt
import pytest
import websockets
from tests.world import bearer, bootstrap_key, head, started_hub
from tests.yjsclient import TIMEOUT, YClient, clocks, connect, synced, yjs_url

from infinity_matrix.config import Settings
from infinity_matrix.core.ports import LogTransaction
from infinity_matrix.core.protocol import ywebsocket as yws
from infinity_matrix.core.protocol.events import NewEvent
from infinity_matrix.core.sync.documents import Document
from infinity_matrix.core.sync.log import Origin
from infinity_matrix.core.sync.projector import Projection
from infinity_matrix.hub import Hub
from infinity_matrix.security.principals import Principal
from infinity_matrix.testing.server import serving

pytestmark = pytest.mark.anyio
OWNER = Principal.user("owner")
KEY = "notes/live.md"


@pytest.fixture
async def base_url(hub: Hub) -> AsyncIterator[str]:
    async with serving(hub) as url:
        yield url


@pytest.fixture
async def rest(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url) as client:
        yield client


@pytest.fixture
async def team(hub: Hub) -> dict[str, str]:
    """Workspace ``team`` with an API key per role."""
    await hub.identity.create_user("owner", "correct horse battery staple")
    await hub.workspaces.create(OWNER, "team")
    roles = ("owner", "editor", "viewer")
    created = await asyncio.gather(*(hub.keys.create(OWNER, "team", r, r) for r in roles))
    return {role: c.token for role, c in zip(roles, created, strict=True)}


def url(base_url: str, token: str | None, key: str = KEY, ws: str = "team", **params: str) -> str:
    return yjs_url(base_url, ws, key, token, **params)


async def put_text(rest: httpx.AsyncClient, token: str, text: str, key: str = KEY) -> int:
    path = f"/api/v1/workspaces/team/context/{key}"
    response = await rest.put(path, json={"text": text}, headers=bearer(token))
    assert response.status_code == 200, response.text
    seq: int = response.json()["seq"]
    return seq


async def get_entry(rest: httpx.AsyncClient, token: str, key: str = KEY) -> httpx.Response:
    return await rest.get(f"/api/v1/workspaces/team/context/{key}", headers=bearer(token))


async def test_two_editors_and_a_rest_write_converge_on_one_text(
    hub: Hub, base_url: str, rest: httpx.AsyncClient, team: dict[str, str]
) -> None:
    await put_text(rest, team["owner"], "hello world")
    async with (
        synced(url(base_url, team["owner"])) as ann,
        synced(url(base_url, team["editor"])) as bob,
    ):
        assert str(ann.text) == str(bob.text) == "hello world"
        # Concurrent: neither has seen the other's edit when it makes its own.
        await ann.edit(lambda c: c.text.insert(0, "Ann: "))
        await bob.edit(lambda c: c.text.insert(len("hello world"), "!"))
        both = "Ann: hello world!"
        await ann.until(lambda: str(ann.text) == both)
        await bob.until(lambda: str(bob.text) == both)

        await put_text(rest, team["editor"], "Ann: hello brave world!")
        final = "Ann: hello brave world!"
        await ann.until(lambda: str(ann.text) == final)
        await bob.until(lambda: str(bob.text) == final)

        entry = (await get_entry(rest, team["viewer"])).json()
        assert (entry["kind"], entry["text"]) == ("text", final)
        stored = await hub.store.get_entry("team", KEY)
        assert stored is not None
        server = Document(stored.state)
        for client in (ann, bob):
            assert clocks(client.doc.get_state()) == clocks(server.state_vector())
            assert Document(client.state()).text == final


async def test_an_editor_creates_an_entry_of_the_kind_it_asks_for(
    hub: Hub, base_url: str, rest: httpx.AsyncClient, team: dict[str, str]
) -> None:
    async with synced(url(base_url, team["editor"], key="cfg/app", kind="json")) as client:
        await client.committed(await client.edit(lambda c: c.data.update({"theme": "dark"})))
        await client.committed(await client.edit(lambda c: c.data.update({"size": 3})))
    entry = (await get_entry(rest, team["viewer"], key="cfg/app")).json()
    assert (entry["kind"], entry["data"]) == ("json", {"size": 3, "theme": "dark"})
    history = await hub.context.history(OWNER, "team", "cfg/app")
    assert [(e.type, e.source) for e in history] == [("context.updated", "yjs")] * 2


async def test_an_existing_entry_keeps_its_kind_whatever_the_client_asks(
    base_url: str, rest: httpx.AsyncClient, team: dict[str, str]
) -> None:
    await put_text(rest, team["owner"], "plain")
    async with synced(url(base_url, team["editor"], kind="json")) as client:
        await client.committed(await client.edit(lambda c: c.text.insert(5, " text")))
        await put_text(rest, team["owner"], "plain text.")
        await client.until(lambda: str(client.text) == "plain text.")
    entry = (await get_entry(rest, team["owner"])).json()
    assert (entry["kind"], entry["text"]) == ("text", "plain text.")


async def test_a_viewer_receives_live_changes_but_its_change_closes_4403_and_writes_nothing(
    hub: Hub, base_url: str, rest: httpx.AsyncClient, team: dict[str, str]
) -> None:
    await put_text(rest, team["owner"], "read me")
    async with synced(url(base_url, team["viewer"])) as viewer:
        assert str(viewer.text) == "read me"
        await put_text(rest, team["owner"], "read me twice")
        await viewer.until(lambda: str(viewer.text) == "read me twice")
        before = await head(hub, "team")

        await viewer.edit(lambda c: c.text.insert(0, "vandal "))
        assert await viewer.closed() == 4403
    assert await head(hub, "team") == before
    assert (await get_entry(rest, team["owner"])).json()["text"] == "read me twice"


async def test_a_viewer_that_reconnects_knowing_deletions_stays_connected(
    base_url: str, rest: httpx.AsyncClient, team: dict[str, str]
) -> None:
    await put_text(rest, team["owner"], "hello cruel world")
    await put_text(rest, team["owner"], "hello world")  # a deletion the viewer will know
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    async with synced(url(base_url, team["viewer"]), doc) as viewer:
        assert str(viewer.text) == "hello world"
    # Its step 2 now repeats the deletion, which changes nothing: no 4403.
    async with synced(url(base_url, team["viewer"]), doc) as viewer:
        await put_text(rest, team["owner"], "hello world again")
        await viewer.until(lambda: str(viewer.text) == "hello world again")
        assert viewer.close_code is None


async def test_a_rejected_credential_closes_4401(base_url: str, team: dict[str, str]) -> None:
    for token in (None, "imx_aaaaaaaaaaaa_" + "0" * 48):
        async with connect(url(base_url, token)) as client:
            assert await client.closed() == 4401


async def test_an_unknown_or_invisible_workspace_closes_4404(
    hub: Hub, base_url: str, team: dict[str, str]
) -> None:
    async with connect(url(base_url, team["owner"], ws="nope")) as client:
        assert await client.closed() == 4404
    async with connect(url(base_url, bootstrap_key(hub))) as client:  # a key of "default"
        assert await client.closed() == 4404


async def test_an_invalid_key_kind_or_message_closes_4422(
    base_url: str, team: dict[str, str]
) -> None:
    async with connect(url(base_url, team["editor"], key="bad/../key")) as client:
        assert await client.closed() == 4422
    async with connect(url(base_url, team["editor"], kind="xml")) as client:
        assert await client.closed() == 4422
    for frame in (b"\x07\x00", b"\x00\x09\x00", b"\x00\x02\x05ab", b"\x00\x02\x02\xff\xff"):
        async with synced(url(base_url, team["editor"])) as client:
            await client.socket.send(frame)
            assert await client.closed() == 4422
    async with synced(url(base_url, team["editor"])) as client:
        await client.socket.send("text frames are not y-websocket")
        assert await client.closed() == 4422


async def test_an_oversized_frame_closes_4413_and_writes_nothing(
    hub: Hub, base_url: str, team: dict[str, str]
) -> None:
    before = await head(hub, "team")
    async with synced(url(base_url, team["editor"])) as client:
        big = "x" * (hub.settings.max_request_bytes + 1)
        await client.edit(lambda c: c.text.insert(0, big))
        assert await client.closed() == 4413
    assert await head(hub, "team") == before


async def test_deleting_the_entry_closes_its_editors_with_4404(
    base_url: str, rest: httpx.AsyncClient, team: dict[str, str]
) -> None:
    await put_text(rest, team["owner"], "short-lived")
    async with synced(url(base_url, team["editor"])) as client:
        path = f"/api/v1/workspaces/team/context/{KEY}"
        response = await rest.delete(path, headers=bearer(team["owner"]))
        assert response.status_code == 200
        assert await client.closed() == 4404
    async with synced(url(base_url, team["editor"])) as client:  # opens afresh, empty
        assert str(client.text) == ""


async def test_awareness_reaches_the_other_editors_and_is_cleared_when_one_leaves(
    base_url: str, team: dict[str, str]
) -> None:
    async with synced(url(base_url, team["viewer"])) as watcher:
        async with synced(url(base_url, team["editor"])) as ann:
            await ann.send_awareness(1234, 1, '{"user":"ann"}')
            await watcher.until(lambda: _states(watcher).get(1234) == '{"user":"ann"}')
            # A client that joins later is told the states known so far.
            async with synced(url(base_url, team["owner"])) as late:
                await late.until(lambda: _states(late).get(1234) == '{"user":"ann"}')
        await watcher.until(lambda: _states(watcher).get(1234) == yws.GONE)


def _prepend(letter: str) -> Callable[[YClient], None]:
    return lambda client: client.text.insert(0, letter)


def _states(client: YClient) -> dict[int, str]:
    return {e.client: e.state for update in client.awareness for e in update}


async def test_updates_past_the_rate_limit_close_4429(tmp_path: Path, settings: Settings) -> None:
    limited = settings.model_copy(update={"rate_limit": "2/minute", "home": tmp_path / "rl"})
    async with started_hub(limited) as hub, serving(hub) as base:
        async with synced(yjs_url(base, "default", KEY, bootstrap_key(hub))) as client:
            for letter in "abc":
                await client.edit(_prepend(letter))
            assert await client.closed() == 4429
        entry = await hub.store.get_entry("default", KEY)
        assert entry is not None
        assert entry.text == "ba"


async def test_a_client_that_stops_reading_is_closed_4408_and_its_awareness_cleared(
    base_url: str, team: dict[str, str]
) -> None:
    async with websockets.connect(url(base_url, team["viewer"]), max_size=None) as slow:
        await slow.send(yws.awareness(yws.encode_awareness([yws.AwarenessEntry(7, 1, "{}")])))
        async with synced(url(base_url, team["editor"])) as fast:
            await fast.until(lambda: 7 in _states(fast))
            # Awareness is relayed to everyone; the slow client never reads its share, so
            # the socket's buffers fill, then its outbox, until the server drops it.
            big = json.dumps({"blob": secrets.token_urlsafe(768 * 1024)})  # incompressible
            async with asyncio.timeout(TIMEOUT):
                for clock in itertools.count(1):
                    if _states(fast)[7] == yws.GONE:
                        break
                    await fast.send_awareness(8, clock, big)
                    await fast.received_awareness(clock + 1)  # its own, echoed
        with contextlib.suppress(websockets.ConnectionClosed):
            async with asyncio.timeout(TIMEOUT):
                async for _ in slow:  # what it was sent before the close, then the close
                    pass
        assert slow.close_code == 4408


# Bursts: updates that arrive while one commits are merged into the next commit ----------------

MARKER = re.compile(rb"<(\d{8})>")


def _marker(n: int) -> str:
    return f"<{n:08d}>"  # ten characters


def _markers(count: int) -> str:
    return "".join(_marker(n) for n in range(count))


def _append(text: str) -> Callable[[YClient], None]:
    return lambda client: client.text.insert(len(client.text), text)


@dataclass
class _Hold:
    """A command that keeps its workspace's write lane (and transaction) busy until released:
    every write to the workspace waits behind it meanwhile."""

    held: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    subject: str = "test/hold"

    async def decide(self, projection: Projection, tx: LogTransaction) -> list[NewEvent]:
        self.held.set()
        await self.release.wait()
        return []


@contextlib.asynccontextmanager
async def held_lane(hub: Hub, workspace: str) -> AsyncIterator[None]:
    """Nothing commits in ``workspace`` during the block; all of it commits after."""
    hold = _Hold()
    holding = asyncio.create_task(hub.log.submit(workspace, hold, Origin(actor="test")))
    async with asyncio.timeout(TIMEOUT):
        await hold.held.wait()
    try:
        yield
    finally:
        hold.release.set()
        await holding


async def _read_so_far(client: YClient) -> None:
    """Wait until the server has handled every frame the client sent so far: it handles a
    connection's frames in order, and echoes awareness to its sender."""
    count = len(client.awareness)
    await client.send_awareness(client.doc.client_id, count + 1, "{}")
    await client.received_awareness(count + 1)


async def test_updates_sent_back_to_back_all_land_in_order_in_fewer_commits(
    hub: Hub, base_url: str, rest: httpx.AsyncClient, team: dict[str, str]
) -> None:
    count = 200
    async with synced(url(base_url, team["editor"])) as client:
        async with held_lane(hub, "team"):
            for n in range(count):
                await client.edit(_append(_marker(n)))
            await _read_so_far(client)  # all 200 wait behind the first commit
        last = _marker(count - 1).encode()
        await client.until(lambda: any(last in update for update in client.received))

        events = list(reversed(await hub.context.history(OWNER, "team", KEY)))
        # The first commit took what had come by its turn, the second one all the rest.
        assert 1 <= len(events) <= 2
        logged = [int(m) for e in events for m in MARKER.findall(e.data or b"")]
        assert logged == list(range(count))
        assert (await get_entry(rest, team["viewer"])).json()["text"] == _markers(count)
        stored = await hub.store.get_entry("team", KEY)
        assert stored is not None
        assert Document(stored.state).state() == Document(client.state()).state()


async def test_an_update_refused_in_a_burst_lets_in_the_ones_before_it_and_none_after(
    tmp_path: Path, settings: Settings
) -> None:
    small = settings.model_copy(update={"max_value_bytes": 100, "home": tmp_path / "small"})
    async with started_hub(small) as hub, serving(hub) as base:
        async with synced(yjs_url(base, "default", KEY, bootstrap_key(hub))) as client:
            async with held_lane(hub, "default"):
                for n in range(20):
                    await client.edit(_append(_marker(n)))
                await _read_so_far(client)
            # Merged, the burst is too large; one by one, the eleventh is (110 bytes).
            assert await client.closed() == 4413
        entry = await hub.store.get_entry("default", KEY)
        assert entry is not None
        assert entry.text == _markers(10)
        assert entry.seq == await head(hub, "default")


async def test_a_viewers_burst_of_changes_closes_4403_and_writes_nothing(
    hub: Hub, base_url: str, rest: httpx.AsyncClient, team: dict[str, str]
) -> None:
    await put_text(rest, team["owner"], "read me")
    before = await head(hub, "team")
    async with synced(url(base_url, team["viewer"])) as viewer:
        async with held_lane(hub, "team"):
            for letter in "abc":
                await viewer.edit(_prepend(letter))
            await _read_so_far(viewer)
        assert await viewer.closed() == 4403
    assert await head(hub, "team") == before
    assert (await get_entry(rest, team["owner"])).json()["text"] == "read me"


async def test_what_a_client_sent_just_before_leaving_is_committed_after_it_left(
    hub: Hub, base_url: str, team: dict[str, str]
) -> None:
    async with (
        synced(url(base_url, team["viewer"])) as watcher,
        synced(url(base_url, team["editor"])) as client,
    ):
        async with held_lane(hub, "team"):
            for n in range(50):
                await client.edit(_append(_marker(n)))
            await _read_so_far(client)
            await client.socket.close()  # while its updates wait to commit
        await watcher.until(lambda: str(watcher.text) == _markers(50))


async def test_an_editor_whose_key_is_revoked_is_closed_4401_at_once(
    hub: Hub, base_url: str, rest: httpx.AsyncClient, team: dict[str, str]
) -> None:
    await put_text(rest, team["owner"], "shared")
    created = await hub.keys.create(OWNER, "team", "short-lived editor", "editor")
    async with synced(url(base_url, created.token)) as client:
        await hub.keys.revoke(OWNER, "team", created.record.id)
        assert await client.closed() == 4401


async def test_a_member_removed_from_the_workspace_is_closed_4404_at_once(
    hub: Hub, base_url: str, rest: httpx.AsyncClient, team: dict[str, str]
) -> None:
    await put_text(rest, team["owner"], "shared")
    await hub.identity.create_user("eve", "correct horse battery staple")
    await hub.workspaces.set_member(OWNER, "team", "eve", "editor")
    pair = await hub.identity.login("eve", "correct horse battery staple")
    async with synced(url(base_url, pair.access_token)) as client:
        await hub.workspaces.remove_member(OWNER, "team", "eve")
        assert await client.closed() == 4404
