"""What the resilient provider caller costs per call over the bare SDK call, and calls/s with 100
calls in flight, against the fake OpenAI server (issue 6: target ≤ 1 ms p50 over the SDK).

    python bench/providers.py [--calls N] [--concurrency C] [--fake process|inline] [--json]

The same Chat Completions request goes through each variant:

- **sdk**: ``openai.AsyncOpenAI(max_retries=0)`` and ``chat.completions.create`` with the
  parameters the adapter sends, over a pool sized as the adapter's;
- **adapter**: ``OpenAIAdapter.complete`` alone (``create_openai_compatible``);
- **caller**: the adapter through ``ResilientCaller`` with the hub's parts in memory
  (``MemoryBreakerStore``, ``LimitsProviderLimiter`` on ``async+memory://``, ``ProviderMetrics``)
  and rpm/tpm limits configured high enough never to refuse, so every call is counted;
- **caller, no limits**: the same without the limiter, which separates its cost;
- **caller+redis**: the same with ``RedisBreakerStore`` and the limiter on Redis at
  127.0.0.1:6379 under a random prefix whose keys are deleted at the end (skipped, with the
  reason, when Redis does not answer);
- **caller, stub** (latency only): the caller in memory in front of an adapter that answers at
  once without HTTP: the caller's own cost without the network's noise.

Latency: calls one at a time, variants interleaved in blocks of 25 (the order rotating every
round) so that drift on a shared machine lands on every variant alike, after a warm-up. Throughput:
C workers (100) keep C calls in flight; each variant runs in two rounds, interleaved likewise.
The fake serves from its own process (uvicorn, as in the tests) unless ``--fake inline``: in this
process it would share the event loop and CPU with the client being measured.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import secrets
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import openai
import redis.asyncio
from _common import host_cpu_jiffies, percentile, process_cpu_seconds
from prometheus_client import CollectorRegistry
from rich.console import Console
from rich.table import Table

from infinity_matrix.core.providers.breaker import MemoryBreakerStore
from infinity_matrix.core.providers.records import (
    ChatRequest,
    ChatResult,
    ContextBundle,
    Message,
    ProviderConfig,
    PushResult,
)
from infinity_matrix.observability.logging import configure_logging
from infinity_matrix.observability.provider_metrics import ProviderMetrics
from infinity_matrix.providers.openai import POOL_LIMITS, api_base_url, create_openai_compatible
from infinity_matrix.providers.openai_wire import chat_params
from infinity_matrix.providers.resilience.caller import ResilientCaller
from infinity_matrix.storage.breakers import RedisBreakerStore
from infinity_matrix.storage.providerlimits import LimitsProviderLimiter
from infinity_matrix.testing import services
from infinity_matrix.testing.fakes.base import FakeServer
from infinity_matrix.testing.fakes.openai import fake_openai

TARGET_MS = 1.0
MODEL = "gpt-4o-mini"
REQUEST = ChatRequest(
    messages=(Message("user", "What changed in the sync engine since yesterday?"),),
    max_output_tokens=256,
)
# Counted on every call, never reached at the rates a bench reaches.
RPM, TPM = 1_000_000, 1_000_000_000
DEADLINE_SECONDS = 60.0  # the hub passes a deadline too (ASK_DEADLINE_SECONDS)
BLOCK = 25
WARMUP_CALLS = 100
ROUNDS = 2
START_SECONDS = 30.0
STOP_SECONDS = 10.0
console = Console(width=120)


@dataclass(slots=True)
class Variant:
    name: str
    call: Callable[[], Awaitable[object]]
    latencies: list[float] = field(default_factory=list)
    # Throughput: calls, seconds, and CPU seconds of this process, the fake, and the host.
    done: int = 0
    seconds: float = 0.0
    busy: list[float] = field(default_factory=list)
    load: list[float] = field(default_factory=list)
    client_cpu: float = 0.0
    fake_cpu: float = 0.0
    host_busy: int = 0
    host_total: int = 0


@dataclass(frozen=True, slots=True)
class Fake:
    url: str
    pid: int
    where: str


class StubAdapter:
    """Answers at once, without HTTP: what is left of a call through the caller is its own."""

    supports_structured_output = False

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self._result = ChatResult(text="ok", model=config.model)

    async def complete(self, request: ChatRequest, *, time_left: float) -> ChatResult:
        return self._result

    async def push(self, bundle: ContextBundle, *, time_left: float) -> PushResult | None:
        return None

    async def aclose(self) -> None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="per variant, in each phase")
    parser.add_argument("--concurrency", type=int, default=100, help="calls in flight")
    parser.add_argument("--fake", choices=["process", "inline"], default="process")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--serve-fake", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake:
        run_loop(_serve_fake())
        return
    run_loop(_run(args))


async def _run(args: argparse.Namespace) -> None:
    configure_logging("console", "warning")
    async with AsyncExitStack() as stack:
        fake = await stack.enter_async_context(_fake_server(args.fake))
        variants, skipped = await _variants(stack, fake.url)
        for variant in variants:  # connections open, first-call costs paid
            for _ in range(WARMUP_CALLS):
                await variant.call()
        gc.collect()
        gc.freeze()  # as the server does once started: the set-up's objects out of the way
        cpu = _cpu(fake)
        await _latency(variants, args.calls)
        latency_cpu = _cpu_delta(cpu, _cpu(fake))
        loaded = [v for v in variants if v.name != "caller, stub"]
        await _throughput(loaded, args.calls, args.concurrency, fake)
    figures = _figures(variants, loaded, latency_cpu, skipped, fake, args)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        _print(figures)


# ---- the fake server ----


async def _serve_fake() -> None:
    """The child process: serve the fake until the parent closes our stdin."""
    configure_logging("console", "warning")
    server = fake_openai()
    async with server.serving() as url, _forgetting(server):
        print(url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


@asynccontextmanager
async def _forgetting(server: FakeServer) -> AsyncIterator[None]:
    """Empty the fake's request log every second: kept, tens of thousands of requests would
    make the fake's garbage collections longer as the run goes on, and land on one variant."""

    async def forget() -> None:
        while True:
            await asyncio.sleep(1.0)
            server.requests.clear()

    task = asyncio.create_task(forget())
    try:
        yield
    finally:
        task.cancel()


