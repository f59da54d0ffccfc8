"""Prometheus metrics of provider calls, per workspace and provider (name as configured).

    imx_provider_requests_total{workspace,provider,outcome}   outcome: success | failure | skipped
    imx_provider_failures_total{workspace,provider,kind}      kind: the error kind (taxonomy)
    imx_provider_request_duration_seconds{workspace,provider} one request, success or failure
    imx_provider_retries_total{workspace,provider}
    imx_provider_breaker_state{workspace,provider}            0 closed, 1 half-open, 2 open
    imx_provider_limit_remaining{workspace,provider,limit}    limit: rpm | tpm (when configured)
    imx_provider_asks_total{workspace,provider}               questions answered (data flow 2)
    imx_provider_tokens_total{workspace,provider,direction}   direction: input | output | cached
    imx_provider_insights_total{workspace,provider,outcome}   insights from answers, by outcome

Implements ``providers.resilience.caller.CallMetrics``; built on the hub's own registry
(``ProviderMetrics(metrics.registry)``, where ``metrics`` is the hub's ``Metrics``).
"""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from infinity_matrix.core.providers.limits import LimitsRemaining
from infinity_matrix.core.providers.records import ProviderConfig

# A provider answers in tens of milliseconds (a local model, a cache hit) to minutes.
PROVIDER_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
BREAKER_VALUES = {"closed": 0.0, "half_open": 1.0, "open": 2.0}


class ProviderMetrics:
    """The provider metrics on ``registry``; see the module docstring for the names."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["workspace", "provider"]
        self.requests_total = Counter(
            "imx_provider_requests_total",
            "Requests to providers (skipped: a provider of the chain not called), by outcome.",
            [*labels, "outcome"],
            registry=registry,
        )
        self.failures_total = Counter(
            "imx_provider_failures_total",
            "Failed or skipped provider requests, by error kind.",
            [*labels, "kind"],
            registry=registry,
        )
        self.request_duration_seconds = Histogram(
            "imx_provider_request_duration_seconds",
            "Time one request to a provider took.",
            labels,
            buckets=PROVIDER_BUCKETS,
            registry=registry,
        )
        self.retries_total = Counter(
            "imx_provider_retries_total", "Retries of provider requests.", labels, registry=registry
        )
        self.breaker_state = Gauge(
            "imx_provider_breaker_state",
            "Circuit breaker of the provider's deployment: 0 closed, 1 half-open, 2 open.",
            labels,
            registry=registry,
        )
        self.asks_total = Counter(
            "imx_provider_asks_total",
            "Questions a provider answered for the hub (imx ask, POST …/ask, provider_ask).",
            labels,
            registry=registry,
        )
        self.tokens_total = Counter(
            "imx_provider_tokens_total",
            "Tokens of the answered questions, by direction (input, output, cached).",
            [*labels, "direction"],
            registry=registry,
        )
        self.insights_total = Counter(
            "imx_provider_insights_total",
            "Insights extracted from a provider's answers, by outcome (recorded, corroborated).",
            [*labels, "outcome"],
            registry=registry,
        )
        self.limit_remaining = Gauge(
            "imx_provider_limit_remaining",
            "What is left of the provider's rpm/tpm limit in the current minute.",
            [*labels, "limit"],
            registry=registry,
        )

    def observe_ask(
        self, workspace: str, provider: str, tokens: dict[str, int], outcomes: list[str]
    ) -> None:
        """One answered question: its token usage and what became of the insights in it (the
        quality figures of a provider, with its source reliability)."""
        self.asks_total.labels(workspace, provider).inc()
        for direction in ("input", "output", "cached"):
            amount = tokens.get(f"{direction}_tokens", 0)
            self.tokens_total.labels(workspace, provider, direction).inc(amount)
        for outcome in outcomes:
            self.insights_total.labels(workspace, provider, outcome).inc()

    def observe_attempt(self, config: ProviderConfig, error: str | None, seconds: float) -> None:
        workspace, name = config.workspace, config.name
        self.request_duration_seconds.labels(workspace, name).observe(seconds)
        if error is None:
            self.requests_total.labels(workspace, name, "success").inc()
            return
        self.requests_total.labels(workspace, name, "failure").inc()
        self.failures_total.labels(workspace, name, error).inc()

    def observe_skip(self, config: ProviderConfig, reason: str) -> None:
        self.requests_total.labels(config.workspace, config.name, "skipped").inc()
        self.failures_total.labels(config.workspace, config.name, reason).inc()

    def observe_retry(self, config: ProviderConfig) -> None:
        self.retries_total.labels(config.workspace, config.name).inc()

    def observe_breaker(self, config: ProviderConfig, state: str) -> None:
        value = BREAKER_VALUES.get(state, 0.0)
        self.breaker_state.labels(config.workspace, config.name).set(value)

    def observe_remaining(self, config: ProviderConfig, remaining: LimitsRemaining) -> None:
        if remaining.rpm is not None:
            self.limit_remaining.labels(config.workspace, config.name, "rpm").set(remaining.rpm)
        if remaining.tpm is not None:
            self.limit_remaining.labels(config.workspace, config.name, "tpm").set(remaining.tpm)

    def forget(self, config: ProviderConfig) -> None:
        """Drop the gauges of a provider that was removed (its counters stay, as counters do)."""
        workspace, name = config.workspace, config.name
        for gauge, labels in (
            (self.breaker_state, (workspace, name)),
            (self.limit_remaining, (workspace, name, "rpm")),
            (self.limit_remaining, (workspace, name, "tpm")),
        ):
            with contextlib.suppress(KeyError):  # never set: nothing to drop
                gauge.remove(*labels)
