"""Our chat requests in OpenAI's wire shapes and back: Chat Completions and Responses API
parameters from a ``ChatRequest``, a ``ChatResult`` from what the SDK parsed, and the
``x-ratelimit-*`` headers as numbers.

A structured answer is asked for with ``response_format`` (chat) or ``text.format`` (responses),
both ``json_schema``. Servers that ignore it (some local ones) are tolerated: whenever a schema
was asked for and the text parses as a JSON object (also inside a ```json fence), it becomes
``ChatResult.structured``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from infinity_matrix.core.providers.errors import (
    ContentFiltered,
    MalformedResponse,
    ProviderError,
    ProviderRateLimited,
    ProviderServerError,
)
from infinity_matrix.core.providers.records import ChatRequest, ChatResult, Usage

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)
_LIMIT_HEADERS = {
    "x-ratelimit-remaining-requests": "remaining_requests",
    "x-ratelimit-remaining-tokens": "remaining_tokens",
    "x-ratelimit-limit-requests": "limit_requests",
    "x-ratelimit-limit-tokens": "limit_tokens",
}
# Responses API ``incomplete_details.reason`` in Chat Completions' ``finish_reason`` words, so
# every adapter reports one vocabulary.
_FINISH = {"max_output_tokens": "length", "content_filter": "content_filter"}


def system_text(request: ChatRequest) -> str | None:
    """The briefing first (a stable prefix is what prompt caching reuses), then instructions."""
    parts = [request.context.text if request.context else "", request.instructions or ""]
    return "\n\n".join(p for p in parts if p) or None


def chat_params(
    request: ChatRequest, model: str, *, structured: bool, strict: bool, legacy_max_tokens: bool
) -> dict[str, Any]:
    """Chat Completions parameters. ``legacy_max_tokens`` sends ``max_tokens`` (what local
    servers understand) instead of OpenAI's ``max_completion_tokens``."""
    system = system_text(request)
    messages: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
    messages += [{"role": m.role, "content": m.text} for m in request.messages]
    params: dict[str, Any] = {"model": model, "messages": messages}
    params["max_tokens" if legacy_max_tokens else "max_completion_tokens"] = (
        request.max_output_tokens
    )
    if request.temperature is not None:
        params["temperature"] = request.temperature
    if structured and request.response_schema is not None:
        params["response_format"] = {
            "type": "json_schema",
            "json_schema": _schema_format(request, strict),
        }
    return params


def response_params(
    request: ChatRequest, model: str, *, structured: bool, strict: bool
) -> dict[str, Any]:
    """Responses API parameters: the briefing as ``instructions``, the messages as input."""
    params: dict[str, Any] = {
        "model": model,
        "input": [{"role": m.role, "content": m.text} for m in request.messages],
        "max_output_tokens": request.max_output_tokens,
    }
    system = system_text(request)
    if system:
        params["instructions"] = system
    if request.temperature is not None:
        params["temperature"] = request.temperature
    if structured and request.response_schema is not None:
        params["text"] = {"format": {"type": "json_schema", **_schema_format(request, strict)}}
    return params


def chat_result(
    completion: Any, request_id: str | None, *, provider: str, schema: bool
) -> ChatResult:
    """The result of a Chat Completions answer (``schema``: one was asked for); raises
    ``ContentFiltered`` or ``MalformedResponse`` for an answer that has no usable text."""
    if not isinstance(completion, ChatCompletion) or not completion.choices:
        raise MalformedResponse(
            "the provider's answer has no choices", provider=provider, request_id=request_id
        )
    choice = completion.choices[0]
    finish_reason = getattr(choice, "finish_reason", None)
    message = getattr(choice, "message", None)
    text = getattr(message, "content", None)
    if finish_reason == "content_filter" or (getattr(message, "refusal", None) and not text):
        raise ContentFiltered(
            "the provider's content filter refused", provider=provider, request_id=request_id
        )
    if not isinstance(text, str):
        raise MalformedResponse(
            "the provider's answer has no message text", provider=provider, request_id=request_id
        )
    usage = completion.usage
    details = getattr(usage, "prompt_tokens_details", None)
    return ChatResult(
        text=text,
        model=completion.model or "",
        usage=Usage(
            input_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            output_tokens=getattr(usage, "completion_tokens", 0) or 0,
            cached_tokens=getattr(details, "cached_tokens", 0) or 0,
        ),
        request_id=request_id or completion._request_id,
        finish_reason=finish_reason,
        structured=structured_answer(text) if schema else None,
    )


