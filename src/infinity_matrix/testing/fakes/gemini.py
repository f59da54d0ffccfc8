"""A fake Gemini API and Vertex AI server: ``generateContent`` and ``cachedContents`` in both URL
and auth forms, deterministic answers, and Google's error format, enough for the real
``google-genai`` SDK.

URL forms served (the version segment may be any of ``v1``, ``v1beta``, ``v1beta1``):

- Gemini API, API key in ``x-goog-api-key`` (or ``?key=``):
  ``POST /{v}/models/{model}:generateContent``, ``/{v}/cachedContents[/{id}]``;
- Vertex AI, ``Authorization: Bearer <token>``:
  ``POST /{v}/projects/{p}/locations/{l}/publishers/google/models/{model}:generateContent``,
  ``/{v}/projects/{p}/locations/{l}/cachedContents[/{id}]``;
- an OAuth token endpoint, ``POST /token``, that trades a service account's signed JWT for an
  access token (point a service-account JSON's ``token_uri`` at it).

Answers are derived from the last user text. With ``responseMimeType: application/json`` and a
schema (``responseJsonSchema`` or ``responseSchema``) the answer is a JSON instance of the schema;
an ``insights`` array property gets one insight derived from the question. The cached contents
created are kept in ``GeminiApp.cached_contents`` (deleted names in ``deleted``) so tests can see
what the "provider" holds. Like the real services, a missing cached content is a 403
``PERMISSION_DENIED`` on the Gemini API and a 404 ``NOT_FOUND`` on Vertex AI; unlike them, no
minimum token count is enforced for a cached content.
"""

from __future__ import annotations

import itertools
import re
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from infinity_matrix.testing.fakes.base import FakeServer, Receive, Scope, Send, read_body

_VERSION = r"/(?P<version>v1|v1beta|v1beta1)"
_VERTEX_PARENT = r"/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
GEMINI_GENERATE = re.compile(_VERSION + r"/models/(?P<model>[^/:]+):generateContent$")
VERTEX_GENERATE = re.compile(
    _VERSION + _VERTEX_PARENT + r"/publishers/google/models/(?P<model>[^/:]+):generateContent$"
)
GEMINI_CACHES = re.compile(_VERSION + r"/cachedContents(?:/(?P<id>[^/]+))?$")
VERTEX_CACHES = re.compile(_VERSION + _VERTEX_PARENT + r"/cachedContents(?:/(?P<id>[^/]+))?$")

DEFAULT_TTL = 3600.0
_WORD = re.compile(r"[a-z0-9]{4,}")


