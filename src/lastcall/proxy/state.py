"""What every proxied exchange reads: routes, upstream groups, forwarding policy, hooks.

One per proxy (per worker), built from ``ProxyConfig`` by ``ProxyApp``; kept
apart from ``app.py`` so that ``forward.py`` and ``websocket.py`` can name it
without importing the app that calls them.
"""

from __future__ import annotations

import asyncio
import random

from lastcall.client import ClosingNotice, Timeouts
from lastcall.observe import Observer
from lastcall.observe import events as oe

from .config import ProxyConfig, RouteConfig
from .headers import ForwardingPolicy
from .hooks import ProxyHooks
from .routing import Router
from .upstream import UpstreamClients, UpstreamGroup

__all__ = ["ProxyState"]


class ProxyState:
    """Everything an exchange reads: routes, groups, policy, hooks, the observer."""

    def __init__(
        self, config: ProxyConfig, observer: Observer, hooks: ProxyHooks | None, rng: random.Random
    ) -> None:
        self.config = config
        self.observer = observer
        self.hooks = hooks
        self.router = Router(config.routes)
        mode = config.forwarded
        self.policy = ForwardingPolicy(
            x_forwarded=mode in ("x-forwarded", "both"),
            rfc7239=mode in ("rfc7239", "both"),
            via_name=config.via_name.encode("ascii") if config.via else None,
            preserve_host=config.preserve_host,
        )
        self.retry_buffer_size = config.retry_buffer_size
        self.clients = UpstreamClients(config, self._on_notice)
        self.groups = {
            name: UpstreamGroup(group, self.clients, observer, rng)
            for name, group in config.upstreams.items()
        }
        self._by_origin: dict[tuple[str, str, int], str] = {}
        for group in self.groups.values():
            for backend in group.backends:
                origin = backend.base.partition("://")
                host, _, port = origin[2].rpartition(":")
                self._by_origin[(origin[0], host.strip("[]"), int(port))] = backend.url
        self._timeouts: dict[int, Timeouts] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return loop

    def timeouts_of(self, route: RouteConfig) -> Timeouts:
        """The client timeouts of ``route``: connect (and pool) only; ``forward.py``
        runs the first-byte and idle deadlines itself, one timer per exchange."""
        found = self._timeouts.get(id(route))
        if found is None:
            found = self._timeouts[id(route)] = Timeouts(
                connect=route.connect_timeout, read=None, write=None, pool=route.connect_timeout
            )
        return found

    def emit_request(self, upstream: str, backend: str, status: int, retries: int) -> None:
        self.observer.emit(oe.UpstreamRequest(self.loop.time(), upstream, backend, status, retries))

    def _on_notice(self, notice: ClosingNotice) -> None:
        if notice.source != "remote" or notice.is_update:
            return  # one event per backend connection that began closing
        scheme, host, port = notice.origin
        backend = self._by_origin.get(notice.origin, f"{scheme}://{host}:{port}")
        last = notice.last_processed_id
        if last is None:
            last = notice.first_rejected_id
        self.observer.emit(
            oe.UpstreamGoAway(self.loop.time(), backend, notice.http_version, notice.reason, last)
        )
