"""Test helpers for the resilient caller: an adapter that follows a script, and a fake clock.

The scripted adapter implements the ``Adapter`` port without any SDK: each call takes the next
step of its script (an answer to return, or an error to raise) and records the ``time_left`` it
was given. The real SDKs against the fake servers are tested per adapter.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from infinity_matrix.core.providers.breaker import BreakerPolicy, MemoryBreakerStore
from infinity_matrix.core.providers.errors import ProviderError
from infinity_matrix.core.providers.limits import ProviderLimiter
from infinity_matrix.core.providers.records import (
    ChatRequest,
    ChatResult,
    ContextBundle,
    Message,
    ProviderConfig,
    PushResult,
)
from infinity_matrix.providers.resilience.backoff import Backoff
from infinity_matrix.providers.resilience.caller import CallMetrics, ResilientCaller

Step = ChatResult | PushResult | None | ProviderError | type[ProviderError]

REQUEST = ChatRequest(messages=(Message("user", "What changed?"),), max_output_tokens=100)


class FakeClock:
    """Epoch-like seconds that move only when someone sleeps; records every sleep."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class ScriptedAdapter:
    """An ``Adapter`` whose calls follow ``script``; an empty script answers."""

    def __init__(self, name: str, script: Iterable[Step] = (), **config: Any) -> None:
        fields: dict[str, Any] = {"max_retries": 3} | config
        self.config = ProviderConfig(
            workspace="ws",
            name=name,
            kind="openai-compatible",
            model=f"model-{name}",
            base_url=f"http://{name}.invalid/v1",
            **fields,
        )
        self.script: deque[Step] = deque(script)
        self.time_left: list[float] = []

    @property
    def calls(self) -> int:
        return len(self.time_left)

    @property
    def supports_structured_output(self) -> bool:
        return False

    @property
    def pushes_remotely(self) -> bool:
        return True

    async def complete(self, request: ChatRequest, *, time_left: float) -> ChatResult:
        step = self._next(time_left)
        if step is None:
            return ChatResult(text=f"answer from {self.config.name}", model=self.config.model)
        assert isinstance(step, ChatResult)
        return step

    async def push(self, bundle: ContextBundle, *, time_left: float) -> PushResult | None:
        step = self._next(time_left)
        assert step is None or isinstance(step, PushResult)
        return step

    async def aclose(self) -> None:
        return None

    def _next(self, time_left: float) -> ChatResult | PushResult | None:
        self.time_left.append(time_left)
        step = self.script.popleft() if self.script else None
        if isinstance(step, type):
            raise step(f"scripted {step.kind}", provider=self.config.name)
        if isinstance(step, ProviderError):
            raise step
        return step


def caller(
    clock: FakeClock,
    *,
    policy: BreakerPolicy | None = None,
    limiter: ProviderLimiter | None = None,
    metrics: CallMetrics | None = None,
    draw: float = 0.5,
) -> ResilientCaller:
    """A caller on memory breakers whose time is ``clock`` and whose jitter always draws
    ``draw`` (so backoff i waits ``draw * min(8, 0.5 * 2**i)``)."""
    return ResilientCaller(
        breakers=MemoryBreakerStore(policy or BreakerPolicy(), clock=clock),
        limiter=limiter,
        backoff=Backoff(base=0.5, cap=8.0, rng=lambda: draw),
        metrics=metrics,
        clock=clock,
        wall=clock,
        sleep=clock.sleep,
    )
