"""A real ``yjs`` 13 + ``y-websocket`` client in Node edits an entry with Python and REST writers.

The Node client (``node/client.mjs``), the Python client and a REST writer change the same entry
at once; all must end with the same value as the server, and the Node client's whole state must
merge into the server's without changing it (same content, same state vector).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import httpx
import pytest
from tests.world import bearer, bootstrap_key
from tests.yjsclient import TIMEOUT, YClient, clocks, synced, yjs_url

from infinity_matrix.core.sync.documents import Document
from infinity_matrix.hub import Hub
from infinity_matrix.testing.server import serving

pytestmark = pytest.mark.anyio
WS = "default"


class NodeClient:
    """The Node process, spoken to in JSON lines (see ``client.mjs``)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def send(self, command: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        await self.process.stdin.drain()

    async def expect(self, event: str) -> dict[str, Any]:
        assert self.process.stdout is not None
        async with asyncio.timeout(TIMEOUT):
            line = await self.process.stdout.readline()
        if not line:
            assert self.process.stderr is not None
            raise AssertionError((await self.process.stderr.read()).decode())
        message: dict[str, Any] = json.loads(line)
        assert message["event"] == event, message
        return message

    async def edit(self, *edits: dict[str, Any]) -> list[bytes]:
        """Make the edits in one transaction; answers the updates it sent."""
        await self.send({"cmd": "edit", "edits": list(edits)})
        return [base64.b64decode(u) for u in (await self.expect("edited"))["updates"]]


@contextlib.asynccontextmanager
async def node(command: list[str], config: dict[str, str]) -> AsyncIterator[NodeClient]:
    process = await asyncio.create_subprocess_exec(
        *command,
        json.dumps(config),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        client = NodeClient(process)
        await client.expect("synced")
        yield client
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


@pytest.fixture
async def base_url(hub: Hub) -> AsyncIterator[str]:
    async with serving(hub) as url:
        yield url


def node_config(base_url: str, key: str, token: str, kind: str) -> dict[str, str]:
    server = base_url.replace("http://", "ws://") + f"/api/v1/workspaces/{WS}/yjs"
    return {"server": server, "key": key, "token": token, "kind": kind, "name": "node"}


async def test_node_python_and_rest_writers_of_a_text_entry_converge(
    hub: Hub, base_url: str, node_client: list[str]
) -> None:
    token, key = bootstrap_key(hub), "notes/interop.md"
    async with httpx.AsyncClient(base_url=base_url, headers=bearer(token)) as rest:
        path = f"/api/v1/workspaces/{WS}/context/{key}"
        assert (await rest.put(path, json={"text": "The quick brown fox"})).status_code == 200
        async with (
            synced(yjs_url(base_url, WS, key, token)) as py,
            node(node_client, node_config(base_url, key, token, "text")) as js,
        ):
            js_updates, py_updates, _ = await asyncio.gather(
                js.edit({"insert": [0, "[node] "]}, {"append": " jumps"}),
                py.edit(lambda c: c.text.insert(0, "[py] ")),
                _ok(rest.put(path, json={"text": "The quick brown fox!"})),
            )
            await py.committed(js_updates + py_updates)
            final = (await rest.get(path)).json()["text"]
            await py.until(lambda: str(py.text) == final)
            # The Node client's awareness (its user name) reached the Python client.
            await py.until(lambda: _names(py) == {"node"})
            await js.send({"cmd": "finish", "text": final})
            result = await js.expect("final")
            await _check_converged(hub, key, py, result)
            assert result["text"] == str(py.text) == final


async def test_node_python_and_rest_writers_of_a_json_entry_converge(
    hub: Hub, base_url: str, node_client: list[str]
) -> None:
    token, key = bootstrap_key(hub), "cfg/interop"
    async with httpx.AsyncClient(base_url=base_url, headers=bearer(token)) as rest:
        path = f"/api/v1/workspaces/{WS}/context/{key}"
        async with (
            synced(yjs_url(base_url, WS, key, token, kind="json")) as py,
            node(node_client, node_config(base_url, key, token, "json")) as js,
        ):
            js_updates, py_updates, _ = await asyncio.gather(
                js.edit({"set": ["node", {"ok": True}]}, {"set": ["shared", "node"]}),
                py.edit(lambda c: c.data.update({"python": 1, "shared": "python"})),
                _ok(rest.put(path, json={"data": {"rest": [1, 2], "shared": "rest"}})),
            )
            await py.committed(js_updates + py_updates)
            final = (await rest.get(path)).json()
            assert final["kind"] == "json"
            await py.until(lambda: py.data.to_py() == final["data"])
            await js.send({"cmd": "finish", "data": final["data"]})
            result = await js.expect("final")
            await _check_converged(hub, key, py, result)
            assert result["data"] == Document(py.state()).data == final["data"]


async def _check_converged(hub: Hub, key: str, py: YClient, result: dict[str, Any]) -> None:
    entry = await hub.store.get_entry(WS, key)
    assert entry is not None
    server = Document(entry.state)
    node_state = base64.b64decode(result["update"])
    vector = clocks(server.state_vector())
    assert clocks(base64.b64decode(result["stateVector"])) == vector
    assert clocks(py.doc.get_state()) == vector
    merged = Document(entry.state)
    merged.apply(node_state)  # the Node client's whole state adds nothing to the server's
    assert (merged.text, merged.data) == (server.text, server.data)
    assert clocks(merged.state_vector()) == vector
    assert (Document(node_state).text, Document(node_state).data) == (server.text, server.data)


async def _ok(response: Awaitable[httpx.Response]) -> None:
    answer = await response
    assert answer.status_code == 200, answer.text


def _names(client: YClient) -> set[str]:
    states = {e.client: e.state for update in client.awareness for e in update}
    users = (json.loads(state).get("user") for state in states.values() if state != "null")
    return {user["name"] for user in users if user}
