"""The servers under test: our hub (one node, or two on PostgreSQL and Redis) and the two
reference y-websocket servers, installed from pinned files and started on free ports."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
from _common import BENCH_DIR, environment, serve
from rich.console import Console

from infinity_matrix.config import Settings
from infinity_matrix.security.credfile import read_credentials
from infinity_matrix.testing import services
from infinity_matrix.testing.cluster import Node, free_port
from syncbench.client import Target

OURS, PYCRDT, NODE = "ours", "pycrdt", "node"
SERVERS = (OURS, PYCRDT, NODE)
LABELS = {OURS: "imx (ours)", PYCRDT: "pycrdt-websocket 0.16.5", NODE: "@y/websocket-server 0.1.5"}

PEERS_DIR = BENCH_DIR / "peers"
NODE_DIR = PEERS_DIR / "node"
NODE_SERVER = NODE_DIR / "node_modules" / "@y" / "websocket-server" / "src" / "server.js"
PYCRDT_DIR = PEERS_DIR / "pycrdt"
PEERS_VENV = BENCH_DIR / ".peers-venv"
INSTALL_SECONDS = 600.0
START_SECONDS = 60.0
STOP_SECONDS = 20.0
LOGS = Path(tempfile.gettempdir()) / f"imx-bench-sync-{os.getpid()}"  # the peers' output


# Servers -----------------------------------------------------------------------------------------


def prepare(wanted: Sequence[str], console: Console) -> tuple[list[str], dict[str, str]]:
    """Install what the peers need; answers the servers that can run, and why others cannot."""
    ready, skipped = [], {}
    for server in wanted:
        try:
            if server == PYCRDT:
                peers_python()
            elif server == NODE:
                node_command()
        except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
            skipped[server] = str(exc)
            console.print(f"[yellow]{LABELS[server]} will not run: {exc}[/]")
            continue
        ready.append(server)
    return ready, skipped


def peers_python() -> Path:
    """The venv's python with the pinned pycrdt-websocket, (re)installed when the pins change."""
    requirements = PYCRDT_DIR / "requirements.txt"
    python = PEERS_VENV / "bin" / "python"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    stamp = PEERS_VENV / ".imx-requirements-sha256"
    if python.exists() and stamp.is_file() and stamp.read_text() == digest:
        return python
    # ``python -m venv`` from inside a venv builds on the base interpreter, not on this venv.
    _run([sys.executable, "-m", "venv", "--clear", str(PEERS_VENV)], BENCH_DIR)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run([*pip, "-r", str(requirements)], BENCH_DIR)
    stamp.write_text(digest)
    return python


def node_command() -> list[str]:
    """The stock server of @y/websocket-server, installed by ``npm ci`` from the lock."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise RuntimeError("node and npm are needed (Node.js 18 or newer)")
    digest = hashlib.sha256((NODE_DIR / "package-lock.json").read_bytes()).hexdigest()
    stamp = NODE_DIR / "node_modules" / ".imx-lock-sha256"
    if not (stamp.is_file() and stamp.read_text() == digest):
        _run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], NODE_DIR)
        stamp.write_text(digest)
    return [node, str(NODE_SERVER)]


def _run(command: list[str], cwd: Path) -> None:
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=INSTALL_SECONDS, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} failed:\n{result.stderr[-2000:]}")


def owner_key(home: Path) -> str:
    """The owner API key that a hub's first start wrote to ``credentials.json`` in ``home``."""
    path = Settings(home=home).credentials_file
    key = read_credentials(path).get("api_key")
    if not isinstance(key, str):
        raise RuntimeError(f"no api_key in {path}")
    return key


OURS_PREFIX = "/api/v1/workspaces/default/yjs/"


