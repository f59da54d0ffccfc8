"""Data flow 2 end to end: ``POST /api/v1/workspaces/{ws}/ask`` on a served hub asks a provider
(the real SDKs against the fake servers) with the shared context; the insight in its answer is
recorded with the provider as its source and reaches the next provider's briefing. Provider
failures come back with stable codes and statuses, and the fakes' request logs prove the
retries."""

from __future__ import annotations

from typing import Any

import pytest
from tests.providers.conftest import (
    Fakes,
    Stack,
    anthropic_body,
    compatible_body,
    eventually,
    gemini_body,
    openai_body,
)
from tests.world import TEAM

from infinity_matrix.testing.fakes.base import Fault

pytestmark = pytest.mark.anyio

QUESTION = "How do we roll back a failed deploy?"
CHAT = "/v1/chat/completions"
NOW = {"Retry-After": "0"}  # retry at once: these tests wait for nothing


def _briefing_block(request: dict[str, Any]) -> str:
    """The text of the system block an Anthropic request carries the briefing in."""
    blocks = [b["text"] for b in request["system"] if b["text"].startswith("# Project briefing")]
    assert len(blocks) == 1, request["system"]
    text: str = blocks[0]
    return text


async def test_an_answers_insight_is_recorded_and_reaches_the_next_providers_briefing(
    fakes: Fakes, stack: Stack
) -> None:
    await stack.add_provider("gpt", openai_body(fakes))
    await stack.add_provider("claude", anthropic_body(fakes))
    await stack.add_provider("gemini", gemini_body(fakes))
    await stack.put_context("runbooks/deploy", "Deploys go through the release pipeline.")

    answered = await stack.ask("gpt", QUESTION)
    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert {"answer", "insights", "provider", "usage"} <= set(body)
    assert body["provider"] == "gpt"
    assert body["fallbacks"] == []
    assert QUESTION in body["answer"]
    assert body["usage"]["input_tokens"] > 0
    sent = fakes.openai.requests_to("/v1/responses")[-1].json()
    assert sent["text"]["format"]["type"] == "json_schema"  # structured output asked for
    [recorded] = body["insights"]
    insight = recorded["insight"]
    title = insight["title"]

    read = await stack.owner.get(f"/api/v1/workspaces/{TEAM}/insights/{insight['id']}")
    assert read.status_code == 200, read.text
    assert (read.json()["assistant"], read.json()["title"]) == ("gpt", title)

    [asked] = await stack.events("provider.asked")
    assert asked["payload"]["provider"] == "gpt"
    assert asked["payload"]["insights"] == [{"id": insight["id"], "outcome": recorded["outcome"]}]
    assert asked["seq"] == body["seq"]

    # The context flow takes the insight to the providers that keep the context (Gemini) …
    async def cached() -> bool:
        held = fakes.gemini.app.cached_contents
        return any(title in fakes.gemini.app.briefing_of(name) for name in held)

    await eventually(cached, what="the insight in Gemini's cached content")
    # … and the next provider asked is briefed with it.
    again = await stack.ask("claude", "What should I check before deploying?")
    assert again.status_code == 200, again.text
    assert again.json()["provider"] == "claude"
    request = fakes.anthropic.requests_to("/v1/messages")[-1].json()
    assert title in _briefing_block(request)
    assert "from gpt" in _briefing_block(request)


async def test_when_the_primary_keeps_failing_the_fallback_answers(
    fakes: Fakes, stack: Stack
) -> None:
    await stack.add_provider("claude", anthropic_body(fakes))
    await stack.add_provider("local", compatible_body(fakes, max_retries=1, fallbacks=["claude"]))
    fakes.openai.script.add(*[Fault.status_code(503, headers=NOW, path=CHAT)] * 2)

    answered = await stack.ask("local", QUESTION)

    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert body["provider"] == "claude"
    assert [f["provider"] for f in body["fallbacks"]] == ["local"]
    assert len(fakes.openai.requests_to(CHAT)) == 2  # the first try and its one retry
    assert len(fakes.anthropic.requests_to("/v1/messages")) == 1
    [asked] = await stack.events("provider.asked")
    assert asked["payload"]["fallbacks"] == ["local"]


async def test_n_retries_are_one_plus_n_requests_through_the_whole_hub(
    fakes: Fakes, stack: Stack
) -> None:
    await stack.add_provider("local", compatible_body(fakes, max_retries=3))
    fakes.openai.script.add(*[Fault.status_code(500, headers=NOW, path=CHAT)] * 3)

    answered = await stack.ask("local", QUESTION)

    assert answered.status_code == 200, answered.text
    assert answered.json()["provider"] == "local"
    assert len(fakes.openai.requests_to(CHAT)) == 1 + 3


async def test_a_bad_ask_is_refused_with_its_code_before_any_provider_is_called(
    fakes: Fakes, stack: Stack
) -> None:
    await stack.add_provider("local", compatible_body(fakes))
    unknown = await stack.ask("nobody", QUESTION)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "provider.unknown")
    viewer = await stack.ask("local", QUESTION, role="viewer")
    assert (viewer.status_code, viewer.json()["code"]) == (403, "auth.forbidden")
    empty = await stack.ask("local", "   ")
    assert (empty.status_code, empty.json()["code"]) == (422, "ask.invalid_question")
    assert fakes.openai.requests_to(CHAT) == []
    assert await stack.events("provider.asked") == []


async def test_provider_failures_are_answered_with_their_status_and_stable_code(
    fakes: Fakes, stack: Stack
) -> None:
    await stack.add_provider("local", compatible_body(fakes))
    await stack.add_provider("slow", compatible_body(fakes, model="slow", timeout_seconds=0.3))

    fakes.openai.script.add(Fault.status_code(401, path=CHAT))
    refused = await stack.ask("local", QUESTION)
    assert (refused.status_code, refused.json()["code"]) == (502, "provider.auth")

    fakes.openai.script.add(Fault.status_code(429, headers={"Retry-After": "7"}, path=CHAT))
    limited = await stack.ask("local", QUESTION)
    assert (limited.status_code, limited.json()["code"]) == (503, "provider.rate_limited")
    assert limited.headers["Retry-After"] == "7"

    fakes.openai.script.add(Fault.slow(1.5, path=CHAT))
    late = await stack.ask("slow", QUESTION)
    assert (late.status_code, late.json()["code"]) == (504, "provider.timeout")

    assert len(fakes.openai.requests_to(CHAT)) == 3  # max_retries 0: one request each
    assert await stack.events("provider.asked") == []
