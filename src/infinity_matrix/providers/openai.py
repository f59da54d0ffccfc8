"""The OpenAI adapter, which is also the adapter for OpenAI-compatible servers (Ollama, vLLM,
LM Studio): our chat requests as Chat Completions or Responses API calls through the official SDK.

Options (``ProviderConfig.options``):

- ``api``: ``"responses"`` (default for ``openai``) or ``"chat"`` (Chat Completions; default for
  ``openai-compatible``, since local servers rarely speak the Responses API);
- ``sync``: ``"conversations"`` (default for ``openai``) or ``"none"`` (default for
  ``openai-compatible``);
- ``structured``: whether to ask for structured output (default True); ``strict``: whether the
  JSON schema is sent as strict (default True; OpenAI's strict mode wants every property required
  and ``additionalProperties: false``); ``store``: whether OpenAI keeps Responses API answers
  (default False); ``organization`` and ``project`` for OpenAI.

The briefing travels with every call, as the system message (chat) or ``instructions``
(responses), first, so OpenAI's automatic prompt caching bills a repeated briefing as cached
tokens. With ``sync = "conversations"`` ``push`` also keeps the current briefing in a Conversation
(one developer message) on OpenAI's side, replacing it per version: the copy the provider holds,
for tools and people working with the conversation there. ``complete`` does not answer inside that
conversation: a Responses call with ``conversation`` appends the question and answer to it, so it
would grow with every ask and stop being the briefing.

The SDK client is built once per adapter with ``max_retries=0`` (the resilient caller owns the only
retry loop) over a pooled HTTP client that ``aclose`` closes. ``complete`` makes exactly one HTTP
request and raises only the taxonomy's errors (see ``openai_errors``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import anyio
import httpx2
import openai
import structlog

from infinity_matrix.core.providers.errors import ProviderAuthError, ProviderError
from infinity_matrix.core.providers.records import (
    ChatRequest,
    ChatResult,
    ContextBundle,
    ProviderConfig,
    PushResult,
)
from infinity_matrix.errors import InvalidInput
from infinity_matrix.providers.openai_errors import translate_error
from infinity_matrix.providers.openai_wire import (
    chat_params,
    chat_result,
    rate_limits,
    response_params,
    response_result,
)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Local servers ignore the key, but the SDK will not build a client without one.
PLACEHOLDER_KEY = "no-key"
# One pool per adapter, shared by every call to the deployment; sized for the caller's
# concurrency limit rather than the SDK's default of 1000 connections.
POOL_LIMITS = httpx2.Limits(max_connections=200, max_keepalive_connections=100)
APIS = ("chat", "responses")
SYNCS = ("none", "conversations")
_SDK_ERRORS = (openai.OpenAIError, httpx2.HTTPError, ValueError, TimeoutError)

T = TypeVar("T")
log = structlog.get_logger(__name__)


class OpenAIAdapter:
    """One configured OpenAI or OpenAI-compatible provider.

    ``complete`` raises ``ProviderError`` subclasses only: ``ProviderAuthError`` (also when kind
    ``openai`` has no credential, without a request), ``ProviderBadRequest``, ``ContextTooLong``,
    ``ContentFiltered`` (finish reason ``content_filter`` or a refusal), ``ProviderNotFound``,
    ``ProviderRateLimited`` (with ``retry_after``), ``QuotaExhausted``, ``ProviderOverloaded``,
    ``ProviderServerError``, ``ProviderTimeout`` and ``MalformedResponse``. ``push`` raises the
    same family when the conversation cannot be created.

    ``last_limits`` holds the ``x-ratelimit-*`` numbers of the last answer that carried them
    (``remaining_requests``, ``remaining_tokens``, ``limit_requests``, ``limit_tokens``); it stays
    empty against servers that send none.
    """

    def __init__(self, config: ProviderConfig, credential: str | None, *, compatible: bool) -> None:
        options = config.options
        self.config = config
        self.compatible = compatible
        self.api = _choice(options, "api", APIS, "chat" if compatible else "responses")
        self.sync = _choice(options, "sync", SYNCS, "none" if compatible else "conversations")
        self.structured = _flag(options, "structured", True)
        self.strict = _flag(options, "strict", True)
        self.store = _flag(options, "store", False)
        self.last_limits: Mapping[str, int] = {}
        self._missing_key = credential is None and not compatible
        self._pushed: PushResult | None = None
        self._pushed_digest: str | None = None
        self._stale: list[str] = []
        self._http = openai.DefaultAsyncHttpxClient(limits=POOL_LIMITS)
        self._client = openai.AsyncOpenAI(
            # Always explicit, so the SDK does not fall back to OPENAI_API_KEY / OPENAI_BASE_URL:
            # the hub alone decides which credential and endpoint a provider uses.
            api_key=credential or PLACEHOLDER_KEY,
            base_url=api_base_url(config.base_url),
            organization=options.get("organization"),
            project=options.get("project"),
            max_retries=0,
            timeout=config.timeout_seconds,
            http_client=self._http,
        )

    @property
    def supports_structured_output(self) -> bool:
        return self.structured

    @property
    def pushes_remotely(self) -> bool:
        return self.sync != "none"

    async def complete(self, request: ChatRequest, *, time_left: float) -> ChatResult:
        self._check_key()
        if self.api == "chat":
            return await self._attempt(lambda: self._chat(request, time_left), time_left)
        return await self._attempt(lambda: self._respond(request, time_left), time_left)

    async def push(self, bundle: ContextBundle, *, time_left: float) -> PushResult | None:
        """Keep the briefing in a Conversation: a new one per version, the previous deleted.

        An unchanged briefing (same digest) sends nothing and answers the previous result. The
        new conversation counts once it is created: failing to delete the old one does not fail
        the push (it is retried on the next push)."""
        if self.sync == "none":
            return None
        if self._pushed is not None and self._pushed_digest == bundle.digest:
            return self._pushed
        self._check_key()
        started = anyio.current_time()
        result = await self._attempt(
            lambda: self._create_conversation(bundle, time_left), time_left
        )
        if self._pushed is not None:
            self._stale.append(self._pushed.object_id)
        self._pushed, self._pushed_digest = result, bundle.digest
        await self._delete_stale(time_left - (anyio.current_time() - started))
        return result

    def adopt(self, pushed: PushResult) -> None:
        """Take over a conversation an earlier adapter (before a restart or reconfiguration)
        created, so the next push deletes it rather than leaving it behind."""
        if self._pushed is None:
            self._stale.append(pushed.object_id)

    async def aclose(self) -> None:
        await self._client.close()
        await self._http.aclose()

    # -- one attempt -------------------------------------------------------------------------

    async def _attempt(self, call: Callable[[], Awaitable[T]], time_left: float) -> T:
        """Run ``call`` within ``time_left`` (the SDK's timeout is per read, not per call) and
        translate whatever it raises."""
        try:
            with anyio.fail_after(max(time_left, 0.0)):
                return await call()
        except ProviderError:
            raise
        except _SDK_ERRORS as exc:
            raise translate_error(exc, provider=self.config.name) from exc

    async def _chat(self, request: ChatRequest, time_left: float) -> ChatResult:
        params = chat_params(
            request,
            self.config.model,
            structured=self.structured,
            strict=self.strict,
            legacy_max_tokens=self.compatible,
        )
        raw = await self._client.chat.completions.with_raw_response.create(
            **params, timeout=time_left
        )
        self._note_limits(raw.headers)
        return chat_result(
            raw.parse(), raw.request_id, provider=self.config.name, schema=_wants(request)
        )

    async def _respond(self, request: ChatRequest, time_left: float) -> ChatResult:
        params = response_params(
            request, self.config.model, structured=self.structured, strict=self.strict
        )
        raw = await self._client.responses.with_raw_response.create(
            **params, store=self.store, timeout=time_left
        )
        self._note_limits(raw.headers)
        return response_result(
            raw.parse(), raw.request_id, provider=self.config.name, schema=_wants(request)
        )

    async def _create_conversation(self, bundle: ContextBundle, time_left: float) -> PushResult:
        conversation = await self._client.conversations.create(
            items=[{"type": "message", "role": "developer", "content": bundle.text}],
            metadata={
                "imx_workspace": bundle.workspace[:512],
                "imx_version": str(bundle.version),
                "imx_digest": bundle.digest,
            },
            timeout=time_left,
        )
        conversation_id = getattr(conversation, "id", None)
        if not isinstance(conversation_id, str) or not conversation_id:
            raise translate_error(ValueError("no conversation id"), provider=self.config.name)
        return PushResult(object_id=conversation_id, version=str(bundle.version))

    async def _delete_stale(self, time_left: float) -> None:
        with anyio.move_on_after(max(time_left, 0.0)):
            for conversation_id in list(self._stale):
                with contextlib.suppress(*_SDK_ERRORS):
                    # Already gone is as good as deleted.
                    with contextlib.suppress(openai.NotFoundError):
                        await self._client.conversations.delete(conversation_id)
                    self._stale.remove(conversation_id)
        if self._stale:
            log.warning("openai.stale_conversations", provider=self.config.name, ids=self._stale)

    def _note_limits(self, headers: Mapping[str, str]) -> None:
        limits = rate_limits(headers)
        if limits:
            self.last_limits = limits

    def _check_key(self) -> None:
        if self._missing_key:
            raise ProviderAuthError("no API key is configured", provider=self.config.name)


def create_openai(config: ProviderConfig, credential: str | None) -> OpenAIAdapter:
    """The factory of kind ``openai`` (entry point ``infinity_matrix.providers:openai``)."""
    return OpenAIAdapter(config, credential, compatible=False)


def create_openai_compatible(config: ProviderConfig, credential: str | None) -> OpenAIAdapter:
    """The factory of kind ``openai-compatible``: a base URL is required, a key is optional.

    Raises ``InvalidInput`` (``provider.base_url_required``) without a base URL."""
    if not config.base_url:
        raise InvalidInput(
            "an openai-compatible provider needs a base URL (e.g. the local server's /v1)",
            code="provider.base_url_required",
        )
    return OpenAIAdapter(config, credential, compatible=True)


def api_base_url(base_url: str | None) -> str:
    """The SDK's base URL: ``/v1`` is added to a bare ``scheme://host:port``, as every
    OpenAI-compatible server serves the API there."""
    if not base_url:
        return DEFAULT_BASE_URL
    url = httpx2.URL(base_url)
    if url.path in ("", "/"):
        return str(url.copy_with(path="/v1"))
    return base_url.rstrip("/")


def _wants(request: ChatRequest) -> bool:
    return request.response_schema is not None


def _flag(options: Mapping[str, Any], name: str, default: bool) -> bool:
    """A boolean option; text such as ``"false"`` or ``"0"`` (from a form or env) counts too."""
    value = options.get(name, default)
    if isinstance(value, str):
        return value.strip().lower() not in ("false", "0", "no", "off", "")
    return bool(value)


def _choice(options: Mapping[str, Any], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = str(options.get(name) or default)
    if value not in allowed:
        raise InvalidInput(
            f"option {name} must be one of {', '.join(allowed)}, not {value!r}",
            code="provider.invalid_option",
        )
    return value
