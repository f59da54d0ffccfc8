"""The OpenAI adapter: the real SDK against the fake OpenAI server over HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from infinity_matrix.core.providers.answers import ASK_SCHEMA
from infinity_matrix.core.providers.errors import ProviderError
from infinity_matrix.core.providers.ports import AdapterFactory
from infinity_matrix.core.providers.records import (
    ChatRequest,
    ContextBundle,
    Message,
    ProviderConfig,
    Usage,
)
from infinity_matrix.errors import InvalidInput
from infinity_matrix.providers.openai import (
    OpenAIAdapter,
    api_base_url,
    create_openai,
    create_openai_compatible,
)
from infinity_matrix.testing.fakes.base import Fault
from infinity_matrix.testing.fakes.openai import FakeOpenAIServer, fake_openai

pytestmark = pytest.mark.anyio

# Both kinds' factories are AdapterFactory callables (checked by mypy).
FACTORIES: tuple[AdapterFactory, ...] = (create_openai, create_openai_compatible)

KEY = "sk-test-0123456789abcdef"
BRIEFING = ContextBundle(workspace="acme", text="Conventions: tabs, not spaces.", version=7)
QUESTION = ChatRequest(messages=(Message("user", "How do we indent?"),), context=BRIEFING)
APIS = ["responses", "chat"]
PATHS = {"responses": "/v1/responses", "chat": "/v1/chat/completions"}


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAIServer]:
    server = fake_openai()
    async with server.serving():
        yield server


def config(url: str, **options: Any) -> ProviderConfig:
    return ProviderConfig(
        workspace="acme", name="gpt", kind="openai", model="gpt-4o-mini", base_url=url,
        options=options,
    )  # fmt: skip


@pytest.fixture
async def adapter(server: FakeOpenAIServer) -> AsyncIterator[OpenAIAdapter]:
    adapter = create_openai(config(server.url), KEY)
    yield adapter
    await adapter.aclose()


async def failure(adapter: OpenAIAdapter, request: ChatRequest = QUESTION) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await adapter.complete(request, time_left=5)
    return caught.value


# -- answers ---------------------------------------------------------------------------------


async def test_a_responses_call_carries_the_briefing_as_instructions_and_answers_with_usage(
    server: FakeOpenAIServer, adapter: OpenAIAdapter
) -> None:
    result = await adapter.complete(QUESTION, time_left=5)

    assert (result.text, result.model, result.finish_reason) == (
        "You asked: How do we indent?", "gpt-4o-mini", "stop"
    )  # fmt: skip
    assert result.usage.input_tokens > 0
    assert result.usage.output_tokens > 0
    assert result.request_id is not None
    assert result.request_id.startswith("req_")
    assert result.structured is None
    [sent] = server.requests
    assert sent.path == "/v1/responses"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    body = sent.json()
    assert body["instructions"] == BRIEFING.text
    assert body["input"] == [{"role": "user", "content": "How do we indent?"}]
    assert (body["model"], body["max_output_tokens"], body["store"]) == ("gpt-4o-mini", 1024, False)


async def test_a_chat_call_carries_the_briefing_then_the_instructions_as_the_system_message(
    server: FakeOpenAIServer,
) -> None:
    adapter = create_openai(config(server.url, api="chat"), KEY)
    request = ChatRequest(
        messages=(Message("user", "Hi"), Message("assistant", "Hello"), Message("user", "Tabs?")),
        context=BRIEFING,
        instructions="Answer briefly.",
        temperature=0.2,
        max_output_tokens=50,
    )
    try:
        result = await adapter.complete(request, time_left=5)
    finally:
        await adapter.aclose()

    assert result.text == "You asked: Tabs?"
    assert result.finish_reason == "stop"
    [sent] = server.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.json()["messages"] == [
        {"role": "system", "content": f"{BRIEFING.text}\n\nAnswer briefly."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Tabs?"},
    ]
    assert sent.json()["max_completion_tokens"] == 50
    assert sent.json()["temperature"] == 0.2


@pytest.mark.parametrize("api", APIS)
async def test_a_structured_answer_is_asked_for_by_schema_and_parsed(
    server: FakeOpenAIServer, api: str
) -> None:
    adapter = create_openai(config(server.url, api=api), KEY)
    request = ChatRequest(
        messages=QUESTION.messages, response_schema=ASK_SCHEMA, schema_name="insights"
    )
    try:
        result = await adapter.complete(request, time_left=5)
    finally:
        await adapter.aclose()

    assert adapter.supports_structured_output
    assert result.structured == {
        "answer": "You asked: How do we indent?",
        "insights": [
            {
                "kind": "pattern",
                "title": "How do we indent?",
                "body": "Asked about: How do we indent?",
                "tags": ["how-do"],
            }
        ],
    }
    body = server.requests[0].json()
    wanted = {"name": "insights", "schema": ASK_SCHEMA, "strict": True}
    if api == "chat":
        assert body["response_format"] == {"type": "json_schema", "json_schema": wanted}
    else:
        assert body["text"] == {"format": {"type": "json_schema", **wanted}}


@pytest.mark.parametrize("api", APIS)
async def test_a_repeated_briefing_is_reported_as_cached_input_tokens(
    server: FakeOpenAIServer, api: str
) -> None:
    adapter = create_openai(config(server.url, api=api), KEY)
    try:
        first = await adapter.complete(QUESTION, time_left=5)
        second = await adapter.complete(QUESTION, time_left=5)
    finally:
        await adapter.aclose()

    assert first.usage.cached_tokens == 0
    assert second.usage == Usage(
        input_tokens=first.usage.input_tokens,
        output_tokens=first.usage.output_tokens,
        cached_tokens=len(BRIEFING.text) // 4,
    )


async def test_the_rate_limit_headers_of_the_last_answer_are_kept(
    server: FakeOpenAIServer, adapter: OpenAIAdapter
) -> None:
    assert adapter.last_limits == {}
    await adapter.complete(QUESTION, time_left=5)
    first = dict(adapter.last_limits)
    await adapter.complete(QUESTION, time_left=5)

    assert first["limit_requests"] == adapter.last_limits["limit_requests"] == 500
    assert adapter.last_limits["remaining_requests"] == first["remaining_requests"] - 1
    assert adapter.last_limits["remaining_tokens"] < first["remaining_tokens"]


# -- errors ----------------------------------------------------------------------------------

QUOTA = {"error": {"message": "You exceeded your current quota.", "type": "insufficient_quota",
                   "param": None, "code": "insufficient_quota"}}  # fmt: skip
TOO_LONG = {"error": {"message": "This model's maximum context length is 128000 tokens.",
                      "type": "invalid_request_error", "param": "messages",
                      "code": "context_length_exceeded"}}  # fmt: skip
FILTERED = {"error": {"message": "Your request was rejected by our safety system.",
                      "type": "invalid_request_error", "param": None,
                      "code": "content_filter"}}  # fmt: skip
OVERLOADED = {"error": {"message": "The engine is currently overloaded, please try again later.",
                        "type": "server_error", "param": None, "code": None}}  # fmt: skip
FAR_FUTURE = "Fri, 31 Dec 2099 23:59:59 GMT"
PAST = "Wed, 21 Oct 2015 07:28:00 GMT"

STATUS_FAULTS = [
    pytest.param(Fault.status_code(429, headers={"retry-after": "7"}), "provider.rate_limited", 7.0,
                 id="429-retry-after-seconds"),
    pytest.param(Fault.status_code(429, headers={"retry-after-ms": "1500"}),
                 "provider.rate_limited", 1.5, id="429-retry-after-ms"),
    pytest.param(Fault.status_code(429, headers={"retry-after": FAR_FUTURE}),
                 "provider.rate_limited", 60.0, id="429-retry-after-http-date-capped"),
    pytest.param(Fault.status_code(429, headers={"retry-after": PAST}),
                 "provider.rate_limited", 0.0, id="429-retry-after-http-date-past"),
    pytest.param(Fault.status_code(429), "provider.rate_limited", None, id="429-no-header"),
    pytest.param(Fault.status_code(429, QUOTA), "provider.quota_exhausted", None, id="429-quota"),
    pytest.param(Fault.status_code(401), "provider.auth", None, id="401"),
    pytest.param(Fault.status_code(403), "provider.auth", None, id="403"),
    pytest.param(Fault.status_code(400, TOO_LONG), "provider.context_too_long", None,
                 id="400-context-length"),
    pytest.param(Fault.status_code(400, FILTERED), "provider.content_filtered", None,
                 id="400-content-filter"),
    pytest.param(Fault.status_code(400), "provider.bad_request", None, id="400"),
    pytest.param(Fault.status_code(422), "provider.bad_request", None, id="422"),
    pytest.param(Fault.status_code(404), "provider.not_found", None, id="404"),
    pytest.param(Fault.status_code(500), "provider.server_error", None, id="500"),
    pytest.param(Fault.status_code(502), "provider.server_error", None, id="502"),
    pytest.param(Fault.status_code(503), "provider.server_error", None, id="503"),
    pytest.param(Fault.status_code(503, OVERLOADED), "provider.overloaded", None,
                 id="503-overloaded"),
    pytest.param(Fault.status_code(504), "provider.server_error", None, id="504"),
    pytest.param(Fault.status_code(529), "provider.overloaded", None, id="529"),
    pytest.param(Fault.truncated(), "provider.malformed_response", None, id="truncated"),
    pytest.param(Fault.non_json(), "provider.malformed_response", None, id="non-json"),
    pytest.param(Fault.cut(), "provider.malformed_response", None, id="cut"),
]  # fmt: skip


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(("fault", "code", "retry_after"), STATUS_FAULTS)
async def test_each_failure_is_one_request_reported_as_one_error_class(
    server: FakeOpenAIServer, api: str, fault: Fault, code: str, retry_after: float | None
) -> None:
    adapter = create_openai(config(server.url, api=api), KEY)
    server.script.add(fault)
    try:
        error = await failure(adapter)
    finally:
        await adapter.aclose()

    assert (error.code, error.retry_after, error.provider) == (code, retry_after, "gpt")
    assert len(server.requests) == 1  # the SDK made no retry of its own
    assert KEY not in str(error)


async def test_a_rejected_key_is_reported_as_an_auth_error_without_quoting_it() -> None:
    server = fake_openai(api_key="sk-the-right-one")
    async with server.serving() as url:
        adapter = create_openai(config(url), KEY)
        try:
            error = await failure(adapter)
        finally:
            await adapter.aclose()

    assert (error.code, error.status, error.request_id) == ("provider.auth", 401, "req_err401")
    assert KEY[:8] not in str(error)


async def test_kind_openai_without_a_key_fails_as_auth_without_a_request(
    server: FakeOpenAIServer,
) -> None:
    adapter = create_openai(config(server.url), None)
    try:
        error = await failure(adapter)
    finally:
        await adapter.aclose()

    assert error.code == "provider.auth"
    assert server.requests == []


async def test_a_prompt_beyond_the_context_window_is_reported_as_context_too_long() -> None:
    server = fake_openai(context_window=5)
    async with server.serving() as url:
        adapter = create_openai(config(url, api="chat"), KEY)
        try:
            error = await failure(adapter)
        finally:
            await adapter.aclose()

    assert (error.code, error.status) == ("provider.context_too_long", 400)


async def test_an_unknown_model_is_reported_as_not_found() -> None:
    server = fake_openai(models=["gpt-4.1"])
    async with server.serving() as url:
        adapter = create_openai(config(url), KEY)
        try:
            error = await failure(adapter)
        finally:
            await adapter.aclose()

    assert (error.code, error.status) == ("provider.not_found", 404)


@pytest.mark.parametrize("api", APIS)
async def test_an_answer_slower_than_the_time_left_is_a_timeout_after_one_request(
    server: FakeOpenAIServer, api: str
) -> None:
    adapter = create_openai(config(server.url, api=api), KEY)
    server.script.add(Fault.slow(1))
    try:
        with pytest.raises(ProviderError) as caught:
            await adapter.complete(QUESTION, time_left=0.2)
    finally:
        await adapter.aclose()

    assert caught.value.code == "provider.timeout"
    assert caught.value.retryable
    assert len(server.requests) == 1


NO_CHOICES = {"id": "chatcmpl-x", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
              "choices": []}  # fmt: skip
NO_OUTPUT = {"id": "resp_x", "object": "response", "created_at": 1, "model": "gpt-4o-mini",
             "status": "completed", "output": []}  # fmt: skip
CHAT_FILTERED = {**NO_CHOICES, "choices": [{"index": 0, "finish_reason": "content_filter",
                 "message": {"role": "assistant", "content": None}}]}  # fmt: skip
RESPONSE_FILTERED = {**NO_OUTPUT, "status": "incomplete",
                     "incomplete_details": {"reason": "content_filter"}}  # fmt: skip
RESPONSE_REFUSED = {**NO_OUTPUT, "output": [{"type": "message", "id": "m", "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "refusal", "refusal": "I can't help."}]}]}  # fmt: skip
RESPONSE_FAILED = {**NO_OUTPUT, "status": "failed",
                   "error": {"code": "server_error", "message": "boom"}}  # fmt: skip


@pytest.mark.parametrize(
    ("api", "body", "code"),
    [
        ("chat", NO_CHOICES, "provider.malformed_response"),
        ("chat", {"unexpected": True}, "provider.malformed_response"),
        ("chat", {**NO_CHOICES, "choices": [1]}, "provider.malformed_response"),
        ("responses", {"unexpected": True}, "provider.malformed_response"),
        ("responses", NO_OUTPUT, "provider.malformed_response"),
        ("chat", CHAT_FILTERED, "provider.content_filtered"),
        ("responses", RESPONSE_FILTERED, "provider.content_filtered"),
        ("responses", RESPONSE_REFUSED, "provider.content_filtered"),
        ("responses", RESPONSE_FAILED, "provider.server_error"),
    ],
)
async def test_an_answer_without_usable_text_is_reported_by_why(
    server: FakeOpenAIServer, api: str, body: dict[str, Any], code: str
) -> None:
    adapter = create_openai(config(server.url, api=api), KEY)
    server.script.add(Fault.status_code(200, body))
    try:
        error = await failure(adapter)
    finally:
        await adapter.aclose()

    assert error.code == code
    assert len(server.requests) == 1


# -- the sync target -------------------------------------------------------------------------


async def test_a_push_keeps_the_briefing_in_a_new_conversation(
    server: FakeOpenAIServer, adapter: OpenAIAdapter
) -> None:
    result = await adapter.push(BRIEFING, time_left=5)

    assert result is not None
    assert result.version == "7"
    [conversation] = server.app.live_conversations()
    assert result.object_id == conversation.id
    assert conversation.items[0]["role"] == "developer"
    assert conversation.text() == BRIEFING.text
    assert conversation.metadata == {
        "imx_workspace": "acme", "imx_version": "7", "imx_digest": BRIEFING.digest
    }  # fmt: skip


async def test_a_new_version_replaces_the_conversation_and_deletes_the_old_one(
    server: FakeOpenAIServer, adapter: OpenAIAdapter
) -> None:
    first = await adapter.push(BRIEFING, time_left=5)
    newer = ContextBundle(workspace="acme", text="Conventions: spaces now.", version=9)
    second = await adapter.push(newer, time_left=5)

    assert first is not None
    assert second is not None
    assert second.version == "9"
    assert second.object_id != first.object_id
    [live] = server.app.live_conversations()
    assert (live.id, live.text()) == (second.object_id, "Conventions: spaces now.")
    assert server.app.conversations[first.object_id].deleted
    assert [(r.method, r.path) for r in server.requests] == [
        ("POST", "/v1/conversations"),
        ("POST", "/v1/conversations"),
        ("DELETE", f"/v1/conversations/{first.object_id}"),
    ]


async def test_an_unchanged_briefing_sends_nothing_and_answers_the_previous_push(
    server: FakeOpenAIServer, adapter: OpenAIAdapter
) -> None:
    first = await adapter.push(BRIEFING, time_left=5)
    again = await adapter.push(
        ContextBundle(workspace="acme", text=BRIEFING.text, version=8), time_left=5
    )

    assert again == first
    assert len(server.requests) == 1


async def test_a_failed_push_is_an_error_and_the_previous_conversation_stays(
    server: FakeOpenAIServer, adapter: OpenAIAdapter
) -> None:
    first = await adapter.push(BRIEFING, time_left=5)
    server.script.add(Fault.status_code(500, path="/v1/conversations"))
    newer = ContextBundle(workspace="acme", text="v2", version=8)

    with pytest.raises(ProviderError) as caught:
        await adapter.push(newer, time_left=5)

    assert caught.value.code == "provider.server_error"
    assert first is not None
    assert [c.id for c in server.app.live_conversations()] == [first.object_id]
    assert await adapter.push(BRIEFING, time_left=5) == first  # still the current one


async def test_an_old_conversation_that_cannot_be_deleted_yet_is_deleted_on_the_next_push(
    server: FakeOpenAIServer, adapter: OpenAIAdapter
) -> None:
    first = await adapter.push(BRIEFING, time_left=5)
    assert first is not None
    server.script.add(Fault.status_code(500, path=f"/v1/conversations/{first.object_id}"))
    second = await adapter.push(ContextBundle("acme", "v2", 8), time_left=5)
    assert second is not None
    assert not server.app.conversations[first.object_id].deleted

    third = await adapter.push(ContextBundle("acme", "v3", 9), time_left=5)

    assert third is not None
    assert [c.id for c in server.app.live_conversations()] == [third.object_id]


async def test_an_adopted_conversation_from_before_a_restart_is_deleted_by_the_next_push(
    server: FakeOpenAIServer, adapter: OpenAIAdapter
) -> None:
    earlier = create_openai(config(server.url), KEY)
    try:
        old = await earlier.push(BRIEFING, time_left=5)
    finally:
        await earlier.aclose()
    assert old is not None

    adapter.adopt(old)
    new = await adapter.push(BRIEFING, time_left=5)

    assert new is not None
    assert [c.id for c in server.app.live_conversations()] == [new.object_id]


async def test_asking_does_not_grow_the_pushed_conversation(
    server: FakeOpenAIServer, adapter: OpenAIAdapter
) -> None:
    pushed = await adapter.push(BRIEFING, time_left=5)
    await adapter.complete(QUESTION, time_left=5)
    await adapter.complete(QUESTION, time_left=5)

    assert pushed is not None
    assert len(server.app.conversations[pushed.object_id].items) == 1
    assert all("conversation" not in r.json() for r in server.requests_to("/v1/responses"))


async def test_with_sync_none_a_push_answers_none_and_sends_nothing(
    server: FakeOpenAIServer,
) -> None:
    adapter = create_openai(config(server.url, sync="none"), KEY)
    try:
        assert await adapter.push(BRIEFING, time_left=5) is None
    finally:
        await adapter.aclose()

    assert server.requests == []


# -- configuration ---------------------------------------------------------------------------


def test_a_bare_server_address_gets_the_v1_path() -> None:
    assert api_base_url(None) == "https://api.openai.com/v1"
    assert api_base_url("http://localhost:11434") == "http://localhost:11434/v1"
    assert api_base_url("http://localhost:11434/") == "http://localhost:11434/v1"
    assert api_base_url("http://localhost:1234/v1/") == "http://localhost:1234/v1"
    assert api_base_url("https://proxy.example/openai/v1") == "https://proxy.example/openai/v1"


@pytest.mark.parametrize("options", [{"api": "completions"}, {"sync": "vector_store"}])
def test_an_unknown_option_value_is_refused_when_the_adapter_is_built(
    options: dict[str, str],
) -> None:
    with pytest.raises(InvalidInput) as caught:
        create_openai(config("http://127.0.0.1:9", **options), KEY)
    assert caught.value.code == "provider.invalid_option"