class GoogleError(Exception):
    """Answered as ``{"error": {"code", "message", "status", "details"}}``."""

    def __init__(
        self, code: int, status: str, message: str, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.body = {
            "error": {"code": code, "message": message, "status": status, "details": details or []}
        }
        self.code = code


def google_error(
    code: int, status: str, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The body of a Google API error, for scripting faults (``Fault.status_code(429, ...)``)."""
    return GoogleError(code, status, message, details).body


def retry_info(delay: str) -> dict[str, Any]:
    """The ``google.rpc.RetryInfo`` detail of a 429, e.g. ``retry_info("7s")``."""
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}


@dataclass(frozen=True, slots=True)
class _Caller:
    """Which face a request came through: the Gemini API or a Vertex AI project/location."""

    vertex: bool
    parent: str  # "" on the Gemini API, "projects/p/locations/l" on Vertex AI

    def model_name(self, model: str) -> str:
        if self.vertex:
            return f"{self.parent}/publishers/google/models/{model}"
        return f"models/{model}"

    def cache_name(self, ident: str) -> str:
        prefix = f"{self.parent}/" if self.vertex else ""
        return f"{prefix}cachedContents/{ident}"

    def not_found(self, name: str) -> GoogleError:
        if self.vertex:
            return GoogleError(404, "NOT_FOUND", f"Not found: cached content metadata for {name}.")
        return GoogleError(
            403, "PERMISSION_DENIED", "CachedContent not found (or permission denied)"
        )


class GeminiApp:
    """The ASGI app. ``api_key`` / ``access_token``, when set, are the only credentials accepted
    (otherwise any non-empty one is)."""

    def __init__(self, *, api_key: str | None = None, access_token: str | None = None) -> None:
        self.api_key = api_key
        self.access_token = access_token
        self.cached_contents: dict[str, dict[str, Any]] = {}
        self.deleted: list[str] = []
        self.issued_tokens: list[str] = []
        self._ids = itertools.count(1)
        self._responses = itertools.count(1)

    def briefing_of(self, name: str) -> str:
        """All the text a cached content holds (system instruction first)."""
        cached = self.cached_contents[name]
        return _all_text(cached.get("systemInstruction"), *cached.get("contents", []))

    def expire(self, name: str | None = None) -> None:
        """Forget one cached content (or all), as if its TTL had run out."""
        for key in [name] if name else list(self.cached_contents):
            self.cached_contents.pop(key, None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        query = scope.get("query_string", b"").decode()
        try:
            status, answer = self._dispatch(scope["method"], scope["path"], headers, query, body)
        except GoogleError as exc:
            status, answer = exc.code, exc.body
        payload = orjson.dumps(answer)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json; charset=UTF-8"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    def _dispatch(
        self, method: str, path: str, headers: Mapping[str, str], query: str, body: bytes
    ) -> tuple[int, Any]:
        if path == "/token" and method == "POST":
            return self._token(body)
        for pattern, vertex, handler in (
            (GEMINI_GENERATE, False, self._generate),
            (VERTEX_GENERATE, True, self._generate),
            (GEMINI_CACHES, False, self._caches),
            (VERTEX_CACHES, True, self._caches),
        ):
            match = pattern.match(path)
            if match is None:
                continue
            groups = match.groupdict()
            parent = (
                f"projects/{groups['project']}/locations/{groups['location']}" if vertex else ""
            )
            caller = _Caller(vertex, parent)
            self._authenticate(caller, headers, query)
            return handler(caller, method, groups, _json(body))
        raise GoogleError(404, "NOT_FOUND", f"The requested URL {path} was not found.")

    def _authenticate(self, caller: _Caller, headers: Mapping[str, str], query: str) -> None:
        if caller.vertex:
            token = headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not token:
                raise GoogleError(
                    401, "UNAUTHENTICATED", "Request is missing required authentication credential."
                )
            known = token == self.access_token or token in self.issued_tokens
            if self.access_token is not None and not known:
                raise GoogleError(
                    401, "UNAUTHENTICATED", "Request had invalid authentication credentials."
                )
            return
        key = headers.get("x-goog-api-key") or _query_key(query)
        if not key:
            raise GoogleError(
                403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers."
            )
        if self.api_key is not None and key != self.api_key:
            raise GoogleError(
                400,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                    }
                ],
            )

    def _token(self, body: bytes) -> tuple[int, Any]:
        form = urllib.parse.parse_qs(body.decode())
        if not form.get("assertion") or not form.get("grant_type"):
            return 400, {"error": "invalid_grant", "error_description": "missing assertion"}
        token = f"fake-sa-token-{len(self.issued_tokens) + 1}"
        self.issued_tokens.append(token)
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600}

    # -- generateContent ------------------------------------------------------------------------

    def _generate(
        self, caller: _Caller, method: str, groups: Mapping[str, str], request: Any
    ) -> tuple[int, Any]:
        if method != "POST" or not isinstance(request, dict):
            raise GoogleError(400, "INVALID_ARGUMENT", "generateContent takes a JSON object.")
        model = groups["model"]
        briefing = _all_text(request.get("systemInstruction"))
        cached_tokens = 0
        if request.get("cachedContent"):
            cached = self._live_cache(caller, request["cachedContent"])
            if request.get("systemInstruction"):
                raise GoogleError(
                    400,
                    "INVALID_ARGUMENT",
                    "CachedContent can not be used with GenerateContent request setting "
                    "system_instruction, tools or tool_config.",
                )
            if cached["model"].rsplit("/", 1)[-1] != model:
                raise GoogleError(
                    400,
                    "INVALID_ARGUMENT",
                    "Model used by GenerateContent and CachedContent differ.",
                )
            cached_tokens = cached["usageMetadata"]["totalTokenCount"]
            briefing = self.briefing_of(cached["name"])
        contents = request.get("contents") or []
        if not contents:
            raise GoogleError(
                400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: required"
            )
        question = _last_user_text(contents)
        config = request.get("generationConfig") or {}
        text, finish = _answer(question, briefing, config)
        prompt_tokens = _tokens(_all_text(request.get("systemInstruction"), *contents))
        output_tokens = _tokens(text)
        return 200, {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": text}]},
                    "finishReason": finish,
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": prompt_tokens + cached_tokens,
                "candidatesTokenCount": output_tokens,
                "totalTokenCount": prompt_tokens + cached_tokens + output_tokens,
                **({"cachedContentTokenCount": cached_tokens} if cached_tokens else {}),
            },
            "modelVersion": model,
            "responseId": f"fake-gemini-{next(self._responses)}",
        }

    # -- cachedContents -------------------------------------------------------------------------

    def _caches(
        self, caller: _Caller, method: str, groups: Mapping[str, str], request: Any
    ) -> tuple[int, Any]:
        ident = groups.get("id")
        if method == "POST" and ident is None:
            return 200, self._create_cache(caller, request if isinstance(request, dict) else {})
        if method == "GET" and ident is None:
            prefix = caller.cache_name("")
            live = [c for n, c in self._live_items() if n.startswith(prefix)]
            return 200, {"cachedContents": live} if live else {}
        if ident is None:
            raise GoogleError(400, "INVALID_ARGUMENT", f"{method} needs a cached content name.")
        name = caller.cache_name(ident)
        cached = self._live_cache(caller, name)
        if method == "GET":
            return 200, _public(cached)
        if method == "DELETE":
            del self.cached_contents[name]
            self.deleted.append(name)
            return 200, {}
        if method == "PATCH" and isinstance(request, dict):
            cached.update(_expiry(request, time.time()))
            return 200, _public(cached)
        raise GoogleError(400, "INVALID_ARGUMENT", f"{method} is not supported here.")

    def _create_cache(self, caller: _Caller, request: dict[str, Any]) -> dict[str, Any]:
        model = str(request.get("model") or "")
        if not model:
            raise GoogleError(
                400, "INVALID_ARGUMENT", "* CreateCachedContentRequest.model: required"
            )
        if not request.get("contents") and not request.get("systemInstruction"):
            raise GoogleError(400, "INVALID_ARGUMENT", "Cached content must not be empty.")
        now = time.time()
        name = caller.cache_name(f"fake{next(self._ids):06d}")
        cached: dict[str, Any] = {
            "name": name,
            "model": caller.model_name(model.rsplit("/", 1)[-1]),
            "displayName": request.get("displayName", ""),
            "createTime": _timestamp(now),
            "updateTime": _timestamp(now),
            **_expiry(request, now),
            "usageMetadata": {
                "totalTokenCount": _tokens(
                    _all_text(request.get("systemInstruction"), *request.get("contents", []))
                )
            },
        }
        # Kept beside the public resource (the real API never returns them) so tests can read
        # what the provider holds.
        stored = {
            **cached,
            "systemInstruction": request.get("systemInstruction"),
            "contents": request.get("contents", []),
        }
        self.cached_contents[name] = stored
        return cached

    def _live_items(self) -> list[tuple[str, dict[str, Any]]]:
        now = time.time()
        for name in [n for n, c in self.cached_contents.items() if c["_expires"] <= now]:
            del self.cached_contents[name]
        return [(n, _public(c)) for n, c in self.cached_contents.items()]

    def _live_cache(self, caller: _Caller, name: str) -> dict[str, Any]:
        cached = dict(self._live_items()).get(name)
        if cached is None:
            raise caller.not_found(name)
        return self.cached_contents[name]


def gemini_app(*, api_key: str | None = None, access_token: str | None = None) -> GeminiApp:
    """The fake's ASGI app (both the Gemini API and the Vertex AI forms)."""
    return GeminiApp(api_key=api_key, access_token=access_token)


class FakeGeminiServer(FakeServer):
    """A ``FakeServer`` whose ``app`` (cached contents, deletions) stays inspectable."""

    def __init__(self, app: GeminiApp) -> None:
        super().__init__(app)
        self.app = app


def fake_gemini(*, api_key: str | None = None, access_token: str | None = None) -> FakeGeminiServer:
    """A fake Gemini API / Vertex AI server: ``async with server.serving() as url: ...``."""
    return FakeGeminiServer(gemini_app(api_key=api_key, access_token=access_token))


# -- answers ------------------------------------------------------------------------------------


def _answer(question: str, briefing: str, config: Mapping[str, Any]) -> tuple[str, str]:
    schema = config.get("responseJsonSchema") or config.get("responseSchema")
    if config.get("responseMimeType") == "application/json" and isinstance(schema, dict):
        value = _instance(schema, question, _prose(question, briefing))
        return orjson.dumps(value).decode(), "STOP"
    text = _prose(question, briefing)
    limit = config.get("maxOutputTokens")
    if isinstance(limit, int) and _tokens(text) > limit:
        return text[: max(limit, 1) * 4], "MAX_TOKENS"
    return text, "STOP"


def _prose(question: str, briefing: str) -> str:
    seen = f" (briefing: {_tokens(briefing)} tokens)" if briefing else ""
    return f"Fake Gemini answer to: {question}{seen}"


def _instance(schema: Mapping[str, Any], question: str, answer: str, name: str = "") -> Any:
    """A deterministic value of ``schema`` (JSON Schema or Gemini's OpenAPI subset)."""
    if schema.get("enum"):
        return schema["enum"][0]
    kind = str(schema.get("type", "object")).lower()
    if kind == "object":
        properties = schema.get("properties") or {}
        return {key: _instance(sub, question, answer, key) for key, sub in properties.items()}
    if kind == "array":
        if name == "insights":
            return [_insight(schema.get("items") or {}, question)]
        return [_instance(schema.get("items") or {}, question, answer)]
    if kind == "string":
        return answer if name in ("answer", "") else f"{name}: {question}"
    if kind in ("number", "integer"):
        return 1
    if kind == "boolean":
        return True
    return None


def _insight(schema: Mapping[str, Any], question: str) -> dict[str, Any]:
    properties = schema.get("properties") or {}
    kind = properties.get("kind", {}).get("enum", ["convention"])
    insight = {
        "kind": "convention" if "convention" in kind else kind[0],
        "title": question[:60],
        "body": f"Learned while answering: {question}",
        "tags": _WORD.findall(question.lower())[:3],
    }
    extra = {
        key: _instance(sub, question, question, key)
        for key, sub in properties.items()
        if key not in insight
    }
    return {**insight, **extra}


# -- helpers ------------------------------------------------------------------------------------


def _json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise GoogleError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.") from exc


def _query_key(query: str) -> str:
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if key == "key":
            return value
    return ""


def _all_text(*contents: Any) -> str:
    texts = []
    for content in contents:
        if isinstance(content, dict):
            texts += [str(p["text"]) for p in content.get("parts", []) if "text" in p]
    return "\n".join(texts)


def _last_user_text(contents: list[Any]) -> str:
    """The last text part of the last user turn: the question (instructions that go with a
    cached content come first in the turn, as their own part)."""
    for content in reversed(contents):
        if isinstance(content, dict) and content.get("role", "user") == "user":
            parts = [p for p in content.get("parts") or [] if isinstance(p, dict) and "text" in p]
            return str(parts[-1]["text"]) if parts else _all_text(content)
    return ""


def _tokens(text: str) -> int:
    return (len(text) + 3) // 4


def _timestamp(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).isoformat().replace("+00:00", "Z")


def _expiry(request: Mapping[str, Any], now: float) -> dict[str, Any]:
    if request.get("expireTime"):
        expires = datetime.fromisoformat(str(request["expireTime"]).replace("Z", "+00:00"))
        when = expires.timestamp()
    else:
        ttl = str(request.get("ttl") or f"{DEFAULT_TTL}s")
        when = now + float(ttl.removesuffix("s"))
    return {"expireTime": _timestamp(when), "_expires": when}


def _public(cached: Mapping[str, Any]) -> dict[str, Any]:
    hidden = ("_expires", "systemInstruction", "contents")
    return {k: v for k, v in cached.items() if k not in hidden}
