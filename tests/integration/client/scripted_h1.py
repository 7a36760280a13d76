"""A scripted HTTP/1.1 server for the client tests (asyncio streams, hand-written bytes).

Each accepted connection runs ``script(conn)``; ``H1Conn.read_request()``
returns one parsed request (head and Content-Length or chunked body) or None
at EOF, and ``H1Conn.send()`` writes raw bytes, so a test decides exactly what
goes on the wire: keep-alive, ``Connection: close``, an idle close, silence.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class H1Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class H1Conn:
    index: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    requests: list[H1Request] = field(default_factory=list)

    async def read_request(self) -> H1Request | None:
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = b""
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                body += chunk[:-2]
        req = H1Request(method, target, headers, body)
        self.requests.append(req)
        return req

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    def respond(self, body: bytes, *, close: bool = False, status: int = 200) -> None:
        extra = b"Connection: close\r\n" if close else b""
        self.send(
            b"HTTP/1.1 %d OK\r\nContent-Length: %d\r\n%s\r\n" % (status, len(body), extra) + body
        )

    async def close(self) -> None:
        with contextlib.suppress(OSError):
            await self.writer.drain()
        self.writer.close()


H1Script = Callable[[H1Conn], Awaitable[None]]


async def echo_forever(conn: H1Conn) -> None:
    """Answer ``<connection index>:<method> <target>:<body>`` until the client closes."""
    while (req := await conn.read_request()) is not None:
        conn.respond(f"{conn.index}:{req.method} {req.target}:".encode() + req.body)
        if req.headers.get("connection") == "close":
            break


class ScriptedH1Server:
    """Serves connection ``i`` with ``scripts[min(i, len(scripts) - 1)]``."""

    def __init__(self, scripts: list[H1Script]) -> None:
        self.scripts = scripts
        self.conns: list[H1Conn] = []
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> ScriptedH1Server:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._handlers:
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        conn = H1Conn(len(self.conns), reader, writer)
        self.conns.append(conn)
        script = self.scripts[min(conn.index, len(self.scripts) - 1)]
        try:
            await script(conn)
            await conn.close()
        except (asyncio.CancelledError, ConnectionError):
            writer.close()
        finally:
            self._handlers.discard(handler)
