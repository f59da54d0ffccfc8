"""The OpenAI-compatible adapter (Ollama, vLLM, LM Studio): the real SDK against the fake OpenAI
server with the habits of a local model server (no key, no rate-limit headers, no /v1 given)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from infinity_matrix.core.providers.errors import ProviderError
from infinity_matrix.core.providers.records import (
    ChatRequest,
    ContextBundle,
    Message,
    ProviderConfig,
)
from infinity_matrix.errors import InvalidInput
from infinity_matrix.providers.openai import OpenAIAdapter, create_openai_compatible
from infinity_matrix.testing.fakes.base import Fault
from infinity_matrix.testing.fakes.openai import FakeOpenAIServer, fake_openai

pytestmark = pytest.mark.anyio

BRIEFING = ContextBundle(workspace="acme", text="The build uses make.", version=3)
QUESTION = ChatRequest(messages=(Message("user", "How do I build?"),), context=BRIEFING)
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
    "additionalProperties": False,
}


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAIServer]:
    server = fake_openai(rate_limit_headers=False)
    async with server.serving():
        yield server


def config(url: str | None, **options: Any) -> ProviderConfig:
    return ProviderConfig(
        workspace="acme", name="local", kind="openai-compatible", model="llama3.2",
        base_url=url, options=options,
    )  # fmt: skip


@pytest.fixture
async def adapter(server: FakeOpenAIServer) -> AsyncIterator[OpenAIAdapter]:
    # The server's bare address, as a user would give it: the adapter adds /v1.
    adapter = create_openai_compatible(config(server.url), None)
    yield adapter
    await adapter.aclose()


def chat_answer(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-local", "object": "chat.completion", "created": 1, "model": "llama3.2",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
    }  # fmt: skip


async def test_a_local_server_answers_without_a_key_and_without_rate_limit_headers(
    server: FakeOpenAIServer, adapter: OpenAIAdapter
) -> None:
    result = await adapter.complete(QUESTION, time_left=5)

    assert (result.text, result.model) == ("You asked: How do I build?", "llama3.2")
    assert adapter.last_limits == {}
    [sent] = server.requests
    assert sent.path == "/v1/chat/completions"  # Chat Completions by default
    assert sent.headers["authorization"] == "Bearer no-key"  # a placeholder, never empty
    assert sent.json()["messages"][0] == {"role": "system", "content": BRIEFING.text}
    assert sent.json()["max_tokens"] == 1024  # the parameter local servers understand


async def test_a_key_when_given_is_sent(server: FakeOpenAIServer) -> None:
    adapter = create_openai_compatible(config(server.url), "local-secret")
    try:
        await adapter.complete(QUESTION, time_left=5)
    finally:
        await adapter.aclose()

    assert server.requests[0].headers["authorization"] == "Bearer local-secret"


async def test_rate_limit_headers_are_recorded_when_the_server_sends_them(
    server: FakeOpenAIServer, adapter: OpenAIAdapter
) -> None:
    server.app.rate_limit_headers = True
    await adapter.complete(QUESTION, time_left=5)

    assert set(adapter.last_limits) == {
        "remaining_requests", "remaining_tokens", "limit_requests", "limit_tokens"
    }  # fmt: skip
    server.app.rate_limit_headers = False
    before = dict(adapter.last_limits)
    await adapter.complete(QUESTION, time_left=5)
    assert adapter.last_limits == before  # the last values seen stay


async def test_a_structured_answer_is_asked_for_and_parsed(
    server: FakeOpenAIServer, adapter: OpenAIAdapter
) -> None:
    request = ChatRequest(messages=QUESTION.messages, response_schema=SCHEMA)
    result = await adapter.complete(request, time_left=5)

    assert adapter.supports_structured_output
    assert result.structured == {"answer": "You asked: How do I build?"}
    assert server.requests[0].json()["response_format"]["type"] == "json_schema"


async def test_json_from_a_server_that_ignores_the_schema_is_still_used(
    server: FakeOpenAIServer, adapter: OpenAIAdapter
) -> None:
    server.script.add(Fault.status_code(200, chat_answer('```json\n{"answer": "make"}\n```')))
    request = ChatRequest(messages=QUESTION.messages, response_schema=SCHEMA)

    result = await adapter.complete(request, time_left=5)

    assert result.structured == {"answer": "make"}


async def test_prose_from_a_server_that_ignores_the_schema_is_kept_as_text(
    server: FakeOpenAIServer, adapter: OpenAIAdapter
) -> None:
    server.script.add(Fault.status_code(200, chat_answer("Run make.")))
    request = ChatRequest(messages=QUESTION.messages, response_schema=SCHEMA)

    result = await adapter.complete(request, time_left=5)

    assert (result.text, result.structured, result.usage.total_tokens) == ("Run make.", None, 0)
    assert result.request_id is None  # the server sent none


@pytest.mark.parametrize("off", [False, "false"])
async def test_with_structured_off_no_schema_is_sent(server: FakeOpenAIServer, off: object) -> None:
    adapter = create_openai_compatible(config(server.url, structured=off), None)
    try:
        result = await adapter.complete(
            ChatRequest(messages=QUESTION.messages, response_schema=SCHEMA), time_left=5
        )
    finally:
        await adapter.aclose()

    assert not adapter.supports_structured_output
    assert "response_format" not in server.requests[0].json()
    assert result.structured is None


async def test_the_context_flow_attaches_the_briefing_at_call_time_and_pushes_nothing(
    server: FakeOpenAIServer, adapter: OpenAIAdapter
) -> None:
    assert await adapter.push(BRIEFING, time_left=5) is None
    assert server.requests == []


async def test_a_server_error_without_headers_is_retryable_with_no_retry_after(
    server: FakeOpenAIServer, adapter: OpenAIAdapter
) -> None:
    server.script.add(Fault.status_code(503, {"error": "model is loading"}))

    with pytest.raises(ProviderError) as caught:
        await adapter.complete(QUESTION, time_left=5)

    assert (caught.value.code, caught.value.retry_after) == ("provider.server_error", None)
    assert caught.value.retryable
    assert len(server.requests) == 1


async def test_an_unreachable_server_is_a_retryable_server_error() -> None:
    adapter = create_openai_compatible(config("http://127.0.0.1:9"), None)
    try:
        with pytest.raises(ProviderError) as caught:
            await adapter.complete(QUESTION, time_left=5)
    finally:
        await adapter.aclose()

    assert caught.value.code == "provider.server_error"
    assert caught.value.retryable


async def test_the_responses_api_can_be_chosen(server: FakeOpenAIServer) -> None:
    adapter = create_openai_compatible(config(server.url + "/v1", api="responses"), None)
    try:
        result = await adapter.complete(QUESTION, time_left=5)
    finally:
        await adapter.aclose()

    assert result.text == "You asked: How do I build?"
    assert server.requests[0].path == "/v1/responses"


def test_a_base_url_is_required() -> None:
    with pytest.raises(InvalidInput) as caught:
        create_openai_compatible(config(None), None)
    assert caught.value.code == "provider.base_url_required"
