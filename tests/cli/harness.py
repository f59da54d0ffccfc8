"""CLI test helpers: a real hub served by uvicorn in a thread, and ``imx`` run in-process."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import structlog
import uvicorn
from typer.testing import CliRunner, Result

from infinity_matrix.cli.main import app
from infinity_matrix.config import Settings
from infinity_matrix.gateway.app import create_app
from infinity_matrix.hub import Hub
from infinity_matrix.security.passwords import PasswordHasher

SECRET_KEY = "k" * 64
START_TIMEOUT = 15.0


@dataclass(frozen=True)
class Imx:
    """Runs ``imx`` in-process with ``IMX_HOME`` (and the hub's signing secret) set."""

    home: Path

    @property
    def env(self) -> dict[str, str]:
        return {"IMX_HOME": str(self.home), "IMX_SECRET_KEY": SECRET_KEY}

    def __call__(
        self, *args: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> Result:
        return CliRunner().invoke(app, list(args), input=input, env={**self.env, **(env or {})})

    def ok(self, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        """Run and require exit status 0."""
        result = self(*args, input=input, env=env)
        assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
        return result

    def json(self, *args: str, env: dict[str, str] | None = None) -> Any:
        return json.loads(self.ok(*args, "--json", env=env).stdout)

    def seq(self, *args: str, input: str | None = None) -> int:
        """Run a write and answer the seq it printed (``seq 42``)."""
        words = self.ok(*args, input=input).stdout.split()
        assert words[:1] == ["seq"], words
        return int(words[1])

    def rows(self, *args: str) -> list[list[str]]:
        """The rows of a printed table, split on spaces (header and rule dropped)."""
        lines = [line for line in self.ok(*args).stdout.splitlines() if line.strip()]
        return [line.split() for line in lines[2:]]

    @property
    def credentials(self) -> dict[str, Any]:
        content: dict[str, Any] = json.loads((self.home / "credentials.json").read_text())
        return content


@dataclass(frozen=True)
class ServedHub:
    url: str
    settings: Settings
    imx: Imx

    def add_user(self, username: str, password: str, *, is_admin: bool = False) -> None:
        """Create a user with a cheap hash (``imx user create`` uses the real, slow one)."""

        async def create() -> None:
            hub = Hub.build(self.settings, hasher=fast_hasher())
            try:
                await hub.identity.create_user(username, password, is_admin=is_admin)
            finally:
                await hub.close()

        anyio.run(create)


def fast_hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost=64)


def hub_settings(home: Path, port: int) -> Settings:
    return Settings(
        home=home,
        port=port,
        secret_key=SECRET_KEY,
        rate_limit="100000/minute",
        login_rate_limit="1000/minute",
    )


@contextmanager
def serve_in_thread(home: Path) -> Iterator[ServedHub]:
    """The real app on 127.0.0.1:<free port>; it bootstraps credentials.json in ``home``.

    The hub's log goes to ``server.log`` next to ``home``: by default structlog prints to
    whatever ``sys.stdout`` is, and CliRunner swaps that for the output of the command under test.
    """
    with _structlog_to(home.parent / "server.log"), _served(home) as served:
        yield served


@contextmanager
def _served(home: Path) -> Iterator[ServedHub]:
    sock = _listening_socket()
    settings = hub_settings(home, sock.getsockname()[1])
    hub = Hub.build(settings, hasher=fast_hasher())
    config = uvicorn.Config(create_app(hub), log_config=None, access_log=False, lifespan="on")
    server = _ThreadServer(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        assert server.startup_done.wait(START_TIMEOUT), "the hub's startup did not finish"
        assert server.started, "the hub did not start"
        yield ServedHub(f"http://127.0.0.1:{settings.port}", settings, Imx(home))
    finally:
        server.should_exit = True
        thread.join(START_TIMEOUT)
        sock.close()


@contextmanager
def _structlog_to(path: Path) -> Iterator[None]:
    saved = structlog.get_config()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        structlog.reset_defaults()
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=out))
        try:
            yield
        finally:
            structlog.configure(**saved)


class _ThreadServer(uvicorn.Server):
    """A uvicorn server that says when its startup (the app's lifespan included) is over."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.startup_done = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            self.startup_done.set()


def _listening_socket() -> socket.socket:
    # Listening before the server starts: no port race, and early connections just queue.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock
