"""The Vertex AI form of the Gemini adapter, driving the real google-genai SDK (and google-auth)
against the fake over HTTP on 127.0.0.1: the project/location URL and bearer token, a
service-account JSON traded for a token at the fake's token endpoint, cached contents under the
project, and the errors Vertex AI answers in its own way. The full error table runs on both
forms in test_gemini_adapter.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from infinity_matrix.core.providers.errors import (
    ProviderAuthError,
    ProviderRateLimited,
)
from infinity_matrix.core.providers.records import (
    ChatRequest,
    ContextBundle,
    Message,
    ProviderConfig,
    PushResult,
    Usage,
)
from infinity_matrix.errors import InvalidInput
from infinity_matrix.providers.gemini import GeminiAdapter, create_vertex
from infinity_matrix.testing.fakes.base import Fault
from infinity_matrix.testing.fakes.gemini import FakeGeminiServer, fake_gemini, google_error

pytestmark = pytest.mark.anyio

MODEL = "gemini-2.5-flash"
TOKEN = "vertex-test-token"
PROJECT = "imx-test"
LOCATION = "europe-west4"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
GENERATE = f"/v1/{PARENT}/publishers/google/models/{MODEL}:generateContent"
BRIEFING = "Workspace team. Decision: PostgreSQL is the truth, Redis fans out. " * 4
QUESTION = "Where do events live?"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
    "required": ["answer", "confidence"],
}


def _config(url: str, **options: Any) -> ProviderConfig:
    return ProviderConfig(
        workspace="team",
        name="vertex",
        kind="vertex",
        model=MODEL,
        base_url=url,
        options={"project": PROJECT, "location": LOCATION} | options,
        timeout_seconds=10.0,
    )


def _request(**changes: Any) -> ChatRequest:
    fields: dict[str, Any] = {
        "messages": (Message("user", QUESTION),),
        "context": ContextBundle("team", BRIEFING, 7),
    }
    return ChatRequest(**(fields | changes))


def _bundle(version: int, text: str = BRIEFING) -> ContextBundle:
    return ContextBundle("team", text, version)


def _service_account(token_uri: str) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "sa-project",
            "private_key_id": "fake-key-1",
            "private_key": pem,
            "client_email": "imx@sa-project.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": token_uri,
        }
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeGeminiServer]:
    server = fake_gemini(access_token=TOKEN)
    async with server.serving():
        yield server


@pytest.fixture
async def adapter(fake: FakeGeminiServer) -> AsyncIterator[GeminiAdapter]:
    built = create_vertex(_config(fake.url), TOKEN)
    try:
        yield built
    finally:
        await built.aclose()


async def test_a_question_is_answered_through_vertex_ai_with_the_bearer_token(
    adapter: GeminiAdapter, fake: FakeGeminiServer
) -> None:
    result = await adapter.complete(_request(), time_left=10)

    assert result.text == f"Fake Gemini answer to: {QUESTION} (briefing: 67 tokens)"
    assert result.model == MODEL
    assert result.request_id == "fake-gemini-1"
    assert result.finish_reason == "stop"
    [sent] = fake.requests
    assert sent.path == GENERATE
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert "x-goog-api-key" not in sent.headers
    assert sent.json()["systemInstruction"]["parts"] == [{"text": BRIEFING}]


async def test_vertex_ai_answers_a_requested_schema_with_a_parsed_object(
    adapter: GeminiAdapter, fake: FakeGeminiServer
) -> None:
    result = await adapter.complete(_request(response_schema=SCHEMA), time_left=10)

    assert result.structured == {
        "answer": f"Fake Gemini answer to: {QUESTION} (briefing: 67 tokens)",
        "confidence": 1,
    }
    assert fake.requests[-1].json()["generationConfig"]["responseJsonSchema"] == SCHEMA


async def test_a_push_creates_a_cached_content_under_the_project_used_by_the_next_call(
    adapter: GeminiAdapter, fake: FakeGeminiServer
) -> None:
    pushed = await adapter.push(_bundle(7), time_left=10)

    name = f"{PARENT}/cachedContents/fake000001"
    assert pushed == PushResult(name, "7", "cached content")
    [created] = fake.requests_to("/cachedContents")
    assert created.path == f"/v1/{PARENT}/cachedContents"
    assert created.headers["authorization"] == f"Bearer {TOKEN}"
    assert created.json()["model"] == f"{PARENT}/publishers/google/models/{MODEL}"
    assert fake.app.briefing_of(name) == BRIEFING

    result = await adapter.complete(_request(), time_left=10)

    body = fake.requests[-1].json()
    assert body["cachedContent"] == name
    assert "systemInstruction" not in body
    assert result.usage == Usage(input_tokens=73, output_tokens=17, cached_tokens=67)


async def test_a_new_briefing_replaces_the_vertex_cached_content_and_deletes_the_old_one(
    adapter: GeminiAdapter, fake: FakeGeminiServer
) -> None:
    await adapter.push(_bundle(7), time_left=10)

    pushed = await adapter.push(_bundle(8, BRIEFING + "Pitfall: seq gaps."), time_left=10)

    old, new = f"{PARENT}/cachedContents/fake000001", f"{PARENT}/cachedContents/fake000002"
    assert pushed is not None
    assert pushed.object_id == new
    [deleted] = [r for r in fake.requests if r.method == "DELETE"]
    assert deleted.path == f"/v1/{old}"
    assert fake.app.deleted == [old]
    assert list(fake.app.cached_contents) == [new]


async def test_a_cached_content_vertex_no_longer_has_falls_back_to_the_briefing_inline(
    adapter: GeminiAdapter, fake: FakeGeminiServer
) -> None:
    await adapter.push(_bundle(7), time_left=10)
    fake.app.expire()

    result = await adapter.complete(_request(), time_left=10)

    first, second = fake.requests_to(":generateContent")
    assert "cachedContent" in first.json()
    assert second.json()["systemInstruction"]["parts"] == [{"text": BRIEFING}]
    assert result.usage.cached_tokens == 0
    assert adapter.cached_content is None


async def test_a_service_account_json_is_traded_for_a_token_once_and_names_the_project(
    fake: FakeGeminiServer,
) -> None:
    config = _config(fake.url, project=None)
    adapter = create_vertex(config, _service_account(f"{fake.url}/token"))
    try:
        await adapter.complete(_request(), time_left=10)
        await adapter.complete(_request(), time_left=10)
    finally:
        await adapter.aclose()

    token_requests = fake.requests_to("/token")
    assert len(token_requests) == 1
    assert "assertion=" in token_requests[0].body.decode()
    calls = fake.requests_to(":generateContent")
    assert [c.path for c in calls] == [
        f"/v1/projects/sa-project/locations/{LOCATION}/publishers/google/models/{MODEL}"
        ":generateContent"
    ] * 2
    assert {c.headers["authorization"] for c in calls} == {"Bearer fake-sa-token-1"}


async def test_a_refused_service_account_is_an_auth_error(fake: FakeGeminiServer) -> None:
    fake.script.add(
        Fault.status_code(
            400, {"error": "invalid_grant", "error_description": "bad"}, path="/token"
        )
    )
    adapter = create_vertex(_config(fake.url), _service_account(f"{fake.url}/token"))
    try:
        with pytest.raises(ProviderAuthError) as raised:
            await adapter.complete(_request(), time_left=10)
    finally:
        await adapter.aclose()

    assert raised.value.code == "provider.auth"
    assert fake.requests_to(":generateContent") == []


async def test_a_rejected_access_token_is_reported_as_an_auth_error(fake: FakeGeminiServer) -> None:
    adapter = create_vertex(_config(fake.url), "expired-token")
    try:
        with pytest.raises(ProviderAuthError) as raised:
            await adapter.complete(_request(), time_left=10)
    finally:
        await adapter.aclose()

    assert raised.value.status == 401
    assert len(fake.requests) == 1


async def test_vertex_resource_exhausted_without_details_is_a_rate_limit_without_a_delay(
    adapter: GeminiAdapter, fake: FakeGeminiServer
) -> None:
    body = google_error(429, "RESOURCE_EXHAUSTED", "Resource exhausted. Please try again later.")
    fake.script.add(Fault.status_code(429, body))

    with pytest.raises(ProviderRateLimited) as raised:
        await adapter.complete(_request(), time_left=10)

    assert raised.value.retry_after is None
    assert len(fake.requests) == 1


async def test_the_api_version_option_changes_the_url(fake: FakeGeminiServer) -> None:
    adapter = create_vertex(_config(fake.url, api_version="v1beta1"), TOKEN)
    try:
        await adapter.complete(_request(), time_left=10)
    finally:
        await adapter.aclose()

    assert fake.requests[0].path == GENERATE.replace("/v1/", "/v1beta1/")


def test_a_vertex_provider_without_a_project_is_refused() -> None:
    with pytest.raises(InvalidInput):
        create_vertex(_config("http://127.0.0.1:9", project=None), TOKEN)


def test_an_unusable_credentials_json_is_an_auth_error() -> None:
    with pytest.raises(ProviderAuthError):
        create_vertex(_config("http://127.0.0.1:9"), '{"type": "service_account"}')
