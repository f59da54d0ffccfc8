"""The stdio ↔ streamable-HTTP bridge of ``imx mcp`` when a hub is running (imported only
then: the SDK's HTTP client is not needed by the other commands)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import anyio
import httpx2
from mcp.client.streamable_http import streamable_http_client

from infinity_matrix.cli.stdio import stdio_streams
from infinity_matrix.client import HubClient
from infinity_matrix.errors import InfinityMatrixError, Unauthenticated


async def bridge(url: str, session: HubClient, workspace: str | None) -> None:
    """Relay JSON-RPC messages between stdio and the hub's streamable HTTP endpoint."""
    if not session.token:
        raise Unauthenticated(
            "no credential: set IMX_TOKEN or run `imx login`", code="auth.missing"
        )
    headers = {"X-Workspace": workspace} if workspace else {}
    endpoint = url.rstrip("/") + "/mcp"
    async with (
        httpx2.AsyncClient(
            headers=headers, auth=_SessionAuth(session), timeout=httpx2.Timeout(30, read=300)
        ) as http,
        stdio_streams() as (local_in, local_out),
        streamable_http_client(endpoint, http_client=http) as (remote_in, remote_out),
        anyio.create_task_group() as tasks,
    ):

        async def relay(source: Any, sink: Any) -> None:
            async with sink:
                async for message in source:
                    if not isinstance(message, Exception):
                        await sink.send(message)
            tasks.cancel_scope.cancel()

        tasks.start_soon(relay, local_in, remote_out)
        tasks.start_soon(relay, remote_in, local_out)


class _SessionAuth(httpx2.Auth):
    """Bearer credential of the bridge: on a 401 it refreshes a signed-in user's session once
    (``HubClient`` writes the new pair back to ``credentials.json``) and sends the request
    again; an API key, or a session that cannot be refreshed, gets the 401 through."""

    requires_request_body = True  # so the request can be sent a second time

    def __init__(self, session: HubClient) -> None:
        self._session = session

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        sent = self._session.token
        request.headers["Authorization"] = f"Bearer {sent}"
        response = yield request
        if response.status_code != 401 or not self._session.can_refresh:
            return
        try:
            await self._session.refresh_if_stale(sent)
        except InfinityMatrixError:  # the session is over: the client sees the 401
            return
        request.headers["Authorization"] = f"Bearer {self._session.token}"
        yield request
