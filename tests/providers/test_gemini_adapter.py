"""The Gemini API adapter, driving the real google-genai SDK against the fake Gemini server over
HTTP on 127.0.0.1: translation both ways, cached contents as the sync target, and every error
class of the taxonomy (on both the Gemini API and the Vertex AI form), each from exactly one
request."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from google import genai
from google.genai import types

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
    ChatResult,
    ContextBundle,
    Message,
    ProviderConfig,
    PushResult,
    Usage,
)
from infinity_matrix.errors import InvalidInput
from infinity_matrix.providers.gemini import GeminiAdapter, create_gemini, create_vertex
from infinity_matrix.testing.fakes.base import Fault
from infinity_matrix.testing.fakes.gemini import (
    FakeGeminiServer,
    fake_gemini,
    google_error,
    retry_info,
)

pytestmark = pytest.mark.anyio

MODEL = "gemini-2.5-flash"
API_KEY = "gemini-test-key"
TOKEN = "vertex-test-token"
BRIEFING = "Workspace team. Convention: tabs, not spaces. Pitfall: the cache is per node. " * 4
QUESTION = "How do we deploy the hub behind nginx?"
GENERATE = ":generateContent"


def _config(url: str, **changes: Any) -> ProviderConfig:
    fields: dict[str, Any] = {
        "workspace": "team",
        "name": "gemini",
        "kind": "gemini",
        "model": MODEL,
        "base_url": url,
        "timeout_seconds": 10.0,
    }
    return ProviderConfig(**(fields | changes))


def _vertex_config(url: str) -> ProviderConfig:
    options = {"project": "imx-test", "location": "europe-west4"}
    return _config(url, name="vertex", kind="vertex", options=options)


def _request(**changes: Any) -> ChatRequest:
    fields: dict[str, Any] = {
        "messages": (Message("user", QUESTION),),
        "context": ContextBundle("team", BRIEFING, 42),
        "max_output_tokens": 300,
        "temperature": 0.2,
    }
    return ChatRequest(**(fields | changes))


def _bundle(version: int, text: str = BRIEFING) -> ContextBundle:
    return ContextBundle("team", text, version)


@pytest.fixture
async def fake() -> AsyncIterator[FakeGeminiServer]:
    server = fake_gemini(api_key=API_KEY, access_token=TOKEN)
    async with server.serving():
        yield server


@pytest.fixture
async def adapter(fake: FakeGeminiServer) -> AsyncIterator[GeminiAdapter]:
    built = create_gemini(_config(fake.url), API_KEY)
    try:
        yield built
    finally:
        await built.aclose()


@pytest.fixture(params=["gemini", "vertex"])
async def either(
    request: pytest.FixtureRequest, fake: FakeGeminiServer
) -> AsyncIterator[GeminiAdapter]:
    """The adapter in each of its two forms, against the same fake."""
    if request.param == "gemini":
        built = create_gemini(_config(fake.url), API_KEY)
    else:
        built = create_vertex(_vertex_config(fake.url), TOKEN)
    try:
        yield built
    finally:
        await built.aclose()


# -- translation --------------------------------------------------------------------------------


async def test_a_question_is_answered_through_the_gemini_api_with_the_api_key_header(
    adapter: GeminiAdapter, fake: FakeGeminiServer
) -> None:
    result = await adapter.complete(_request(), time_left=10)

    assert result == ChatResult(
        text=f"Fake Gemini answer to: {QUESTION} (briefing: 78 tokens)",
        model=MODEL,
        usage=Usage(input_tokens=88, output_tokens=21),
        request_id="fake-gemini-1",
        finish_reason="stop",
    )
    [sent] = fake.requests
    assert sent.method == "POST"
    assert sent.path == f"/v1beta/models/{MODEL}{GENERATE}"
    assert sent.headers["x-goog-api-key"] == API_KEY
    assert "authorization" not in sent.headers


async def test_the_briefing_and_instructions_go_as_the_system_instruction_and_turns_keep_roles(
    adapter: GeminiAdapter, fake: FakeGeminiServer
) -> None:
    conversation = (
        Message("user", "Which proxy do we use?"),
        Message("assistant", "nginx."),
        Message("user", QUESTION),
    )
    request = _request(messages=conversation, instructions="Answer in one paragraph.")

    await adapter.complete(request, time_left=10)

    body = fake.requests[-1].json()
    assert body["systemInstruction"]["parts"] == [
        {"text": f"Answer in one paragraph.\n\n{BRIEFING}"}
    ]
    assert [(c["role"], c["parts"]) for c in body["contents"]] == [
        ("user", [{"text": "Which proxy do we use?"}]),
        ("model", [{"text": "nginx."}]),
        ("user", [{"text": QUESTION}]),
    ]
    assert body["generationConfig"] == {"maxOutputTokens": 300, "temperature": 0.2}
    assert "cachedContent" not in body


async def test_a_requested_schema_yields_a_parsed_structured_answer(
    adapter: GeminiAdapter, fake: FakeGeminiServer
) -> None:
    result = await adapter.complete(_request(response_schema=ASK_SCHEMA), time_left=10)

    assert result.structured == {
        "answer": f"Fake Gemini answer to: {QUESTION} (briefing: 78 tokens)",
        "insights": [
            {
                "kind": "convention",
                "title": QUESTION,
                "body": f"Learned while answering: {QUESTION}",
                "tags": ["deploy", "behind", "nginx"],
            }
        ],
    }
    config = fake.requests[-1].json()["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == ASK_SCHEMA
    assert adapter.supports_structured_output


async def test_an_answer_stopped_by_the_token_limit_says_length(adapter: GeminiAdapter) -> None:
    result = await adapter.complete(_request(max_output_tokens=3), time_left=10)

    assert result.finish_reason == "length"
    assert result.text == "Fake Gemini "


# -- cached contents (the sync target) ----------------------------------------------------------


async def test_a_push_creates_a_cached_content_that_the_next_call_names_instead_of_the_briefing(
    adapter: GeminiAdapter, fake: FakeGeminiServer
) -> None:
    pushed = await adapter.push(_bundle(42), time_left=10)

    assert pushed == PushResult("cachedContents/fake000001", "42", "cached content")
    assert fake.app.briefing_of("cachedContents/fake000001") == BRIEFING
    created = fake.requests_to("/cachedContents")[0].json()
    assert created["model"] == f"models/{MODEL}"
    assert created["ttl"] == "3600s"

    result = await adapter.complete(_request(), time_left=10)

    body = fake.requests[-1].json()
    assert body["cachedContent"] == "cachedContents/fake000001"
    assert "systemInstruction" not in body
    assert result.usage == Usage(input_tokens=88, output_tokens=21, cached_tokens=78)


async def test_an_unchanged_briefing_is_not_pushed_again(
    adapter: GeminiAdapter, fake: FakeGeminiServer
) -> None:
    await adapter.push(_bundle(42), time_left=10)

    again = await adapter.push(_bundle(43), time_left=10)

    assert again == PushResult("cachedContents/fake000001", "43", "unchanged briefing")
    assert len(fake.requests_to("/cachedContents")) == 1


async def test_a_new_briefing_replaces_the_cached_content_and_deletes_the_old_one(
    adapter: GeminiAdapter, fake: FakeGeminiServer
) -> None:
    await adapter.push(_bundle(42), time_left=10)
    newer = _bundle(43, BRIEFING + "Decision: deploy with Helm.")

    pushed = await adapter.push(newer, time_left=10)

    assert pushed == PushResult(
        "cachedContents/fake000002", "43", "cached content; deleted cachedContents/fake000001"
    )
    assert fake.app.deleted == ["cachedContents/fake000001"]
    assert list(fake.app.cached_contents) == ["cachedContents/fake000002"]
    await adapter.complete(_request(context=newer), time_left=10)
    assert fake.requests[-1].json()["cachedContent"] == "cachedContents/fake000002"


async def test_a_call_with_another_briefing_than_the_pushed_one_sends_it_inline(
    adapter: GeminiAdapter, fake: FakeGeminiServer
) -> None:
    await adapter.push(_bundle(42), time_left=10)

    await adapter.complete(_request(context=_bundle(44, "Something else.")), time_left=10)

    body = fake.requests[-1].json()
    assert "cachedContent" not in body
    assert body["systemInstruction"]["parts"] == [{"text": "Something else."}]


async def test_instructions_lead_the_first_user_turn_when_the_briefing_is_cached(
    adapter: GeminiAdapter, fake: FakeGeminiServer
) -> None:
    await adapter.push(_bundle(42), time_left=10)

    await adapter.complete(_request(instructions="Be brief."), time_left=10)

    body = fake.requests[-1].json()
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Be brief."}, {"text": QUESTION}]}
    ]


async def test_an_expired_cached_content_falls_back_to_the_briefing_inline_and_is_pushed_again(
    adapter: GeminiAdapter, fake: FakeGeminiServer
) -> None:
    await adapter.push(_bundle(42), time_left=10)
    fake.app.expire()

    result = await adapter.complete(_request(), time_left=10)

    first, second = fake.requests_to(GENERATE)
    assert first.json()["cachedContent"] == "cachedContents/fake000001"
    assert second.json()["systemInstruction"]["parts"] == [{"text": BRIEFING}]
    assert result.usage.cached_tokens == 0
    assert adapter.cached_content is None
    pushed = await adapter.push(_bundle(42), time_left=10)
    assert pushed is not None
    assert pushed.object_id == "cachedContents/fake000002"


async def test_a_briefing_below_the_minimum_cache_size_is_sent_inline(
    adapter: GeminiAdapter, fake: FakeGeminiServer
) -> None:
    too_small = google_error(
        400,
        "INVALID_ARGUMENT",
        "Cached content is too small. total_token_count=78, min_total_token_count=1024",
    )
    fake.script.add(Fault.status_code(400, too_small, path="/cachedContents"))

    pushed = await adapter.push(_bundle(42), time_left=10)

    assert pushed is not None
    assert pushed.object_id == "inline"
    assert "minimum cache size" in pushed.detail
    await adapter.complete(_request(), time_left=10)
    assert fake.requests[-1].json()["systemInstruction"]["parts"] == [{"text": BRIEFING}]


async def test_with_sync_none_nothing_is_pushed(fake: FakeGeminiServer) -> None:
    adapter = create_gemini(_config(fake.url, options={"sync": "none"}), API_KEY)
    try:
        assert await adapter.push(_bundle(42), time_left=10) is None
    finally:
        await adapter.aclose()
    assert fake.requests == []


async def test_a_cache_ttl_option_sets_the_cached_content_ttl(fake: FakeGeminiServer) -> None:
    adapter = create_gemini(_config(fake.url, options={"cache_ttl_seconds": 600}), API_KEY)
    try:
        await adapter.push(_bundle(42), time_left=10)
    finally:
        await adapter.aclose()
    assert fake.requests_to("/cachedContents")[0].json()["ttl"] == "600s"


def test_an_unknown_sync_mode_is_refused() -> None:
    with pytest.raises(InvalidInput):
        create_gemini(_config("http://127.0.0.1:9", options={"sync": "files"}), API_KEY)


# -- errors ---------------------------------------------------------------------------------------


def _status(code: int, status: str, message: str, *details: dict[str, Any]) -> Fault:
    return Fault.status_code(code, google_error(code, status, message, list(details)))


DAILY_QUOTA = {
    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
    "violations": [
        {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
            "quotaId": "GenerateRequestsPerDayPerProjectPerModel",
            "quotaValue": "250",
        }
    ],
}
MINUTE_QUOTA = {
    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
    "violations": [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel", "quotaValue": "10"}],
}
EXCEEDED = "You exceeded your current quota, please check your plan and billing details."

ERRORS: list[tuple[str, Fault, type[ProviderError]]] = [
    ("401", _status(401, "UNAUTHENTICATED", "Request had invalid credentials."), ProviderAuthError),
    ("403", _status(403, "PERMISSION_DENIED", "Permission denied."), ProviderAuthError),
    (
        "400-too-many-tokens",
        _status(
            400,
            "INVALID_ARGUMENT",
            "The input token count (1200000) exceeds the maximum number of tokens allowed "
            "(1048576).",
        ),
        ContextTooLong,
    ),
    ("400", _status(400, "INVALID_ARGUMENT", "Invalid value at 'x'."), ProviderBadRequest),
    ("404", _status(404, "NOT_FOUND", f"models/{MODEL} is not found."), ProviderNotFound),
    (
        "429-limit-0",
        _status(429, "RESOURCE_EXHAUSTED", f"{EXCEEDED}\n* Quota exceeded, limit: 0"),
        QuotaExhausted,
    ),
    (
        "429-daily",
        _status(429, "RESOURCE_EXHAUSTED", EXCEEDED, DAILY_QUOTA, retry_info("3600s")),
        QuotaExhausted,
    ),
    ("429-billing", _status(429, "RESOURCE_EXHAUSTED", EXCEEDED), QuotaExhausted),
    ("500", _status(500, "INTERNAL", "Internal error encountered."), ProviderServerError),
    ("502", Fault.status_code(502, {"error": "bad gateway"}), ProviderServerError),
    ("503", _status(503, "UNAVAILABLE", "The model is overloaded."), ProviderOverloaded),
    ("504", _status(504, "DEADLINE_EXCEEDED", "Deadline expired."), ProviderTimeout),
    ("truncated", Fault.truncated(), MalformedResponse),
    ("non-json", Fault.non_json(), MalformedResponse),
    ("cut", Fault.cut(), MalformedResponse),
    ("no-candidates", Fault.status_code(200, {"candidates": []}), MalformedResponse),
    (
        "prompt-blocked",
        Fault.status_code(200, {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}),
        ContentFiltered,
    ),
    (
        "answer-withheld",
        Fault.status_code(
            200, {"candidates": [{"finishReason": "SAFETY", "index": 0}], "modelVersion": MODEL}
        ),
        ContentFiltered,
    ),
]


@pytest.mark.parametrize(
    ("fault", "expected"), [(f, e) for _, f, e in ERRORS], ids=[i for i, _, _ in ERRORS]
)
async def test_each_failure_is_one_request_reported_as_its_error_class(
    either: GeminiAdapter, fake: FakeGeminiServer, fault: Fault, expected: type[ProviderError]
) -> None:
    fake.script.add(fault)

    with pytest.raises(ProviderError) as raised:
        await either.complete(_request(), time_left=5)

    assert type(raised.value) is expected
    assert raised.value.code == expected.code
    assert raised.value.provider == either.config.name
    assert len(fake.requests) == 1


async def test_a_rate_limit_waits_for_retry_after_in_seconds(
    either: GeminiAdapter, fake: FakeGeminiServer
) -> None:
    body = google_error(429, "RESOURCE_EXHAUSTED", EXCEEDED, [MINUTE_QUOTA, retry_info("9s")])
    fake.script.add(Fault.status_code(429, body, {"Retry-After": "7"}))

    with pytest.raises(ProviderRateLimited) as raised:
        await either.complete(_request(), time_left=5)

    assert raised.value.code == "provider.rate_limited"
    assert raised.value.retry_after == 7.0
    assert raised.value.status == 429
    assert len(fake.requests) == 1


async def test_a_rate_limit_waits_for_a_retry_after_http_date(
    adapter: GeminiAdapter, fake: FakeGeminiServer
) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    body = google_error(429, "RESOURCE_EXHAUSTED", "Resource exhausted.")
    fake.script.add(Fault.status_code(429, body, {"Retry-After": when}))

    with pytest.raises(ProviderRateLimited) as raised:
        await adapter.complete(_request(), time_left=5)

    assert raised.value.retry_after is not None
    assert 0 < raised.value.retry_after <= 30
    assert len(fake.requests) == 1


async def test_a_rate_limit_without_retry_after_waits_for_the_retry_info_delay(
    either: GeminiAdapter, fake: FakeGeminiServer
) -> None:
    body = google_error(429, "RESOURCE_EXHAUSTED", EXCEEDED, [MINUTE_QUOTA, retry_info("7.5s")])
    fake.script.add(Fault.status_code(429, body))

    with pytest.raises(ProviderRateLimited) as raised:
        await either.complete(_request(), time_left=5)

    assert raised.value.retry_after == 7.5
    assert len(fake.requests) == 1


async def test_a_slow_answer_past_the_time_left_is_a_timeout(
    either: GeminiAdapter, fake: FakeGeminiServer
) -> None:
    fake.script.add(Fault.slow(1.5))

    with pytest.raises(ProviderTimeout) as raised:
        await either.complete(_request(), time_left=0.3)

    assert raised.value.code == "provider.timeout"
    assert len(fake.requests) == 1


async def test_no_time_left_is_a_timeout_without_a_request(
    adapter: GeminiAdapter, fake: FakeGeminiServer
) -> None:
    with pytest.raises(ProviderTimeout):
        await adapter.complete(_request(), time_left=0)

    assert fake.requests == []


async def test_a_rejected_api_key_is_reported_as_an_auth_error(fake: FakeGeminiServer) -> None:
    adapter = create_gemini(_config(fake.url), "not-the-key")
    try:
        with pytest.raises(ProviderAuthError) as raised:
            await adapter.complete(_request(), time_left=5)
    finally:
        await adapter.aclose()

    assert raised.value.status == 400  # Google answers a bad key with INVALID_ARGUMENT
    assert len(fake.requests) == 1


async def test_a_provider_without_an_api_key_is_an_auth_error_without_a_request(
    fake: FakeGeminiServer,
) -> None:
    adapter = create_gemini(_config(fake.url), None)
    try:
        with pytest.raises(ProviderAuthError):
            await adapter.complete(_request(), time_left=5)
        with pytest.raises(ProviderAuthError):
            await adapter.push(_bundle(1), time_left=5)
    finally:
        await adapter.aclose()

    assert fake.requests == []


async def test_an_unreachable_server_is_a_server_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = create_gemini(_config(f"http://127.0.0.1:{port}"), API_KEY)
    try:
        with pytest.raises(ProviderServerError) as raised:
            await adapter.complete(_request(), time_left=5)
    finally:
        await adapter.aclose()

    assert raised.value.code == "provider.server_error"


async def test_a_failing_push_reports_its_error_class_after_one_request(
    adapter: GeminiAdapter, fake: FakeGeminiServer
) -> None:
    fake.script.add(_status(503, "UNAVAILABLE", "The model is overloaded."))

    with pytest.raises(ProviderOverloaded):
        await adapter.push(_bundle(42), time_left=5)

    assert len(fake.requests) == 1
    assert adapter.cached_content is None


async def test_the_fake_serves_the_sdks_cached_content_calls(fake: FakeGeminiServer) -> None:
    client = genai.Client(
        vertexai=False,
        api_key=API_KEY,
        http_options=types.HttpOptions(base_url=fake.url, api_version="v1beta"),
    )
    try:
        created = await client.aio.caches.create(
            model=MODEL, config=types.CreateCachedContentConfig(system_instruction=BRIEFING)
        )
        assert created.name is not None
        got = await client.aio.caches.get(name=created.name)
        listed = [c.name async for c in await client.aio.caches.list()]
        updated = await client.aio.caches.update(
            name=created.name, config=types.UpdateCachedContentConfig(ttl="60s")
        )
        await client.aio.caches.delete(name=created.name)
        missing = [c.name async for c in await client.aio.caches.list()]
    finally:
        await client.aio.aclose()
        client.close()

    assert got.model == f"models/{MODEL}"
    assert listed == [created.name]
    assert updated.expire_time is not None
    assert created.expire_time is not None
    assert updated.expire_time < created.expire_time
    assert missing == []
    assert fake.app.deleted == [created.name]
