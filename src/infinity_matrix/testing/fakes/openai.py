"""A fake of OpenAI's wire API, good enough for the official SDK: Chat Completions, Responses,
Conversations (and their items) and the model list.

Answers are deterministic. The text echoes the last user message (``You asked: …``); when a
JSON schema is asked for, the answer is a JSON instance of it, and a schema with an ``insights``
array gets one insight derived from the question, so the hub's "ask" flow gets something to
record. Usage is counted as a quarter of the characters; a system prompt or ``instructions``
seen before counts as cached (what OpenAI's prompt caching reports for a repeated prefix).

Every answer carries ``x-request-id`` and, unless ``rate_limit_headers`` is switched off (as on
Ollama or vLLM), the ``x-ratelimit-*`` headers. ``models`` (when given) limits which models
exist; ``api_key`` (when given) is the only key accepted; ``context_window`` (when given) is
enforced with OpenAI's ``context_length_exceeded`` error. What the provider "has seen" stays
inspectable: ``conversations`` (deleted ones included, flagged) and ``system_texts``.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from infinity_matrix.testing.fakes.answers import answer_for_schema, answer_text
from infinity_matrix.testing.fakes.base import FakeServer, Receive, Scope, Send

DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4.1", "gpt-5-mini", "llama3.2", "qwen2.5")
SYSTEM_ROLES = ("system", "developer")
REQUEST_LIMIT = 500
TOKEN_LIMIT = 200_000


@dataclass(slots=True)
class FakeConversation:
    """A conversation as the fake holds it: its items as sent, and whether it was deleted."""

    id: str
    items: list[dict[str, Any]]
    metadata: dict[str, str]
    created_at: int
    deleted: bool = False

    def text(self) -> str:
        """Everything the conversation says, joined: what assertions look for."""
        return "\n".join(_item_text(item) for item in self.items)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "conversation",
            "created_at": self.created_at,
            "metadata": self.metadata,
        }


class FakeOpenAI:
    """The ASGI app and the state a test inspects or switches."""

    def __init__(
        self,
        *,
        models: Sequence[str] | None = None,
        api_key: str | None = None,
        context_window: int | None = None,
        rate_limit_headers: bool = True,
    ) -> None:
        self.models = tuple(models) if models is not None else None
        self.api_key = api_key
        self.context_window = context_window
        self.rate_limit_headers = rate_limit_headers
        self.conversations: dict[str, FakeConversation] = {}
        self.system_texts: list[str] = []
        self._counter = itertools.count(1).__next__
        self._tokens_used = 0
        self._requests_served = 0
        self._app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/responses", self._responses, methods=["POST"]),
                Route("/v1/conversations", self._create_conversation, methods=["POST"]),
                Route("/v1/conversations/{cid}", self._conversation, methods=["GET", "DELETE"]),
                Route("/v1/conversations/{cid}/items", self._items, methods=["GET", "POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    def live_conversations(self) -> list[FakeConversation]:
        return [c for c in self.conversations.values() if not c.deleted]

    # -- endpoints ---------------------------------------------------------------------------

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        refused = self._refuse(request, body)
        if refused is not None:
            return refused
        messages = body.get("messages") or []
        system = "\n".join(
            _content_text(m.get("content")) for m in messages if m.get("role") in SYSTEM_ROLES
        )
        question = next(
            (_content_text(m.get("content")) for m in reversed(messages) if m["role"] == "user"),
            "",
        )
        schema = _chat_schema(body.get("response_format"))
        prompt = "\n".join(_content_text(m.get("content")) for m in messages)
        too_long = self._check_window(prompt)
        if too_long is not None:
            return too_long
        cached = self._cached(system)
        text = _answer(question, schema)
        n = self._counter()
        usage = _usage_numbers(prompt, text, cached)
        return self._ok(_chat_body(n, body["model"], text, usage), n, usage)

    async def _responses(self, request: Request) -> Response:
        body = await request.json()
        refused = self._refuse(request, body)
        if refused is not None:
            return refused
        items = _input_items(body.get("input"))
        conversation = self._conversation_of(body.get("conversation"))
        if body.get("conversation") and conversation is None:
            return _not_found("Conversation", _conversation_id(body.get("conversation")))
        history = (conversation.items if conversation else []) + items
        instructions = body.get("instructions") or ""
        system = "\n".join(
            [instructions] + [_item_text(i) for i in history if i.get("role") in SYSTEM_ROLES]
        )
        question = next((_item_text(i) for i in reversed(history) if i.get("role") == "user"), "")
        prompt = "\n".join([instructions] + [_item_text(i) for i in history])
        too_long = self._check_window(prompt)
        if too_long is not None:
            return too_long
        cached = self._cached(system)
        schema = _responses_schema(body.get("text"))
        text = _answer(question, schema)
        n = self._counter()
        usage = _usage_numbers(prompt, text, cached)
        output = {
            "type": "message",
            "id": f"msg_fake{n:08d}",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }
        if conversation is not None:
            stored = [_stored_item(i, n, k) for k, i in enumerate(items)]
            conversation.items.extend([*stored, output])
        return self._ok(_response_body(n, body, output, conversation, usage), n, usage)

    async def _create_conversation(self, request: Request) -> Response:
        refused = self._refuse(request, None)
        if refused is not None:
            return refused
        body = await request.json()
        n = self._counter()
        conversation = FakeConversation(
            id=f"conv_fake{n:08d}",
            items=[_stored_item(i, n, k) for k, i in enumerate(_input_items(body.get("items")))],
            metadata=dict(body.get("metadata") or {}),
            created_at=int(time.time()),
        )
        self.conversations[conversation.id] = conversation
        return self._ok(conversation.to_json(), n)

    async def _conversation(self, request: Request) -> Response:
        refused = self._refuse(request, None)
        if refused is not None:
            return refused
        cid = request.path_params["cid"]
        conversation = self._conversation_of(cid)
        if conversation is None:
            return _not_found("Conversation", cid)
        if request.method == "DELETE":
            conversation.deleted = True
            return self._ok({"id": cid, "object": "conversation.deleted", "deleted": True})
        return self._ok(conversation.to_json())

    async def _items(self, request: Request) -> Response:
        refused = self._refuse(request, None)
        if refused is not None:
            return refused
        cid = request.path_params["cid"]
        conversation = self._conversation_of(cid)
        if conversation is None:
            return _not_found("Conversation", cid)
        data = conversation.items
        if request.method == "POST":
            n = self._counter()
            body = await request.json()
            data = [_stored_item(i, n, k) for k, i in enumerate(_input_items(body.get("items")))]
            conversation.items.extend(data)
        return self._ok(
            {
                "object": "list",
                "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
                "has_more": False,
            }
        )

    async def _models(self, request: Request) -> Response:
        refused = self._refuse(request, None)
        if refused is not None:
            return refused
        data = [
            {"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "fake"}
            for m in (self.models or DEFAULT_MODELS)
        ]
        return self._ok({"object": "list", "data": data})

    # -- shared parts ------------------------------------------------------------------------

    def _refuse(self, request: Request, body: Mapping[str, Any] | None) -> Response | None:
        """The checks OpenAI makes before it looks at a request: the key, then the model."""
        if self.api_key is not None:
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if given != self.api_key:
                return _error(
                    401,
                    "Incorrect API key provided. You can find your API key in your account.",
                    "invalid_request_error",
                    "invalid_api_key",
                )
        if body is not None and self.models is not None and body.get("model") not in self.models:
            return _error(
                404,
                f"The model `{body.get('model')}` does not exist or you do not have access to it.",
                "invalid_request_error",
                "model_not_found",
            )
        return None

    def _check_window(self, prompt: str) -> Response | None:
        tokens = _tokens(prompt)
        if self.context_window is None or tokens <= self.context_window:
            return None
        return _error(
            400,
            f"This model's maximum context length is {self.context_window} tokens. However, "
            f"your messages resulted in {tokens} tokens. Please reduce the length of the messages.",
            "invalid_request_error",
            "context_length_exceeded",
            param="messages",
        )

    def _cached(self, system: str) -> int:
        """Tokens of a system prompt seen before: OpenAI reports a repeated prefix as cached."""
        if not system:
            return 0
        seen = system in self.system_texts
        self.system_texts.append(system)
        return _tokens(system) if seen else 0

    def _conversation_of(self, ref: Any) -> FakeConversation | None:
        conversation = self.conversations.get(_conversation_id(ref))
        return None if conversation is None or conversation.deleted else conversation

    def _ok(
        self, body: Mapping[str, Any], n: int | None = None, usage: Sequence[int] = (0, 0, 0)
    ) -> Response:
        self._requests_served += 1
        self._tokens_used += usage[0] + usage[1]
        headers = {
            "x-request-id": f"req_fake{n if n is not None else self._counter():08d}",
            "openai-processing-ms": "3",
            "openai-version": "2020-10-01",
        }
        if self.rate_limit_headers:
            headers.update(
                {
                    "x-ratelimit-limit-requests": str(REQUEST_LIMIT),
                    "x-ratelimit-limit-tokens": str(TOKEN_LIMIT),
                    "x-ratelimit-remaining-requests": str(REQUEST_LIMIT - self._requests_served),
                    "x-ratelimit-remaining-tokens": str(max(TOKEN_LIMIT - self._tokens_used, 0)),
                    "x-ratelimit-reset-requests": "120ms",
                    "x-ratelimit-reset-tokens": "1s",
                }
            )
        return JSONResponse(dict(body), headers=headers)


def openai_app(
    *,
    models: Sequence[str] | None = None,
    api_key: str | None = None,
    context_window: int | None = None,
    rate_limit_headers: bool = True,
) -> FakeOpenAI:
    """The fake's ASGI app (any model, any key, no window, rate-limit headers on by default)."""
    return FakeOpenAI(
        models=models,
        api_key=api_key,
        context_window=context_window,
        rate_limit_headers=rate_limit_headers,
    )


