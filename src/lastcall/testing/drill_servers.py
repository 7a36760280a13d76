"""Small HTTP/2 (cleartext) servers that drain well or badly, to test the drill.

A drill that always says "pass" is worthless, so its tests run it against
servers with known defects, each one seen in the field:

- ``good``: drains by the book (GOAWAY 2^31-1 + PING, final GOAWAY, REFUSED_STREAM
  for late streams, in-flight responses finished, then exit 0);
- ``drop``: on SIGTERM closes every connection at once, mid-response (what a
  plain "stop the loop" server does);
- ``noerror``: one GOAWAY with the last id, then resets later streams with
  NO_ERROR and waits for in-flight work (hypercorn's racing-stream behaviour);
- ``nogoaway``: never sends GOAWAY; waits for in-flight work, then closes.

Routes: ``/`` answers ``ok``; ``/slow?ms=N`` answers after N milliseconds.

    python -m lastcall.testing.drill_servers --mode good --port 8000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import struct
from urllib.parse import parse_qs, urlsplit

from lastcall.engines.http2 import ErrorCode, Http2Engine, Role
from lastcall.engines.http2 import events as ev
from lastcall.io.driver import EngineDriver

MODES = ("good", "drop", "noerror", "nogoaway")


class _Connection(asyncio.Protocol):
    def __init__(self, server: DrillTestServer) -> None:
        self.server = server
        self.engine = Http2Engine(Role.SERVER)
        self.transport: asyncio.Transport | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.closed = asyncio.get_running_loop().create_future()
        self.driver = EngineDriver(self.engine, transmit=self.flush, handle=self.handle)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server.connections.add(self)
        self.engine.initiate()
        self.driver.service()
        if self.server.draining:
            self.drain()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self.driver.stop()
        for task in self.tasks:
            task.cancel()
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.driver.service(self.engine.receive_data(data, self.driver.now()))

    def handle(self, events: list[ev.Event]) -> None:
        for event in events:
            if isinstance(event, ev.RequestReceived):
                if self.server.mode == "noerror" and self.server.draining:
                    self.engine.reset_stream(event.stream_id, ErrorCode.NO_ERROR)
                    continue
                task = asyncio.create_task(self.respond(event))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            elif isinstance(event, ev.DrainCompleted | ev.ConnectionTerminated):
                self.flush()
                self.lingering_close()
                self.driver.stop()  # half-closed: nothing more may be written

    def lingering_close(self) -> None:
        """Half-close, then let the peer's EOF (or 1 s) end it, so no reset
        destroys a response the peer has not read yet."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if transport.can_write_eof():
            transport.write_eof()
            asyncio.get_running_loop().call_later(1.0, transport.close)
        else:
            transport.close()

    def eof_received(self) -> bool | None:
        return None  # the transport closes itself

    def flush(self) -> None:
        data = self.engine.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    async def respond(self, request: ev.RequestReceived) -> None:
        path = dict(request.headers).get(b":path", b"/").decode()
        query = parse_qs(urlsplit(path).query)
        delay_ms = int(query.get("ms", ["0"])[0]) if path.startswith("/slow") else 0
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        if not self.engine.is_stream_open(request.stream_id):
            return
        body = b"ok\n"
        self.engine.send_headers(
            request.stream_id, [(b":status", b"200"), (b"content-length", str(len(body)).encode())]
        )
        self.engine.send_data(request.stream_id, body, end_stream=True)
        self.driver.service()

    def drain(self) -> None:
        mode = self.server.mode
        if mode == "good":
            self.engine.start_drain(self.driver.now())
        elif mode == "drop":
            if self.transport is not None:
                self.transport.abort()
            return
        elif mode == "noerror":
            # One GOAWAY carrying the last id, written by hand: no PING round.
            last = self.engine.last_processed_id
            payload = struct.pack(">LL", last, 0)
            self.flush()
            if self.transport is not None:
                self.transport.write(struct.pack(">HBBBL", 0, 8, 0x7, 0, 0) + payload)
            return
        elif mode == "nogoaway":
            return  # says nothing; the connection is closed once idle
        self.driver.service()

    async def close_when_idle(self) -> None:
        """For the modes that do not use the engine's drain: close once no request runs."""
        while self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        self.flush()
        self.lingering_close()


class DrillTestServer:
    """Serve on ``port`` until SIGTERM, then shut down the way ``mode`` says."""

    def __init__(self, mode: str, host: str, port: int) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.mode = mode
        self.host = host
        self.port = port
        self.connections: set[_Connection] = set()
        self.draining = False

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Connection(self), self.host, self.port)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        self.draining = True
        server.close()
        for conn in list(self.connections):
            conn.drain()
        pending = [conn.closed for conn in self.connections]
        closers = []
        if self.mode in ("noerror", "nogoaway"):
            closers = [asyncio.create_task(conn.close_when_idle()) for conn in self.connections]
        if pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*pending), 30.0)
        for task in closers:
            task.cancel()
        await server.wait_closed()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=MODES, default="good")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(DrillTestServer(args.mode, args.host, args.port).serve())


if __name__ == "__main__":
    main()
