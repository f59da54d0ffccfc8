"""An async client of the hub's REST API, shared by the CLI, the real-time sync and the adapters.

One long-lived ``httpx.AsyncClient`` per ``HubClient``. Problem responses are raised as the
``InfinityMatrixError`` subclass of their status, carrying the body's ``code``; a dropped or
refused connection is ``Unavailable`` (``client.unreachable`` or ``client.timeout``). An expired
access token is refreshed once, transparently, when a refresh token is at hand.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import anyio
import httpx

from infinity_matrix import errors
from infinity_matrix.client.stream import StreamClient
from infinity_matrix.config import Settings
from infinity_matrix.security.credfile import read_credentials, update_credentials

__all__ = ["DEFAULT_TIMEOUT", "DEFAULT_WORKSPACE", "HubClient", "TokensCallback", "error_from"]

Json = dict[str, Any]
TokensCallback = Callable[[str, str], None]
"""Called with ``(access_token, refresh_token)`` after the client refreshed its session."""

DEFAULT_WORKSPACE = "default"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
ASK_TIMEOUT = httpx.Timeout(150.0, connect=5.0)  # past the hub's two-minute ask deadline
API = "/api/v1"

_ERROR_BY_STATUS: Mapping[int, type[errors.InfinityMatrixError]] = {
    400: errors.InvalidInput,
    401: errors.Unauthenticated,
    403: errors.Forbidden,
    404: errors.NotFound,
    409: errors.Conflict,
    413: errors.TooLarge,
    422: errors.InvalidInput,
    429: errors.RateLimited,
    502: errors.Unavailable,
    503: errors.Unavailable,
    504: errors.Unavailable,
}
_PROBLEM_FIELDS = frozenset({"type", "title", "status", "detail", "code", "retry_after"})
_DOT_SEGMENTS = {".": "%2E", "..": "%2E%2E"}
_NO_REFRESH = frozenset({f"{API}/auth/token", f"{API}/auth/refresh", f"{API}/auth/logout"})


class HubClient:
    """The REST API as async methods; JSON bodies come back as plain dicts.

    Workspace-scoped methods take ``workspace=`` and default to the client's own. Every method
    raises the ``InfinityMatrixError`` subclass of the answer's status (``Unauthenticated``,
    ``Forbidden``, ``NotFound``, ``Conflict``, ``TooLarge``, ``InvalidInput``, ``RateLimited``
    with ``retry_after``, ``Unavailable``) with the server's ``code``.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        workspace: str = DEFAULT_WORKSPACE,
        *,
        refresh_token: str | None = None,
        on_tokens: TokensCallback | None = None,
        source: str | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.workspace = workspace
        self._token = token
        self._refresh_token = refresh_token
        self._on_tokens = on_tokens
        self._refresh_lock = anyio.Lock()
        headers = {"X-Imx-Source": source} if source else {}
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        source: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> HubClient:
        """A client for ``IMX_URL``/``IMX_TOKEN``/``IMX_WORKSPACE``, else ``credentials.json``.

        From the file, a signed-in user's access token wins over the API key, and a refreshed
        token pair is written back to the file.
        """
        path = settings.credentials_file
        stored = read_credentials(path)
        url = settings.url or stored.get("url") or settings.effective_url
        workspace = settings.workspace or stored.get("workspace") or DEFAULT_WORKSPACE
        token: str | None
        refresh: str | None = None
        if settings.token is not None:  # an explicit credential: nothing to refresh or save
            token = settings.token.get_secret_value()
        else:
            token = stored.get("access_token") or stored.get("api_key")
            refresh = stored.get("refresh_token") if stored.get("access_token") else None

        def save(access: str, refresh: str) -> None:
            update_credentials(path, access_token=access, refresh_token=refresh)

        return cls(
            url,
            token,
            workspace,
            refresh_token=refresh,
            on_tokens=save,
            source=source,
            transport=transport,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- sessions -------------------------------------------------------------------------

    @property
    def token(self) -> str | None:
        """The credential the client sends now (it changes when a session is refreshed)."""
        return self._token

    @property
    def can_refresh(self) -> bool:
        return self._refresh_token is not None

    async def refresh_if_stale(self, stale: str | None) -> None:
        """Refresh the session unless another request already did since ``stale`` was sent
        (refresh tokens rotate: spending one twice would end the session)."""
        await self._refresh_once(stale)

    async def login(self, username: str, password: str) -> Json:
        """Sign in; the client uses the new access token from now on and answers the pair."""
        pair = await self._json(
            "POST", "/auth/token", json={"username": username, "password": password}
        )
        self._adopt(pair)
        return pair

    async def refresh(self) -> Json:
        """Spend the refresh token for a new pair (rotation); ``on_tokens`` is told of it."""
        if not self._refresh_token:
            raise errors.Unauthenticated("no refresh token to use", code="auth.invalid_refresh")
        pair = await self._json(
            "POST", "/auth/refresh", json={"refresh_token": self._refresh_token}
        )
        self._adopt(pair)
        if self._on_tokens is not None:
            self._on_tokens(pair["access_token"], pair["refresh_token"])
        return pair

    async def logout(self, refresh_token: str | None = None) -> None:
        """End the session of ``refresh_token`` (default: the client's own) on the server."""
        token = refresh_token or self._refresh_token
        if token:
            await self._request("POST", "/auth/logout", json={"refresh_token": token})
        if token and token == self._refresh_token:
            self._token = self._refresh_token = None

    async def me(self) -> Json:
        return await self._json("GET", "/auth/me")

    async def ready(self) -> Json:
        """``/readyz``: raises ``Unavailable`` unless the hub can serve."""
        return _json_body(await self._send("GET", "/readyz"))

    # -- users (server administrators) ------------------------------------------------------

    async def create_user(self, username: str, password: str, *, is_admin: bool = False) -> Json:
        body = {"username": username, "password": password, "is_admin": is_admin}
        return await self._json("POST", "/users", json=body)

    async def users(self) -> list[Json]:
        return _items(await self._json("GET", "/users"))

    # -- workspaces and members -------------------------------------------------------------

    async def workspaces(self) -> list[Json]:
        return _items(await self._json("GET", "/workspaces"))

    async def get_workspace(self, workspace: str | None = None) -> Json:
        return await self._json("GET", self._ws(workspace))

    async def stream(
        self, *, prefix: str = "", after: int | None = None, workspace: str | None = None
    ) -> StreamClient:
        """A live event stream of the workspace (enter it with ``async with``), from ``after``
        or, by default, from now."""
        workspace = workspace or self.workspace
        epoch = None
        if after is None:
            record = await self.get_workspace(workspace)
            after, epoch = record["head"], record["epoch"]
        if not self._token:
            raise errors.Unauthenticated("a credential is needed to stream", code="auth.missing")
        return StreamClient(
            self.base_url, self._token, workspace, prefix=prefix, after=after, epoch=epoch
        )

    async def create_workspace(self, workspace: str, name: str | None = None) -> Json:
        return await self._json("POST", "/workspaces", json={"id": workspace, "name": name})

    async def delete_workspace(self, workspace: str) -> None:
        await self._request("DELETE", self._ws(workspace))

    async def members(self, *, workspace: str | None = None) -> list[Json]:
        return _items(await self._json("GET", f"{self._ws(workspace)}/members"))

    async def set_member(
        self,
        username: str,
        role: str,
        *,
        workspace: str | None = None,
        idempotency_key: str | None = None,
    ) -> Json:
        """Add ``username`` to the workspace, or change its role."""
        path = f"{self._ws(workspace)}/members/{_segment(username)}"
        return await self._json(
            "PUT", path, json={"role": role}, headers=_idempotency(idempotency_key)
        )

    async def remove_member(
        self, username: str, *, workspace: str | None = None, idempotency_key: str | None = None
    ) -> Json:
        path = f"{self._ws(workspace)}/members/{_segment(username)}"
        return await self._json("DELETE", path, headers=_idempotency(idempotency_key))

    # -- API keys -----------------------------------------------------------------------------

    async def create_key(
        self,
        name: str,
        role: str,
        *,
        expires_in_days: int | None = None,
        workspace: str | None = None,
        idempotency_key: str | None = None,
    ) -> Json:
        """A new key of the workspace; its ``token`` is in this answer and never again."""
        body = {"name": name, "role": role, "expires_in_days": expires_in_days}
        return await self._json(
            "POST", f"{self._ws(workspace)}/keys", json=body, headers=_idempotency(idempotency_key)
        )

    async def list_keys(self, *, workspace: str | None = None) -> list[Json]:
        return _items(await self._json("GET", f"{self._ws(workspace)}/keys"))

    async def revoke_key(
        self, key_id: str, *, workspace: str | None = None, idempotency_key: str | None = None
    ) -> Json:
        path = f"{self._ws(workspace)}/keys/{_segment(key_id)}"
        return await self._json("DELETE", path, headers=_idempotency(idempotency_key))

    # -- context entries ------------------------------------------------------------------------

    async def put_context(
        self,
        key: str,
        *,
        text: str | None = None,
        data: Mapping[str, Any] | None = None,
        tags: list[str] | None = None,
        idempotency_key: str | None = None,
        workspace: str | None = None,
    ) -> Json:
        """Write a whole value (exactly one of ``text`` or ``data``); answers ``{"seq", …}``."""
        body: Json = {"text": text} if data is None else {"data": dict(data)}
        if tags is not None:
            body["tags"] = tags
        return await self._json(
            "PUT", self._context(key, workspace), json=body, headers=_idempotency(idempotency_key)
        )

    async def get_context(self, key: str, *, workspace: str | None = None) -> Json:
        return await self._json("GET", self._context(key, workspace))

    async def delete_context(
        self, key: str, *, idempotency_key: str | None = None, workspace: str | None = None
    ) -> Json:
        return await self._json(
            "DELETE", self._context(key, workspace), headers=_idempotency(idempotency_key)
        )

    async def list_context(
        self,
        prefix: str = "",
        *,
        cursor: str | None = None,
        limit: int = 100,
        values: bool = False,
        workspace: str | None = None,
    ) -> Json:
        """One page ``{"items", "next_cursor"}`` in key order; ``next_cursor`` None at the end."""
        params: Json = {"prefix": prefix, "limit": limit, "values": values}
        if cursor is not None:
            params["cursor"] = cursor
        return await self._json("GET", f"{self._ws(workspace)}/context", params=params)

    async def iter_context(
        self,
        prefix: str = "",
        *,
        page_size: int = 100,
        values: bool = False,
        workspace: str | None = None,
    ) -> AsyncIterator[Json]:
        """Every entry under ``prefix``, fetched a page at a time."""
        cursor: str | None = None
        while True:
            page = await self.list_context(
                prefix, cursor=cursor, limit=page_size, values=values, workspace=workspace
            )
            for item in page["items"]:
                yield item
            cursor = page.get("next_cursor")
            if not cursor:
                return

    async def history(
        self,
        key: str,
        *,
        before: int | None = None,
        limit: int = 50,
        workspace: str | None = None,
    ) -> list[Json]:
        """The entry's events, newest first; page on with ``before`` = the last seq."""
        params: Json = {"limit": limit} if before is None else {"limit": limit, "before": before}
        path = f"{self._ws(workspace)}/history/{_key_path(key)}"
        body = await self._json("GET", path, params=params)
        events: list[Json] = body["events"]
        return events

    async def events(
        self, *, after: int = 0, limit: int = 100, workspace: str | None = None
    ) -> Json:
        """``{"epoch", "head", "events", "next_after"}``: events with seq > ``after``."""
        params = {"after": after, "limit": limit}
        return await self._json("GET", f"{self._ws(workspace)}/events", params=params)

    async def search(
        self,
        query: str,
        *,
        prefix: str = "",
        limit: int = 20,
        workspace: str | None = None,
    ) -> list[Json]:
        """Entries matching ``query``, best first: ``{"key", "kind", "snippet", "score",
        "seq", "updated_at"}`` each (``InvalidInput`` ``search.invalid_query`` if it has no
        word to look for)."""
        params: Json = {"q": query, "prefix": prefix, "limit": limit}
        return _items(await self._json("GET", f"{self._ws(workspace)}/search", params=params))

    # -- knowledge graph -------------------------------------------------------------------------
    # Bodies and answers use the reference memory server's names: {"name", "entityType",
    # "observations"}, {"from", "to", "relationType"}, {"entityName", "contents"}.

    async def graph_read(
        self,
        *,
        cursor: str | None = None,
        limit: int = 100,
        details: bool = False,
        workspace: str | None = None,
    ) -> Json:
        """One page ``{"entities", "relations", "next_cursor"}`` of the whole graph."""
        params = _page_params(cursor, limit, details)
        return await self._json("GET", self._graph(workspace), params=params)

    async def graph_search(
        self,
        query: str,
        *,
        cursor: str | None = None,
        limit: int = 100,
        details: bool = False,
        workspace: str | None = None,
    ) -> Json:
        """Entities whose name, type or an observation contains ``query``, and their relations."""
        params = {"q": query, **_page_params(cursor, limit, details)}
        return await self._json("GET", f"{self._graph(workspace)}/search", params=params)

    async def graph_open(
        self,
        names: list[str],
        *,
        cursor: str | None = None,
        limit: int = 100,
        details: bool = False,
        workspace: str | None = None,
    ) -> Json:
        """The entities of ``names`` that exist, and the relations from or to them."""
        params = {"names": names, **_page_params(cursor, limit, details)}
        return await self._json("GET", f"{self._graph(workspace)}/entities", params=params)

    async def graph_history(
        self,
        name: str,
        *,
        before: int | None = None,
        limit: int = 50,
        workspace: str | None = None,
    ) -> list[Json]:
        """Events about the entity name, newest first."""
        params: Json = {"name": name, "limit": limit}
        if before is not None:
            params["before"] = before
        body = await self._json("GET", f"{self._graph(workspace)}/history", params=params)
        events: list[Json] = body["events"]
        return events

    async def graph_create_entities(
        self,
        entities: list[Json],
        *,
        idempotency_key: str | None = None,
        workspace: str | None = None,
    ) -> Json:
        """``{"entities": <created>, "seq", "duplicate"}``."""
        return await self._graph_write(
            "entities", {"entities": entities}, idempotency_key, workspace
        )

    async def graph_create_relations(
        self,
        relations: list[Json],
        *,
        idempotency_key: str | None = None,
        workspace: str | None = None,
    ) -> Json:
        """``{"relations": <created>, "seq", "duplicate"}``."""
        body = {"relations": relations}
        return await self._graph_write("relations", body, idempotency_key, workspace)

    async def graph_add_observations(
        self,
        observations: list[Json],
        *,
        idempotency_key: str | None = None,
        workspace: str | None = None,
    ) -> Json:
        """``{"results": [{"entityName", "addedObservations"}], "seq", "duplicate"}``."""
        body = {"observations": observations}
        return await self._graph_write("observations", body, idempotency_key, workspace)

    async def graph_delete_entities(
        self,
        names: list[str],
        *,
        idempotency_key: str | None = None,
        workspace: str | None = None,
    ) -> Json:
        """``{"deleted": <names>, "seq", "duplicate"}``."""
        body = {"entityNames": names}
        return await self._graph_write("entities/delete", body, idempotency_key, workspace)

    async def graph_delete_observations(
        self,
        deletions: list[Json],
        *,
        idempotency_key: str | None = None,
        workspace: str | None = None,
    ) -> Json:
        body = {"deletions": deletions}
        return await self._graph_write("observations/delete", body, idempotency_key, workspace)

    async def graph_delete_relations(
        self,
        relations: list[Json],
        *,
        idempotency_key: str | None = None,
        workspace: str | None = None,
    ) -> Json:
        body = {"relations": relations}
        return await self._graph_write("relations/delete", body, idempotency_key, workspace)

    async def graph_import(
        self,
        data: bytes,
        *,
        part_bytes: int = 1024 * 1024,
        workspace: str | None = None,
    ) -> Json:
        """Import a ``memory.jsonl``, sent in parts of whole lines of about ``part_bytes``;
        answers the summed ``{"lines", "entities", "observations", "relations", "seq"}``.

        Each part is checked and merged on its own, so a bad line fails its part after the
        earlier parts were imported (importing again is harmless: it adds nothing twice).
        """
        total: Json = {"lines": 0, "entities": 0, "observations": 0, "relations": 0}
        headers = {"Content-Type": "application/x-ndjson"}
        path = f"{self._graph(workspace)}/import"
        for part in _line_parts(data, part_bytes):
            answer = await self._json("POST", path, content=part, headers=headers)
            for name in ("lines", "entities", "observations", "relations"):
                total[name] += answer[name]
            total["seq"] = answer["seq"]
        if "seq" not in total:
            total["seq"] = (await self.get_workspace(workspace))["head"]
        return total

    async def graph_export(self, *, workspace: str | None = None) -> AsyncIterator[str]:
        """The graph as ``memory.jsonl`` lines (without their newline), streamed."""
        url = f"{API}{self._graph(workspace)}/export"
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        try:
            async with self._http.stream("GET", url, headers=headers) as response:
                if not response.is_success:
                    await response.aread()
                    raise error_from(response)
                async for line in response.aiter_lines():
                    if line:
                        yield line
        except httpx.TransportError as exc:
            raise errors.Unavailable(
                f"cannot reach the hub at {self.base_url}", code="client.unreachable"
            ) from exc

    # -- insights and retrieval -------------------------------------------------------------

    async def record_insight(
        self,
        insight: Json,
        *,
        idempotency_key: str | None = None,
        workspace: str | None = None,
    ) -> Json:
        """Record ``{"kind", "title", "body", "tags"?, "topic"?, "evidence"?, "contradicts"?,
        "assistant"?, "model"?}``; answers ``{"insight", "outcome", "superseded", "seq",
        "duplicate"}`` (``outcome`` is ``corroborated`` when a near-duplicate existed)."""
        return await self._json(
            "POST",
            f"{self._ws(workspace)}/insights",
            json=insight,
            headers=_idempotency(idempotency_key),
        )

    async def insights(
        self,
        *,
        kind: str | None = None,
        tag: str | None = None,
        topic: str | None = None,
        status: str | None = None,
        query: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
        workspace: str | None = None,
    ) -> Json:
        """One page ``{"items", "next_cursor"}`` of insights, best-known first."""
        params: Json = {"limit": limit}
        for name, value in (
            ("kind", kind),
            ("tag", tag),
            ("topic", topic),
            ("status", status),
            ("q", query),
            ("cursor", cursor),
        ):
            if value is not None:
                params[name] = value
        return await self._json("GET", f"{self._ws(workspace)}/insights", params=params)

    async def get_insight(self, insight_id: int, *, workspace: str | None = None) -> Json:
        """One insight with its confidence and the breakdown of it."""
        return await self._json("GET", f"{self._ws(workspace)}/insights/{int(insight_id)}")

    async def insight_feedback(
        self,
        insight_id: int,
        verdict: str,
        *,
        note: str | None = None,
        assistant: str | None = None,
        model: str | None = None,
        idempotency_key: str | None = None,
        workspace: str | None = None,
    ) -> Json:
        """Say whether an insight helped: ``accepted``, ``rejected`` or ``outdated``."""
        body: Json = {"verdict": verdict}
        for name, value in (("note", note), ("assistant", assistant), ("model", model)):
            if value is not None:
                body[name] = value
        return await self._json(
            "POST",
            f"{self._ws(workspace)}/insights/{int(insight_id)}/feedback",
            json=body,
            headers=_idempotency(idempotency_key),
        )

    async def insight_stats(self, *, workspace: str | None = None) -> Json:
        """Served, accepted and rejected counts, and the reliability of every source."""
        return await self._json("GET", f"{self._ws(workspace)}/insights/stats")

    async def patterns(self, *, limit: int = 100, workspace: str | None = None) -> list[Json]:
        """Recurring code shapes, largest first, with their occurrences."""
        params = {"limit": limit}
        return _items(await self._json("GET", f"{self._ws(workspace)}/patterns", params=params))

    async def scan_patterns(self, *, workspace: str | None = None) -> Json:
        """Fingerprint every entry now; answers ``{"entries", "code_entries", "units",
        "removed", "patterns"}``."""
        return await self._json("POST", f"{self._ws(workspace)}/patterns/scan")

    async def retrieve(
        self,
        task: str,
        *,
        target: str | None = None,
        budget_tokens: int = 2000,
        kinds: list[str] | None = None,
        workspace: str | None = None,
    ) -> Json:
        """The most useful context for ``task``, packed into ``budget_tokens``: ``{"items",
        "tokens_used", "budget_tokens"}``."""
        body: Json = {"task": task, "budget_tokens": budget_tokens}
        if target is not None:
            body["target"] = target
        if kinds is not None:
            body["kinds"] = kinds
        return await self._json("POST", f"{self._ws(workspace)}/retrieve", json=body)

    async def briefing(
        self,
        *,
        prefix: str = "",
        budget_chars: int | None = None,
        target: str | None = None,
        workspace: str | None = None,
    ) -> Json:
        """The project briefing: ``{"workspace", "text", "included", "omitted", "insights",
        "seq"}`` (``seq``: the workspace head it reflects)."""
        params: Json = {"prefix": prefix} if prefix else {}
        if budget_chars is not None:
            params["budget_chars"] = budget_chars
        if target is not None:
            params["target"] = target
        return await self._json("GET", f"{self._ws(workspace)}/briefing", params=params)

    # -- providers ------------------------------------------------------------------------------

    async def providers(self, *, workspace: str | None = None) -> list[Json]:
        """The workspace's providers in name order (never their keys)."""
        return _items(await self._json("GET", f"{self._ws(workspace)}/providers"))

    async def get_provider(self, name: str, *, workspace: str | None = None) -> Json:
        return await self._json("GET", f"{self._ws(workspace)}/providers/{_segment(name)}")

    async def put_provider(
        self,
        spec: Mapping[str, Any],
        api_key: str | None = None,
        *,
        workspace: str | None = None,
        idempotency_key: str | None = None,
    ) -> Json:
        """Add or replace the provider ``spec["name"]`` (the body of PUT …/providers/{name});
        ``api_key`` None keeps the stored key, "" removes it. Answers the config with its seq."""
        body: Json = {k: v for k, v in spec.items() if k not in ("api_key", "has_credential")}
        body.pop("seq", None)
        if api_key is not None:
            body["api_key"] = api_key
        path = f"{self._ws(workspace)}/providers/{_segment(str(spec['name']))}"
        return await self._json("PUT", path, json=body, headers=_idempotency(idempotency_key))

    async def remove_provider(
        self, name: str, *, workspace: str | None = None, idempotency_key: str | None = None
    ) -> Json:
        path = f"{self._ws(workspace)}/providers/{_segment(name)}"
        return await self._json("DELETE", path, headers=_idempotency(idempotency_key))

    async def ask(
        self,
        provider: str,
        question: str,
        *,
        budget_tokens: int = 2000,
        workspace: str | None = None,
    ) -> Json:
        """Ask ``provider`` with the shared context: ``{"answer", "insights", "provider",
        "usage", …}``. Waits as long as the hub's deadline for an ask (two minutes)."""
        body: Json = {"provider": provider, "question": question, "budget_tokens": budget_tokens}
        return await self._json(
            "POST", f"{self._ws(workspace)}/ask", json=body, timeout=ASK_TIMEOUT
        )

    async def test_provider(self, name: str, *, workspace: str | None = None) -> Json:
        """One short call to the provider: ``{"ok", "latency_ms", …}`` or ``{"ok": false,
        "error": {"code", "detail"}}``."""
        path = f"{self._ws(workspace)}/providers/{_segment(name)}/test"
        return await self._json("POST", path, timeout=ASK_TIMEOUT)

    async def sync_providers(
        self, names: list[str] | None = None, *, workspace: str | None = None
    ) -> Json:
        """Push the context to the providers now: ``{"items": [outcome, …]}``."""
        path = f"{self._ws(workspace)}/providers/sync"
        return await self._json("POST", path, json={"providers": names}, timeout=ASK_TIMEOUT)

    async def providers_status(self, *, workspace: str | None = None) -> list[Json]:
        """Health and last push of every provider the caller can see (one workspace with
        ``workspace``)."""
        params = {"workspace": workspace} if workspace else {}
        items: list[Json] = (await self._json("GET", "/providers", params=params))["items"]
        return items

    def _graph(self, workspace: str | None) -> str:
        return f"{self._ws(workspace)}/graph"

    async def _graph_write(
        self, path: str, body: Json, idempotency_key: str | None, workspace: str | None
    ) -> Json:
        return await self._json(
            "POST",
            f"{self._graph(workspace)}/{path}",
            json=body,
            headers=_idempotency(idempotency_key),
        )

    # -- plumbing -----------------------------------------------------------------------------

    def _ws(self, workspace: str | None) -> str:
        return f"/workspaces/{_segment(workspace or self.workspace)}"

    def _context(self, key: str, workspace: str | None) -> str:
        return f"{self._ws(workspace)}/context/{_key_path(key)}"

    def _adopt(self, pair: Json) -> None:
        self._token = pair["access_token"]
        self._refresh_token = pair["refresh_token"]

    async def _json(self, method: str, path: str, **kwargs: Any) -> Json:
        return _json_body(await self._request(method, path, **kwargs))

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send to ``/api/v1{path}`` with the bearer token; refresh once if it expired."""
        url = f"{API}{path}"
        sent_with = self._token
        response = await self._send(method, url, token=sent_with, **kwargs)
        if self._may_refresh(url, response):
            await self._refresh_once(sent_with)
            response = await self._send(method, url, token=self._token, **kwargs)
        return _checked(response)

    def _may_refresh(self, url: str, response: httpx.Response) -> bool:
        return (
            response.status_code == 401
            and bool(self._refresh_token)
            and url not in _NO_REFRESH
            and _problem(response).get("code") == "auth.token_expired"
        )

    async def _refresh_once(self, stale: str | None) -> None:
        # Concurrent requests may all see the expiry; only the first refreshes. Refresh tokens
        # rotate, so spending the same one twice would revoke the whole session on the server.
        async with self._refresh_lock:
            if self._token == stale:
                await self.refresh()

    async def _send(
        self, method: str, url: str, *, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            return await self._http.request(method, url, headers=headers, **kwargs)
        except httpx.TimeoutException as exc:
            raise errors.Unavailable(
                f"the hub at {self.base_url} did not answer in time", code="client.timeout"
            ) from exc
        except httpx.TransportError as exc:
            raise errors.Unavailable(
                f"cannot reach the hub at {self.base_url}", code="client.unreachable"
            ) from exc


def error_from(response: httpx.Response) -> errors.InfinityMatrixError:
    """The error a non-2xx answer stands for: class by status, ``code`` from the problem body."""
    problem = _problem(response)
    status = response.status_code
    code = str(problem.get("code") or f"http.{status}")
    detail = str(problem.get("detail") or response.reason_phrase or f"HTTP {status}")
    extra = {k: v for k, v in problem.items() if k not in _PROBLEM_FIELDS}
    cls = _ERROR_BY_STATUS.get(status, errors.InfinityMatrixError)
    if cls is errors.RateLimited:
        return errors.RateLimited(detail, retry_after=_retry_after(response), code=code, **extra)
    return cls(detail, code=code, **extra)


def _checked(response: httpx.Response) -> httpx.Response:
    if response.is_success:
        return response
    raise error_from(response)


def _problem(response: httpx.Response) -> Json:
    try:
        body = response.json()
    except ValueError:  # not JSON: a proxy's HTML page, an empty body
        return {}
    return body if isinstance(body, dict) else {}


def _json_body(response: httpx.Response) -> Json:
    try:
        body = _checked(response).json()
    except ValueError:  # a 2xx that is not JSON: something else answers at this URL
        body = None
    if not isinstance(body, dict):
        raise errors.Unavailable(
            f"{response.url} did not answer like the hub's API", code="client.bad_reply"
        )
    return body


def _items(body: Json) -> list[Json]:
    items: list[Json] = body["items"]
    return items


def _retry_after(response: httpx.Response) -> int:
    try:
        return max(1, int(response.headers.get("Retry-After", "1")))
    except ValueError:  # an HTTP date instead of seconds: wait the minimum
        return 1


def _idempotency(key: str | None) -> dict[str, str]:
    return {"Idempotency-Key": key} if key else {}


def _segment(value: str) -> str:
    # "." and ".." are escaped too: an HTTP client normalises them away (RFC 3986 §5.2.4), which
    # would address another resource instead of letting the hub refuse the name.
    return _DOT_SEGMENTS.get(value) or quote(value, safe="")


def _key_path(key: str) -> str:
    """A key as URL path segments: its slashes stay, each segment is escaped."""
    return "/".join(_segment(segment) for segment in key.split("/"))


def _page_params(cursor: str | None, limit: int, details: bool) -> Json:
    params: Json = {"limit": limit, "details": details}
    if cursor is not None:
        params["cursor"] = cursor
    return params


def _line_parts(data: bytes, part_bytes: int) -> list[bytes]:
    """``data`` cut after newlines into parts of about ``part_bytes`` (a longer line alone)."""
    parts: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for line in data.splitlines(keepends=True):
        if current and size + len(line) > part_bytes:
            parts.append(b"".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line)
    if current:
        parts.append(b"".join(current))
    return parts