def response_result(
    response: Any, request_id: str | None, *, provider: str, schema: bool
) -> ChatResult:
    """The result of a Responses API answer; raises ``ContentFiltered``, ``MalformedResponse``
    or (for a response that failed on the provider's side) a retryable error."""
    if not isinstance(response, Response):
        raise MalformedResponse(
            "the provider's answer is not a response", provider=provider, request_id=request_id
        )
    if response.status == "failed":
        raise _failed(response, provider, request_id)
    reason = getattr(response.incomplete_details, "reason", None)
    texts, refused, messages = _output_texts(response)
    if reason == "content_filter" or (refused and not texts):
        raise ContentFiltered(
            "the provider's content filter refused", provider=provider, request_id=request_id
        )
    if not messages and response.status != "incomplete":
        raise MalformedResponse(
            "the provider's answer has no message", provider=provider, request_id=request_id
        )
    text = "".join(texts)
    usage = response.usage
    details = getattr(usage, "input_tokens_details", None)
    return ChatResult(
        text=text,
        model=response.model or "",
        usage=Usage(
            input_tokens=getattr(usage, "input_tokens", 0) or 0,
            output_tokens=getattr(usage, "output_tokens", 0) or 0,
            cached_tokens=getattr(details, "cached_tokens", 0) or 0,
        ),
        request_id=request_id or response._request_id,
        finish_reason=_FINISH.get(str(reason), str(reason)) if reason else "stop",
        structured=structured_answer(text) if schema else None,
    )


def structured_answer(text: str) -> Mapping[str, Any] | None:
    """The JSON object the text is (also inside a Markdown fence), or None."""
    candidate = text.strip()
    fenced = _FENCE.match(candidate)
    if fenced:
        candidate = fenced.group(1)
    if not candidate.startswith("{"):
        return None
    try:
        value = json.loads(candidate)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def rate_limits(headers: Mapping[str, str]) -> dict[str, int]:
    """The ``x-ratelimit-*`` numbers present in ``headers`` (none, against most local servers)."""
    limits: dict[str, int] = {}
    for header, name in _LIMIT_HEADERS.items():
        value = headers.get(header)
        if value is not None and value.strip().isdigit():
            limits[name] = int(value)
    return limits


def _schema_format(request: ChatRequest, strict: bool) -> dict[str, Any]:
    return {
        "name": request.schema_name,
        "schema": dict(request.response_schema or {}),
        "strict": strict,
    }


def _output_texts(response: Response) -> tuple[list[str], bool, int]:
    texts: list[str] = []
    refused = False
    messages = 0
    for item in response.output or []:
        if getattr(item, "type", None) != "message":
            continue
        messages += 1
        for part in getattr(item, "content", None) or []:
            kind = getattr(part, "type", None)
            if kind == "output_text":
                texts.append(getattr(part, "text", "") or "")
            elif kind == "refusal":
                refused = True
    return texts, refused, messages


def _failed(response: Response, provider: str, request_id: str | None) -> ProviderError:
    error = response.error
    code = getattr(error, "code", None)
    detail = getattr(error, "message", None) or "the provider failed to answer"
    if code == "rate_limit_exceeded":
        return ProviderRateLimited(detail, provider=provider, request_id=request_id)
    return ProviderServerError(detail, provider=provider, request_id=request_id)