class FakeOpenAIServer(FakeServer):
    """The fake served on a loopback port; ``app`` is its state."""

    def __init__(self, app: FakeOpenAI) -> None:
        super().__init__(app)
        self.app = app


def fake_openai(
    *,
    models: Sequence[str] | None = None,
    api_key: str | None = None,
    context_window: int | None = None,
    rate_limit_headers: bool = True,
) -> FakeOpenAIServer:
    """A fake OpenAI server, ready for ``async with server.serving() as url``."""
    return FakeOpenAIServer(
        openai_app(
            models=models,
            api_key=api_key,
            context_window=context_window,
            rate_limit_headers=rate_limit_headers,
        )
    )


def _answer(question: str, schema: Mapping[str, Any] | None) -> str:
    if schema is None:
        return answer_text(question)
    return json.dumps(answer_for_schema(schema, question))


def _chat_body(n: int, model: str, text: str, usage: Sequence[int]) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-fake{n:08d}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": usage[0] + usage[1],
            "prompt_tokens_details": {"cached_tokens": usage[2], "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        },
        "system_fingerprint": "fp_fake",
    }


def _response_body(
    n: int,
    request: Mapping[str, Any],
    output: Mapping[str, Any],
    conversation: FakeConversation | None,
    usage: Sequence[int],
) -> dict[str, Any]:
    return {
        "id": f"resp_fake{n:08d}",
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": request["model"],
        "output": [output],
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "temperature": request.get("temperature"),
        "text": request.get("text") or {"format": {"type": "text"}},
        "conversation": {"id": conversation.id} if conversation else None,
        "previous_response_id": request.get("previous_response_id"),
        "store": request.get("store", True),
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "metadata": request.get("metadata") or {},
        "error": None,
        "incomplete_details": None,
        "usage": {
            "input_tokens": usage[0],
            "input_tokens_details": {"cached_tokens": usage[2]},
            "output_tokens": usage[1],
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": usage[0] + usage[1],
        },
    }


