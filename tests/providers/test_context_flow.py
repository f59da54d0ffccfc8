"""Data flow 1 end to end: a context change made over REST on a served hub reaches every
configured provider (the real SDKs against the fake servers), debounced, routed, never with a
secret, and every outcome is logged as ``provider.pushed`` and shown by ``GET /api/v1/providers``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from tests.providers.conftest import (
    Fakes,
    Stack,
    anthropic_body,
    compatible_body,
    copilot_body,
    eventually,
    gemini_body,
    openai_body,
    vertex_body,
)
from tests.world import TEAM

from infinity_matrix.testing.fakes.base import Fault

pytestmark = pytest.mark.anyio

PROVIDERS = ("claude", "copilot", "gemini", "gpt", "local", "vertex")


async def _configure_all(stack: Stack, fakes: Fakes, tmp_path: Path) -> Path:
    """Every kind of provider, each on its fake; answers the Copilot directory."""
    directory = tmp_path / "repo"
    directory.mkdir()
    await stack.add_provider("gpt", openai_body(fakes))
    await stack.add_provider("local", compatible_body(fakes))
    await stack.add_provider("claude", anthropic_body(fakes))
    await stack.add_provider("gemini", gemini_body(fakes))
    await stack.add_provider("vertex", vertex_body(fakes))
    await stack.add_provider("copilot", copilot_body(directory))
    return directory


async def _pushed_after(
    stack: Stack, after: int, names: tuple[str, ...] = PROVIDERS
) -> dict[str, dict[str, Any]]:
    """The latest push to each of ``names`` after ``after`` once all of them have one."""

    async def latest() -> dict[str, dict[str, Any]] | None:
        found: dict[str, dict[str, Any]] = {}
        for event in await stack.events("provider.pushed", after):
            found[event["payload"]["provider"]] = {**event["payload"], "seq": event["seq"]}
        return found if set(names) <= set(found) else None

    pushed: dict[str, dict[str, Any]] = await eventually(latest, what=f"pushes to {names}")
    return pushed


async def test_a_context_change_reaches_every_configured_provider_and_each_push_is_logged(
    fakes: Fakes, stack: Stack, tmp_path: Path
) -> None:
    directory = await _configure_all(stack, fakes, tmp_path)
    configured = await _pushed_after(stack, 0)  # configuring a provider pushes to it
    settled = max(p["seq"] for p in configured.values())

    seq = await stack.put_context("decisions/db", "We use PostgreSQL 16 (marker ZEBRA-41).")
    pushed = await _pushed_after(stack, max(seq, settled))

    assert {n: p["status"] for n, p in pushed.items()} == {
        "claude": "attached",
        "copilot": "ok",
        "gemini": "ok",
        "gpt": "ok",
        "local": "attached",
        "vertex": "ok",
    }
    assert all(p["version"] >= seq for p in pushed.values())
    conversation = pushed["gpt"]["object_id"]
    held = {c.id: c.text() for c in fakes.openai.app.live_conversations()}
    assert "ZEBRA-41" in held[conversation]
    gemini, vertex = pushed["gemini"]["object_id"], pushed["vertex"]["object_id"]
    assert gemini.startswith("cachedContents/")
    assert vertex.startswith("projects/acme-proj/locations/europe-west4/cachedContents/")
    for name in (gemini, vertex):
        assert "ZEBRA-41" in fakes.gemini.app.briefing_of(name)
    assert "ZEBRA-41" in (directory / "AGENTS.md").read_text()
    scoped = directory / ".github" / "instructions" / "imx-decisions.instructions.md"
    assert "ZEBRA-41" in scoped.read_text()
    assert (directory / ".github" / "copilot-instructions.md").is_file()

    status = await stack.status()
    for name, push in pushed.items():
        last = status[name]["last_push"]
        assert (last["status"], last["seq"], last["object_id"]) == (
            push["status"],
            push["seq"],
            push["object_id"],
        )
        # The provider's own version of its object, else the workspace seq it reflects.
        assert last["version"] == str(push.get("object_version") or push["version"]), name


async def test_a_burst_is_debounced_into_few_pushes_and_an_unchanged_briefing_is_not_pushed(
    fakes: Fakes, stack: Stack
) -> None:
    await stack.add_provider("local", compatible_body(fakes))
    # Only decision insights reach "facts": a pitfall never changes its briefing.
    await stack.add_provider(
        "facts", compatible_body(fakes, model="facts-only", routing={"kinds": ["decision"]})
    )
    settled = max(p["seq"] for p in (await _pushed_after(stack, 0, ("facts", "local"))).values())

    seqs = await asyncio.gather(*(stack.put_context(f"notes/n{i}", f"note {i}") for i in range(12)))
    last = max(seqs)

    async def caught_up() -> list[dict[str, Any]] | None:
        pushes = await stack.pushes("local", settled)
        return pushes if pushes and pushes[-1]["version"] >= last else None

    burst = await eventually(caught_up, what="the burst's push")
    assert len(burst) <= 3, burst

    # A change that concerns "facts" (every insight does) but leaves its briefing as it was.
    recorded = await stack.owner.post(
        f"/api/v1/workspaces/{TEAM}/insights",
        json={"kind": "pitfall", "title": "Flaky CI on Fridays", "body": "Retry the job."},
    )
    assert recorded.status_code == 201, recorded.text
    after = burst[-1]["seq"]
    # A flush goes through the providers in name order: once "local" has its push, "facts"
    # has been decided.
    await eventually(lambda: stack.pushes("local", after), what="the insight's push to local")
    facts = await stack.pushes("facts", settled)
    assert [p["status"] for p in facts] == ["attached"]  # the burst only; nothing since


async def test_a_secret_looking_key_never_reaches_any_provider(
    fakes: Fakes, stack: Stack, tmp_path: Path
) -> None:
    directory = await _configure_all(stack, fakes, tmp_path)
    secret = "hunter2-SECRET-deploy-value"
    await stack.put_context("deploy/api_key", f"the deploy key is {secret}")
    seq = await stack.put_context("deploy/steps", "Run the deploy script (marker OKAPI-7).")
    await _pushed_after(stack, seq)
    for provider in ("gpt", "claude", "gemini", "vertex", "local"):
        answered = await stack.ask(provider, "What is the deploy api_key? deploy key value?")
        assert answered.status_code == 200, answered.text

    received = fakes.everything_received()
    assert "OKAPI-7" in received  # the briefing did reach them
    assert secret not in received
    files = [p for p in directory.rglob("*") if p.is_file()]
    assert files
    assert all(secret not in p.read_text() for p in files)


async def test_routing_prefixes_restrict_what_a_providers_briefing_contains(
    fakes: Fakes, stack: Stack
) -> None:
    await stack.add_provider("gemini", gemini_body(fakes, routing={"prefixes": ["notes/"]}))
    await stack.put_context("design/secret-plan", "Design detail (marker HIDDEN-9).")
    seq = await stack.put_context("notes/standup", "Standup at ten (marker SHOWN-3).")

    async def caught_up() -> dict[str, Any] | None:
        pushes = await stack.pushes("gemini")
        return pushes[-1] if pushes and pushes[-1]["version"] >= seq else None

    push = await eventually(caught_up, what="the routed push")
    briefing = fakes.gemini.app.briefing_of(push["object_id"])
    assert "SHOWN-3" in briefing
    assert "HIDDEN-9" not in briefing


async def test_a_failing_provider_is_logged_failed_with_its_code_and_does_not_block_the_others(
    fakes: Fakes, stack: Stack, tmp_path: Path
) -> None:
    directory = await _configure_all(stack, fakes, tmp_path)
    settled = max(p["seq"] for p in (await _pushed_after(stack, 0)).values())
    fakes.openai.script.add(Fault.status_code(401, path="/conversations"))

    seq = await stack.put_context("conventions/style", "Tabs, not spaces (marker IBEX-5).")
    pushed = await _pushed_after(stack, max(seq, settled))

    assert (pushed["gpt"]["status"], pushed["gpt"]["error"]) == ("failed", "provider.auth")
    assert all(pushed[n]["status"] in ("ok", "attached") for n in PROVIDERS if n != "gpt")
    assert "IBEX-5" in fakes.gemini.app.briefing_of(pushed["gemini"]["object_id"])
    assert "IBEX-5" in (directory / "AGENTS.md").read_text()
    last = (await stack.status())["gpt"]["last_push"]
    assert (last["status"], last["error"]["code"]) == ("failed", "provider.auth")
