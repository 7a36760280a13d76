"""The proxy's events, counted by the Prometheus sink."""

from __future__ import annotations

import pytest

from lastcall.observe import events as oe


def test_proxy_counters() -> None:
    prom = pytest.importorskip("prometheus_client")
    from lastcall.observe.metrics import PrometheusSink

    registry = prom.CollectorRegistry()
    sink = PrometheusSink(registry)
    sink(oe.UpstreamRequest(1.0, "api", "h2c://b:1", 200, 0))
    sink(oe.UpstreamRequest(1.0, "api", "h2c://b:1", 200, 1))
    sink(oe.UpstreamRetry(1.0, "api", "h2c://b:1", "refused"))
    sink(oe.BackendEjected(1.0, "api", "h2c://b:1", "connect_failed", 31.0))
    sink(oe.UpstreamGoAway(1.0, "h2c://b:1", "HTTP/2", "goaway", 7))

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(f"lastcall_{name}", labels)

    assert (
        value("proxy_upstream_requests_total", upstream="api", backend="h2c://b:1", status="200")
        == 2
    )
    assert value("proxy_upstream_retries_total", upstream="api", reason="refused") == 1
    assert value("proxy_backend_ejections_total", upstream="api", backend="h2c://b:1") == 1
    assert value("proxy_upstream_goaways_total", backend="h2c://b:1") == 1
    assert value("drain_events_total", event="upstream_retry") == 1
