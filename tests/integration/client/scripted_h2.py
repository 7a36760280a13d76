"""A frame-level scripted HTTP/2 server for the client tests.

Written with ``struct`` and the ``hpack`` package only, not with lastcall's
engine, so the client is tested against frames we put on the wire ourselves
(GOAWAY with a chosen last id while streams on both sides of it are open,
RST_STREAM(REFUSED_STREAM), PINGs, responses sent after a GOAWAY).

A test gives an async ``script(conn)`` coroutine per connection (by index);
``ServerConn`` offers ``next_request()``, ``respond()``, ``goaway()``,
``reset()``, ``ping()`` and records everything it received.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HDR = struct.Struct(">HBBBL")
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = (
    0,
    1,
    3,
    4,
    6,
    7,
    8,
    9,
)
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY = 0x1, 0x1, 0x4, 0x8, 0x20
REFUSED_STREAM, CANCEL, NO_ERROR = 0x7, 0x8, 0x0


def frame(ftype: int, flags: int, sid: int, payload: bytes = b"") -> bytes:
    n = len(payload)
    return HDR.pack(n >> 8, n & 0xFF, ftype, flags, sid) + payload


@dataclass
class ReceivedRequest:
    stream_id: int
    headers: dict[str, str]
    body: bytes = b""
    complete: bool = False

    @property
    def path(self) -> str:
        return self.headers[":path"]

    @property
    def method(self) -> str:
        return self.headers[":method"]


@dataclass
class ServerConn:
    index: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    requests: dict[int, ReceivedRequest] = field(default_factory=dict)
    complete: asyncio.Queue[ReceivedRequest] = field(default_factory=asyncio.Queue)
    resets: list[tuple[int, int]] = field(default_factory=list)
    goaways: list[tuple[int, int, bytes]] = field(default_factory=list)
    ping_acks: list[bytes] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()

    def send(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    async def next_request(self) -> ReceivedRequest:
        return await self.complete.get()

    async def requests_until(self, n: int) -> list[ReceivedRequest]:
        """The next ``n`` complete requests."""
        return [await self.complete.get() for _ in range(n)]

    async def wait_for(self, predicate: Callable[[ServerConn], bool]) -> None:
        while not predicate(self):
            self.changed.clear()
            await self.changed.wait()

    def respond(self, stream_id: int, body: bytes, status: int = 200, end: bool = True) -> None:
        block = self.encoder.encode([(":status", str(status)), ("content-length", str(len(body)))])
        self.send(frame(HEADERS, END_HEADERS, stream_id, block))
        self.send(frame(DATA, END_STREAM if end else 0, stream_id, body))

    def goaway(self, last_id: int, code: int = NO_ERROR, debug: bytes = b"") -> None:
        self.send(frame(GOAWAY, 0, 0, struct.pack(">LL", last_id, code) + debug))

    def reset(self, stream_id: int, code: int) -> None:
        self.send(frame(RST_STREAM, 0, stream_id, struct.pack(">L", code)))

    def ping(self, payload: bytes) -> None:
        self.send(frame(PING, 0, 0, payload))

    async def close(self) -> None:
        with contextlib.suppress(OSError):
            await self.writer.drain()
        self.writer.close()

    async def read_frames(self) -> None:
        reader = self.reader
        preface = await reader.readexactly(len(PREFACE))
        assert preface == PREFACE
        pending: dict[int, bytes] = {}
        while True:
            try:
                head = await reader.readexactly(9)
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            hi, lo, ftype, flags, sid = HDR.unpack(head)
            payload = await reader.readexactly((hi << 8) | lo)
            sid &= 0x7FFFFFFF
            if ftype == SETTINGS and not flags & ACK:
                self.send(frame(SETTINGS, ACK, 0))
            elif ftype == PING and not flags & ACK:
                self.send(frame(PING, ACK, 0, payload))
            elif ftype == PING:
                self.ping_acks.append(payload)
            elif ftype in (HEADERS, CONTINUATION):
                if ftype == HEADERS:
                    if flags & PADDED:
                        payload = payload[1 : len(payload) - payload[0]]
                    if flags & PRIORITY:
                        payload = payload[5:]
                block = pending.pop(sid, b"") + payload
                if not flags & END_HEADERS:
                    pending[sid] = block
                    continue
                headers = {k: v for k, v in self.decoder.decode(block)}
                req = self.requests.setdefault(sid, ReceivedRequest(sid, headers))
                if flags & END_STREAM:
                    req.complete = True
                    self.complete.put_nowait(req)
            elif ftype == DATA:
                if flags & PADDED:
                    payload = payload[1 : len(payload) - payload[0]]
                req = self.requests[sid]
                req.body += payload
                if payload:
                    # Give the window straight back so bodies never stall.
                    inc = struct.pack(">L", len(payload))
                    self.send(frame(WINDOW_UPDATE, 0, 0, inc) + frame(WINDOW_UPDATE, 0, sid, inc))
                if flags & END_STREAM:
                    req.complete = True
                    self.complete.put_nowait(req)
            elif ftype == RST_STREAM:
                self.resets.append((sid, struct.unpack(">L", payload)[0]))
            elif ftype == GOAWAY:
                last, code = struct.unpack(">LL", payload[:8])
                self.goaways.append((last, code, payload[8:]))
            self.changed.set()
        self.closed.set()
        self.changed.set()


Script = Callable[[ServerConn], Awaitable[None]]


class ScriptedH2Server:
    """Serves connection ``i`` with ``scripts[min(i, len(scripts) - 1)]``."""

    def __init__(self, scripts: list[Script], max_concurrent_streams: int = 100) -> None:
        self.scripts = scripts
        self.max_concurrent_streams = max_concurrent_streams
        self.conns: list[ServerConn] = []
        self.new_conn = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aenter__(self) -> ScriptedH2Server:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for conn in self.conns:
            conn.writer.close()
        tasks = self._tasks | self._handlers
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = ServerConn(len(self.conns), reader, writer)
        self.conns.append(conn)
        self.new_conn.set()
        settings = struct.pack(">HL", 3, self.max_concurrent_streams)
        writer.write(frame(SETTINGS, 0, 0, settings))
        reading = asyncio.create_task(conn.read_frames())
        self._tasks.add(reading)
        script = self.scripts[min(conn.index, len(self.scripts) - 1)]
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        try:
            await script(conn)
            await conn.closed.wait()
        except asyncio.CancelledError:
            pass  # the test is over
        finally:
            writer.close()
            self._handlers.discard(handler)


async def serve_forever(conn: ServerConn) -> None:
    """Script: answer every request with ``<connection index>:<path>:<body>``."""
    while True:
        req = await conn.next_request()
        conn.respond(req.stream_id, f"{conn.index}:{req.path}:".encode() + req.body)
