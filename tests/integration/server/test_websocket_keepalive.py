"""``ws_ping_interval`` / ``ws_ping_timeout`` over 127.0.0.1, with a wsproto client we drive.

Short intervals, and every wait is for a frame or the app's disconnect:
a peer that answers keeps getting Pings (each one after the Pong before), a
peer that stays silent is closed with 1011 and the app hears 1011.
"""

from __future__ import annotations

import asyncio
from typing import Any

from server_harness import TEST_DEADLINE, StartServer
from wsproto.connection import Connection, ConnectionType
from wsproto.events import CloseConnection, Ping

from lastcall.server.asgi import Receive, Scope, Send


class Holder:
    """Accepts and waits for the disconnect, recording it."""

    def __init__(self) -> None:
        self.disconnect: dict[str, Any] = {}
        self.done = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        message = await receive()
        self.disconnect = dict(message)
        self.done.set()


async def open_ws(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, Connection]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await reader.readuntil(b"\r\n\r\n")
    return reader, writer, Connection(ConnectionType.CLIENT)


async def next_event(reader: asyncio.StreamReader, ws: Connection) -> Any:
    while True:
        for event in ws.events():
            return event
        data = await reader.read(4096)
        ws.receive_data(data or None)


async def test_an_answering_peer_keeps_getting_pings(start_server: StartServer) -> None:
    app = Holder()
    run = await start_server(app, ws_ping_interval=0.02, ws_ping_timeout=TEST_DEADLINE)
    reader, writer, ws = await open_ws(run.port)
    payloads = []
    async with asyncio.timeout(TEST_DEADLINE):
        for _ in range(3):
            event = await next_event(reader, ws)
            assert isinstance(event, Ping)
            payloads.append(bytes(event.payload))
            writer.write(ws.send(event.response()))
    assert payloads == [b"1", b"2", b"3"] and not app.done.is_set()
    writer.close()


async def test_a_silent_peer_is_closed_with_1011(start_server: StartServer) -> None:
    app = Holder()
    run = await start_server(app, ws_ping_interval=0.02, ws_ping_timeout=0.05)
    reader, writer, ws = await open_ws(run.port)
    async with asyncio.timeout(TEST_DEADLINE):
        assert isinstance(await next_event(reader, ws), Ping)  # and no Pong goes back
        close = await next_event(reader, ws)
        await app.done.wait()
    writer.close()
    assert isinstance(close, CloseConnection) and close.code == 1011
    assert close.reason == "keepalive ping timeout"
    assert app.disconnect == {"type": "websocket.disconnect", "code": 1011, "reason": ""}
