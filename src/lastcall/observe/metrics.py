"""Prometheus metrics for drain events (optional: needs ``prometheus-client``).

``PrometheusSink()`` raises ``ImportError`` with a hint when the package is
missing; install the ``metrics`` extra (``pip install 'lastcall[metrics]'``).
"""

from __future__ import annotations

from typing import Any

from .events import (
    BackendEjected,
    ConnectionClosed,
    Drained,
    DrainEvent,
    GoAwaySent,
    GraceExpired,
    Http3GoAwaySent,
    RequestCancelled,
    StreamRefused,
    UpstreamGoAway,
    UpstreamRequest,
    UpstreamRetry,
)

__all__ = ["PrometheusSink"]


class PrometheusSink:
    """Counts every drain step; histograms the drain duration; counts the proxy's
    requests, retries (by reason), ejections and upstream GOAWAYs."""

    def __init__(self, registry: Any = None, namespace: str = "lastcall") -> None:
        try:
            import prometheus_client as prom
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "PrometheusSink needs prometheus-client: pip install 'lastcall[metrics]'"
            ) from exc
        kwargs: dict[str, Any] = {"namespace": namespace}
        if registry is not None:
            kwargs["registry"] = registry
        self.events = prom.Counter(
            "drain_events_total", "Drain steps reported, by event name", ["event"], **kwargs
        )
        self.streams_refused = prom.Counter(
            "streams_refused_total", "HTTP/2 and HTTP/3 streams refused (safe to retry)", **kwargs
        )
        self.requests_cancelled = prom.Counter(
            "requests_cancelled_total", "Requests cut at grace expiry", ["how"], **kwargs
        )
        self.connections_closed = prom.Counter(
            "connections_closed_total", "Connections closed", ["protocol", "clean"], **kwargs
        )
        self.goaways = prom.Counter("goaway_sent_total", "GOAWAY frames sent", ["final"], **kwargs)
        self.grace_expired = prom.Counter(
            "grace_expired_total", "Drains that reached the cancel step", **kwargs
        )
        # The reverse proxy's (lastcall.proxy).
        self.upstream_requests = prom.Counter(
            "proxy_upstream_requests_total",
            "Proxied requests by upstream group, backend and status",
            ["upstream", "backend", "status"],
            **kwargs,
        )
        self.upstream_retries = prom.Counter(
            "proxy_upstream_retries_total",
            "Proxied requests sent again, by reason",
            ["upstream", "reason"],
            **kwargs,
        )
        self.backend_ejections = prom.Counter(
            "proxy_backend_ejections_total",
            "Backends set aside by passive ejection",
            ["upstream", "backend"],
            **kwargs,
        )
        self.upstream_goaways = prom.Counter(
            "proxy_upstream_goaways_total",
            "Backend connections that began closing (GOAWAY, Connection: close)",
            ["backend"],
            **kwargs,
        )
        self.drain_seconds = prom.Histogram(
            "drain_duration_seconds",
            "From drain start until the last connection closed",
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
            **kwargs,
        )

    def __call__(self, event: DrainEvent) -> None:
        self.events.labels(event.name).inc()
        if isinstance(event, StreamRefused):
            self.streams_refused.inc()
        elif isinstance(event, RequestCancelled):
            self.requests_cancelled.labels(event.how).inc()
        elif isinstance(event, ConnectionClosed):
            self.connections_closed.labels(event.protocol, str(event.clean).lower()).inc()
        elif isinstance(event, GoAwaySent | Http3GoAwaySent):
            self.goaways.labels(str(event.final).lower()).inc()
        elif isinstance(event, GraceExpired):
            self.grace_expired.inc()
        elif isinstance(event, Drained):
            self.drain_seconds.observe(event.duration)
        elif isinstance(event, UpstreamRequest):
            self.upstream_requests.labels(event.upstream, event.backend, str(event.status)).inc()
        elif isinstance(event, UpstreamRetry):
            self.upstream_retries.labels(event.upstream, event.reason).inc()
        elif isinstance(event, BackendEjected):
            self.backend_ejections.labels(event.upstream, event.backend).inc()
        elif isinstance(event, UpstreamGoAway):
            self.upstream_goaways.labels(event.backend).inc()
