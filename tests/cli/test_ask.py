"""``imx ask`` and ``imx provider test|status|sync|demo`` against a real hub, the providers
being the local fake wire servers over real HTTP (and, for ``demo``, the console script)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from tests.cli.harness import Imx, ServedHub

from infinity_matrix.testing.fakes.base import FakeServer, Fault
from infinity_matrix.testing.fakes.openai import openai_app

IMX = str(Path(sys.executable).with_name("imx"))
TIMEOUT = 20.0
KEY = "sk-fake-cli-0123456789"
QUESTION = "How do we deploy the release branch?"


@contextmanager
def fake_in_thread(server: FakeServer) -> Iterator[str]:
    """Serve ``server`` on a free loopback port from a thread of its own (the CLI under test
    runs its own event loop); yields its URL."""
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    ready = threading.Event()
    urls: list[str] = []

    async def run() -> None:
        async with server.serving() as url:
            urls.append(url)
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    try:
        assert ready.wait(TIMEOUT), "the fake provider did not start"
        yield urls[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(TIMEOUT)
        loop.close()


@contextmanager
def fake_openai(api_key: str | None = KEY) -> Iterator[tuple[FakeServer, str]]:
    server = FakeServer(openai_app(api_key=api_key))
    with fake_in_thread(server) as url:
        yield server, url + "/v1"


def add_provider(
    imx: Imx, name: str, base_url: str, *, kind: str = "openai", key: str = KEY
) -> None:
    model = "claude-fake-1" if kind == "anthropic" else "gpt-fake"
    imx.ok(
        "provider", "add", name, "--kind", kind, "--model", model, "--base-url", base_url,
        "--api-key-env", "FAKE_KEY", "--max-retries", "0", env={"FAKE_KEY": key},
    )  # fmt: skip


def test_ask_prints_the_answer_and_records_the_insights_it_brought_back(imx: Imx) -> None:
    imx.seq("ctx", "put", "notes/deploy.md", "Deploys run from the release branch: make deploy.")
    with fake_openai() as (server, url):
        add_provider(imx, "gpt", url)
        printed = imx.ok("ask", "--provider", "gpt", QUESTION)
        answered = imx.json("ask", "--provider", "gpt", QUESTION)

    assert "You asked: " + QUESTION in printed.stdout
    assert "answered by gpt (gpt-fake)" in printed.stderr
    assert "recorded" in printed.stdout  # the insights table, under the answer
    assert answered["provider"] == "gpt"
    assert answered["answer"] == "You asked: " + QUESTION
    assert answered["usage"]["input_tokens"] > 0
    assert answered["retrieved"] >= 1
    [first] = answered["insights"]
    # the same question twice: the second answer's insight corroborates the first's
    assert first["outcome"] == "corroborated"
    assert first["insight"]["assistant"] == "gpt"
    recorded = imx.json("insight", "ls")
    assert [i["id"] for i in recorded] == [first["insight"]["id"]]
    calls = server.requests_to("/chat/completions") + server.requests_to("/responses")
    asked = [r for r in calls if QUESTION in r.body.decode()]
    assert len(asked) == 2
    assert "make deploy" in asked[0].body.decode()  # the retrieved context went along


def test_asking_an_unknown_provider_fails_with_its_code(imx: Imx) -> None:
    result = imx("ask", "--provider", "nobody", QUESTION)
    assert result.exit_code == 1
    assert "error: provider.unknown" in result.stderr


def test_provider_test_exits_0_when_the_provider_answers_and_1_with_the_code_when_not(
    imx: Imx,
) -> None:
    with fake_openai() as (_server, url):
        add_provider(imx, "good", url)
        add_provider(imx, "bad", url, key="sk-not-the-key")
        good = imx("provider", "test", "good")
        good_json = imx.json("provider", "test", "good")
        bad = imx("provider", "test", "bad")
        bad_json = imx("provider", "test", "bad", "--json")

    assert good.exit_code == 0, good.stderr
    assert "good: ok in" in good.stderr
    assert (good_json["ok"], good_json["model"]) == (True, "gpt-fake")
    assert bad.exit_code == 1
    assert "bad: failed: provider.auth" in bad.stderr
    assert bad_json.exit_code == 1
    assert '"code": "provider.auth"' in bad_json.stdout


def test_status_shows_the_breaker_and_what_each_provider_has_seen_and_sync_pushes_now(
    imx: Imx,
) -> None:
    with fake_openai() as (_server, url):
        add_provider(imx, "gpt", url)
        # Anthropic keeps no context on its side: the push is "attached", with no call made
        add_provider(imx, "claude", "http://127.0.0.1:9", kind="anthropic")
        imx.seq("ctx", "put", "notes/a.md", "Alpha")
        synced = imx.json("provider", "sync")
        only = imx.json("provider", "sync", "claude")
        table = imx.ok("provider", "sync").stdout
        status = {row["name"]: row for row in imx.json("provider", "status")}
        printed = imx.rows("provider", "status")
    unknown = imx("provider", "sync", "nobody")

    outcomes = {o["provider"]: o for o in synced["items"]}
    assert outcomes["claude"]["status"] == "attached"
    assert outcomes["claude"]["object_id"] is None
    assert outcomes["gpt"]["status"] == "ok"
    assert outcomes["gpt"]["object_id"]
    assert [o["provider"] for o in only["items"]] == ["claude"]
    assert "attached" in table
    assert status["gpt"]["health"]["breaker"]["state"] == "closed"
    assert status["gpt"]["last_push"]["status"] == "ok"
    assert status["gpt"]["last_push"]["object_id"] == outcomes["gpt"]["object_id"]
    assert status["claude"]["last_push"]["status"] == "attached"
    by_name = {row[1]: row for row in printed}
    assert by_name["gpt"][:5] == ["default", "gpt", "openai", "gpt-fake", "closed"]
    assert by_name["gpt"][-1] == "ok"
    assert by_name["claude"][-1] == "attached"
    assert unknown.exit_code == 1
    assert "provider.unknown" in unknown.stderr


def test_a_provider_failing_five_times_opens_its_breaker_and_status_shows_why(imx: Imx) -> None:
    with fake_openai() as (server, url):
        add_provider(imx, "gpt", url)
        # on the calls' path: the background pushes (to /conversations) take no fault
        server.script.add(*[Fault.status_code(500, path="/responses") for _ in range(5)])
        codes = [imx("provider", "test", "gpt").exit_code for _ in range(5)]
        refused = imx("provider", "test", "gpt")
        status = imx.json("provider", "status")
        printed = imx.rows("provider", "status")
        calls = len(server.requests_to("/responses"))

    assert codes == [1] * 5
    assert "provider.circuit_open" in refused.stderr
    assert calls == 5  # the open breaker refused the sixth without a request
    [row] = status
    breaker = row["health"]["breaker"]
    assert breaker["state"] == "open"
    assert breaker["cooldown_until"]
    assert breaker["reason"].startswith("server_error")
    assert row["health"]["healthy"] is False
    assert printed[0][4] == "open"


def test_status_with_no_providers_says_so(imx: Imx) -> None:
    assert imx.json("provider", "status") == []
    assert "no providers configured" in imx.ok("provider", "status").stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _read_until(stream: IO[str], needle: str, count: int) -> list[str]:
    """Lines of ``stream`` until ``count`` of them contain ``needle`` (the demo says what it
    configured, one line each); a deadline guards against a demo that never says it."""
    lines: list[str] = []
    deadline = time.monotonic() + TIMEOUT
    while sum(needle in line for line in lines) < count:
        assert time.monotonic() < deadline, lines
        line = stream.readline()
        assert line, f"the demo ended early: {lines}"
        lines.append(line)
    return lines


def test_the_demo_provider_serves_configures_and_answers_offline_until_interrupted(
    served: ServedHub, imx: Imx
) -> None:
    port = _free_port()
    demo = subprocess.Popen(
        [IMX, "provider", "demo", "--port", str(port)],
        env={**os.environ, **imx.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert demo.stderr is not None
        said = _read_until(demo.stderr, "configured ", 3)
        answered = imx.json("ask", "--provider", "demo-openai", "How do we deploy?")
        tested = imx.json("provider", "test", "demo-anthropic")
    finally:
        demo.send_signal(signal.SIGINT)
        code = demo.wait(TIMEOUT)

    assert "canned answers, not a model" in said[0]
    assert f"http://127.0.0.1:{port}" in said[0]
    names = {p["name"]: p for p in imx.json("provider", "ls")}
    assert set(names) == {"demo-openai", "demo-anthropic", "demo-gemini"}
    assert names["demo-openai"]["options"] == {"demo": True}
    assert answered["provider"] == "demo-openai"
    assert answered["answer"] == "You asked: How do we deploy?"
    [insight] = answered["insights"]
    assert insight["outcome"] == "recorded"
    assert [i["id"] for i in imx.json("insight", "ls")] == [insight["insight"]["id"]]
    assert tested["ok"] is True
    assert code == 0
    with socket.socket() as probe:  # nothing listens on the demo's port any more
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT
        probe.bind(("127.0.0.1", port))
