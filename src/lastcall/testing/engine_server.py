"""A minimal asyncio HTTP/2 server around the bare engine, for interop tests.

This is not lastcall's server (that lives in ``lastcall.server``): it is the
smallest loop that lets a real peer we did not write (nghttp, curl, h2load)
talk to ``Http2Engine`` over a socket, so the engine's wire behaviour, the
drain included, can be checked against them. Prior knowledge (h2c), no TLS.

Routes:

- ``/slow``: the response waits until the test calls :meth:`EngineServer.release`;
  :attr:`EngineServer.slow_request_received` is set when it arrives.
- ``/size/N``: a body of N octets (exercises the peer's flow control).
- ``/echo``: the request body, sent back once it has all arrived.
- anything else: ``hello from lastcall``.

Every engine event is recorded in :attr:`EngineServer.events` and signalled
through :meth:`EngineServer.wait_for`, so tests wait for events, not time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from lastcall.engines.http2 import Http2Config, Http2Engine, Role
from lastcall.engines.http2 import events as ev
from lastcall.io.driver import EngineDriver

__all__ = ["HELLO", "EngineServer"]

HELLO = b"hello from lastcall\n"

_Headers = list[tuple[bytes, bytes]]


class _Connection(asyncio.Protocol):
    def __init__(self, server: EngineServer) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        self.engine = Http2Engine(Role.SERVER, server.config)
        self.transport: asyncio.Transport | None = None
        self.paths: dict[int, bytes] = {}
        self.bodies: dict[int, bytearray] = {}
        self.driver = EngineDriver(
            self.engine, transmit=self.transmit, handle=self.handle, loop=self.loop
        )

    # -- asyncio.Protocol -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server.connections.add(self)
        self.engine.initiate()
        self.flush()

    def data_received(self, data: bytes) -> None:
        self.driver.service(self.engine.receive_data(data, self.loop.time()))

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self.driver.stop()
        self.engine.transport_closed()
        self.server.record(_ConnectionClosed())

    # -- the app ---------------------------------------------------------------------

    def handle(self, events: list[ev.Event]) -> None:
        engine = self.engine
        for event in events:
            self.server.record(event)
            if isinstance(event, ev.RequestReceived):
                path = dict(event.headers).get(b":path", b"/")
                self.paths[event.stream_id] = path
                self.bodies[event.stream_id] = bytearray()
                if path == b"/slow":
                    self.server.slow.append((self, event.stream_id))
                    self.server.slow_request_received.set()
                elif event.end_stream:
                    self.respond(event.stream_id)
            elif isinstance(event, ev.DataReceived):
                if event.stream_id in self.bodies:
                    self.bodies[event.stream_id] += event.data
                engine.acknowledge_received_data(event.stream_id, event.flow_controlled_length)
                if event.end_stream and self.paths.get(event.stream_id) != b"/slow":
                    self.respond(event.stream_id)
            elif isinstance(event, ev.TrailersReceived):
                if self.paths.get(event.stream_id) != b"/slow":
                    self.respond(event.stream_id)
            elif isinstance(event, ev.DrainCompleted | ev.ConnectionTerminated):
                self.transmit()
                if self.transport is not None:
                    self.transport.close()  # asyncio writes what is buffered first

    def respond(self, stream_id: int) -> None:
        path = self.paths.pop(stream_id, b"/")
        received = bytes(self.bodies.pop(stream_id, b""))
        if path.startswith(b"/size/"):
            body = b"x" * int(path[6:])
        elif path == b"/echo":
            body = received
        else:
            body = HELLO
        headers: _Headers = [
            (b":status", b"200"),
            (b"content-type", b"text/plain"),
            (b"content-length", str(len(body)).encode()),
        ]
        if not self.engine.is_stream_open(stream_id):
            return  # reset or cancelled meanwhile
        self.engine.send_headers(stream_id, headers)
        self.engine.send_data(stream_id, body, end_stream=True)

    # -- output and timers ----------------------------------------------------------------

    def flush(self) -> None:
        """Write, take what that and earlier actions caused, re-arm the timer."""
        self.driver.service()

    def transmit(self) -> None:
        data = self.engine.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def drain(self, debug_data: bytes) -> None:
        self.engine.start_drain(self.loop.time(), debug_data)
        self.flush()


class _ConnectionClosed(ev.Event):
    """Recorded when a connection's transport is gone."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _ConnectionClosed)

    def __hash__(self) -> int:
        return 0


class EngineServer:
    """``async with EngineServer() as server:`` listens on 127.0.0.1:``server.port``."""

    ConnectionClosed = _ConnectionClosed

    def __init__(self, config: Http2Config | None = None) -> None:
        self.config = config
        self.port = 0
        self.events: list[ev.Event] = []
        self.connections: set[_Connection] = set()
        self.slow: list[tuple[_Connection, int]] = []
        self.slow_request_received = asyncio.Event()
        self._changed = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> EngineServer:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def record(self, event: ev.Event) -> None:
        self.events.append(event)
        self._changed.set()

    async def wait_for(self, predicate: Callable[[ev.Event], bool]) -> ev.Event:
        """Wait for a recorded event matching ``predicate`` (the caller bounds the
        wait, e.g. with ``asyncio.timeout``)."""
        seen = 0
        while True:
            for event in self.events[seen:]:
                if predicate(event):
                    return event
            seen = len(self.events)
            self._changed.clear()
            await self._changed.wait()

    def drain(self, debug_data: bytes = b"drain") -> None:
        """Start a graceful drain on every live connection."""
        for conn in list(self.connections):
            conn.drain(debug_data)

    def release(self) -> None:
        """Answer every waiting ``/slow`` request."""
        slow, self.slow = self.slow, []
        for conn, stream_id in slow:
            conn.respond(stream_id)
            conn.flush()
