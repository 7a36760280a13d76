"""TLS handshakes run by the server itself, so ``max_connections`` counts them.

When the loop runs a listener's TLS (``create_server(ssl=...)``), the
server hears of a connection only once its handshake is over, and of a
failed handshake never: a flood of peers that connect and send no
ClientHello holds sockets and TLS buffers the cap cannot see, bounded only in
time by ``tls_handshake_timeout``. So the listener accepts plain TCP and the
protocol it makes, ``TlsHandshake``, is counted from accept until the
handshake ends either way; the server's cap is connections plus handshakes.

``TlsHandshake.connection_made`` installs an ``asyncio.sslproto.SSLProtocol``
(the one ``start_tls`` and ``create_server`` use) and starts its handshake in
the same call: no byte can reach the plain protocol first. ``loop.start_tls``
cannot do that: it is a coroutine, so it installs its protocol a loop turn
later, and uvloop starts reading right after ``connection_made`` even when the
protocol paused, so the ClientHello could arrive before it.
"""

from __future__ import annotations

import asyncio
import ssl
from asyncio import sslproto

__all__ = ["TlsHandshake", "TlsHandshakes"]


class TlsHandshakes:
    """The handshakes under way on a server's TLS listeners (their count)."""

    def __init__(self, context: ssl.SSLContext, timeout: float) -> None:
        self.context = context
        self.timeout = timeout
        #: Accepted, handshake not over: counted against ``max_connections``.
        self.count = 0

    def wrap(self, protocol: asyncio.Protocol) -> TlsHandshake:
        """The protocol to accept with: runs the handshake, then hands the
        connection to ``protocol`` (its ``connection_made`` gets the TLS transport)."""
        self.count += 1
        return TlsHandshake(self, protocol)

    def _ended(self) -> None:
        self.count -= 1


class TlsHandshake(asyncio.Protocol):
    """Accepted TCP connection whose TLS handshake the server runs (module docstring)."""

    def __init__(self, handshakes: TlsHandshakes, protocol: asyncio.Protocol) -> None:
        self._handshakes: TlsHandshakes | None = handshakes
        self._protocol = protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's TCPTransport is no asyncio.Transport subclass, but quacks like one.)
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        handshakes = self._handshakes
        assert handshakes is not None
        tls = sslproto.SSLProtocol(
            loop,
            self._protocol,
            handshakes.context,
            waiter,
            server_side=True,
            call_connection_made=True,
            # typeshed says int; asyncio takes any number of seconds.
            ssl_handshake_timeout=handshakes.timeout,  # type: ignore[arg-type]
        )
        transport.set_protocol(tls)
        # Success: the server's protocol got connection_made (and registered)
        # before the waiter completes. Failure, timeout or a peer gone: the
        # transport is closed and the waiter holds why.
        waiter.add_done_callback(self._ended)
        tls.connection_made(transport)

    def _ended(self, waiter: asyncio.Future[None]) -> None:
        if not waiter.cancelled():
            waiter.exception()  # retrieved: a failed handshake is the peer's affair
        if self._handshakes is not None:
            self._handshakes._ended()
            self._handshakes = None

    def data_received(self, data: bytes) -> None:
        """Never called: the TLS protocol replaces this one in ``connection_made``."""
        raise AssertionError("TLS bytes reached the plain protocol")

    def connection_lost(self, exc: Exception | None) -> None:
        """Only if the transport died before ``connection_made`` (nothing to count then)."""
        if self._handshakes is not None:
            self._handshakes._ended()
            self._handshakes = None
