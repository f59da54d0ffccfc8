"""Each Metrics object counts on its own registry and renders the Prometheus text format."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from infinity_matrix.core.sync.doccache import DocumentCache
from infinity_matrix.core.sync.documents import Document
from infinity_matrix.observability.metrics import Metrics


def _samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    payload, _ = metrics.render()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(payload.decode())
        for sample in family.samples
    }


def test_two_metrics_objects_do_not_share_counts() -> None:
    first, second = Metrics(), Metrics()

    first.observe_request("GET", "/healthz", 200, 0.002)

    assert (
        first.registry.get_sample_value(
            "http_requests_total", {"method": "GET", "route": "/healthz", "status": "200"}
        )
        == 1.0
    )
    assert (
        second.registry.get_sample_value(
            "http_requests_total", {"method": "GET", "route": "/healthz", "status": "200"}
        )
        is None
    )


def test_a_request_is_counted_and_timed_by_route() -> None:
    metrics = Metrics()

    metrics.observe_request("PUT", "/api/v1/workspaces/{ws}", 201, 0.003)

    samples = _samples(metrics)
    route = (("method", "PUT"), ("route", "/api/v1/workspaces/{ws}"))
    assert samples[("http_requests_total", (*route, ("status", "201")))] == 1.0
    assert samples[("http_request_duration_seconds_count", route)] == 1.0
    assert samples[("http_request_duration_seconds_bucket", (("le", "0.001"), *route))] == 0.0
    assert samples[("http_request_duration_seconds_bucket", (("le", "0.005"), *route))] == 1.0
    assert samples[("http_request_duration_seconds_bucket", (("le", "10.0"), *route))] == 1.0


def test_a_batch_counts_its_events_by_type_and_its_size() -> None:
    metrics = Metrics()

    metrics.observe_batch(["context.updated", "context.updated", "member.added"])

    samples = _samples(metrics)
    assert samples[("events_appended_total", (("type", "context.updated"),))] == 2.0
    assert samples[("events_appended_total", (("type", "member.added"),))] == 1.0
    assert samples[("event_batches_count", ())] == 1.0
    assert samples[("event_batches_sum", ())] == 3.0


def test_pool_gauges_are_read_at_scrape_time() -> None:
    metrics = Metrics()
    pool = {"size": 10.0, "checked_out": 1.0, "overflow": 0.0}
    metrics.add_pool_collector(lambda: pool)
    pool["checked_out"] = 4.0

    samples = _samples(metrics)

    assert samples[("imx_db_pool_size", ())] == 10.0
    assert samples[("imx_db_pool_checked_out", ())] == 4.0
    assert samples[("imx_db_pool_overflow", ())] == 0.0


def test_the_pool_is_not_asked_at_registration() -> None:
    calls: list[int] = []

    def describe() -> dict[str, float]:
        calls.append(1)
        return {}

    Metrics().add_pool_collector(describe)

    assert calls == []


def test_render_gives_the_prometheus_text_content_type() -> None:
    _, content_type = Metrics().render()

    assert content_type.startswith("text/plain; version=")


def test_document_cache_hits_and_misses_are_counted_at_scrape_time() -> None:
    metrics = Metrics()
    cache = DocumentCache()
    metrics.add_document_cache_collector(cache.figures)
    cache.put("ws", "notes/a", 3, Document(), 10)
    assert cache.take("ws", "notes/a", 3) is not None  # the document of seq 3: a hit
    assert cache.take("ws", "notes/a", 4) is None  # gone (taken): a miss

    samples = _samples(metrics)

    assert samples[("imx_document_cache_hits_total", ())] == 1.0
    assert samples[("imx_document_cache_misses_total", ())] == 1.0
    assert samples[("imx_document_cache_entries", ())] == 0.0