@asynccontextmanager
async def ours(profile_to: Path | None = None) -> AsyncIterator[Target]:
    """``imx serve`` on SQLite in a temporary home (or, profiled, the bench's uvicorn server)."""
    async with environment("sqlite") as env:
        if profile_to is not None:
            with serve(env, profile_to=profile_to) as server:
                port = int(server.url.rsplit(":", 1)[1])
                pid = server.process.pid
                yield Target(OURS, port, (pid,), OURS_PREFIX, owner_key(env.home), server.profile)
            return
        node = Node("ours", env.home, env.variables())
        node.start()
        try:
            process = node.process
            assert process is not None
            token = owner_key(env.home)
            yield Target(
                OURS, node.port, (process.pid,), OURS_PREFIX, token, exited=_exit_of(process)
            )
        finally:
            node.stop()


@asynccontextmanager
async def ours_cluster() -> AsyncIterator[tuple[Target, Target]]:
    """Two ``imx serve`` nodes on a scratch PostgreSQL database and Redis, under a new prefix."""
    if not services.reachable("redis"):
        raise RuntimeError("Redis is not reachable at 127.0.0.1:6379")
    prefix = f"imxbench-{secrets.token_hex(4)}"
    async with environment("postgres") as env:
        variables = {
            **env.variables(),
            "IMX_REDIS_URL": services.REDIS_URL,
            "IMX_REDIS_PREFIX": prefix,
        }
        nodes = [Node(name, env.home / name, variables) for name in ("a", "b")]
        try:
            for node in nodes:  # one at a time: the first sets up the database
                node.start()
            token = owner_key(nodes[0].home)
            a, b = (
                Target(OURS, n.port, (n.process.pid,), OURS_PREFIX, token)
                for n in nodes
                if n.process is not None
            )
            yield a, b
        finally:
            for node in nodes:
                node.stop()
            await _drop_redis_keys(prefix)


async def _drop_redis_keys(prefix: str) -> None:
    import redis.asyncio as redis

    client = redis.from_url(services.REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@asynccontextmanager
async def peer(server: str) -> AsyncIterator[Target]:
    """One of the reference servers, in memory, on a free port; its output goes to a log file
    in ``LOGS`` (kept after the run: a server that crashed says why there)."""
    port = free_port()
    if server == PYCRDT:
        command = [str(peers_python()), str(PYCRDT_DIR / "server.py"), "--port", str(port)]
        variables = {}
    else:
        command = node_command()
        variables = {"HOST": "127.0.0.1", "PORT": str(port)}
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{server}-{port}.log"
    process = _start(command, variables, log)
    try:
        _wait_until_up(port, process, log)
        yield Target(server, port, (process.pid,), "/", exited=_exit_of(process, log))
    finally:
        _stop(process)


def _exit_of(process: subprocess.Popen[bytes], log: Path | None = None) -> Callable[[], str | None]:
    def exited() -> str | None:
        if process.poll() is None:
            return None
        where = f", see {log}" if log is not None else ""
        return f"the server exited with status {process.returncode}{where}"

    return exited


def _start(command: list[str], variables: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            command, env={**os.environ, **variables}, stdout=out, stderr=subprocess.STDOUT
        )


def _wait_until_up(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling a child process's port: there is nothing to wait on instead
    raise RuntimeError(f"not up within {START_SECONDS:g} s: {log.read_text()[-2000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def single_node(server: str) -> AbstractAsyncContextManager[Target]:
    """Run ``server`` on one node (one process) for the block."""
    return ours() if server == OURS else peer(server)


class Fleet:
    """The single-node servers, started once and shared by the scenarios; one that crashed is
    started again before its next scenario."""

    def __init__(self, servers: Sequence[str]) -> None:
        self._servers = servers
        self._stacks: dict[str, AsyncExitStack] = {}
        self._targets: dict[str, Target] = {}

    async def __aenter__(self) -> Fleet:
        for server in self._servers:
            await self._start(server)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for stack in self._stacks.values():
            await stack.aclose()

    async def target(self, server: str) -> Target:
        if self._targets[server].exited() is not None:
            await self._stacks.pop(server).aclose()
            await self._start(server)
        return self._targets[server]

    async def _start(self, server: str) -> None:
        stack = AsyncExitStack()
        self._targets[server] = await stack.enter_async_context(single_node(server))
        self._stacks[server] = stack
