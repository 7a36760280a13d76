"""WebSocket: over HTTP/2 (RFC 8441) with the raw frame client, drain sends Close 1001;
what ``websocket.disconnect`` carries, against the ``websockets`` client."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import websockets.asyncio.client
from server_harness import TEST_DEADLINE, StartServer
from wsproto.connection import Connection, ConnectionType
from wsproto.events import CloseConnection, TextMessage
from wsproto.frame_protocol import CloseReason

from lastcall.observe import events as oe
from lastcall.server.asgi import Receive, Scope, Send
from lastcall.testing import RawH2Client
from lastcall.testing.h2_raw_client import DATA, HEADERS


async def test_h2_websocket_echo_and_drain(start_server: StartServer) -> None:
    run = await start_server(None)  # the demo app echoes WebSocket messages
    client = await RawH2Client.connect("127.0.0.1", run.port)
    sid = client.request(
        "/ws",
        "CONNECT",
        extra=[(":protocol", "websocket"), ("sec-websocket-version", "13")],
        open_ended=True,
    )
    head = await client.read_until(HEADERS, stream_id=sid)
    assert dict(head.headers)[b":status"] == b"200"
    ws = Connection(ConnectionType.CLIENT)
    client.send_frame(DATA, 0, sid, ws.send(TextMessage("hello")))
    frame = await client.read_until(DATA, stream_id=sid)
    ws.receive_data(frame.payload)
    assert [e.data for e in ws.events() if isinstance(e, TextMessage)] == ["hello"]
    run.server.drain()
    frame = await client.read_until(DATA, stream_id=sid)
    ws.receive_data(frame.payload)
    closes = [e for e in ws.events() if isinstance(e, CloseConnection)]
    assert closes and closes[0].code == 1001
    client.send_frame(DATA, 0, sid, ws.send(closes[0].response()))
    await client.read_to_eof()
    assert await run.exit_code() == 0
    assert run.recorder.of_type(oe.WebSocketClosing)[0].code == 1001


class DisconnectRecorder:
    """Accepts, then keeps the ``websocket.disconnect`` message it receives."""

    def __init__(self) -> None:
        self.disconnect: dict[str, Any] | None = None
        self.done = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                self.disconnect = dict(message)
                self.done.set()
                return


@pytest.mark.parametrize(
    ("code", "reason"), [(4001, "client leaving"), (1000, ""), (1001, "tab closed")]
)
async def test_disconnect_carries_the_peers_int_code_and_reason(
    start_server: StartServer, code: int, reason: str
) -> None:
    app = DisconnectRecorder()
    run = await start_server(app)
    async with asyncio.timeout(TEST_DEADLINE):
        async with websockets.asyncio.client.connect(
            f"ws://127.0.0.1:{run.port}/", proxy=None
        ) as ws:
            await ws.close(code, reason)
        await app.done.wait()
    assert app.disconnect == {"type": "websocket.disconnect", "code": code, "reason": reason}
    assert type(app.disconnect["code"]) is int  # not wsproto's CloseReason enum


async def test_disconnect_without_a_close_code_is_1005(start_server: StartServer) -> None:
    app = DisconnectRecorder()
    run = await start_server(app)
    reader, writer = await asyncio.open_connection("127.0.0.1", run.port)
    ws = Connection(ConnectionType.CLIENT)
    writer.write(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    async with asyncio.timeout(TEST_DEADLINE):
        await reader.readuntil(b"\r\n\r\n")
        # A Close frame with no body: RFC 6455 §7.1.5, the code is 1005 (never sent).
        writer.write(ws.send(CloseConnection(CloseReason.NO_STATUS_RCVD)))
        await app.done.wait()
    writer.close()
    assert app.disconnect == {"type": "websocket.disconnect", "code": 1005, "reason": ""}
    assert type(app.disconnect["code"]) is int


async def test_max_connection_age_closes_a_websocket_with_1001(start_server: StartServer) -> None:
    """The age is the TCP connection's, armed at accept and kept through the upgrade."""
    app = DisconnectRecorder()
    run = await start_server(app, max_connection_age=0.2)
    async with asyncio.timeout(TEST_DEADLINE):
        async with websockets.asyncio.client.connect(
            f"ws://127.0.0.1:{run.port}/", proxy=None
        ) as ws:
            with pytest.raises(websockets.ConnectionClosedOK):
                await ws.recv()
            assert ws.close_code == 1001
        await app.done.wait()
    assert app.disconnect is not None and app.disconnect["code"] == 1001
    (draining,) = run.recorder.of_type(oe.ConnectionDraining)
    assert draining.reason == "max_age" and draining.protocol == "websocket"
    assert not run.server.controller.is_draining