@asynccontextmanager
async def _fake_server(where: str) -> AsyncIterator[Fake]:
    if where == "inline":
        server = fake_openai()
        async with server.serving() as url, _forgetting(server):
            yield Fake(url, os.getpid(), "this process")
        return
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve-fake",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    try:
        line = await asyncio.wait_for(child.stdout.readline(), START_SECONDS)
        if not line.startswith(b"http"):
            raise RuntimeError("the fake server process did not start")
        yield Fake(line.decode().strip(), child.pid, "its own process")
    finally:
        child.stdin.close()
        try:
            await asyncio.wait_for(child.wait(), STOP_SECONDS)
        except TimeoutError:
            child.kill()
            await child.wait()


# ---- the variants ----


async def _variants(stack: AsyncExitStack, url: str) -> tuple[list[Variant], dict[str, str]]:
    limited = ProviderConfig(
        workspace="bench",
        name="fake",
        kind="openai-compatible",
        model=MODEL,
        base_url=url,
        rpm=RPM,
        tpm=TPM,
    )
    http = openai.DefaultAsyncHttpxClient(limits=POOL_LIMITS)
    client = openai.AsyncOpenAI(
        api_key="no-key",
        base_url=api_base_url(url),
        max_retries=0,
        timeout=DEADLINE_SECONDS,
        http_client=http,
    )
    stack.push_async_callback(http.aclose)
    stack.push_async_callback(client.close)
    params = chat_params(REQUEST, MODEL, structured=True, strict=True, legacy_max_tokens=True)

    def adapter() -> Any:
        built = create_openai_compatible(limited, None)
        stack.push_async_callback(built.aclose)
        return built

    alone = adapter()
    memory = _caller(MemoryBreakerStore(), LimitsProviderLimiter())
    variants = [
        Variant("sdk", lambda: client.chat.completions.create(**params)),
        Variant("adapter", lambda: alone.complete(REQUEST, time_left=DEADLINE_SECONDS)),
        _through("caller", memory, adapter()),
        _through("caller, no limits", _caller(MemoryBreakerStore(), None), adapter()),
    ]
    skipped: dict[str, str] = {}
    if services.reachable("redis"):
        variants.append(_through("caller+redis", await _redis_caller(stack), adapter()))
    else:
        skipped["caller+redis"] = "Redis does not answer at 127.0.0.1:6379"
    stub = _caller(MemoryBreakerStore(), LimitsProviderLimiter())
    variants.append(_through("caller, stub", stub, StubAdapter(limited)))
    return variants, skipped


