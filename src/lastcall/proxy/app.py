"""``ProxyApp``: the reverse proxy as an ASGI application served by lastcall's own ``Server``.

Why an ASGI app: downstream the proxy must be exactly the server -- HTTP/1.1,
HTTP/2, HTTP/3, WebSocket and RFC 8441, TLS, workers, readiness, and the
drain contract (DESIGN.md) -- so it *is* the server, and every ``serve``
option works the same on ``lastcall proxy``. What it needs beyond plain ASGI
the server already offers: response trailers (the ``http.response.trailers``
extension) and the drain notice (``lastcall.drain``).

Drain on both sides:

* the proxy's own SIGTERM is the server's drain: readiness fails, listeners
  close, every downstream connection drains by its protocol (GOAWAY, final
  GOAWAY, ``Connection: close``, WebSocket Close 1001); proxied exchanges in
  flight keep running until they end or the grace period does; only then does
  lifespan shutdown run, which is where the upstream pools close
  (``upstream_close_timeout``): last, as DESIGN.md "Proxy" asks;
* a backend's drain is the client's business: an upstream connection that
  receives GOAWAY takes no new stream at once, streams it promised finish,
  those it refused come back as ``UnprocessedRequest`` and are retried by
  ``forward.py`` on another connection or backend; each GOAWAY is reported
  (``upstream_goaway``).
"""

from __future__ import annotations

import logging
import random
from typing import Any

from lastcall.observe import Observer, PrometheusSink

from .config import ProxyConfig
from .forward import forward_http
from .health import HealthChecker
from .hooks import ProxyHooks, load_hooks
from .state import ProxyState
from .websocket import relay_websocket

__all__ = ["ProxyApp", "ProxyState"]

logger = logging.getLogger("lastcall.proxy")


class ProxyApp:
    """The ASGI callable: ``http`` is forwarded, ``websocket`` relayed, ``lifespan`` run.

    >>> app = ProxyApp(simple_proxy_config(["h2c://127.0.0.1:50051"]))  # doctest: +SKIP
    >>> Server(app, bind=["127.0.0.1:8080"], observer=app.observer)        # doctest: +SKIP
    """

    def __init__(
        self,
        config: ProxyConfig,
        *,
        observer: Observer | None = None,
        hooks: ProxyHooks | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if hooks is None and config.hooks is not None:
            hooks = load_hooks(config.hooks)
        self.config = config
        self.observer = observer if observer is not None else Observer()
        self.state = ProxyState(config, self.observer, hooks, rng or random.Random())
        self._checkers: list[HealthChecker] = []
        self._started = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if not self._started and kind != "lifespan":
            await self.startup()  # ``--lifespan off``: the first request starts the checks
        if kind == "http":
            await forward_http(self.state, scope, receive, send)
        elif kind == "websocket":
            await relay_websocket(self.state, scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    def watch_metrics(self, sink: PrometheusSink) -> None:
        """With ``--metrics-bind`` the server calls this: the upstream pools'
        own retries (``client_retries_total``) join the proxy's events."""
        sink.watch_clients(lambda: [client.stats for client in self.state.clients.all()])

    async def startup(self) -> None:
        """Start the active health checks (idempotent)."""
        if self._started:
            return
        self._started = True
        for group in self.state.groups.values():
            if group.config.health_check.path is not None:
                checker = HealthChecker(group, group.config.health_check)
                checker.start()
                self._checkers.append(checker)

    async def shutdown(self) -> None:
        """Stop health checks; close the upstream pools (their exchanges get
        ``upstream_close_timeout`` to finish). Runs after the downstream drain."""
        for checker in self._checkers:
            await checker.aclose()
        self._checkers.clear()
        await self.state.clients.aclose()

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return
