"""A minimal asyncio UDP endpoint around server-role ``Http3Engine``s (test kit).

Not the production server adapter (that is the server owners'), but the same
shape in a few hundred lines, so HTTP/3 drain can be tested over real UDP on
127.0.0.1 against peers we did not write (aioquic's asyncio client):

- datagrams are routed to connections by destination connection id, new
  connections are made from Initial packets (RFC 9000 §7.2, §17.2.2), and
  unsupported versions get a Version Negotiation packet (RFC 9000 §6);
- each connection is driven by ``lastcall.io.driver.EngineDriver`` (write,
  take events, re-arm the one timer at ``get_timer()``): no sleeps, no polling;
- a request is handed to an async handler once complete; its response is
  written back in one piece;
- ``drain(grace_timeout)`` walks the layered close of RFC 9114 §5.2 and
  DESIGN.md: stop accepting, ``start_drain`` on every connection,
  ``close()`` (H3_NO_ERROR) on each ``DrainCompleted``, ``cancel_remaining``
  at grace expiry, and the UDP socket closed only once every QUIC connection
  has terminated (``Phase.CLOSED``). ``log`` records that order.

As a program (the drill's tests run it as the server under test)::

    python -m lastcall.testing.h3_loop --port 8443 --certfile cert.pem --keyfile key.pem

serves ``/`` (``ok``) and ``/slow?ms=N`` (answers after N ms) on UDP, and on
SIGTERM drains (``--mode good``, grace ``--grace``), then exits 0. Broken
modes, so that the drill's report card can be seen failing: ``drop`` closes
the UDP socket at once (no GOAWAY, no CONNECTION_CLOSE: what a server that
just stops its loop does); ``cancel`` drains with a grace period of zero (the
in-flight request is reset with H3_REQUEST_CANCELLED and the connection
closed with that code).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import parse_qs, urlsplit

from aioquic._buffer import Buffer  # aioquic.buffer re-exports it without __all__ (mypy)
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import NetworkAddress
from aioquic.quic.packet import (
    QuicPacketType,
    encode_quic_version_negotiation,
    pull_quic_header,
)

from lastcall.engines.http3 import Http3Config, Http3Engine, Phase, Role
from lastcall.engines.http3 import events as ev
from lastcall.errors import LocalProtocolError
from lastcall.io.driver import EngineDriver

__all__ = ["H3Request", "H3Response", "H3TestServer"]

Headers = list[tuple[bytes, bytes]]

#: aioquic's smallest allowed datagram; a client's first Initial is padded to it
#: (RFC 9000 §14.1), so anything shorter cannot start a connection.
_MIN_INITIAL_SIZE = 1200

#: How long the endpoint waits, after the last connection was told to close,
#: for the QUIC closing periods (three PTOs, RFC 9000 §10.2) to end.
CLOSING_PERIOD_TIMEOUT = 5.0


@dataclass(slots=True)
class H3Request:
    """A complete request as the handler sees it."""

    stream_id: int
    headers: Headers
    body: bytes

    @property
    def path(self) -> bytes:
        """The :path pseudo-header."""
        return next((v for k, v in self.headers if k == b":path"), b"")


@dataclass(slots=True)
class H3Response:
    """What the handler answers; written as HEADERS + one DATA with the FIN."""

    status: int = 200
    headers: Headers = field(default_factory=list)
    body: bytes = b""


Handler = Callable[[H3Request], Awaitable[H3Response]]


class _Connection:
    __slots__ = ("bodies", "cids", "driver", "engine", "requests", "tasks")

    def __init__(self, engine: Http3Engine) -> None:
        self.engine = engine
        self.cids: set[bytes] = set()
        self.driver: EngineDriver | None = None  # set by the server that owns it
        self.requests: dict[int, Headers] = {}
        self.bodies: dict[int, bytearray] = {}
        self.tasks: dict[int, asyncio.Task[None]] = {}


class H3TestServer(asyncio.DatagramProtocol):
    """One UDP socket serving HTTP/3 with our engine; see the module docstring."""

    def __init__(
        self,
        handler: Handler,
        *,
        quic_configuration: QuicConfiguration,
        config: Http3Config | None = None,
    ) -> None:
        self._handler = handler
        self._quic_configuration = quic_configuration
        self._config = config if config is not None else Http3Config()
        self._transport: asyncio.DatagramTransport | None = None
        self._routes: dict[bytes, _Connection] = {}
        self._connections: list[_Connection] = []
        self._accepting = True
        self._changed = asyncio.Event()
        self._closed = asyncio.Event()
        #: Every engine event, in order, with the connection it came from.
        self.events: list[tuple[int, ev.Event]] = []
        #: The layered close, in order: ("drain_started",), ("connection_closed", n),
        #: ("endpoint_closed",).
        self.log: list[tuple[object, ...]] = []
        self.address: tuple[str, int] = ("", 0)

    # -- life ----------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Bind the UDP socket; return the bound address."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port))
        self._transport = transport
        sockname = transport.get_extra_info("sockname")
        self.address = (sockname[0], sockname[1])
        return self.address

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Python 3.11's selector transport does not subclass DatagramTransport.
        self._transport = cast(asyncio.DatagramTransport, transport)

    async def drain(self, grace_timeout: float) -> None:
        """Drain every connection, cancel what is left after ``grace_timeout``,
        then close the socket once every QUIC connection has terminated."""
        self._accepting = False
        self.log.append(("drain_started",))
        loop = asyncio.get_running_loop()
        for conn in list(self._connections):
            conn.engine.start_drain(loop.time())
            self._service(conn)
        try:
            async with asyncio.timeout(grace_timeout):
                await self.wait_for(self._all_told_to_close)
        except TimeoutError:
            for conn in list(self._connections):
                conn.engine.cancel_remaining()
                self._service(conn)
        try:
            async with asyncio.timeout(CLOSING_PERIOD_TIMEOUT):
                await self.wait_for(lambda: not self._connections)
        except TimeoutError:
            self.log.append(("closing_period_timeout", len(self._connections)))
        self._close_transport()

    def drain_connections(self) -> None:
        """Drain every connection open now but keep accepting new ones: what a
        server does to one connection (max age, max requests) rather than to
        itself. Each closes with H3_NO_ERROR once its drain completes."""
        loop = asyncio.get_running_loop()
        for conn in list(self._connections):
            conn.engine.start_drain(loop.time())
            self._service(conn)

    async def aclose(self) -> None:
        """Close at once (no drain): every connection gets CONNECTION_CLOSE."""
        self._accepting = False
        for conn in list(self._connections):
            conn.engine.close()
            self._service(conn)
        self._close_transport()

    def _close_transport(self) -> None:
        if self._transport is not None and not self._closed.is_set():
            for conn in self._connections:
                self._driver(conn).stop()
            self._transport.close()
            self._closed.set()
            self.log.append(("endpoint_closed",))
            self._notify()

    def _all_told_to_close(self) -> bool:
        return all(c.engine.is_drained for c in self._connections)

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wait (on events, not time) until ``predicate()`` holds."""
        while True:
            self._changed.clear()
            if predicate():
                return
            await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()

    @property
    def connection_count(self) -> int:
        """QUIC connections not yet terminated."""
        return len(self._connections)

    def of(self, kind: type[ev.Event]) -> list[ev.Event]:
        """Every recorded engine event of ``kind``."""
        return [e for _, e in self.events if isinstance(e, kind)]

    # -- datagrams ------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: NetworkAddress) -> None:
        try:
            header = pull_quic_header(
                Buffer(data=data), host_cid_length=self._quic_configuration.connection_id_length
            )
        except ValueError:
            return
        versions = self._quic_configuration.supported_versions
        if (
            header.packet_type != QuicPacketType.VERSION_NEGOTIATION
            and header.version is not None
            and header.version not in versions
        ):
            assert self._transport is not None
            self._transport.sendto(
                encode_quic_version_negotiation(
                    source_cid=header.destination_cid,
                    destination_cid=header.source_cid,
                    supported_versions=versions,
                ),
                addr,
            )
            return
        conn = self._routes.get(header.destination_cid)
        if conn is None:
            if (
                not self._accepting
                or header.packet_type != QuicPacketType.INITIAL
                or len(data) < _MIN_INITIAL_SIZE
            ):
                return
            engine = Http3Engine(
                Role.SERVER,
                self._config,
                self._quic_configuration,
                original_destination_connection_id=header.destination_cid,
            )
            conn = _Connection(engine)
            conn.driver = EngineDriver(
                engine,
                transmit=lambda: self._transmit(engine),
                handle=lambda events: self._handle(conn, events),
                is_finished=lambda: engine.phase is Phase.CLOSED,
                on_finished=lambda: self._forget(conn),
            )
            self._connections.append(conn)
            for cid in (header.destination_cid, engine.host_cid):
                conn.cids.add(cid)
                self._routes[cid] = conn
        driver = self._driver(conn)
        driver.service(conn.engine.receive_datagram(data, addr, driver.now()))

    @staticmethod
    def _driver(conn: _Connection) -> EngineDriver:
        assert conn.driver is not None
        return conn.driver

    def _service(self, conn: _Connection) -> None:
        """Flush the engine's datagrams, handle action events, re-arm the timer."""
        self._driver(conn).service()

    def _transmit(self, engine: Http3Engine) -> None:
        if self._transport is not None and not self._closed.is_set():
            for data, addr in engine.datagrams_to_send(asyncio.get_running_loop().time()):
                self._transport.sendto(data, addr)

    def _forget(self, conn: _Connection) -> None:
        if conn not in self._connections:
            return
        self._connections.remove(conn)
        for cid in conn.cids:
            self._routes.pop(cid, None)
        for task in conn.tasks.values():
            task.cancel()
        self.log.append(("connection_closed", id(conn)))
        self._notify()

    # -- events ---------------------------------------------------------------

    def _handle(self, conn: _Connection, events: list[ev.Event]) -> None:
        if not events:
            return
        for event in events:
            self.events.append((id(conn), event))
            if isinstance(event, ev.RequestReceived):
                conn.requests[event.stream_id] = event.headers
                conn.bodies[event.stream_id] = bytearray()
                if event.end_stream:
                    self._dispatch(conn, event.stream_id)
            elif isinstance(event, ev.DataReceived):
                body = conn.bodies.get(event.stream_id)
                if body is not None:
                    body += event.data
                    if event.end_stream:
                        self._dispatch(conn, event.stream_id)
            elif isinstance(event, ev.TrailersReceived):
                self._dispatch(conn, event.stream_id)
            elif isinstance(event, ev.StreamReset):
                task = conn.tasks.pop(event.stream_id, None)
                if task is not None:
                    task.cancel()
            elif isinstance(event, ev.DrainCompleted):
                conn.engine.close()  # H3_NO_ERROR: every accepted response is acknowledged
            elif isinstance(event, ev.ConnectionIdIssued):
                conn.cids.add(event.connection_id)
                self._routes[event.connection_id] = conn
            elif isinstance(event, ev.ConnectionIdRetired):
                conn.cids.discard(event.connection_id)
                self._routes.pop(event.connection_id, None)
        self._notify()

    def _dispatch(self, conn: _Connection, stream_id: int) -> None:
        headers = conn.requests.pop(stream_id, None)
        if headers is None:
            return
        body = bytes(conn.bodies.pop(stream_id, b""))
        request = H3Request(stream_id, headers, body)
        conn.tasks[stream_id] = asyncio.get_running_loop().create_task(self._respond(conn, request))

    async def _respond(self, conn: _Connection, request: H3Request) -> None:
        try:
            response = await self._handler(request)
        except Exception:  # a test handler's bug answers 500, it does not kill the loop
            response = H3Response(500, [], b"handler error")
        conn.tasks.pop(request.stream_id, None)
        headers = [(b":status", str(response.status).encode()), *response.headers]
        try:
            conn.engine.send_headers(request.stream_id, headers)
            conn.engine.send_data(request.stream_id, response.body, end_stream=True)
        except LocalProtocolError:
            return  # the stream was reset or the connection closed meanwhile
        self._service(conn)


