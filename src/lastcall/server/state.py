"""What every connection of one server shares: app, settings, registry, observer."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable
from typing import Any

from lastcall.engines.http1 import Http1Limits
from lastcall.engines.http2 import Http2Config
from lastcall.io.driver import Clock
from lastcall.lifecycle import ConnectionRegistry
from lastcall.observe import Observer

from .access_log import request_completed
from .asgi import ASGIApp, Scope
from .config import ServerConfig
from .proxy_headers import TrustedProxies

__all__ = ["ServerState"]


class ServerState:
    """Shared, read-mostly state of one server (one per ``Server``)."""

    def __init__(
        self,
        config: ServerConfig,
        app: ASGIApp,
        loop: asyncio.AbstractEventLoop,
        observer: Observer,
        registry: ConnectionRegistry,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.app = app
        self.loop = loop
        #: Time and timers of the server's deadlines that follow it (the drain
        #: controller's, HTTP/2 idle and preface): the loop, or a test's FakeClock.
        self.clock: Clock = clock if clock is not None else loop
        self.observer = observer
        self.registry = registry
        #: ``scope["state"]``: filled by lifespan startup, shallow-copied per request.
        self.lifespan_state: dict[str, Any] = {}
        #: Set when the server-wide drain begins; readiness answers 503 from then on.
        self.drain_reason: str | None = None
        #: When the server will cancel what is left (``loop.time()``), once known.
        self.drain_deadline_at: float | None = None
        #: During the pre-stop delay: ``PRE_STOP_REASON`` and the expected deadline.
        #: Only the application is told (``lastcall.drain``); connections do not drain.
        self.drain_notice: str | None = None
        self.drain_notice_deadline_at: float | None = None
        self._notice_waiters: set[asyncio.Future[str]] = set()
        self.http1_limits: Http1Limits = config.http1_limits()
        self.http2_config: Http2Config = config.http2_settings()
        self.readiness_path: str | None = config.readiness_path
        self.root_path = config.root_path
        #: Whether each answered request is reported (``RequestCompleted``):
        #: with the access log on, or a sink that counts requests (metrics).
        #: Off by default, so a request then costs one attribute test.
        self.is_request_observed = config.access_log or observer.wants_requests
        self.proxies: TrustedProxies | None = (
            TrustedProxies(config.forwarded_allow_ips) if config.proxy_headers else None
        )
        #: Fields added to every response, whatever the protocol: ``--header``
        #: and ``server_header`` (config.py).
        self.default_response_headers = config.default_response_headers()
        #: Fields the server adds to every HTTP/1.1 and HTTP/2 response it
        #: starts: the default ones, and ``Alt-Svc`` advertising HTTP/3 once
        #: QUIC is bound (RFC 7838). HTTP/3 sends the default ones only.
        self.extra_response_headers: list[tuple[bytes, bytes]] = list(self.default_response_headers)
        #: When one connection drains by itself: age, requests, and its grace then.
        self.lifetime = config.connection_lifetime()
        #: Draws each connection's age jitter, in [0, 1); tests may replace it.
        self.unit_random: Callable[[], float] = random.random
        self._ids = itertools.count(1)

    def announce_drain(self, reason: str, deadline_at: float) -> None:
        """Tell every application waiting on ``lastcall.drain`` that a drain is coming.

        Again with an earlier ``deadline_at`` if the grace is tightened.
        """
        self.drain_notice = reason
        self.drain_notice_deadline_at = deadline_at
        for waiter in list(self._notice_waiters):
            if not waiter.done():
                waiter.set_result(reason)

    def notify_on_announce(self, waiter: asyncio.Future[str]) -> None:
        """Resolve ``waiter`` with the reason when ``announce_drain`` runs, unless it
        is done (its connection drained or closed) first: then it is forgotten."""
        self._notice_waiters.add(waiter)
        waiter.add_done_callback(self._notice_waiters.discard)

    def request_done(self, scope: Scope, status: int, started_at: float) -> None:
        """Report the request in ``scope``, answered with ``status`` (callers check
        ``is_request_observed`` first). ``started_at``: its head's arrival."""
        now = self.loop.time()
        self.observer.emit(request_completed(scope, status, now, now - started_at))

    def next_connection_id(self) -> int:
        """A small number that names a connection in logs and events."""
        return next(self._ids)
