"""``RequestCycle`` on its own, against a fake ``CycleOwner``: no connection, no socket.

The Protocol is what lets the HTTP/1.1 exchange (framing, keep-alive, the
drain's ``Connection: close``) be tested apart from the connection that
owns it (issue #10: the two modules used to import each other).
"""

from __future__ import annotations

import asyncio

from lastcall.io import WriteFlow
from lastcall.lifecycle import ConnectionPhase, ConnectionRegistry
from lastcall.observe import Observer
from lastcall.server.asgi import Receive, Scope, Send
from lastcall.server.config import ServerConfig
from lastcall.server.http1_cycle import CycleOwner, RequestCycle
from lastcall.server.state import ServerState


class FakeOwner:
    """Records what the cycle asks of its connection."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, draining: bool = False) -> None:
        self.loop = loop
        self.state = ServerState(ServerConfig(), _app, loop, Observer([]), ConnectionRegistry())
        self.label = "fake"
        self.flow = WriteFlow(loop)
        self.phase = ConnectionPhase.DRAINING if draining else ConnectionPhase.OPEN
        self.closing_after_response = False
        self.written = b""
        self.calls: list[str] = []

    def write(self, data: bytes) -> None:
        self.written += data

    def should_close_after_this(self) -> bool:
        return self.phase is not ConnectionPhase.OPEN

    def pause_reading_for_body(self) -> None:
        self.calls.append("pause")

    def resume_reading_for_body(self) -> None:
        self.calls.append("resume")

    def waiting_for_body(self, cycle: RequestCycle) -> None:
        self.calls.append("waiting")

    def response_done(self, cycle: RequestCycle) -> None:
        self.calls.append("done")

    def response_failed(self, cycle: RequestCycle) -> None:
        self.calls.append("failed")

    def task_done(self, cycle: RequestCycle) -> None:
        self.calls.append("task_done")


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    message = await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"got " + message["body"]})


def _cycle(owner: CycleOwner) -> RequestCycle:
    return RequestCycle(owner, {"type": "http"}, True, False, False, False)


async def test_one_exchange_through_the_protocol() -> None:
    owner = FakeOwner(asyncio.get_running_loop())
    cycle = _cycle(owner)
    cycle.feed_body(b"abc")
    cycle.end_body()
    await cycle.run(_app)
    head, _, body = owner.written.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"content-length: 7" in head
    assert b"connection" not in head and body == b"got abc"
    assert owner.calls == ["resume", "done", "task_done"]


async def test_a_draining_owner_gets_connection_close() -> None:
    owner = FakeOwner(asyncio.get_running_loop(), draining=True)
    cycle = _cycle(owner)
    cycle.end_body()
    await cycle.run(_app)
    assert b"\r\nconnection: close\r\n" in owner.written and not cycle.keep_alive