# -- as a program --------------------------------------------------------------------

#: ``--mode`` values; see the module docstring.
MODES = ("good", "drop", "cancel")


async def _demo_handler(request: H3Request) -> H3Response:
    """``/slow?ms=N`` answers after N milliseconds (the app's own work); the rest ``ok``."""
    path = request.path.decode("latin-1")
    query = parse_qs(urlsplit(path).query)
    if path.startswith("/slow"):
        await asyncio.sleep(int(query.get("ms", ["0"])[0]) / 1000)
    body = b"ok\n"
    return H3Response(200, [(b"content-length", str(len(body)).encode())], body)


async def serve(
    host: str, port: int, certfile: str, keyfile: str, *, mode: str, grace_timeout: float
) -> None:
    """Serve until SIGTERM/SIGINT, then shut down the way ``mode`` says."""
    configuration = QuicConfiguration(is_client=False, alpn_protocols=["h3"])
    configuration.load_cert_chain(certfile, keyfile)
    server = H3TestServer(_demo_handler, quic_configuration=configuration)
    await server.start(host, port)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"h3_loop serving on udp://{host}:{server.address[1]} ({mode})", flush=True)
    await stop.wait()
    if mode == "drop":
        server._close_transport()
    else:
        await server.drain(grace_timeout if mode == "good" else 0.0)


def main(argv: list[str] | None = None) -> None:
    """``python -m lastcall.testing.h3_loop``: see the module docstring."""
    parser = argparse.ArgumentParser(description="HTTP/3 test server on lastcall's engine")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--certfile", required=True)
    parser.add_argument("--keyfile", required=True)
    parser.add_argument("--mode", choices=MODES, default="good")
    parser.add_argument("--grace", type=float, default=30.0, help="drain grace period (s)")
    args = parser.parse_args(argv)
    asyncio.run(
        serve(
            args.host,
            args.port,
            args.certfile,
            args.keyfile,
            mode=args.mode,
            grace_timeout=args.grace,
        )
    )


if __name__ == "__main__":
    main()
