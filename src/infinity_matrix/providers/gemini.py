"""The Gemini adapter: the Gemini API (API key) and Vertex AI (project, location, Google
credentials) through ``google-genai``, with a cached content as the sync target.

Both kinds share one class; they differ only in how the SDK client is built. Each adapter owns
one pooled ``httpx2.AsyncClient`` (the SDK's async transport when ``aiohttp`` is absent, and the
one we hand it so it never picks another), closed by ``aclose``. The SDK makes one attempt: no
``retry_options`` are ever set, so the resilient caller's loop is the only one.

Sync target (option ``sync``, default ``cached_content``): ``push`` stores the briefing as the
system instruction of a ``cachedContents`` object with a TTL (option ``cache_ttl_seconds``,
default 3600), deletes the one it replaces, and skips an unchanged briefing. ``complete`` names
that object (``cached_content``) instead of sending the briefing again while the request's
bundle is the one pushed; any other bundle goes inline as the system instruction. A request
cannot carry both, so with a cached content the request's own ``instructions`` lead the first
user turn. When the provider says the cached content is gone (expired, deleted elsewhere), the
adapter forgets it, logs ``gemini.cached_content_lost`` and sends that one call again with the
briefing inline. The real services refuse a cached content under a minimum size (about a
thousand tokens, model-dependent); such a push answers ``object_id="inline"`` and the briefing
travels with every call.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import httpx2
import structlog
from google import genai
from google.auth import exceptions as auth_errors
from google.auth.credentials import Credentials
from google.genai import types
from google.oauth2.credentials import Credentials as TokenCredentials
from google.oauth2.service_account import Credentials as ServiceAccountCredentials

from infinity_matrix.core.providers.errors import (
    MalformedResponse,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderTimeout,
)
from infinity_matrix.core.providers.records import (
    ChatRequest,
    ChatResult,
    ContextBundle,
    ProviderConfig,
    PushResult,
)
from infinity_matrix.errors import InvalidInput
from infinity_matrix.providers.gemini_errors import (
    SDK_ERRORS,
    is_cache_too_small,
    is_missing_cache,
    translate,
)
from infinity_matrix.providers.gemini_wire import (
    to_chat_result,
    to_contents,
    to_system_instruction,
)

__all__ = ["GeminiAdapter", "create_gemini", "create_vertex"]

GEMINI_API_VERSION = "v1beta"  # cachedContents and responseJsonSchema live here
VERTEX_API_VERSION = "v1"
VERTEX_LOCATION = "us-central1"
DEFAULT_CACHE_TTL = 3600.0
SYNC_MODES = ("cached_content", "none")
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
MAX_CONNECTIONS = 100
INLINE = "inline"

log = structlog.get_logger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Cached:
    """The cached content holding one workspace briefing."""

    name: str
    workspace: str
    digest: str
    version: int
    expires_at: float  # seconds since the epoch, from the provider's expireTime

    def holds(self, bundle: ContextBundle, now: float) -> bool:
        """Still alive (with a margin for the call in flight) and holding ``bundle``'s text."""
        return (
            self.workspace == bundle.workspace
            and self.digest == bundle.digest
            and now < self.expires_at - 30.0
        )