def _caller(breakers: Any, limiter: LimitsProviderLimiter | None) -> ResilientCaller:
    metrics = ProviderMetrics(CollectorRegistry())
    return ResilientCaller(breakers=breakers, limiter=limiter, metrics=metrics)


def _through(name: str, caller: ResilientCaller, adapter: Any) -> Variant:
    return Variant(
        name, lambda: caller.complete([adapter], REQUEST, deadline_seconds=DEADLINE_SECONDS)
    )


async def _redis_caller(stack: AsyncExitStack) -> ResilientCaller:
    prefix = f"imx-bench-{secrets.token_hex(4)}"
    breakers = RedisBreakerStore(services.REDIS_URL, prefix=prefix)
    limiter = LimitsProviderLimiter(storage_uri=services.REDIS_URL, prefix=prefix)
    stack.push_async_callback(_delete_keys, prefix)
    stack.push_async_callback(breakers.aclose)
    stack.push_async_callback(limiter.aclose)
    return _caller(breakers, limiter)


async def _delete_keys(prefix: str) -> None:
    client = redis.asyncio.Redis.from_url(services.REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


# ---- the measurements ----


async def _latency(variants: Sequence[Variant], calls: int) -> None:
    """One call at a time; blocks of ``BLOCK`` calls per variant, the order rotating."""
    for start in range(0, calls, BLOCK):
        turn = (start // BLOCK) % len(variants)
        for variant in [*variants[turn:], *variants[:turn]]:
            samples = variant.latencies
            for _ in range(min(BLOCK, calls - start)):
                began = time.perf_counter()
                await variant.call()
                samples.append(time.perf_counter() - began)


async def _throughput(
    variants: Sequence[Variant], calls: int, concurrency: int, fake: Fake
) -> None:
    for variant in variants:  # a pool of ``concurrency`` connections each
        await _burst(variant, concurrency, concurrency)
        variant.load.clear()
    for round_ in range(ROUNDS):
        turn = round_ % len(variants)
        for variant in [*variants[turn:], *variants[:turn]]:
            count = calls // ROUNDS + (calls % ROUNDS if round_ == 0 else 0)
            cpu = _cpu(fake)
            began = time.perf_counter()
            await _burst(variant, count, concurrency)
            elapsed = time.perf_counter() - began
            client, server, busy, total = _cpu_delta(cpu, _cpu(fake))
            variant.done += count
            variant.seconds += elapsed
            variant.client_cpu += client
            variant.fake_cpu += server
            variant.host_busy += busy
            variant.host_total += total


async def _burst(variant: Variant, calls: int, concurrency: int) -> None:
    """``concurrency`` workers keep that many calls in flight until ``calls`` are done."""
    left = calls

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            began = time.perf_counter()
            await variant.call()
            variant.load.append(time.perf_counter() - began)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, calls))))


# CPU seconds of this process and of the fake's, then the host's busy and total clock ticks.
Cpu = tuple[float, float, int, int]


def _cpu(fake: Fake) -> Cpu:
    busy, total = host_cpu_jiffies()
    own = process_cpu_seconds(os.getpid())
    server = 0.0 if fake.pid == os.getpid() else process_cpu_seconds(fake.pid)
    return own, server, busy, total


def _cpu_delta(before: Cpu, after: Cpu) -> Cpu:
    return (
        after[0] - before[0],
        after[1] - before[1],
        after[2] - before[2],
        after[3] - before[3],
    )


# ---- the figures ----


def _ms(samples: Sequence[float], q: float) -> float:
    return round(percentile(sorted(samples), q) * 1000, 3)


