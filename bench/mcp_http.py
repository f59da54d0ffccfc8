"""``tools/call`` throughput of the MCP face over streamable HTTP on one node.

A hub server process (uvicorn, as ``imx serve``) on SQLite or PostgreSQL; C clients in this
process call the read tool ``context_get`` in a loop for a fixed time, each on its own
keep-alive connection:

- ``wire``: the exact JSON-RPC POST the SDK client sends in the stateless 2026-07-28 protocol,
  sent with plain httpx. This measures the server: on 2 cores the SDK client itself costs more
  CPU per call than the hub, so it cannot load the hub fully.
- ``sdk``: the official SDK ``Client``, in the 2026-07-28 and the 2025-11-25 session protocol
  (end-to-end figures including the client's own cost).

Prints calls/s and latency percentiles. Target: ≥ 500 calls/s for a read tool
(ContextForge publishes 250-400 per pod with 16-24 workers).

    .venv/bin/python bench/mcp_http.py --quick
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import httpx
import httpx2
from _common import Sample, environment, process_cpu_seconds, serve
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from rich.console import Console
from rich.table import Table

from infinity_matrix.security.credfile import read_credentials

TARGET_CALLS = 500.0
SCENARIOS = (
    ("wire", "2026-07-28", "wire", "auto"),
    ("sdk", "2026-07-28", "sdk", "auto"),
    ("sdk", "2025-11-25", "sdk", "legacy"),
)


async def _client_loop(url: str, token: str, mode: str, until: float, sample: Sample) -> None:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60)
    transport = streamable_http_client(f"{url}/mcp", http_client=http)
    async with http, Client(transport, mode=mode, cache=None) as client:
        while time.monotonic() < until:
            started = time.perf_counter()
            result = await client.call_tool("context_get", {"key": "notes/bench.md"})
            if result.is_error:
                sample.errors += 1
            else:
                sample.latencies.append(time.perf_counter() - started)


_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


async def _wire_loop(url: str, token: str, _mode: str, until: float, sample: Sample) -> None:
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": "context_get",
    }
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
        call = 0
        while time.monotonic() < until:
            call += 1
            body = {
                "jsonrpc": "2.0",
                "id": call,
                "method": "tools/call",
                "params": {
                    "name": "context_get",
                    "arguments": {"key": "notes/bench.md"},
                    "_meta": _META,
                },
            }
            started = time.perf_counter()
            response = await http.post("/mcp", json=body)
            result = response.json().get("result") if response.status_code == 200 else None
            if result is None or result.get("isError"):
                sample.errors += 1
            else:
                sample.latencies.append(time.perf_counter() - started)


async def _measure(
    loop: Any, url: str, token: str, mode: str, clients: int, seconds: float
) -> Sample:
    # Warm up: connect every client once before the window opens.
    warm = Sample(seconds=0)
    await asyncio.gather(
        *(loop(url, token, mode, time.monotonic() + 0.2, warm) for _ in range(clients))
    )
    sample = Sample(seconds=seconds)
    until = time.monotonic() + seconds
    await asyncio.gather(*(loop(url, token, mode, until, sample) for _ in range(clients)))
    return sample


async def main(quick: bool, backend: str) -> None:
    seconds = 3.0 if quick else 10.0
    console = Console()
    table = Table(title=f"MCP tools/call (context_get) over streamable HTTP, one node, {backend}")
    columns = (
        "client",
        "protocol",
        "clients",
        "calls/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "hub CPU %",
    )
    for column in columns:
        table.add_column(column, justify="right")
    async with environment(backend) as env:
        with serve(env) as server:
            token = read_credentials(env.home / "credentials.json")["api_key"]
            async with httpx.AsyncClient(base_url=server.url) as rest:
                await rest.put(
                    "/api/v1/workspaces/default/context/notes/bench.md",
                    json={"text": "A note of a few hundred bytes. " * 10},
                    headers={"Authorization": f"Bearer {token}"},
                )
            for kind, era, _name, mode in SCENARIOS:
                loop = _wire_loop if kind == "wire" else _client_loop
                for clients in (1, 8) if quick else (1, 8, 32):
                    cpu = process_cpu_seconds(server.process.pid)
                    sample = await _measure(loop, server.url, token, mode, clients, seconds)
                    used = process_cpu_seconds(server.process.pid) - cpu
                    table.add_row(
                        kind,
                        era,
                        str(clients),
                        f"{sample.rate:,.0f}",
                        f"{sample.percentile_ms(50):.1f}",
                        f"{sample.percentile_ms(99):.1f}",
                        str(sample.errors),
                        f"{100 * used / sample.seconds:.0f}",
                    )
    console.print(table)
    console.print(f"target: ≥ {TARGET_CALLS:,.0f} calls/s for a read tool")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s per scenario, fewer clients")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.quick, arguments.backend))
