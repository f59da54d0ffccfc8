"""MCP over stdio without a thread per message.

The SDK's ``stdio_server()`` reads and writes the standard streams through anyio's file
wrappers: every line read, every write and every flush is a trip to a worker thread — three per
message. When stdin and stdout are pipes or sockets (as an assistant launches ``imx mcp``),
``stdio_streams()`` serves the same wire from the event loop itself (asyncio pipe transports)
and hands the SDK's ``stdio_server`` these streams; anything else (a regular file, a terminal
the loop cannot watch) falls back to the SDK's own.

As the SDK does, the wire is served from private duplicates of fds 0 and 1 while fd 0 reads
the null device and fd 1 writes to stderr, so a stray read or print cannot corrupt the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from typing import Any, cast

from mcp.server.stdio import stdio_server

LINE_LIMIT = 256 * 1024 * 1024  # one JSON-RPC message per line; a graph export can be large


class _Lines:
    """Decoded lines of a pipe, as the SDK iterates over stdin."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def __aiter__(self) -> _Lines:
        return self

    async def __anext__(self) -> str:
        line = await self._reader.readline()
        if not line:
            raise StopAsyncIteration
        return line.decode("utf-8", errors="replace")


class _Text:
    """A pipe written as text, as the SDK writes stdout."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    async def write(self, text: str) -> None:
        self._writer.write(text.encode("utf-8"))

    async def flush(self) -> None:
        await self._writer.drain()


@contextlib.asynccontextmanager
async def stdio_streams() -> AsyncIterator[tuple[Any, Any]]:
    """``(read_stream, write_stream)`` of JSON-RPC messages over this process's stdio."""
    claimed = await _claim()
    if claimed is None:
        async with stdio_server() as streams:
            yield streams
        return
    lines, text, restore = claimed
    try:
        async with stdio_server(stdin=cast(Any, lines), stdout=cast(Any, text)) as streams:
            yield streams
    finally:
        restore()


async def serve(server: Any) -> None:
    """Run an ``MCPServer`` over ``stdio_streams()`` (its ``run_stdio_async`` uses the SDK's
    threaded streams)."""
    lowlevel = getattr(server, "_lowlevel_server", None)
    if lowlevel is None:  # an SDK that no longer exposes it: its own way
        await server.run_stdio_async()
        return
    async with stdio_streams() as (read_stream, write_stream):
        await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())


async def _claim() -> tuple[_Lines, _Text, Any] | None:
    """Serve the wire from duplicates of fds 0 and 1 watched by the loop, or None if the loop
    cannot watch them (nothing is changed then)."""
    try:
        sys.stdout.flush()
        wire_in, wire_out = os.dup(0), os.dup(1)
    except OSError:
        return None
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    in_pipe = os.fdopen(wire_in, "rb", buffering=0)
    out_pipe = os.fdopen(wire_out, "wb", buffering=0)
    read_transport: asyncio.BaseTransport | None = None
    try:
        read_transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), in_pipe
        )
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, out_pipe
        )
    except (OSError, ValueError):  # a regular file or a terminal: not a pipe the loop watches
        if read_transport is not None:
            read_transport.close()
        else:
            in_pipe.close()
        out_pipe.close()
        return None
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    saved_in, saved_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)
    os.close(null)

    def restore() -> None:
        writer.close()
        read_transport.close()
        os.dup2(saved_in, 0)
        os.dup2(saved_out, 1)
        os.close(saved_in)
        os.close(saved_out)

    return _Lines(reader), _Text(writer), restore
