"""Prometheus metrics, read from the same events as the logs (needs ``prometheus-client``).

``PrometheusSink()`` raises ``ImportError`` with a hint when the package is
missing; install the ``metrics`` extra (``pip install 'lastcall[metrics]'``).

Two kinds of series, so that no request pays for a gauge:

- **Counters and histograms fed by events** (``__call__``): drains started
  and completed and their duration, streams refused, requests cancelled at
  grace expiry, GOAWAYs, attack budgets tripped (HTTP/2 ENHANCE_YOUR_CALM,
  HTTP/3 H3_EXCESSIVE_LOAD), requests the server refused itself (400, 408,
  413, 414, 431, 501), requests and their latency
  (``RequestCompleted``, built only while a sink wants it), the proxy's
  requests, retries by reason, spent retry budgets, ejections.
- **Gauges read when scraped** (``watch_connections``, ``watch_clients``):
  live connections by protocol and phase, active streams, and the retries
  of ``lastcall.Client`` pools, taken from what the server and the clients
  already keep. A scrape runs on the server's event loop
  (``server/metrics_endpoint.py``), so it reads a consistent picture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from .events import (
    BackendEjected,
    ConnectionClosed,
    Drained,
    DrainEvent,
    DrainStarted,
    GoAwaySent,
    GraceExpired,
    Http3GoAwaySent,
    QuicConnectionTerminated,
    ReloadFailed,
    ReloadFinished,
    RequestCancelled,
    RequestCompleted,
    RequestRejected,
    RetryBudgetExhausted,
    StreamRefused,
    UpstreamGoAway,
    UpstreamRequest,
    UpstreamRetry,
    WorkerExited,
    WorkerKilled,
    WorkerRestarting,
    WorkerStarted,
)

__all__ = ["PrometheusSink"]

#: HTTP/2 ENHANCE_YOUR_CALM (RFC 9113 §7): the GOAWAY code of a tripped abuse budget.
_ENHANCE_YOUR_CALM = 0xB
#: HTTP/3 H3_EXCESSIVE_LOAD (RFC 9114 §8.1): the same, for HTTP/3.
_H3_EXCESSIVE_LOAD = 0x107
#: Request latency buckets, seconds: 1 ms to a minute (prometheus-client's
#: defaults stop at 10 s, short of a long poll or a slow upload).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class _Connection(Protocol):
    """What a scrape reads from a live connection (``lifecycle.Drainable``)."""

    @property
    def phase(self) -> Any: ...

    @property
    def active_stream_count(self) -> int: ...


class _PoolStats(Protocol):
    replays: int
    stale_retries: int


class PrometheusSink:
    """Counts every drain step and every request; see the module docstring."""

    #: Read by ``Observer.wants_requests``: the server then reports each request.
    wants_requests = True

    def __init__(self, registry: Any = None, namespace: str = "lastcall") -> None:
        try:
            import prometheus_client as prom
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "PrometheusSink needs prometheus-client: pip install 'lastcall[metrics]'"
            ) from exc
        self.registry = registry if registry is not None else prom.REGISTRY
        self.namespace = namespace
        kwargs: dict[str, Any] = {"namespace": namespace, "registry": self.registry}
        self.events = prom.Counter(
            "drain_events_total", "Drain steps reported, by event name", ["event"], **kwargs
        )
        self.drains_started = prom.Counter(
            "drains_started_total", "Drains begun (signal, API, ...)", **kwargs
        )
        self.drains_completed = prom.Counter(
            "drains_completed_total", "Drains that ended with every connection gone", **kwargs
        )
        self.streams_refused = prom.Counter(
            "streams_refused_total", "HTTP/2 and HTTP/3 streams refused (safe to retry)", **kwargs
        )
        self.requests_cancelled = prom.Counter(
            "requests_cancelled_total",
            "Requests and streams cut at grace expiry, by how",
            ["how"],
            **kwargs,
        )
        self.connections_closed = prom.Counter(
            "connections_closed_total", "Connections closed", ["protocol", "clean"], **kwargs
        )
        self.goaways = prom.Counter("goaway_sent_total", "GOAWAY frames sent", ["final"], **kwargs)
        self.grace_expired = prom.Counter(
            "grace_expired_total", "Drains that reached the cancel step", **kwargs
        )
        self.budgets_tripped = prom.Counter(
            "budgets_tripped_total",
            "Connections ended by an abuse budget (GOAWAY ENHANCE_YOUR_CALM), by reason",
            ["reason"],
            **kwargs,
        )
        self.requests_rejected = prom.Counter(
            "requests_rejected_total",
            "Requests the server refused itself: malformed, too big or too slow",
            ["protocol", "status"],
            **kwargs,
        )
        self.requests = prom.Counter(
            "requests_total",
            "Requests answered, by HTTP version and status",
            ["http_version", "status"],
            **kwargs,
        )
        self.request_seconds = prom.Histogram(
            "request_duration_seconds",
            "From the request head's arrival to the response's last byte",
            ["http_version"],
            buckets=LATENCY_BUCKETS,
            **kwargs,
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
        self.retry_budget_exhausted = prom.Counter(
            "proxy_retry_budget_exhausted_total",
            "Retries not made because the group's retry budget was spent, by reason",
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
        # The supervisor's (lastcall.process, --workers): served by its own endpoint.
        self.workers_started = prom.Counter(
            "workers_started_total", "Worker processes started (first, reload, restart)", **kwargs
        )
        self.worker_exits = prom.Counter(
            "worker_exits_total",
            "Worker processes that ended; expected=false is a crash",
            ["expected"],
            **kwargs,
        )
        self.worker_restarts = prom.Counter(
            "worker_restarts_total", "Crashed workers replaced (after backoff)", **kwargs
        )
        self.workers_killed = prom.Counter(
            "workers_killed_total", "Draining workers killed past their budget", **kwargs
        )
        self.reloads = prom.Counter(
            "reloads_total", "Reloads (SIGHUP, --reload) by outcome", ["outcome"], **kwargs
        )
        self.reload_seconds = prom.Histogram(
            "reload_duration_seconds",
            "From reload start until the new generation served and the old was told to drain",
            buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            **kwargs,
        )
        self.drain_seconds = prom.Histogram(
            "drain_duration_seconds",
            "From drain start until the last connection closed",
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
            **kwargs,
        )
        self._prom = prom

    def __call__(self, event: DrainEvent) -> None:
        if isinstance(event, RequestCompleted):  # the common case, and no drain step
            self.requests.labels(event.http_version, str(event.status)).inc()
            self.request_seconds.labels(event.http_version).observe(event.duration)
            return
        self.events.labels(event.name).inc()
        if isinstance(event, StreamRefused):
            self.streams_refused.inc()
        elif isinstance(event, RequestCancelled):
            self.requests_cancelled.labels(event.how).inc()
        elif isinstance(event, ConnectionClosed):
            self.connections_closed.labels(event.protocol, str(event.clean).lower()).inc()
        elif isinstance(event, GoAwaySent):
            self.goaways.labels(str(event.final).lower()).inc()
            if event.error_code == _ENHANCE_YOUR_CALM:
                self.budgets_tripped.labels(event.debug_data or "unspecified").inc()
        elif isinstance(event, RequestRejected):
            self.requests_rejected.labels(event.protocol, str(event.status)).inc()
        elif isinstance(event, QuicConnectionTerminated):
            if event.error_code == _H3_EXCESSIVE_LOAD and not (
                event.remote or event.transport_error
            ):
                self.budgets_tripped.labels(event.reason or "h3_excessive_load").inc()
        elif isinstance(event, Http3GoAwaySent):
            self.goaways.labels(str(event.final).lower()).inc()
        elif isinstance(event, DrainStarted):
            self.drains_started.inc()
        elif isinstance(event, GraceExpired):
            self.grace_expired.inc()
        elif isinstance(event, Drained):
            self.drains_completed.inc()
            self.drain_seconds.observe(event.duration)
        elif isinstance(event, WorkerStarted):
            self.workers_started.inc()
        elif isinstance(event, WorkerExited):
            self.worker_exits.labels(str(event.expected).lower()).inc()
        elif isinstance(event, WorkerRestarting):
            self.worker_restarts.inc()
        elif isinstance(event, WorkerKilled):
            self.workers_killed.inc()
        elif isinstance(event, ReloadFinished):
            self.reloads.labels("finished").inc()
            self.reload_seconds.observe(event.duration)
        elif isinstance(event, ReloadFailed):
            self.reloads.labels("failed").inc()
        elif isinstance(event, UpstreamRequest):
            self.upstream_requests.labels(event.upstream, event.backend, str(event.status)).inc()
        elif isinstance(event, UpstreamRetry):
            self.upstream_retries.labels(event.upstream, event.reason).inc()
        elif isinstance(event, RetryBudgetExhausted):
            self.retry_budget_exhausted.labels(event.upstream, event.reason).inc()
        elif isinstance(event, BackendEjected):
            self.backend_ejections.labels(event.upstream, event.backend).inc()
        elif isinstance(event, UpstreamGoAway):
            self.upstream_goaways.labels(event.backend).inc()

    def watch_connections(self, connections: Callable[[], Iterable[_Connection]]) -> None:
        """Report, at each scrape, the connections ``connections()`` returns:
        ``connections{protocol, phase}`` and ``streams{protocol}`` (active)."""
        self.registry.register(_ConnectionCollector(self._prom, self.namespace, connections))

    def watch_clients(self, stats: Callable[[], Iterable[_PoolStats]]) -> None:
        """Report, at each scrape, the retries of ``lastcall.Client`` pools
        (``Client.stats``): ``client_retries_total{reason}``, ``replay`` (the
        server never processed it: GOAWAY, REFUSED_STREAM) or ``stale`` (a
        keep-alive connection the server had closed)."""
        self.registry.register(_ClientCollector(self._prom, self.namespace, stats))


class _ConnectionCollector:
    def __init__(
        self, prom: Any, namespace: str, connections: Callable[[], Iterable[_Connection]]
    ) -> None:
        self._prom, self._namespace, self._connections = prom, namespace, connections

    def describe(self) -> list[Any]:
        return []  # not known before a scrape; prometheus-client then skips the check

    def collect(self) -> Iterator[Any]:
        by_phase: dict[tuple[str, str], int] = {}
        streams: dict[str, int] = {}
        for connection in self._connections():
            protocol = str(getattr(connection, "protocol_name", "unknown"))
            phase = str(getattr(connection.phase, "name", connection.phase)).lower()
            by_phase[protocol, phase] = by_phase.get((protocol, phase), 0) + 1
            streams[protocol] = streams.get(protocol, 0) + connection.active_stream_count
        gauge = self._prom.metrics_core.GaugeMetricFamily
        connections = gauge(
            f"{self._namespace}_connections",
            "Live connections by protocol and phase (open, draining, closing)",
            labels=["protocol", "phase"],
        )
        for (protocol, phase), count in sorted(by_phase.items()):
            connections.add_metric([protocol, phase], count)
        yield connections
        active = gauge(
            f"{self._namespace}_streams",
            "Requests being served (HTTP/1.1: 0 or 1 per connection)",
            labels=["protocol"],
        )
        for protocol, count in sorted(streams.items()):
            active.add_metric([protocol], count)
        yield active


class _ClientCollector:
    def __init__(
        self, prom: Any, namespace: str, stats: Callable[[], Iterable[_PoolStats]]
    ) -> None:
        self._prom, self._namespace, self._stats = prom, namespace, stats

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        replays = stale = 0
        for stats in self._stats():
            replays += stats.replays
            stale += stats.stale_retries
        retries = self._prom.metrics_core.CounterMetricFamily(
            f"{self._namespace}_client_retries",
            "Requests a lastcall.Client sent again, by reason",
            labels=["reason"],
        )
        retries.add_metric(["replay"], replays)
        retries.add_metric(["stale"], stale)
        yield retries
