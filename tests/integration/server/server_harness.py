"""Helpers: an in-process server on 127.0.0.1:0 and a raw socket client, for socket-level tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from lastcall.observe import EventRecorder, Observer
from lastcall.observe.events import DrainEvent
from lastcall.server import Server
from lastcall.server.asgi import ASGIApp

#: Every wait in these tests is for an event; this only bounds a broken test.
TEST_DEADLINE = 10.0


class EventWaiter:
    """An observer sink that lets a test await the n-th event of a kind."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._changed = asyncio.Event()

    def __call__(self, event: DrainEvent) -> None:
        self.counts[event.name] = self.counts.get(event.name, 0) + 1
        self._changed.set()

    async def wait_for(self, name: str, count: int = 1) -> None:
        async with asyncio.timeout(TEST_DEADLINE):
            while self.counts.get(name, 0) < count:
                self._changed.clear()
                await self._changed.wait()


class Running:
    """A server running in the test's loop, with its recorded drain events."""

    def __init__(
        self,
        server: Server,
        task: asyncio.Task[int],
        recorder: EventRecorder,
        waiter: EventWaiter | None = None,
    ) -> None:
        self.server = server
        self.task = task
        self.recorder = recorder
        self.events = waiter or EventWaiter()
        self.clients: list[RawClient] = []

    @property
    def port(self) -> int:
        return self.server.port

    async def exit_code(self) -> int:
        async with asyncio.timeout(TEST_DEADLINE):
            return await self.task

    async def open(self) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        client = RawClient(reader, writer)
        self.clients.append(client)
        return client


class RawClient:
    """Bytes in, bytes out: no HTTP library between the test and the wire."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def response(self) -> tuple[bytes, dict[bytes, bytes], bytes]:
        """Read one response: (status line, headers, body) -- Content-Length or chunked."""
        async with asyncio.timeout(TEST_DEADLINE):
            head = await self.reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            headers: dict[bytes, bytes] = {}
            for line in lines[1:]:
                if line:
                    name, _, value = line.partition(b":")
                    headers[name.strip().lower()] = value.strip()
            if lines[0].split()[1].startswith(b"1"):
                return lines[0], headers, b""
            body = b""
            if b"content-length" in headers:
                body = await self.reader.readexactly(int(headers[b"content-length"]))
            elif headers.get(b"transfer-encoding") == b"chunked":
                while True:
                    size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                    if size == 0:
                        await self.reader.readuntil(b"\r\n")
                        break
                    body += await self.reader.readexactly(size)
                    await self.reader.readexactly(2)
            return lines[0], headers, body

    async def eof(self) -> bool:
        """True when the server closed (FIN) without sending anything more.

        Like a real client, we then close our side, which ends the server's
        lingering close at once.
        """
        async with asyncio.timeout(TEST_DEADLINE):
            at_eof = await self.reader.read(1) == b""
        if at_eof:
            self.close()
        return at_eof

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()

    async def aclose(self) -> None:
        self.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass


StartServer = Callable[..., Awaitable[Running]]


async def start_in_process(app: ASGIApp | None, **settings: Any) -> Running:
    """Start a server on 127.0.0.1:0 in the running loop; return once it listens."""
    settings.setdefault("bind", ["127.0.0.1:0"])
    settings.setdefault("handle_signals", False)
    recorder = EventRecorder()
    waiter = EventWaiter()
    server = Server(app, observer=Observer([recorder, waiter]), **settings)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(TEST_DEADLINE):
        await asyncio.wait({task, server.started}, return_when=asyncio.FIRST_COMPLETED)
    return Running(server, task, recorder, waiter)


async def stop(run: Running) -> None:
    """Make sure a server a test left running is gone, and its clients closed."""
    for client in run.clients:
        await client.aclose()
    if not run.task.done():
        run.server.cancel()
        async with asyncio.timeout(TEST_DEADLINE):
            await asyncio.wait({run.task})
