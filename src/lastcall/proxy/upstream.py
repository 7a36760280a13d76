"""Backends and groups at run time: counts, ejection, health, and the clients that reach them.

Upstream traffic is lastcall's own ``Client`` -- the half of lastcall that
finishes what a server promised and says what it refused -- one client per
kind of backend URL, shared by every group:

* ``http://``: HTTP/1.1 (keep-alive pool);
* ``https://``: TLS, ALPN ``h2`` or ``http/1.1``;
* ``h2c://``: HTTP/2 with prior knowledge over cleartext (RFC 9113 §3.3),
  what gRPC backends usually speak.

The clients never replay a request themselves (``RetryPolicy`` 0/0): every
retry is the proxy's decision (``retry.py``), goes through the balancer
(another connection, often another backend), is bounded by the group's
budget and is counted by reason. Their pools close last, after the
downstream drain (``app.py``).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from lastcall.client import URL, Client, ClosingNotice, Limits, RetryPolicy
from lastcall.observe import Observer
from lastcall.observe import events as oe

from .balancer import Balancer
from .config import ProxyConfig, UpstreamConfig, backend_origin
from .ejection import EjectionState, record_failure, record_success
from .retry import CONNECT_FAILED
from .retry_budget import RetryBudget

__all__ = ["Backend", "UpstreamClients", "UpstreamGroup"]


class Backend:
    """One backend of one group."""

    __slots__ = (
        "authority",
        "base",
        "base_url",
        "client",
        "ejection",
        "group",
        "healthy",
        "outstanding",
        "scheme",
        "url",
    )

    def __init__(self, group: str, url: str, client: Client) -> None:
        scheme, host, port = backend_origin(url)
        self.group = group
        #: As configured: the label of every event about it.
        self.url = url
        self.scheme = scheme
        hostport = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        #: ``host:port``: the ``Host`` sent when the client's is not preserved.
        self.authority = hostport.encode("ascii")
        #: What request URLs to it start with (the client knows no ``h2c://``).
        self.base = f"{'https' if scheme == 'https' else 'http'}://{hostport}"
        #: ``base`` split once; each request's URL is it with the request's target.
        self.base_url = URL(self.base + "/")
        self.client = client
        #: Attempts in flight to it (the ``least_outstanding`` and ``p2c`` input).
        self.outstanding = 0
        #: False while active health checks fail.
        self.healthy = True
        self.ejection = EjectionState()

    def is_available(self, now: float) -> bool:
        """Healthy and not ejected."""
        return self.healthy and not self.ejection.is_ejected(now)

    def __repr__(self) -> str:
        return f"<Backend {self.url} outstanding={self.outstanding}>"


class UpstreamClients:
    """One lastcall ``Client`` per kind of backend URL (and TLS verification)."""

    def __init__(self, config: ProxyConfig, on_notice: Callable[[ClosingNotice], None]) -> None:
        self._on_notice = on_notice
        self._clients: dict[tuple[str, bool | str, int], Client] = {}
        self._drain = config.upstream_close_timeout

    def for_group(self, group: UpstreamConfig, scheme: str) -> Client:
        """The client for ``scheme`` backends of ``group`` (shared when settings agree)."""
        key = (scheme, group.verify, group.max_connections)
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = Client(
                http1=scheme != "h2c",
                http2=scheme != "http",
                retry=RetryPolicy(max_replays=0, max_stale_retries=0),
                limits=Limits(
                    max_connections=group.max_connections,
                    max_keepalive_connections=group.max_connections,
                ),
                verify=group.verify,
                drain=self._drain,
                on_notice=self._on_notice,
            )
        return client

    def all(self) -> list[Client]:
        return list(self._clients.values())

    async def aclose(self) -> None:
        """Close every pool: in-flight exchanges get ``upstream_close_timeout``."""
        for client in self._clients.values():
            await client.aclose()


class UpstreamGroup:
    """A group's backends, balancer, retry budget and passive ejection."""

    def __init__(
        self,
        config: UpstreamConfig,
        clients: UpstreamClients,
        observer: Observer,
        rng: random.Random,
    ) -> None:
        self.name = config.name
        self.config = config
        self.backends = [
            Backend(config.name, url, clients.for_group(config, backend_origin(url)[0]))
            for url in config.backends
        ]
        self.balancer = Balancer(config.balancer, rng.random)
        self.budget = RetryBudget(config.retry_budget)
        self._observer = observer
        self._states = [backend.ejection for backend in self.backends]

    def choose(self, now: float, tried: list[Backend]) -> Backend | None:
        """The backend for the next attempt (see ``balancer.py``)."""
        backends = self.backends
        backend = backends[0] if len(backends) == 1 else self.balancer.choose(backends, now, tried)
        if backend is not None:
            ejection = backend.ejection
            if ejection.ejected_until is not None and not ejection.is_ejected(now):
                ejection.uneject()
                self._observer.emit(
                    oe.BackendRestored(now, self.name, backend.url, "ejection_ended")
                )
        return backend

    def succeeded(self, backend: Backend) -> None:
        """An attempt got a response that is not a gateway error."""
        if backend.ejection.consecutive_failures:
            record_success(backend.ejection)

    def failed(self, backend: Backend, now: float, reason: str) -> None:
        """An attempt failed (``reason``: a retry reason, or ``status_5xx``)."""
        until = record_failure(
            backend.ejection,
            self._states,
            self.config.ejection,
            now=now,
            refused=reason == CONNECT_FAILED,
        )
        if until is not None:
            self._observer.emit(oe.BackendEjected(now, self.name, backend.url, reason, until))

    def health_checked(self, backend: Backend, now: float, healthy: bool) -> None:
        """An active health check changed its verdict."""
        if backend.healthy != healthy:
            backend.healthy = healthy
            self._observer.emit(oe.BackendHealthChanged(now, self.name, backend.url, healthy))
        if healthy and backend.ejection.is_ejected(now):
            backend.ejection.uneject()
            self._observer.emit(oe.BackendRestored(now, self.name, backend.url, "health_check"))
