"""Provider health end to end: failures through a served hub open the provider's circuit
breaker, which ``GET /api/v1/providers`` and ``/metrics`` show; ``POST …/providers/{name}/test``
reports a provider's state; and two hubs on one PostgreSQL database and one Redis share the
providers' breakers and rpm limits."""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.providers.conftest import (
    Fakes,
    Stack,
    anthropic_body,
    compatible_body,
    copilot_body,
    e2e_settings,
    eventually,
    stack_on,
)
from tests.world import TEAM, started_hub

from infinity_matrix.testing import services
from infinity_matrix.testing.fakes.base import Fault
from infinity_matrix.testing.server import serving

pytestmark = pytest.mark.anyio

QUESTION = "What is the release checklist?"
CHAT = "/v1/chat/completions"
NOW = {"Retry-After": "0"}
RPM = 4
THRESHOLD = 5  # consecutive failures that open a breaker (BreakerPolicy's default)


def _samples(text: str, provider: str) -> dict[tuple[str, str], float]:
    """``/metrics`` samples of ``provider`` by (sample name, the label that tells them apart)."""
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("provider") != provider:
                continue
            other = {k: v for k, v in sample.labels.items() if k not in ("workspace", "provider")}
            found[(sample.name, ",".join(f"{k}={v}" for k, v in sorted(other.items())))] = (
                sample.value
            )
    return found


async def _open_breaker(stack: Stack, fakes: Fakes, name: str = "flaky") -> None:
    """One ask whose every attempt fails with a 500 (retried until the breaker opens)."""
    fakes.openai.script.add(*[Fault.status_code(500, headers=NOW, path=CHAT)] * THRESHOLD)
    failed = await stack.ask(name, QUESTION)
    assert (failed.status_code, failed.json()["code"]) == (502, "provider.server_error")


async def test_failures_open_the_breaker_which_status_and_metrics_show(
    fakes: Fakes, stack: Stack
) -> None:
    await stack.add_provider(
        "flaky", compatible_body(fakes, model="flaky", max_retries=THRESHOLD - 1)
    )
    before = time.time()
    await _open_breaker(stack, fakes)

    health = (await stack.status())["flaky"]["health"]
    breaker = health["breaker"]
    assert (health["healthy"], breaker["state"]) == (False, "open")
    assert breaker["consecutive_failures"] == THRESHOLD
    assert breaker["reason"].startswith("server_error")
    assert datetime.fromisoformat(breaker["cooldown_until"]) > datetime.fromtimestamp(before, UTC)

    refused = await stack.ask("flaky", QUESTION)
    assert (refused.status_code, refused.json()["code"]) == (503, "provider.circuit_open")
    assert int(refused.headers["Retry-After"]) >= 1
    assert len(fakes.openai.requests_to(CHAT)) == THRESHOLD  # the open breaker sent nothing

    metrics = await stack.owner.get("/metrics")
    samples = _samples(metrics.text, "flaky")
    assert samples[("imx_provider_requests_total", "outcome=failure")] == THRESHOLD
    assert samples[("imx_provider_requests_total", "outcome=skipped")] == 1
    assert samples[("imx_provider_failures_total", "kind=server_error")] == THRESHOLD
    assert samples[("imx_provider_retries_total", "")] == THRESHOLD - 1
    assert samples[("imx_provider_breaker_state", "")] == 2  # open