# -- wire helpers ----------------------------------------------------------------------------


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _item_text(item: Mapping[str, Any]) -> str:
    return _content_text(item.get("content"))


def _input_items(raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [{"type": "message", "role": "user", "content": raw}]
    return [dict(i) for i in raw]


def _stored_item(item: Mapping[str, Any], n: int, k: int) -> dict[str, Any]:
    text = _item_text(item)
    kind = "output_text" if item.get("role") == "assistant" else "input_text"
    return {
        "type": "message",
        "id": f"msg_fake{n:08d}_{k}",
        "status": "completed",
        "role": item.get("role", "user"),
        "content": [{"type": kind, "text": text}],
    }


def _conversation_id(ref: Any) -> str:
    if isinstance(ref, Mapping):
        return str(ref.get("id", ""))
    return str(ref or "")


def _chat_schema(response_format: Any) -> Mapping[str, Any] | None:
    if isinstance(response_format, Mapping) and response_format.get("type") == "json_schema":
        schema: Mapping[str, Any] = response_format.get("json_schema", {}).get("schema") or {}
        return schema
    return None


def _responses_schema(text: Any) -> Mapping[str, Any] | None:
    fmt = text.get("format") if isinstance(text, Mapping) else None
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
        schema: Mapping[str, Any] = fmt.get("schema") or {}
        return schema
    return None


def _tokens(text: str) -> int:
    return max(1, len(text) // 4) if text else 0


def _usage_numbers(prompt: str, answer: str, cached: int) -> tuple[int, int, int]:
    return _tokens(prompt), _tokens(answer), cached


def _error(
    status: int, message: str, kind: str, code: str | None, *, param: str | None = None
) -> Response:
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers={"x-request-id": f"req_err{status}"})


def _not_found(what: str, ident: str) -> Response:
    return _error(404, f"{what} with id '{ident}' not found.", "invalid_request_error", None)
