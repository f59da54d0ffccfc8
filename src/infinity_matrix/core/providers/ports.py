"""The ports the provider services need; ``infinity_matrix.providers`` implements them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from infinity_matrix.core.providers.records import (
    Answered,
    ChatRequest,
    ChatResult,
    ContextBundle,
    ProviderConfig,
    PushResult,
)


class Adapter(Protocol):
    """Pure translation for one configured provider, plus its sync target.

        ``complete`` makes exactly one attempt (the SDK client is built with ``max_retries=0``) and
        raises only ``ProviderError`` subclasses; the resilient caller owns retries, deadlines,
        breakers and limits. ``push`` brings the provider's own copy of the context up to date and
        answers the object that holds it, or ``None`` when the provider keeps no context on its side
        (the bundle is then attached to each call). ``time_left`` is the seconds the attempt may
    take (passed to the SDK as its request timeout); ``aclose`` closes the pooled HTTP client."""

    config: ProviderConfig

    @property
    def supports_structured_output(self) -> bool: ...

    @property
    def pushes_remotely(self) -> bool:
        """Whether ``push`` sends anything to the provider; when not (the context goes with
        each call, or is written locally) a push is no provider call: no limit, no breaker."""
        ...

    async def complete(self, request: ChatRequest, *, time_left: float) -> ChatResult: ...

    async def push(self, bundle: ContextBundle, *, time_left: float) -> PushResult | None: ...

    async def aclose(self) -> None: ...


class AdapterFactory(Protocol):
    """Builds the adapter of one provider kind; registered under the entry-point group
    ``infinity_matrix.providers`` (name = kind). ``credential`` is the decrypted API key (or,
    for Vertex AI, a service-account JSON / access token), or None."""

    def __call__(self, config: ProviderConfig, credential: str | None) -> Adapter: ...


class ProviderCalls(Protocol):
    """Calls to configured providers through the resilient caller, with adapters built (and
    kept open) per configuration: what the ask and context-flow services need."""

    async def complete(
        self,
        chain: Sequence[ProviderConfig],
        request: ChatRequest,
        *,
        deadline_seconds: float | None = None,
    ) -> Answered: ...

    async def push(self, config: ProviderConfig, bundle: ContextBundle) -> PushResult | None: ...

    async def structured(self, config: ProviderConfig) -> bool:
        """Whether ``config``'s adapter supports structured output."""
        ...

    async def health(self, config: ProviderConfig) -> dict[str, Any]: ...

    async def forget(self, workspace: str, name: str) -> None:
        """Close the adapter of a removed provider."""
        ...
