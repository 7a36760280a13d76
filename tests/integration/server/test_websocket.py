"""WebSocket over HTTP/2 (RFC 8441) with the raw frame client; drain sends Close 1001."""

from __future__ import annotations

from server_harness import StartServer
from wsproto.connection import Connection, ConnectionType
from wsproto.events import CloseConnection, TextMessage

from lastcall.observe import events as oe
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
