"""The event stream over a real WebSocket: hello/welcome, replay, live, writes, resume, errors."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from tests.world import bootstrap_key, started_hub

from infinity_matrix.client.stream import StreamClient
from infinity_matrix.config import Settings
from infinity_matrix.core.insights.records import NewInsight
from infinity_matrix.core.knowledge.records import NewEntity
from infinity_matrix.hub import Hub
from infinity_matrix.security.access import Role
from infinity_matrix.security.principals import Principal
from infinity_matrix.testing.server import serving

pytestmark = pytest.mark.anyio
TIMEOUT = 10.0


@pytest.fixture
async def base_url(hub: Hub) -> AsyncIterator[str]:
    async with serving(hub) as url:
        yield url


def ws_url(base_url: str, workspace: str = "default", token: str | None = None) -> str:
    url = base_url.replace("http://", "ws://") + f"/api/v1/workspaces/{workspace}/stream"
    return f"{url}?token={token}" if token else url


async def recv(socket: Any) -> dict[str, Any]:
    async with asyncio.timeout(TIMEOUT):
        frame: dict[str, Any] = json.loads(await socket.recv())
        return frame


async def recv_until(socket: Any, kind: str) -> dict[str, Any]:
    while (frame := await recv(socket))["type"] != kind:
        pass
    return frame


async def test_hello_replays_missed_events_in_order_then_streams_live(
    hub: Hub, base_url: str
) -> None:
    key = bootstrap_key(hub)
    owner = Principal.key("x", name="x", workspace="default", role=Role.OWNER)
    first = await hub.context.put(owner, "default", "notes/a", text="one")
    second = await hub.context.put(owner, "default", "notes/b", text="two")

    async with websockets.connect(ws_url(base_url, token=key)) as socket:
        await socket.send(json.dumps({"type": "hello", "after": first.seq - 1, "prefix": "notes/"}))
        welcome = await recv(socket)
        assert welcome["type"] == "welcome"
        assert welcome["recovered"] is True
        assert welcome["head"] == second.seq
        replayed = [await recv(socket), await recv(socket)]
        assert [f["seq"] for f in replayed] == [first.seq, second.seq]

        live = await hub.context.put(owner, "default", "notes/c", text="three")
        await hub.context.put(owner, "default", "other/x", text="not for this prefix")
        event = await recv(socket)
        assert (event["type"], event["seq"]) == ("event", live.seq)
        assert event["event"]["subject"] == "context/notes/c"


async def test_writes_are_acknowledged_after_commit_and_deduplicated_by_id(
    hub: Hub, base_url: str
) -> None:
    async with websockets.connect(ws_url(base_url, token=bootstrap_key(hub))) as socket:
        await socket.send(json.dumps({"type": "hello", "after": 0}))
        welcome = await recv_until(socket, "welcome")
        put = {"type": "put", "id": "w-1", "key": "notes/x", "text": "hello"}
        await socket.send(json.dumps(put))
        ack = await recv_until(socket, "ack")
        assert ack == {"type": "ack", "id": "w-1", "seq": welcome["head"] + 1}
        await socket.send(json.dumps(put))  # a resend after a lost ack
        again = await recv_until(socket, "ack")
        assert again == {"type": "ack", "id": "w-1", "seq": ack["seq"], "duplicate": True}
    record = await hub.store.get_workspace("default")
    assert record is not None
    assert record.head == ack["seq"]


async def test_bad_frames_get_an_error_frame_and_change_nothing(hub: Hub, base_url: str) -> None:
    async with websockets.connect(ws_url(base_url, token=bootstrap_key(hub))) as socket:
        await socket.send("not json")
        assert (await recv(socket))["code"] == "frame.invalid"
        await socket.send(json.dumps({"type": "put", "id": "1", "key": "k", "text": "x"}))
        assert (await recv(socket))["code"] == "frame.invalid"  # hello first
        await socket.send(json.dumps({"type": "hello"}))
        head = (await recv_until(socket, "welcome"))["head"]
        await socket.send(json.dumps({"type": "put", "id": "2", "key": "../x", "text": "x"}))
        error = await recv_until(socket, "error")
        assert (error["id"], error["code"]) == ("2", "context.invalid_key")
    record = await hub.store.get_workspace("default")
    assert record is not None
    assert record.head == head


async def test_credentials_and_visibility_are_checked_on_connect(hub: Hub, base_url: str) -> None:
    with pytest.raises(websockets.ConnectionClosed) as bad:
        async with websockets.connect(ws_url(base_url, token="imx_nope_nope")) as socket:
            await socket.recv()
    assert bad.value.rcvd is not None
    assert bad.value.rcvd.code == 4401
    with pytest.raises(websockets.ConnectionClosed) as missing:
        async with websockets.connect(ws_url(base_url, "nowhere", bootstrap_key(hub))) as socket:
            await socket.recv()
    assert missing.value.rcvd is not None
    assert missing.value.rcvd.code == 4404


async def test_a_client_too_slow_to_read_is_closed_with_4408_and_others_are_unharmed(
    settings: Settings,
) -> None:
    settings.stream_outbox_bytes = 1024 * 1024
    async with started_hub(settings) as hub, serving(hub) as url:
        owner = Principal.key("x", name="x", workspace="default", role=Role.OWNER)
        token = bootstrap_key(hub)
        _slow_reader, slow = await _client_that_never_reads(url, token)
        async with websockets.connect(ws_url(url, token=token)) as fast:
            await fast.send(json.dumps({"type": "hello"}))
            await recv_until(fast, "welcome")
            big = "x" * 400_000  # 40 frames of ~530 KB outgrow the socket buffers and outbox
            last = 0
            for n in range(40):
                last = (await hub.context.put(owner, "default", f"big/{n}", text=big + str(n))).seq
            while (await recv_until(fast, "event"))["seq"] < last:
                pass
        closed = hub.metrics.ws_closed_total.labels(face="stream", code="4408")
        async with asyncio.timeout(TIMEOUT):
            while closed._value.get() < 1:  # noqa: ASYNC110 - a counter has no event to await
                await asyncio.sleep(0.05)  # bounded: polls a counter under the timeout
        slow.close()


async def _client_that_never_reads(
    url: str, token: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket client by hand that says hello and then never reads (client libraries
    read into memory on their own, which would hide the back-pressure under test)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET /api/v1/workspaces/default/stream?token={token} HTTP/1.1\r\nHost: {host}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    await reader.readuntil(b"\r\n\r\n")
    payload = json.dumps({"type": "hello"}).encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    writer.write(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
    await writer.drain()
    await reader.readuntil(b'"recovered":true}')  # subscribed: the welcome came
    reader._transport.pause_reading()  # type: ignore[attr-defined]  # stop reading for good
    return reader, writer  # kept by the caller: a collected StreamWriter closes its socket


async def test_an_oversized_frame_closes_with_4413(hub: Hub, base_url: str) -> None:
    async with websockets.connect(ws_url(base_url, token=bootstrap_key(hub)), max_size=None) as s:
        await s.send(json.dumps({"type": "hello"}))
        await recv_until(s, "welcome")
        await s.send("x" * (hub.settings.max_request_bytes + 1))
        async with asyncio.timeout(TIMEOUT):
            await s.wait_closed()
        assert s.close_code == 4413


async def test_a_viewer_can_watch_but_not_write(hub: Hub, base_url: str) -> None:
    owner = Principal.key("x", name="x", workspace="default", role=Role.OWNER)
    viewer = await hub.keys.create(owner, "default", "watcher", "viewer")
    async with websockets.connect(ws_url(base_url, token=viewer.token)) as socket:
        await socket.send(json.dumps({"type": "hello"}))
        head = (await recv_until(socket, "welcome"))["head"]
        await socket.send(json.dumps({"type": "put", "id": "v", "key": "k", "text": "no"}))
        error = await recv_until(socket, "error")
        assert (error["id"], error["code"]) == ("v", "auth.forbidden")
        seq = (await hub.context.put(owner, "default", "k", text="yes")).seq
        assert (await recv_until(socket, "event"))["seq"] == seq == head + 1


async def test_a_different_epoch_is_not_recovered_and_nothing_is_replayed(
    hub: Hub, base_url: str
) -> None:
    async with websockets.connect(ws_url(base_url, token=bootstrap_key(hub))) as socket:
        await socket.send(json.dumps({"type": "hello", "epoch": "elsewhere", "after": 1}))
        welcome = await recv(socket)
        assert welcome["recovered"] is False
        await socket.send(json.dumps({"type": "ping", "id": "p"}))
        assert await recv(socket) == {"type": "pong", "id": "p"}  # no replayed event before it


async def test_presence_reaches_other_clients_and_is_withdrawn_when_they_leave(
    hub: Hub, base_url: str
) -> None:
    token = bootstrap_key(hub)
    async with websockets.connect(ws_url(base_url, token=token)) as watcher:
        await watcher.send(json.dumps({"type": "hello"}))
        await recv_until(watcher, "welcome")
        async with websockets.connect(ws_url(base_url, token=token)) as editor:
            await editor.send(json.dumps({"type": "hello"}))
            await recv_until(editor, "welcome")
            await editor.send(json.dumps({"type": "presence", "state": {"file": "a.py"}}))
            seen = await recv_until(watcher, "presence")
            assert seen["state"] == {"file": "a.py"}
        gone = await recv_until(watcher, "presence")
        assert (gone["client"], gone["state"]) == (seen["client"], None)


async def test_the_stream_client_resumes_after_a_drop_without_gap_or_duplicate(
    hub: Hub, base_url: str
) -> None:
    owner = Principal.key("x", name="x", workspace="default", role=Role.OWNER)
    head = (await hub.store.get_workspace("default")).head  # type: ignore[union-attr]
    client = StreamClient(base_url, bootstrap_key(hub), "default", after=head)
    async with client:
        frames = client.frames()
        seqs = [await client.put(f"notes/{n}", text=str(n)) for n in range(3)]
        await client._socket.close()  # type: ignore[union-attr]  # a dropped connection
        seqs += [
            (await hub.context.put(owner, "default", f"notes/{n}", text="x")).seq
            for n in range(3, 6)
        ]
        seqs.append(await client.put("notes/6", text="after the drop"))
        seen = []
        async with asyncio.timeout(TIMEOUT):
            while len(seen) < len(seqs):
                frame = await anext(frames)
                if frame["type"] == "event":
                    seen.append(frame["seq"])
    assert seen == seqs == list(range(head + 1, head + 8))
    assert client.reconnects >= 1


async def test_writes_over_the_rate_limit_close_the_stream_with_4429(settings: Settings) -> None:
    settings.rate_limit = "3/minute"
    async with (
        started_hub(settings) as hub,
        serving(hub) as url,
        websockets.connect(ws_url(url, token=bootstrap_key(hub))) as socket,
    ):
        await socket.send(json.dumps({"type": "hello"}))
        await recv_until(socket, "welcome")
        for n in range(3):
            await socket.send(
                json.dumps({"type": "put", "id": f"p{n}", "key": "k", "text": f"{n}"})
            )
            await recv_until(socket, "ack")
        await socket.send(json.dumps({"type": "put", "id": "p3", "key": "k", "text": "3"}))
        with pytest.raises(websockets.ConnectionClosed):
            await recv(socket)
        assert socket.close_code == 4429


async def test_a_key_revoked_while_watching_is_closed_with_4401(hub: Hub, base_url: str) -> None:
    owner = Principal.key("x", name="x", workspace="default", role=Role.OWNER)
    created = await hub.keys.create(owner, "default", "watcher", "viewer")
    async with websockets.connect(ws_url(base_url, token=created.token)) as socket:
        await socket.send(json.dumps({"type": "hello"}))
        await recv_until(socket, "welcome")
        await hub.keys.revoke(owner, "default", created.record.id)
        await hub.context.put(owner, "default", "notes/after", text="not for the revoked key")
        frames = await _frames_until_closed(socket)
        assert socket.close_code == 4401
    assert "context/notes/after" not in [f.get("event", {}).get("subject") for f in frames]


async def test_a_member_removed_while_watching_is_closed_with_4404(hub: Hub, base_url: str) -> None:
    owner = Principal.user("boss", is_admin=True)
    await hub.identity.create_user("boss", "correct horse battery staple", is_admin=True)
    await hub.identity.create_user("bob", "correct horse battery staple")
    await hub.workspaces.create(owner, "team")
    await hub.workspaces.set_member(owner, "team", "bob", "viewer")
    pair = await hub.identity.login("bob", "correct horse battery staple")
    async with websockets.connect(ws_url(base_url, "team", pair.access_token)) as socket:
        await socket.send(json.dumps({"type": "hello"}))
        await recv_until(socket, "welcome")
        await hub.workspaces.remove_member(owner, "team", "bob")
        await _frames_until_closed(socket)
        assert socket.close_code == 4404


async def _frames_until_closed(socket: Any) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    with contextlib.suppress(websockets.ConnectionClosed):
        while True:
            frames.append(await recv(socket))
    return frames


async def test_a_viewer_watching_sees_knowledge_graph_changes(hub: Hub, base_url: str) -> None:
    owner = Principal.key("x", name="x", workspace="default", role=Role.OWNER)
    viewer = await hub.keys.create(owner, "default", "graph watcher", "viewer")
    async with websockets.connect(ws_url(base_url, token=viewer.token)) as socket:
        await socket.send(json.dumps({"type": "hello"}))
        await recv_until(socket, "welcome")
        await hub.graph.create_entities(owner, "default", [NewEntity("Ada", "person")])
        frame = await recv_until(socket, "event")

    assert frame["event"]["type"] == "entity.created"
    assert frame["event"]["subject"] == "graph/entity/Ada"


async def test_a_viewer_watching_sees_insights_recorded_and_rated(hub: Hub, base_url: str) -> None:
    owner = Principal.key("x", name="x", workspace="default", role=Role.OWNER)
    viewer = await hub.keys.create(owner, "default", "insight watcher", "viewer")
    async with websockets.connect(ws_url(base_url, token=viewer.token)) as socket:
        await socket.send(json.dumps({"type": "hello"}))
        await recv_until(socket, "welcome")
        recorded = await hub.insights.record(
            owner, "default", NewInsight("pitfall", "Mind the WAL", "Readers block without it.")
        )
        await hub.insights.feedback(owner, "default", recorded.insight.id, "accepted")
        first = await recv_until(socket, "event")
        second = await recv_until(socket, "event")

    assert first["event"]["type"] == "insight.recorded"
    assert first["event"]["subject"] == f"insight/{recorded.insight.id}"
    assert second["event"]["type"] == "insight.rated"
