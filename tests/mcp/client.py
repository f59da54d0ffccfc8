"""Connecting the official MCP SDK client to a served hub, in either protocol era."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, TextContent

LEGACY = "legacy"  # the initialize handshake (2025-11-25 session protocol)
MODERN = "auto"  # discovers and speaks the stateless 2026-07-28 protocol
ERAS = (LEGACY, MODERN)


@asynccontextmanager
async def mcp_client(
    base_url: str,
    token: str | None,
    *,
    mode: str = MODERN,
    workspace: str | None = None,
    on_message: Any = None,
) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if workspace:
        headers["X-Workspace"] = workspace
    http = httpx2.AsyncClient(headers=headers, timeout=30)
    transport = streamable_http_client(f"{base_url}/mcp", http_client=http)
    async with http, Client(transport, mode=mode, message_handler=on_message) as client:
        yield client


def text_of(result: CallToolResult) -> str:
    return "".join(c.text for c in result.content if isinstance(c, TextContent))


def structured(result: CallToolResult) -> Any:
    """The tool's structured result (falls back to its JSON text)."""
    assert not result.is_error, text_of(result)
    if result.structured_content is not None:
        return result.structured_content
    return json.loads(text_of(result))


def error_code(result: CallToolResult) -> str:
    """The ``[code]`` a refused tool call names."""
    assert result.is_error, result
    text = text_of(result)
    return text[text.index("[") + 1 : text.index("]")]
