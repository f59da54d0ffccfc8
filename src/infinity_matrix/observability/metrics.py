"""The hub's Prometheus metrics, kept on a registry of their own per app.

Never the process-wide default registry: a test (or a process) may build many apps, and each
must count on its own without "Duplicated timeseries" errors.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# 1 ms to 10 s: an in-memory read at the bottom, a provider call at the top.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Group commit batches are 1 to a few hundred events (Settings.group_commit_max, 256 by default).
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class Metrics:
    """Counters and histograms for HTTP traffic, the event log and the database pool."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http_requests_total = Counter(
            "http_requests_total",
            "HTTP requests answered, by route template.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_request_duration_seconds = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["method", "route"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.events_appended_total = Counter(
            "events_appended_total",
            "Events appended to the log, by event type.",
            ["type"],
            registry=self.registry,
        )
        self.event_batches = Histogram(
            "event_batches",
            "Events per group-commit transaction.",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.ws_connections = Gauge(
            "ws_connections", "Open WebSocket connections.", ["face"], registry=self.registry
        )
        self.ws_closed_total = Counter(
            "ws_closed_total",
            "WebSocket connections closed by the hub, by close code.",
            ["face", "code"],
            registry=self.registry,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered HTTP request and its duration."""
        self.http_requests_total.labels(method=method, route=route, status=str(status)).inc()
        self.http_request_duration_seconds.labels(method=method, route=route).observe(seconds)

    def observe_batch(self, event_types: Iterable[str]) -> None:
        """Count one committed group-commit batch made of events of these types."""
        size = 0
        for event_type in event_types:
            self.events_appended_total.labels(type=event_type).inc()
            size += 1
        self.event_batches.observe(size)

    def add_pool_collector(self, describe: Callable[[], Mapping[str, float]]) -> None:
        """Expose ``describe()`` as gauges ``imx_db_pool_<name>``, read at every scrape.

        ``describe`` returns figures such as ``{"size": 10, "checked_out": 2, "overflow": 0}``.
        """
        self.registry.register(_PoolCollector(describe))

    def add_document_cache_collector(self, describe: Callable[[], Mapping[str, float]]) -> None:
        """Expose the in-process document cache, read at every scrape: ``hits`` and ``misses``
        as counters ``imx_document_cache_<name>_total``, the rest (``entries``, ``bytes``) as
        gauges ``imx_document_cache_<name>``."""
        self.registry.register(_DocumentCacheCollector(describe))

    def add_insight_collector(self) -> InsightFigures:
        """Expose insight usage per workspace, from the figures last handed to the returned
        ``InsightFigures`` (the ``/metrics`` route reads them from the database first):
        ``imx_insights{workspace,status}``, ``imx_insights_served_total{workspace}``,
        ``imx_insight_feedback_total{workspace,verdict}`` and
        ``imx_source_reliability{workspace,source}``."""
        figures = InsightFigures()
        self.registry.register(figures)
        return figures

    def render(self) -> tuple[bytes, str]:
        """The exposition payload and its content type, for the ``/metrics`` endpoint."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _PoolCollector(Collector):
    def __init__(self, describe: Callable[[], Mapping[str, float]]) -> None:
        self._describe = describe

    def describe(self) -> Iterable[Metric]:
        # Declaring nothing keeps the registry from calling collect() (and so the pool)
        # at registration time, when the pool may not exist yet.
        return []

    def collect(self) -> Iterable[Metric]:
        for name, value in self._describe().items():
            metric_name = "imx_db_pool_" + re.sub(r"[^a-zA-Z0-9_]", "_", name)
            yield GaugeMetricFamily(
                metric_name, f"Database connection pool: {name}.", value=float(value)
            )


class _DocumentCacheCollector(Collector):
    _COUNTERS = frozenset({"hits", "misses"})

    def __init__(self, describe: Callable[[], Mapping[str, float]]) -> None:
        self._describe = describe

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        for name, value in self._describe().items():
            metric_name = "imx_document_cache_" + name
            if name in self._COUNTERS:
                yield CounterMetricFamily(
                    metric_name, f"Document cache {name} (by seq).", value=float(value)
                )
            else:
                yield GaugeMetricFamily(metric_name, f"Document cache: {name}.", value=float(value))


class InsightFigures(Collector):
    """The latest insight figures per workspace, as plain JSON-like mappings (the shape of
    ``InsightStats.to_json()``)."""

    def __init__(self) -> None:
        self.by_workspace: dict[str, Mapping[str, Any]] = {}

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        insights = GaugeMetricFamily(
            "imx_insights", "Insights by status.", labels=["workspace", "status"]
        )
        served = CounterMetricFamily(
            "imx_insights_served", "Insights served by retrieval.", labels=["workspace"]
        )
        feedback = CounterMetricFamily(
            "imx_insight_feedback",
            "Feedback verdicts given on insights.",
            labels=["workspace", "verdict"],
        )
        reliability = GaugeMetricFamily(
            "imx_source_reliability",
            "Learned reliability of each source (principal/assistant/model), 0..1.",
            labels=["workspace", "source"],
        )
        for workspace, stats in sorted(self.by_workspace.items()):
            for status, count in stats.get("by_status", {}).items():
                insights.add_metric([workspace, status], float(count))
            served.add_metric([workspace], float(stats.get("served", 0)))
            for verdict in ("accepted", "rejected", "outdated"):
                feedback.add_metric([workspace, verdict], float(stats.get(verdict, 0)))
            for source in stats.get("sources", []):
                reliability.add_metric([workspace, source["key"]], float(source["reliability"]))
        yield from (insights, served, feedback, reliability)
