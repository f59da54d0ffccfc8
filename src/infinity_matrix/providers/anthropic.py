"""The Anthropic adapter: our chat requests as Messages API calls through the official SDK.

Anthropic keeps no context on its side, so the workspace briefing travels with every call as the
first system block, marked ``cache_control: ephemeral``: the provider caches that prefix and bills
a repeated briefing as cache reads (https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching).
``push`` therefore has nothing to do and answers ``None``.

A structured answer is a forced tool call: the schema becomes the only tool's ``input_schema``
and ``tool_choice`` names it, so the model must answer with input valid for the schema.

The SDK client is built once per adapter with ``max_retries=0`` (the resilient caller owns the
only retry loop) over a pooled HTTP client that ``aclose`` closes. Each call makes exactly one
HTTP request and raises only the taxonomy's errors (see ``anthropic_errors``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, cast

import anthropic
import httpx2
import orjson

from infinity_matrix.core.providers.errors import (
    ContentFiltered,
    MalformedResponse,
    ProviderTimeout,
)
from infinity_matrix.core.providers.records import (
    ChatRequest,
    ChatResult,
    ContextBundle,
    ProviderConfig,
    PushResult,
    Usage,
)
from infinity_matrix.providers.anthropic_errors import translate_error

DEFAULT_BASE_URL = "https://api.anthropic.com"
# One pool per adapter, shared by every call to the deployment; sized for the caller's
# concurrency limit rather than the SDK's default of 1000 connections.
POOL_LIMITS = httpx2.Limits(max_connections=200, max_keepalive_connections=100)
# The SDK types header layers as str but honours ``omit`` in them to drop a header.
_NO_AUTHORIZATION = cast(dict[str, str], {"Authorization": anthropic.omit})


class AnthropicAdapter:
    """One configured Anthropic provider (``kind = "anthropic"``).

    ``complete`` raises ``ProviderError`` subclasses only: ``ProviderAuthError``,
    ``ProviderBadRequest``, ``ContextTooLong``, ``ContentFiltered`` (stop reason ``refusal``),
    ``ProviderNotFound``, ``ProviderRateLimited`` (with ``retry_after``), ``QuotaExhausted``,
    ``ProviderOverloaded`` (529), ``ProviderServerError``, ``ProviderTimeout`` and
    ``MalformedResponse``.
    """

    def __init__(self, config: ProviderConfig, credential: str | None) -> None:
        self.config = config
        self._http = anthropic.DefaultAsyncHttpxClient(limits=POOL_LIMITS)
        self._client = anthropic.AsyncAnthropic(
            # An explicit key (even an empty one) keeps the SDK from looking for credentials in
            # the environment or on disk: the hub alone decides which credential a provider uses.
            api_key=credential or "",
            # Without a credential no Authorization header is sent at all (an empty bearer is not
            # a valid header); the provider then answers 401, reported as ProviderAuthError.
            default_headers=None if credential else _NO_AUTHORIZATION,
            # Explicit too, so ANTHROPIC_BASE_URL in the hub's environment is not consulted.
            base_url=config.base_url or DEFAULT_BASE_URL,
            max_retries=0,
            http_client=self._http,
        )

    @property
    def supports_structured_output(self) -> bool:
        return True

    @property
    def pushes_remotely(self) -> bool:
        return False  # the briefing goes with each call

    async def complete(self, request: ChatRequest, *, time_left: float) -> ChatResult:
        if time_left <= 0:
            raise ProviderTimeout("no time left for the call", provider=self.config.name)
        try:
            async with asyncio.timeout(time_left):
                headers, body = await self._send(message_params(self.config, request), time_left)
        except TimeoutError as exc:
            raise ProviderTimeout("the request timed out", provider=self.config.name) from exc
        except (anthropic.AnthropicError, httpx2.TransportError) as exc:
            raise translate_error(exc, provider=self.config.name) from exc
        return read_message(body, request, provider=self.config.name, headers=headers)

    async def _send(
        self, params: dict[str, Any], seconds: float
    ) -> tuple[Mapping[str, str], bytes]:
        """One request. The body is read here, apart from the headers, so that a body cut short
        surfaces as an httpx2 error of the body read (malformed), not as a connection error."""
        create = self._client.messages.with_streaming_response.create
        async with create(**params, timeout=seconds) as response:
            return response.headers, await response.read()

    async def push(self, bundle: ContextBundle, *, time_left: float) -> PushResult | None:
        """Nothing to push: Anthropic keeps no context, the bundle rides along with each call."""
        return None

    async def aclose(self) -> None:
        await self._client.close()
        await self._http.aclose()


def create_anthropic(config: ProviderConfig, credential: str | None) -> AnthropicAdapter:
    """The entry point of kind ``anthropic`` (an ``AdapterFactory``)."""
    return AnthropicAdapter(config, credential)


def message_params(config: ProviderConfig, request: ChatRequest) -> dict[str, Any]:
    """The keyword arguments of ``messages.create`` for ``request``.

    ``request.temperature`` is not sent: API version 2026-10-21, which the SDK 2.x speaks, removed
    the sampling parameters and answers 400 to a request that carries one, whatever its value.
    """
    params: dict[str, Any] = {
        "model": config.model,
        "max_tokens": request.max_output_tokens,
        "messages": [{"role": m.role, "content": m.text} for m in request.messages],
    }
    system = system_blocks(request)
    if system:
        params["system"] = system
    if request.response_schema is not None:
        params["tools"] = [
            {
                "name": request.schema_name,
                "description": "Answer with input valid for this schema.",
                "input_schema": dict(request.response_schema),
            }
        ]
        params["tool_choice"] = {"type": "tool", "name": request.schema_name}
    return params


def system_blocks(request: ChatRequest) -> list[dict[str, Any]]:
    """The briefing first, as the cached prefix, then the instructions (which change per call
    and so come after the cache breakpoint)."""
    blocks: list[dict[str, Any]] = []
    if request.context is not None and request.context.text:
        blocks.append(
            {"type": "text", "text": request.context.text, "cache_control": {"type": "ephemeral"}}
        )
    if request.instructions:
        blocks.append({"type": "text", "text": request.instructions})
    return blocks


def read_message(
    body: bytes, request: ChatRequest, *, provider: str, headers: Mapping[str, str]
) -> ChatResult:
    """Our result from the JSON of a Messages API answer.

    The body is checked here rather than parsed into the SDK's ``Message``: the SDK builds its
    models without validation, so a body missing its content would pass for a message.

    Raises ``MalformedResponse`` for a body that is not a whole message, or a message with no
    usable content, and ``ContentFiltered`` for a refusal.
    """
    request_id = headers.get("request-id")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedResponse(
            "the response is not JSON", provider=provider, request_id=request_id
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("content"), list):
        raise MalformedResponse(
            "the response is not a message", provider=provider, request_id=request_id
        )
    stop_reason = data.get("stop_reason")
    if stop_reason == "refusal":
        raise ContentFiltered(
            "the model refused to answer", provider=provider, request_id=request_id
        )
    text, structured = _content(data["content"], request)
    if structured is None and not text:
        raise MalformedResponse(
            "the message has no content", provider=provider, request_id=request_id
        )
    return ChatResult(
        text=text,
        model=str(data.get("model") or ""),
        usage=_usage(data.get("usage")),
        request_id=request_id,
        finish_reason=_str_or_none(stop_reason),
        structured=structured,
    )


def _content(blocks: list[Any], request: ChatRequest) -> tuple[str, Mapping[str, Any] | None]:
    """The text, and the forced tool's input when a schema was asked for."""
    texts = [b["text"] for b in blocks if isinstance(b, dict) and isinstance(b.get("text"), str)]
    if request.response_schema is None:
        return "".join(texts), None
    for block in blocks:
        if (
            isinstance(block, dict)
            and block.get("type") == "tool_use"
            and block.get("name") == request.schema_name
            and isinstance(block.get("input"), dict)
        ):
            structured: dict[str, Any] = block["input"]
            answer = structured.get("answer")
            text = answer if isinstance(answer, str) else orjson.dumps(structured).decode()
            return text, structured
    return "", None


def _usage(data: Any) -> Usage:
    if not isinstance(data, dict):
        return Usage()
    cached = _int(data.get("cache_read_input_tokens"))
    # Anthropic's input_tokens excludes the cached and the cache-written tokens; ours counts every
    # token the prompt held, of which cached_tokens were read from the cache.
    prompt = _int(data.get("input_tokens")) + cached + _int(data.get("cache_creation_input_tokens"))
    return Usage(
        input_tokens=prompt, output_tokens=_int(data.get("output_tokens")), cached_tokens=cached
    )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