def _figures(
    variants: Sequence[Variant],
    loaded: Sequence[Variant],
    latency_cpu: Cpu,
    skipped: dict[str, str],
    fake: Fake,
    args: argparse.Namespace,
) -> dict[str, Any]:
    latency = {
        v.name: {
            "p50_ms": _ms(v.latencies, 50),
            "p95_ms": _ms(v.latencies, 95),
            "p99_ms": _ms(v.latencies, 99),
            "mean_ms": round(statistics.fmean(v.latencies) * 1000, 3),
            "calls": len(v.latencies),
        }
        for v in variants
    }
    p50 = {name: row["p50_ms"] for name, row in latency.items()}
    overhead = {
        name: {
            "over_adapter_ms": round(p50[name] - p50["adapter"], 3),
            "over_sdk_ms": round(p50[name] - p50["sdk"], 3),
            "target_ms": TARGET_MS,
            "met": p50[name] - p50["sdk"] <= TARGET_MS,
        }
        for name in p50
        if name.startswith("caller") and name != "caller, stub"
    }
    throughput = {
        v.name: {
            "calls_per_s": round(v.done / v.seconds, 1),
            "calls": v.done,
            "seconds": round(v.seconds, 2),
            "p50_ms": _ms(v.load, 50),
            "p99_ms": _ms(v.load, 99),
            "client_cpu_ms_per_call": round(v.client_cpu / v.done * 1000, 3),
            "client_cpu_pct": round(v.client_cpu / v.seconds * 100),
            "fake_cpu_pct": round(v.fake_cpu / v.seconds * 100),
            "host_busy_pct": round(100 * v.host_busy / v.host_total) if v.host_total else None,
        }
        for v in loaded
    }
    _, _, busy, total = latency_cpu
    return {
        "fake_server": fake.where,
        "calls_per_variant": args.calls,
        "concurrency": args.concurrency,
        "cpus": os.cpu_count(),
        "latency": latency,
        "overhead": overhead,
        "stub_p50_ms": p50["caller, stub"],
        "throughput": throughput,
        "latency_phase_host_busy_pct": round(100 * busy / total) if total else None,
        "skipped": skipped,
    }


def _print(figures: dict[str, Any]) -> None:
    console.print(
        f"fake OpenAI server in {figures['fake_server']}; {figures['calls_per_variant']} calls "
        f"per variant; {figures['cpus']} CPUs, host {figures['latency_phase_host_busy_pct']} % "
        "busy during the latency phase"
    )
    table = Table(title="latency, one call at a time (ms)")
    for column in ("variant", "p50", "p95", "p99", "mean"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for name, row in figures["latency"].items():
        table.add_row(name, *(f"{row[k]:.3f}" for k in ("p50_ms", "p95_ms", "p99_ms", "mean_ms")))
    console.print(table)
    table = Table(title=f"caller overhead at p50 (target ≤ {TARGET_MS:g} ms over the SDK)")
    for column in ("variant", "over adapter p50", "over sdk p50", "target"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for name, row in figures["overhead"].items():
        table.add_row(
            name,
            f"{row['over_adapter_ms']:+.3f} ms",
            f"{row['over_sdk_ms']:+.3f} ms",
            "✓" if row["met"] else "✗",
        )
    console.print(table)
    console.print(
        f"the caller in front of an adapter that answers at once: p50 {figures['stub_p50_ms']:.3f}"
        " ms per call (its own cost, no network)"
    )
    table = Table(title=f"throughput, {figures['concurrency']} calls in flight")
    columns = (
        "variant",
        "calls/s",
        "p50 ms",
        "p99 ms",
        "client CPU ms/call",
        "CPU % client/fake/host",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "variant" else "right")
    for name, row in figures["throughput"].items():
        table.add_row(
            name,
            f"{row['calls_per_s']:,.0f}",
            f"{row['p50_ms']:.1f}",
            f"{row['p99_ms']:.1f}",
            f"{row['client_cpu_ms_per_call']:.3f}",
            f"{row['client_cpu_pct']}/{row['fake_cpu_pct']}/{row['host_busy_pct']}",
        )
    console.print(table)
    for name, reason in figures["skipped"].items():
        console.print(f"[yellow]{name} did not run: {reason}[/]")


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop when it is installed, as uvicorn does for the server."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


if __name__ == "__main__":
    main()
