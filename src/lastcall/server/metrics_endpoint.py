"""The Prometheus endpoint of ``--metrics-bind HOST:PORT``: ``GET /metrics``, nothing else.

It is not one of the app's listeners, on purpose:

- **It outlives the drain.** The drain is what an operator wants to watch,
  so the endpoint keeps answering while the app's listeners are closed and
  its connections drain, and closes only when ``serve()`` ends (after
  lifespan shutdown). Its connections are not in the registry: a scraper
  holding one open never holds a drain open.
- **It runs on the server's event loop**, not in a thread like
  ``prometheus_client.start_http_server``: a scrape reads the live
  connections (``PrometheusSink.watch_connections``) while nothing moves.
- **It is small.** One request per connection (``Connection: close``), a head
  of at most ``MAX_HEAD`` bytes within ``HEAD_TIMEOUT`` seconds: a scraper
  needs no more, and a peer that is not a scraper gets nothing to hold.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

from lastcall.errors import ConfigError

from .listeners import BindAddress

__all__ = [
    "HEAD_TIMEOUT",
    "MAX_HEAD",
    "MetricsEndpoint",
    "new_metrics_sink",
    "open_metrics_endpoint",
]

logger = logging.getLogger("lastcall.server")

#: A scraper's request head is a few hundred bytes; 8 KiB like nginx's line limit.
MAX_HEAD = 8192
#: A scraper sends its head at once; 10 s is Prometheus' default scrape timeout.
HEAD_TIMEOUT = 10.0


def new_metrics_sink() -> Any:
    """A ``PrometheusSink`` on a registry of its own, with prometheus-client's
    process, platform and GC collectors (``ConfigError`` without the package).

    A registry of our own: two servers in one process (tests, embedding) must
    not collide on prometheus-client's global one.
    """
    try:
        import prometheus_client
    except ImportError:
        raise ConfigError(
            "--metrics-bind needs prometheus-client: pip install 'lastcall[metrics]'"
        ) from None
    from lastcall.observe import PrometheusSink

    registry = prometheus_client.CollectorRegistry()
    prometheus_client.ProcessCollector(registry=registry)
    prometheus_client.PlatformCollector(registry=registry)
    prometheus_client.GCCollector(registry=registry)
    return PrometheusSink(registry)


def _response(status: bytes, content_type: bytes, body: bytes, *, is_head: bool) -> bytes:
    head = (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: " + content_type
        + b"\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body)
    )  # fmt: skip
    return head if is_head else head + body


class _MetricsConnection(asyncio.Protocol):
    def __init__(self, endpoint: MetricsEndpoint) -> None:
        self.endpoint = endpoint
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A cast, not an isinstance check: uvloop's TCP transports are not
        # subclasses of asyncio.Transport, and the check refused every scrape.
        self.transport = tcp = cast(asyncio.Transport, transport)
        self.endpoint.connections.add(self)
        self.timer = asyncio.get_running_loop().call_later(HEAD_TIMEOUT, tcp.abort)

    def data_received(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HEAD:
                self._answer(b"431 Request Header Fields Too Large", b"text/plain", b"", False)
            return
        request_line = bytes(self.buffer[: self.buffer.find(b"\r\n")])
        parts = request_line.split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            self._answer(b"400 Bad Request", b"text/plain", b"bad request\n", False)
            return
        method, target = parts[0], parts[1].partition(b"?")[0]
        is_head = method == b"HEAD"
        if method not in (b"GET", b"HEAD"):
            self._answer(b"405 Method Not Allowed", b"text/plain", b"GET /metrics\n", is_head)
        elif target != b"/metrics":
            self._answer(b"404 Not Found", b"text/plain", b"see /metrics\n", is_head)
        else:
            content_type, body = self.endpoint.render()
            self._answer(b"200 OK", content_type, body, is_head)

    def _answer(self, status: bytes, content_type: bytes, body: bytes, is_head: bool) -> None:
        assert self.transport is not None
        self.transport.write(_response(status, content_type, body, is_head=is_head))
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.endpoint.connections.discard(self)
        self.transport = None


class MetricsEndpoint:
    """An open ``--metrics-bind`` listener serving one Prometheus registry."""

    def __init__(self, registry: Any, server: asyncio.Server | None = None) -> None:
        self.registry = registry
        self.server = server
        self.connections: set[_MetricsConnection] = set()
        self.name = ""

    def render(self) -> tuple[bytes, bytes]:
        """The registry in Prometheus' text format: (content type, body)."""
        import prometheus_client

        return (
            prometheus_client.CONTENT_TYPE_LATEST.encode(),
            prometheus_client.generate_latest(self.registry),
        )

    def close(self) -> None:
        """Stop accepting and drop scrapes in flight (the server is exiting); idempotent."""
        if self.server is not None:
            self.server.close()
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.abort()


async def open_metrics_endpoint(bind: BindAddress, registry: Any) -> MetricsEndpoint:
    """Listen on ``bind`` (TCP); ``OSError`` (address in use, ...) propagates."""
    assert bind.port is not None  # ServerConfig.validate refused unix:PATH
    endpoint = MetricsEndpoint(registry)
    loop = asyncio.get_running_loop()
    endpoint.server = await loop.create_server(
        lambda: _MetricsConnection(endpoint), bind.host, bind.port, reuse_address=True
    )
    host, port = endpoint.server.sockets[0].getsockname()[:2]
    endpoint.name = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return endpoint
