"""Several real ``imx serve`` nodes on one PostgreSQL and one Redis: nothing lost, in order."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from infinity_matrix.client.stream import StreamClient
from infinity_matrix.testing import services
from infinity_matrix.testing.cluster import Node, free_port

pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
TOKEN = "imx_clustertest_" + "c" * 40
TIMEOUT = 30.0


@pytest.fixture
def cluster_env(postgres_url: str, tmp_path: Path) -> dict[str, str]:
    services.require("redis")
    asyncio.run(services.truncate_all(postgres_url))
    return {
        "IMX_DATABASE_URL": postgres_url,
        "IMX_REDIS_URL": services.REDIS_URL,
        "IMX_REDIS_PREFIX": f"imxtest-{secrets.token_hex(4)}",
        "IMX_SECRET_KEY": "z" * 64,
        "IMX_BOOTSTRAP_TOKEN": TOKEN,
        "IMX_RATE_LIMIT": "1000000/minute",
        "IMX_LOG_LEVEL": "warning",
    }


@pytest.fixture
def nodes(cluster_env: dict[str, str], tmp_path: Path) -> Iterator[list[Node]]:
    started = [Node(name, tmp_path / name, cluster_env) for name in ("a", "b", "c")]
    try:
        for node in started:  # one at a time: the first bootstraps the database
            node.start()
        yield started
    finally:
        for node in started:
            node.stop()


async def put(client: httpx.AsyncClient, node: Node, key: str, text: str) -> int:
    response = await client.put(
        f"{node.url}/api/v1/workspaces/default/context/{key}",
        json={"text": text},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    response.raise_for_status()
    seq: int = response.json()["seq"]
    return seq


async def collect(stream: StreamClient, count: int) -> list[int]:
    seen: list[int] = []
    async with asyncio.timeout(TIMEOUT):
        async for frame in stream.frames():
            if frame["type"] == "event":
                seen.append(frame["seq"])
                if len(seen) == count:
                    return seen
    return seen


async def head_of(node: Node) -> tuple[str, int]:
    async with httpx.AsyncClient() as client:
        response = await client.get(
            f"{node.url}/api/v1/workspaces/default", headers={"Authorization": f"Bearer {TOKEN}"}
        )
    body = response.json()
    return body["epoch"], body["head"]


async def test_a_write_on_node_a_reaches_a_subscriber_on_node_c_in_order(nodes: list[Node]) -> None:
    a, _b, c = nodes
    epoch, head = await head_of(c)
    async with StreamClient(c.url, TOKEN, "default", after=head, epoch=epoch) as stream:
        async with httpx.AsyncClient() as client:
            seqs = [await put(client, a, f"notes/{n}", f"v{n}") for n in range(50)]
        assert await collect(stream, len(seqs)) == seqs == list(range(head + 1, head + 51))


async def test_kill_9_loses_no_acknowledged_write_and_clients_resume_elsewhere(
    nodes: list[Node],
) -> None:
    a, b, c = nodes
    epoch, head = await head_of(c)
    watcher = StreamClient(b.url, TOKEN, "default", after=head, epoch=epoch)
    acknowledged: list[int] = []
    async with watcher, httpx.AsyncClient() as client:

        async def write_forever(node: Node, tag: str) -> None:
            n = 0
            while True:
                try:
                    acknowledged.append(await put(client, node, f"{tag}/{n}", str(n)))
                except httpx.HTTPError:
                    await asyncio.sleep(0.01)  # bounded: the node is gone; the test stops us
                n += 1

        writers = [asyncio.create_task(write_forever(node, node.name)) for node in (a, b)]
        before = await collect(watcher, 20)
        b.kill()
        await asyncio.sleep(0.5)  # bounded: let writers on a keep going while b is dead
        for task in writers:
            task.cancel()
        await asyncio.gather(*writers, return_exceptions=True)
    # Resume on another node from where the dead node's client stopped.
    resumed = StreamClient(c.url, TOKEN, "default", after=before[-1], epoch=epoch)
    _epoch, final = await head_of(c)
    async with resumed:
        rest = await collect(resumed, final - before[-1])
    seen = before + rest
    assert seen == list(range(head + 1, final + 1))  # no gap, no duplicate
    assert set(acknowledged) <= set(seen)  # every acknowledged write is in the log


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[tuple[str, subprocess.Popen[bytes]]]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield f"redis://127.0.0.1:{port}/0", process
    process.kill()


async def test_delivery_continues_from_the_database_while_redis_restarts(
    cluster_env: dict[str, str],
    tmp_path: Path,
    own_redis: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, redis = own_redis
    env = {**cluster_env, "IMX_REDIS_URL": url}
    a = Node("a", tmp_path / "a", env)
    c = Node("c", tmp_path / "c", env)
    try:
        a.start()
        c.start()
        epoch, head = await head_of(c)
        stream = StreamClient(c.url, TOKEN, "default", after=head, epoch=epoch)
        async with stream, httpx.AsyncClient() as client:
            seqs = [await put(client, a, f"x/{n}", "1") for n in range(5)]
            redis.kill()
            redis.wait()
            seqs += [await put(client, a, f"y/{n}", "2") for n in range(5)]
            restarted = subprocess.Popen(
                [str(arg) for arg in redis.args],  # type: ignore[union-attr]
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                seqs += [await put(client, a, f"z/{n}", "3") for n in range(5)]
                assert await collect(stream, len(seqs)) == seqs
            finally:
                restarted.kill()
    finally:
        a.stop()
        c.stop()
