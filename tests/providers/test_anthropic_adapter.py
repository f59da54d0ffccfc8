"""The Anthropic adapter, driving the official SDK against the fake Messages API over HTTP on
127.0.0.1: translation both ways, prompt caching of the briefing, structured output through a
forced tool, and every error class of the taxonomy, each from exactly one request."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import anthropic
import pytest

from infinity_matrix.core.providers.answers import ASK_SCHEMA
from infinity_matrix.core.providers.errors import (
    ContentFiltered,
    ContextTooLong,
    MalformedResponse,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderNotFound,
    ProviderOverloaded,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
    QuotaExhausted,
)
from infinity_matrix.core.providers.records import (
    ChatRequest,
    ContextBundle,
    Message,
    ProviderConfig,
)
from infinity_matrix.providers.anthropic import AnthropicAdapter, create_anthropic
from infinity_matrix.testing.fakes.anthropic import (
    anthropic_fault,
    fake_anthropic,
    refusal_fault,
)
from infinity_matrix.testing.fakes.base import FakeServer, Fault

pytestmark = pytest.mark.anyio

MODEL = "claude-fake-1"
BRIEFING = "Workspace demo. Conventions: tabs, not spaces. Pitfall: the cache is per node. " * 8
QUESTION = "How do we deploy the hub behind nginx?"


def _config(url: str, **changes: Any) -> ProviderConfig:
    fields: dict[str, Any] = {
        "workspace": "demo",
        "name": "claude",
        "kind": "anthropic",
        "model": MODEL,
        "base_url": url,
    }
    return ProviderConfig(**(fields | changes))


def _request(**changes: Any) -> ChatRequest:
    fields: dict[str, Any] = {
        "messages": (Message("user", QUESTION),),
        "context": ContextBundle("demo", BRIEFING, 42),
        "instructions": "Answer in one paragraph.",
        "max_output_tokens": 300,
        "temperature": 0.2,
    }
    return ChatRequest(**(fields | changes))


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    server = fake_anthropic()
    async with server.serving():
        yield server


@pytest.fixture
async def adapter(fake: FakeServer) -> AsyncIterator[AnthropicAdapter]:
    built = create_anthropic(_config(fake.url), "sk-ant-test")
    try:
        yield built
    finally:
        await built.aclose()


async def test_a_question_is_answered_with_text_usage_and_the_request_id(
    adapter: AnthropicAdapter,
) -> None:
    result = await adapter.complete(_request(), time_left=10)

    assert result.text == f"Fake Claude answer to: {QUESTION}"
    assert result.model == MODEL
    assert result.finish_reason == "end_turn"
    assert result.request_id == "req_fake_1"
    assert result.structured is None
    assert result.usage.input_tokens > 0
    assert result.usage.output_tokens > 0
    assert result.usage.cached_tokens == 0


async def test_the_briefing_is_the_cached_system_block_and_the_instructions_follow_it(
    adapter: AnthropicAdapter, fake: FakeServer
) -> None:
    await adapter.complete(_request(), time_left=10)

    (sent,) = fake.requests_to("/v1/messages")
    assert sent.method == "POST"
    assert sent.headers["authorization"] == "Bearer sk-ant-test"
    assert sent.json() == {
        "model": MODEL,
        "max_tokens": 300,
        "system": [
            {"type": "text", "text": BRIEFING, "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Answer in one paragraph."},
        ],
        "messages": [{"role": "user", "content": QUESTION}],
    }


async def test_a_request_without_context_or_instructions_sends_no_system_blocks(
    adapter: AnthropicAdapter, fake: FakeServer
) -> None:
    await adapter.complete(_request(context=None, instructions=None), time_left=10)

    assert "system" not in fake.requests_to("/v1/messages")[0].json()


async def test_the_temperature_is_not_sent_because_the_api_version_rejects_it(
    adapter: AnthropicAdapter, fake: FakeServer
) -> None:
    result = await adapter.complete(_request(temperature=1.0), time_left=10)

    assert result.finish_reason == "end_turn"
    assert "temperature" not in fake.requests_to("/v1/messages")[0].json()


async def test_the_second_call_with_the_same_briefing_reads_it_from_the_cache(
    adapter: AnthropicAdapter,
) -> None:
    first = await adapter.complete(_request(), time_left=10)
    second = await adapter.complete(
        _request(messages=(Message("user", "And how do we roll back?"),)), time_left=10
    )

    assert first.usage.cached_tokens == 0
    assert second.usage.cached_tokens > 0
    assert second.usage.cached_tokens < second.usage.input_tokens


async def test_a_changed_briefing_is_not_read_from_the_cache(adapter: AnthropicAdapter) -> None:
    await adapter.complete(_request(), time_left=10)
    changed = ContextBundle("demo", BRIEFING + "A new decision.", 43)

    result = await adapter.complete(_request(context=changed), time_left=10)

    assert result.usage.cached_tokens == 0


async def test_a_structured_answer_comes_from_a_forced_tool_call(
    adapter: AnthropicAdapter, fake: FakeServer
) -> None:
    result = await adapter.complete(
        _request(response_schema=ASK_SCHEMA, schema_name="answer_with_insights"), time_left=10
    )

    body = fake.requests_to("/v1/messages")[0].json()
    assert body["tools"][0]["name"] == "answer_with_insights"
    assert body["tools"][0]["input_schema"] == ASK_SCHEMA
    assert body["tool_choice"] == {"type": "tool", "name": "answer_with_insights"}
    assert result.finish_reason == "tool_use"
    assert result.structured is not None
    assert result.text == result.structured["answer"] == f"Fake Claude answer to: {QUESTION}"
    (insight,) = result.structured["insights"]
    assert insight["kind"] == "pitfall"
    assert QUESTION in insight["title"]
    assert insight["tags"] == ["deploy", "nginx"]


async def test_a_structured_answer_without_an_answer_field_is_its_json_as_text(
    adapter: AnthropicAdapter,
) -> None:
    schema = {"type": "object", "properties": {"verdict": {"type": "boolean"}}}

    result = await adapter.complete(_request(response_schema=schema), time_left=10)

    assert result.structured == {"verdict": True}
    assert result.text == '{"verdict":true}'


async def test_push_is_a_no_op_because_anthropic_keeps_no_context(
    adapter: AnthropicAdapter, fake: FakeServer
) -> None:
    assert await adapter.push(ContextBundle("demo", BRIEFING, 42), time_left=10) is None
    assert adapter.supports_structured_output is True
    assert fake.requests == []


def _date_in(seconds: int) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds), usegmt=True)


def _message_body(content: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": "msg_scripted",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": content,
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 0},
    }


ERROR_CASES = [
    pytest.param(
        anthropic_fault(429, "rate_limit_error", headers={"retry-after-ms": "1500"}),
        ProviderRateLimited,
        id="429-retry-after-ms",
    ),
    pytest.param(
        anthropic_fault(429, "rate_limit_error", headers={"retry-after": "7"}),
        ProviderRateLimited,
        id="429-retry-after-seconds",
    ),
    pytest.param(
        anthropic_fault(429, "rate_limit_error", headers={"retry-after": _date_in(30)}),
        ProviderRateLimited,
        id="429-retry-after-http-date",
    ),
    pytest.param(anthropic_fault(401, "authentication_error"), ProviderAuthError, id="401"),
    pytest.param(anthropic_fault(403, "permission_error"), ProviderAuthError, id="403"),
    pytest.param(
        anthropic_fault(
            400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"
        ),
        ContextTooLong,
        id="400-prompt-too-long",
    ),
    pytest.param(
        anthropic_fault(413, "request_too_large", "Request exceeds the maximum allowed size"),
        ContextTooLong,
        id="413",
    ),
    pytest.param(
        anthropic_fault(400, "invalid_request_error", "temperature: must be at most 1"),
        ProviderBadRequest,
        id="400-other",
    ),
    pytest.param(
        anthropic_fault(
            400,
            "invalid_request_error",
            "Your credit balance is too low to access the Anthropic API.",
        ),
        QuotaExhausted,
        id="400-credit-balance",
    ),
    pytest.param(
        anthropic_fault(
            429, "rate_limit_error", "You have reached your specified API usage limits"
        ),
        QuotaExhausted,
        id="429-usage-limit",
    ),
    pytest.param(anthropic_fault(404, "not_found_error"), ProviderNotFound, id="404"),
    pytest.param(anthropic_fault(529, "overloaded_error"), ProviderOverloaded, id="529"),
    pytest.param(anthropic_fault(500, "api_error"), ProviderServerError, id="500"),
    pytest.param(anthropic_fault(502, "api_error"), ProviderServerError, id="502"),
    pytest.param(anthropic_fault(503, "api_error"), ProviderServerError, id="503"),
    pytest.param(refusal_fault(), ContentFiltered, id="refusal"),
    pytest.param(Fault.truncated(), MalformedResponse, id="truncated"),
    pytest.param(Fault.non_json(), MalformedResponse, id="non-json"),
    pytest.param(Fault.cut(), MalformedResponse, id="cut"),
    pytest.param(Fault.status_code(200, _message_body([])), MalformedResponse, id="empty-content"),
    pytest.param(Fault.slow(1.0), ProviderTimeout, id="slow-past-time-left"),
]


@pytest.mark.parametrize(("fault", "expected"), ERROR_CASES)
async def test_each_provider_failure_is_one_class_of_the_taxonomy_after_exactly_one_request(
    adapter: AnthropicAdapter, fake: FakeServer, fault: Fault, expected: type[ProviderError]
) -> None:
    fake.script.add(fault)

    with pytest.raises(ProviderError) as caught:
        await adapter.complete(_request(), time_left=0.3 if fault.kind == "slow" else 10)

    assert type(caught.value) is expected
    assert caught.value.code == expected.code
    assert caught.value.provider == "claude"
    sent = fake.requests_to("/v1/messages")
    assert len(sent) == 1
    assert sent[0].headers["x-stainless-retry-count"] == "0"


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [({"retry-after-ms": "1500"}, 1.5), ({"retry-after": "7"}, 7.0)],
)
async def test_a_rate_limit_carries_the_wait_the_provider_asked_for(
    adapter: AnthropicAdapter, fake: FakeServer, headers: dict[str, str], seconds: float
) -> None:
    fake.script.add(anthropic_fault(429, "rate_limit_error", headers=headers | {"request-id": "r"}))

    with pytest.raises(ProviderRateLimited) as caught:
        await adapter.complete(_request(), time_left=10)

    assert caught.value.retry_after == seconds
    assert caught.value.status == 429
    assert caught.value.request_id == "r"
    assert caught.value.retryable is True


async def test_a_rate_limit_until_an_http_date_waits_until_then(
    adapter: AnthropicAdapter, fake: FakeServer
) -> None:
    fake.script.add(anthropic_fault(429, "rate_limit_error", headers={"retry-after": _date_in(30)}))

    with pytest.raises(ProviderRateLimited) as caught:
        await adapter.complete(_request(), time_left=10)

    assert caught.value.retry_after is not None
    assert 20 < caught.value.retry_after <= 30


async def test_a_provider_without_a_credential_is_refused_as_an_auth_error(
    fake: FakeServer,
) -> None:
    keyless = create_anthropic(_config(fake.url), None)
    try:
        with pytest.raises(ProviderAuthError):
            await keyless.complete(_request(), time_left=10)
    finally:
        await keyless.aclose()

    (sent,) = fake.requests_to("/v1/messages")
    assert "authorization" not in sent.headers
    assert "x-api-key" not in sent.headers


async def test_an_unknown_model_is_reported_as_not_found(fake: FakeServer) -> None:
    unknown = create_anthropic(_config(fake.url, model="claude-nonexistent"), "sk-ant-test")
    try:
        with pytest.raises(ProviderNotFound):
            await unknown.complete(_request(), time_left=10)
    finally:
        await unknown.aclose()


async def test_a_prompt_over_the_context_window_is_reported_as_too_long() -> None:
    small = fake_anthropic(context_window=200)
    async with small.serving() as url:
        adapter = create_anthropic(_config(url), "sk-ant-test")
        try:
            with pytest.raises(ContextTooLong):
                await adapter.complete(_request(), time_left=10)
        finally:
            await adapter.aclose()


async def test_an_unreachable_provider_is_a_server_error() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens on it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = create_anthropic(_config(f"http://127.0.0.1:{port}"), "sk-ant-test")
    try:
        with pytest.raises(ProviderServerError):
            await adapter.complete(_request(), time_left=10)
    finally:
        await adapter.aclose()


async def test_no_time_left_fails_as_a_timeout_without_a_request(
    adapter: AnthropicAdapter, fake: FakeServer
) -> None:
    with pytest.raises(ProviderTimeout):
        await adapter.complete(_request(), time_left=0)

    assert fake.requests == []


async def test_the_fake_speaks_the_models_api_and_rate_limit_headers_to_the_sdk(
    fake: FakeServer,
) -> None:
    async with anthropic.AsyncAnthropic(
        api_key="sk-ant-test", base_url=fake.url, max_retries=0
    ) as client:
        models = [m.id async for m in client.models.list()]
        raw = await client.messages.with_raw_response.create(
            model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "Hi"}]
        )
        message = await raw.parse()

    assert MODEL in models
    assert raw.headers["anthropic-ratelimit-requests-limit"] == "1000"
    assert int(raw.headers["anthropic-ratelimit-tokens-remaining"]) < 400_000
    assert message._request_id == raw.headers["request-id"]
    assert message.usage.input_tokens == 1
    assert message.usage.cache_read_input_tokens == 0
    assert message.content[0].type == "text"