class GeminiAdapter:
    """One configured Gemini API or Vertex AI provider.

    ``complete`` and ``push`` raise only ``ProviderError`` subclasses; a Gemini provider stored
    without an API key raises ``ProviderAuthError`` on every call."""

    def __init__(
        self,
        config: ProviderConfig,
        *,
        client: genai.Client | None,
        http: httpx2.AsyncClient,
        sync: str = "cached_content",
        cache_ttl: float = DEFAULT_CACHE_TTL,
    ) -> None:
        self.config = config
        self._client = client
        self._http = http
        self._sync = sync
        self._cache_ttl = cache_ttl
        self._cached: _Cached | None = None
        self._push_lock = asyncio.Lock()

    @property
    def supports_structured_output(self) -> bool:
        return True

    @property
    def pushes_remotely(self) -> bool:
        return self._sync != "none"

    @property
    def cached_content(self) -> str | None:
        """The name of the cached content now holding the briefing, if any."""
        return self._cached.name if self._cached else None

    async def complete(self, request: ChatRequest, *, time_left: float) -> ChatResult:
        if not request.messages:
            raise ProviderBadRequest("a request needs at least one message", provider=self._name)
        deadline = time.monotonic() + time_left
        cached = self._cache_for(request.context)
        try:
            response = await self._call(deadline, lambda o: self._generate(request, cached, o))
        except ProviderError as error:
            if cached is None or not is_missing_cache(error.__cause__):
                raise
            self._forget(cached)
            response = await self._call(deadline, lambda o: self._generate(request, None, o))
        return to_chat_result(response, request, self.config.model, self._name)

    async def push(self, bundle: ContextBundle, *, time_left: float) -> PushResult | None:
        if self._sync == "none":
            return None
        deadline = time.monotonic() + time_left
        async with self._push_lock:
            current = self._cached
            if current is not None and current.holds(bundle, time.time()):
                self._cached = replace(current, version=bundle.version)
                return PushResult(current.name, str(bundle.version), "unchanged briefing")
            if not bundle.text.strip():
                note = await self._delete(current, deadline)
                self._cached = None
                return PushResult(INLINE, str(bundle.version), f"empty briefing{note}")
            try:
                created = await self._call(deadline, lambda o: self._create_cache(bundle, o))
            except ProviderBadRequest as error:
                if not is_cache_too_small(error.__cause__):
                    raise
                note = await self._delete(current, deadline)
                self._cached = None
                detail = f"briefing below the provider's minimum cache size: sent inline{note}"
                return PushResult(INLINE, str(bundle.version), detail)
            self._cached = self._remember(created, bundle)
            note = await self._delete(current, deadline)
            return PushResult(self._cached.name, str(bundle.version), f"cached content{note}")

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aio.aclose()
            self._client.close()
        await self._http.aclose()

    # -- calls ----------------------------------------------------------------------------------

    @property
    def _name(self) -> str:
        return self.config.name

    def _sdk(self) -> genai.Client:
        if self._client is None:
            raise ProviderAuthError("no API key is configured", provider=self._name)
        return self._client

    async def _call(self, deadline: float, send: Callable[[types.HttpOptions], Awaitable[T]]) -> T:
        """One SDK call bounded by ``deadline``; the SDK takes its timeout in milliseconds."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise ProviderTimeout("no time left for the call", provider=self._name)
        options = types.HttpOptions(timeout=max(1, math.ceil(left * 1000)))
        try:
            async with asyncio.timeout(left):
                return await send(options)
        except SDK_ERRORS as exc:
            raise translate(exc, provider=self._name) from exc

    async def _generate(
        self, request: ChatRequest, cached: _Cached | None, options: types.HttpOptions
    ) -> types.GenerateContentResponse:
        schema = request.response_schema
        config = types.GenerateContentConfig(
            http_options=options,
            max_output_tokens=request.max_output_tokens,
            temperature=request.temperature,
            system_instruction=None if cached else to_system_instruction(request),
            cached_content=cached.name if cached else None,
            response_mime_type="application/json" if schema is not None else None,
            response_json_schema=dict(schema) if schema is not None else None,
            # We send no tools: the SDK's automatic function calling has nothing to do (and
            # would log that it is on at every call).
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )
        lead = request.instructions if cached else None
        return await self._sdk().aio.models.generate_content(
            model=self.config.model, contents=to_contents(request.messages, lead), config=config
        )

    async def _create_cache(
        self, bundle: ContextBundle, options: types.HttpOptions
    ) -> types.CachedContent:
        config = types.CreateCachedContentConfig(
            http_options=options,
            system_instruction=bundle.text,
            ttl=f"{math.ceil(self._cache_ttl)}s",
            display_name=f"imx {bundle.workspace} v{bundle.version}"[:128],
        )
        return await self._sdk().aio.caches.create(model=self.config.model, config=config)

    async def _delete(self, cached: _Cached | None, deadline: float) -> str:
        """Delete a replaced cached content; a failure only lets it live out its TTL."""
        if cached is None:
            return ""
        try:
            await self._call(
                deadline,
                lambda o: self._sdk().aio.caches.delete(
                    name=cached.name, config=types.DeleteCachedContentConfig(http_options=o)
                ),
            )
        except ProviderError as error:
            if is_missing_cache(error.__cause__):
                return f"; {cached.name} was already gone"
            log.warning(
                "gemini.cached_content_kept",
                provider=self._name,
                name=cached.name,
                error=error.code,
            )
            return f"; {cached.name} not deleted ({error.code}), it expires by its TTL"
        return f"; deleted {cached.name}"

    # -- cache bookkeeping ----------------------------------------------------------------------

    def _cache_for(self, bundle: ContextBundle | None) -> _Cached | None:
        cached = self._cached
        if bundle is None or cached is None or not cached.holds(bundle, time.time()):
            return None
        return cached

    def _remember(self, created: types.CachedContent, bundle: ContextBundle) -> _Cached:
        if not created.name:
            raise MalformedResponse(
                "the cached content came back without a name", provider=self._name
            )
        expires = created.expire_time.timestamp() if created.expire_time else None
        return _Cached(
            name=created.name,
            workspace=bundle.workspace,
            digest=bundle.digest,
            version=bundle.version,
            expires_at=expires if expires is not None else time.time() + self._cache_ttl,
        )

    def _forget(self, cached: _Cached) -> None:
        if self._cached is cached:
            self._cached = None
        log.warning(
            "gemini.cached_content_lost",
            provider=self._name,
            name=cached.name,
            fallback="briefing sent inline",
        )


# -- factories --------------------------------------------------------------------------------


def create_gemini(config: ProviderConfig, credential: str | None) -> GeminiAdapter:
    """The Gemini API: ``credential`` is the API key (sent as ``x-goog-api-key``)."""
    http = _pool(config)
    options = _http_options(config, http, GEMINI_API_VERSION)
    # vertexai=False explicitly: otherwise GOOGLE_GENAI_USE_VERTEXAI in the environment decides.
    client = (
        genai.Client(vertexai=False, api_key=credential.strip(), http_options=options)
        if credential and credential.strip()
        else None
    )
    return GeminiAdapter(config, client=client, http=http, **_sync_options(config))


def create_vertex(config: ProviderConfig, credential: str | None) -> GeminiAdapter:
    """Vertex AI: options ``project`` and ``location``; ``credential`` is an OAuth access token
    or a credentials JSON (service account, authorized user, ...); None uses Application
    Default Credentials.

    Raises ``InvalidInput`` without a project, ``ProviderAuthError`` for an unreadable
    credential."""
    credentials, default_project = _google_credentials(credential, config.name)
    project = config.options.get("project") or default_project
    if not project:
        raise InvalidInput("a Vertex AI provider needs the option 'project'")
    http = _pool(config)
    client = genai.Client(
        vertexai=True,
        project=str(project),
        location=str(config.options.get("location") or VERTEX_LOCATION),
        credentials=credentials,
        http_options=_http_options(config, http, VERTEX_API_VERSION),
    )
    return GeminiAdapter(config, client=client, http=http, **_sync_options(config))


def _pool(config: ProviderConfig) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        timeout=config.timeout_seconds,
        limits=httpx2.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=20),
    )


def _http_options(
    config: ProviderConfig, http: httpx2.AsyncClient, api_version: str
) -> types.HttpOptions:
    return types.HttpOptions(
        base_url=config.base_url or None,
        api_version=str(config.options.get("api_version") or api_version),
        timeout=math.ceil(config.timeout_seconds * 1000),
        httpx_async_client=http,
    )


def _sync_options(config: ProviderConfig) -> dict[str, Any]:
    sync = str(config.options.get("sync") or "cached_content")
    if sync not in SYNC_MODES:
        raise InvalidInput(f"option 'sync' must be one of {', '.join(SYNC_MODES)}, not {sync!r}")
    try:
        ttl = float(config.options.get("cache_ttl_seconds") or DEFAULT_CACHE_TTL)
    except (TypeError, ValueError) as exc:
        raise InvalidInput("option 'cache_ttl_seconds' must be a number") from exc
    if not 60 <= ttl <= 7 * 24 * 3600:
        raise InvalidInput("option 'cache_ttl_seconds' must be between 60 and 604800")
    return {"sync": sync, "cache_ttl": ttl}


def _google_credentials(
    credential: str | None, provider: str
) -> tuple[Credentials | None, str | None]:
    """A service-account or authorized-user JSON, or a bare access token. Other credential
    types (external accounts) are refused: their JSON names files and URLs google-auth would
    read, which a stored credential must not be able to do. A bare token has no expiry we know
    of, so google-auth never tries to refresh it: the provider answers 401 once it lapses."""
    if credential is None or not credential.strip():
        return None, None
    text = credential.strip()
    # google-auth leaves these constructors unannotated (the no-untyped-call ignores below).
    if not text.startswith("{"):
        return TokenCredentials(token=text), None  # type: ignore[no-untyped-call]
    try:
        info = json.loads(text)
        kind = info.get("type") if isinstance(info, dict) else None
        if kind == "service_account":
            account = ServiceAccountCredentials.from_service_account_info(  # type: ignore[no-untyped-call]
                info, scopes=[CLOUD_PLATFORM]
            )
            return account, info.get("project_id")
        if kind == "authorized_user":
            user = TokenCredentials.from_authorized_user_info(  # type: ignore[no-untyped-call]
                info, scopes=[CLOUD_PLATFORM]
            )
            return user, None
    except (ValueError, KeyError, auth_errors.GoogleAuthError) as exc:
        raise ProviderAuthError(
            "the Vertex AI credentials JSON is not usable", provider=provider
        ) from exc
    raise ProviderAuthError(
        "Vertex AI credentials must be an access token or a service-account or authorized-user "
        "JSON",
        provider=provider,
    )