async def test_testing_a_provider_reports_ok_or_its_failures_code_and_pushes_copilot_files(
    fakes: Fakes, stack: Stack, tmp_path: Path
) -> None:
    directory = tmp_path / "repo"
    directory.mkdir()
    await stack.add_provider("local", compatible_body(fakes))
    await stack.add_provider("claude", anthropic_body(fakes))
    await stack.add_provider("copilot", copilot_body(directory))
    path = f"/api/v1/workspaces/{TEAM}/providers/{{}}/test"

    healthy = await stack.owner.post(path.format("local"))
    assert healthy.status_code == 200, healthy.text
    assert (healthy.json()["ok"], healthy.json()["attempts"]) == (True, 1)
    assert healthy.json()["latency_ms"] >= 0

    fakes.anthropic.script.add(Fault.status_code(401, path="/v1/messages"))
    failing = await stack.owner.post(path.format("claude"))
    assert failing.status_code == 200, failing.text
    assert (failing.json()["ok"], failing.json()["error"]["code"]) == (False, "provider.auth")

    for written in directory.rglob("*"):
        if written.is_file():
            written.unlink()
    copilot = await stack.owner.post(path.format("copilot"))
    assert copilot.status_code == 200, copilot.text
    assert (copilot.json()["ok"], copilot.json()["push"]["status"]) == (True, "ok")
    assert (directory / "AGENTS.md").is_file()

    viewer = await stack.clients["viewer"].post(path.format("local"))
    assert (viewer.status_code, viewer.json()["code"]) == (403, "auth.forbidden")


@contextlib.asynccontextmanager
async def _two_hubs(tmp_path: Path, postgres_url: str) -> AsyncIterator[tuple[Stack, Stack]]:
    """Two hubs on one PostgreSQL database and one Redis (a fresh key prefix), each served."""
    services.require("redis")
    await services.truncate_all(postgres_url)
    shared: dict[str, Any] = {
        "redis_url": services.REDIS_URL,
        "redis_prefix": f"imx-test-{secrets.token_hex(4)}",
    }
    a_settings = e2e_settings(tmp_path / "a", postgres_url, **shared)
    b_settings = e2e_settings(tmp_path / "b", postgres_url, **shared)
    async with (
        started_hub(a_settings) as a_hub,
        serving(a_hub) as a_url,
        started_hub(b_settings) as b_hub,
        serving(b_hub) as b_url,
    ):
        a = await stack_on(a_hub, a_url)
        b = await stack_on(b_hub, b_url, a.keys)
        try:
            yield a, b
        finally:
            for client in (*a.clients.values(), *b.clients.values()):
                await client.aclose()


@pytest.mark.postgres
@pytest.mark.redis
async def test_two_hubs_share_a_providers_rpm_limit_and_its_breaker(
    fakes: Fakes, tmp_path: Path, postgres_url: str
) -> None:
    async with _two_hubs(tmp_path, postgres_url) as (a, b):
        # Plain answers (no structured output): no insight, so no push follows an ask.
        limited = compatible_body(fakes, model="limited", rpm=RPM, options={"structured": False})
        await a.add_provider("limited", limited)
        await a.add_provider(
            "flaky", compatible_body(fakes, model="flaky", max_retries=THRESHOLD - 1)
        )
        # Configuring pushes to the provider; an "attached" push sends it nothing, so it is no
        # call and takes none of the limit.
        await eventually(lambda: a.pushes("limited"), what="the configuring push")

        codes = [(await hub.ask("limited", QUESTION)).status_code for hub in (a, b) * 3]
        admitted = RPM
        assert codes == [200] * admitted + [503] * (len(codes) - admitted)
        refused = await b.ask("limited", QUESTION)
        assert refused.json()["code"] == "provider.rate_limited"
        asked = [r for r in fakes.openai.requests_to(CHAT) if r.json()["model"] == "limited"]
        assert len(asked) == admitted
        for hub in (a, b):
            assert (await hub.status())["limited"]["health"]["remaining"]["rpm"] == 0

        await _open_breaker(a, fakes)
        opened = time.monotonic()

        async def open_on_b() -> bool:
            return bool((await b.status())["flaky"]["health"]["breaker"]["state"] == "open")

        await eventually(open_on_b, seconds=1.0, what="hub B to see hub A's breaker open")
        assert time.monotonic() - opened < 1.0
        refused = await b.ask("flaky", QUESTION)
        assert (refused.status_code, refused.json()["code"]) == (503, "provider.circuit_open")
