"""A fake Anthropic Messages API: ``POST /v1/messages`` and ``GET /v1/models`` answered well
enough for the official SDK, deterministically, with Anthropic's headers and error bodies.

What it imitates:

- every answer carries a ``request-id`` and the ``anthropic-ratelimit-*`` headers;
- a request without an ``x-api-key`` or ``Authorization`` header is a 401
  ``authentication_error``; a prompt over ``context_window`` tokens is a 400 "prompt is too long";
  ``temperature``, ``top_p`` or ``top_k`` is a 400, as in API version 2026-10-21;
- the answer is derived from the last user message; a forced tool call
  (``tool_choice: {"type": "tool", "name": …}``) answers a ``tool_use`` block whose input is valid
  for the tool's schema (an ``answer`` string, one ``pitfall`` insight in an ``insights`` array);
- prompt caching: every prefix that ends at a ``cache_control`` breakpoint is remembered, and a
  later request with the same prefix reports it as ``cache_read_input_tokens`` (the real API's
  minimum cacheable length is not imitated: any prefix is cached);
- tokens are counted as one per four characters, at least one per piece of text.

Errors in Anthropic's shape are scripted with ``anthropic_fault`` (``refusal_fault`` for a 200
that the model refused); the generic faults of ``base`` apply as well.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from infinity_matrix.testing.fakes.base import ASGIApp, FakeServer, Fault

DEFAULT_MODELS = ("claude-fake-1", "claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5")
CONTEXT_WINDOW = 200_000
REQUESTS_PER_MINUTE = 1000
TOKENS_PER_MINUTE = 400_000
_CREATED_AT = "2025-01-01T00:00:00Z"
# API version 2026-10-21 rejects the sampling parameters, even at their default values.
_SAMPLING = ("temperature", "top_p", "top_k")
# Marks a prompt piece that ends at a cache_control breakpoint (no JSON text contains a NUL).
_BREAKPOINT = "\x00cache\x00"


def anthropic_fault(
    status: int,
    error_type: str,
    message: str = "",
    headers: dict[str, str] | None = None,
    *,
    path: str = "/v1/messages",
) -> Fault:
    """A scripted error answered in Anthropic's shape,
    ``{"type": "error", "error": {"type": error_type, "message": message}}``."""
    return Fault.status_code(
        status, _error_body(error_type, message or f"scripted {error_type}"), headers, path=path
    )


def refusal_fault(model: str = DEFAULT_MODELS[0], *, path: str = "/v1/messages") -> Fault:
    """A 200 whose message stopped with ``stop_reason: "refusal"`` (a safety classifier)."""
    body = _message(model, 0, [], "refusal", {"input_tokens": 1, "output_tokens": 0})
    return Fault.status_code(200, body, {"request-id": "req_fake_refusal"}, path=path)


@dataclass(slots=True)
class _State:
    models: tuple[str, ...]
    context_window: int
    require_key: bool
    cached_prefixes: set[str] = field(default_factory=set)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


def anthropic_app(
    *,
    models: Sequence[str] = DEFAULT_MODELS,
    context_window: int = CONTEXT_WINDOW,
    require_key: bool = True,
) -> ASGIApp:
    """The fake's ASGI app. ``models`` are the ids it lists and accepts (any other model is a 404
    ``not_found_error``, as from the real API)."""
    state = _State(tuple(models), context_window, require_key)

    async def messages(request: Request) -> Response:
        number = next(state.ids)
        if state.require_key and not _has_key(request):
            return _error(401, "authentication_error", "an API key is required", number)
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _error(
                400, "invalid_request_error", "The request body is not valid JSON", number
            )
        problem = _invalid(body, state)
        if problem is not None:
            status, error_type, text = problem
            return _error(status, error_type, text, number)
        return _answer(body, state, number)

    async def list_models(request: Request) -> Response:
        data = [_model_info(m) for m in state.models]
        page = {"data": data, "has_more": False, "first_id": data[0]["id"] if data else None}
        page["last_id"] = data[-1]["id"] if data else None
        return JSONResponse(page, headers=_headers(next(state.ids)))

    async def get_model(request: Request) -> Response:
        number = next(state.ids)
        model = request.path_params["model"]
        if model not in state.models:
            return _error(404, "not_found_error", f"model: {model}", number)
        return JSONResponse(_model_info(model), headers=_headers(number))

    async def not_found(request: Request) -> Response:
        return _error(404, "not_found_error", "Not found", next(state.ids))

    return Starlette(
        routes=[
            Route("/v1/messages", messages, methods=["POST"]),
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/v1/models/{model:path}", get_model, methods=["GET"]),
            Route("/{rest:path}", not_found, methods=["GET", "POST", "PUT", "DELETE"]),
        ]
    )


def fake_anthropic(
    *,
    models: Sequence[str] = DEFAULT_MODELS,
    context_window: int = CONTEXT_WINDOW,
    require_key: bool = True,
) -> FakeServer:
    """A fake Anthropic server (``anthropic_app``), served with ``async with fake.serving():``."""
    return FakeServer(
        anthropic_app(models=models, context_window=context_window, require_key=require_key)
    )


def _has_key(request: Request) -> bool:
    bearer = request.headers.get("authorization", "").removeprefix("Bearer").strip()
    return bool(request.headers.get("x-api-key") or bearer)


def _invalid(body: Any, state: _State) -> tuple[int, str, str] | None:
    """What the real API would refuse in this body, as (status, error type, message)."""
    if not isinstance(body, dict):
        return 400, "invalid_request_error", "The request body must be a JSON object"
    for name, kind in (("model", str), ("max_tokens", int), ("messages", list)):
        if not isinstance(body.get(name), kind):
            return 400, "invalid_request_error", f"{name}: Field required"
    for name in _SAMPLING:
        if name in body:
            return 400, "invalid_request_error", f"{name}: Extra inputs are not permitted"
    if body.get("stream"):
        return 400, "invalid_request_error", "stream: the fake answers whole messages only"
    if body["model"] not in state.models:
        return 404, "not_found_error", f"model: {body['model']}"
    if not body["messages"]:
        return 400, "invalid_request_error", "messages: at least one message is required"
    forced = _forced_tool(body)
    if forced is not None and not any(t.get("name") == forced for t in body.get("tools") or ()):
        return 400, "invalid_request_error", f"tool_choice: no tool named {forced}"
    tokens = sum(n for n, _ in _pieces(body))
    if tokens + body["max_tokens"] > state.context_window:
        return (
            400,
            "invalid_request_error",
            f"prompt is too long: {tokens} tokens > {state.context_window} maximum",
        )
    return None


def _answer(body: dict[str, Any], state: _State, number: int) -> Response:
    question = _last_user_text(body["messages"])
    answer = f"Fake Claude answer to: {question}" if question else "Fake Claude answer."
    forced = _forced_tool(body)
    if forced is None:
        content: list[dict[str, Any]] = [{"type": "text", "text": answer}]
        stop = "end_turn"
    else:
        tool = next(t for t in body["tools"] if t.get("name") == forced)
        value = _sample(tool.get("input_schema") or {}, "", question, answer)
        content = [{"type": "tool_use", "id": f"toolu_fake_{number}", "name": forced}]
        content[0]["input"] = value
        stop = "tool_use"
    output_tokens = _tokens(orjson.dumps(content).decode())
    usage = _usage(body, state, output_tokens)
    return JSONResponse(
        _message(body["model"], number, content, stop, usage), headers=_headers(number, usage)
    )


def _message(
    model: str, number: int, content: list[dict[str, Any]], stop: str, usage: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": f"msg_fake_{number}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }


def _usage(body: dict[str, Any], state: _State, output_tokens: int) -> dict[str, Any]:
    """Tokens split the way the real API splits them: read from the cache (the longest prefix
    seen before), written to it (the rest up to the last breakpoint), and the uncached rest."""
    read = written = total = 0
    prefix = hashlib.sha256(str(body["model"]).encode())
    for tokens, piece in _pieces(body):
        prefix.update(piece.encode())
        total += tokens
        if not piece.startswith(_BREAKPOINT):
            continue
        digest = prefix.hexdigest()
        if digest in state.cached_prefixes:
            read, written = total, 0
        else:
            state.cached_prefixes.add(digest)
            written = total - read
    return {
        "input_tokens": total - read - written,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": read,
        "cache_creation": {"ephemeral_5m_input_tokens": written, "ephemeral_1h_input_tokens": 0},
        "service_tier": "standard",
    }


def _pieces(body: dict[str, Any]) -> list[tuple[int, str]]:
    """The prompt in the order the API caches it (tools, system, messages), one piece per block
    with its token count; a piece that ends at a ``cache_control`` breakpoint is marked."""
    blocks: list[Any] = list(body.get("tools") or ())
    system = body.get("system")
    blocks += [{"type": "text", "text": system}] if isinstance(system, str) else list(system or ())
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        blocks += [{"type": "text", "text": content}] if isinstance(content, str) else content or []
    pieces = []
    for block in blocks:
        text = block.get("text") if isinstance(block, dict) else None
        text = text if isinstance(text, str) else orjson.dumps(block).decode()
        marked = isinstance(block, dict) and block.get("cache_control") is not None
        pieces.append((_tokens(text), (_BREAKPOINT if marked else "") + text))
    return pieces


def _tokens(text: str) -> int:
    return max(1, (len(text) + 3) // 4)


def _forced_tool(body: dict[str, Any]) -> str | None:
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "tool":
        return str(choice.get("name"))
    return None


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content.strip()
        texts = [b.get("text", "") for b in content or () if isinstance(b, dict)]
        return " ".join(t for t in texts if isinstance(t, str)).strip()
    return ""


def _sample(schema: Mapping[str, Any], name: str, question: str, answer: str) -> Any:
    """A value valid for ``schema`` (the subset tool schemas use), derived from the question:
    ``answer`` is the answer text, ``insights`` holds one pitfall drawn from the question."""
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        choices = list(schema["enum"])
        return "pitfall" if name == "kind" and "pitfall" in choices else choices[0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return _sample(schema[key][0], name, question, answer)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties: Mapping[str, Any] = schema.get("properties") or {}
        return {k: _sample(v, k, question, answer) for k, v in properties.items()}
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        item = schema.get("items") or {"type": "string"}
        if name == "tags":
            return _tags(question, count)
        return [_sample(item, name, question, answer) for _ in range(count)]
    if kind in ("integer", "number"):
        low, high = schema.get("minimum", 0), schema.get("maximum", 1)
        middle = (low + high) / 2 if high >= low else low
        return int(middle) if kind == "integer" else middle
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _text(name, question, answer, int(schema.get("maxLength", 2000)))


def _text(name: str, question: str, answer: str, limit: int) -> str:
    topic = question[:80] or "the question"
    texts = {
        "answer": answer,
        "kind": "pitfall",
        "title": f"Pitfall: {topic}",
        "body": f"Asked '{topic}': check the shared context before answering.",
    }
    return texts.get(name, f"{name or 'value'} for {topic}")[:limit]


# Words too common to be tags; a word list reads better as one string than as 30 literals.
_COMMON_WORDS = frozenset(
    "does that this with what when where which from have there their about would could should"  # noqa: SIM905
    " into your them they were been will after before behind over under then than also just"
    " only some such very".split()
)


def _tags(question: str, count: int) -> list[str]:
    words = [w.lower() for w in re.findall(r"[A-Za-z][A-Za-z0-9]{3,}", question)]
    words = [w for w in words if w not in _COMMON_WORDS]
    tags = list(dict.fromkeys(words))[:3] or ["fake"]
    return (tags * count)[: max(count, len(tags))]


def _headers(number: int, usage: Mapping[str, Any] | None = None) -> dict[str, str]:
    reset = (datetime.now(UTC) + timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    used = 0 if usage is None else int(usage["input_tokens"]) + int(usage["output_tokens"])
    headers = {"request-id": f"req_fake_{number}"}
    for limit_name, limit in (("requests", REQUESTS_PER_MINUTE), ("tokens", TOKENS_PER_MINUTE)):
        remaining = limit - (1 if limit_name == "requests" else used)
        headers[f"anthropic-ratelimit-{limit_name}-limit"] = str(limit)
        headers[f"anthropic-ratelimit-{limit_name}-remaining"] = str(remaining)
        headers[f"anthropic-ratelimit-{limit_name}-reset"] = reset
    return headers


def _error_body(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}}


def _error(status: int, error_type: str, message: str, number: int) -> Response:
    return JSONResponse(
        _error_body(error_type, message), status_code=status, headers=_headers(number)
    )


def _model_info(model: str) -> dict[str, Any]:
    return {"type": "model", "id": model, "display_name": model, "created_at": _CREATED_AT}
