"""An HTTP/2 request body the application never reads still gives its
connection window back (RFC 9113 §6.9).

The connection window (16 MiB) is shared by every stream. A body buffered for
an app that answers without reading it was never acknowledged, so its credit
was lost for the life of the connection: after 16 such 1 MiB bodies the
client could send no DATA at all on it (a raw client that ignores the window
is answered GOAWAY FLOW_CONTROL_ERROR instead). Each request here waits until
the server holds its whole body (a PING barrier) before the app may answer.
"""

from __future__ import annotations

import asyncio

from server_harness import StartServer

from lastcall.server.asgi import Receive, Scope, Send
from lastcall.testing import RawH2Client
from lastcall.testing.h2_raw_client import DATA, END_STREAM, GOAWAY, HEADERS

#: Requests of one stream window (1 MiB) each: more than the 16 MiB connection window.
REQUESTS = 20
FRAME = b"b" * 16_384


async def test_unread_bodies_give_the_connection_window_back(start_server: StartServer) -> None:
    release = asyncio.Event()

    async def answer_unread(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await release.wait()  # the whole body is buffered by then
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    run = await start_server(answer_unread)
    client = await RawH2Client.connect("127.0.0.1", run.port)
    for _ in range(REQUESTS):
        sid = client.request("/", "POST", open_ended=True)
        for i in range(64):
            client.send_frame(DATA, END_STREAM if i == 63 else 0, sid, FRAME)
        seen = await client.barrier()
        assert not [f for f in seen if f.type == GOAWAY], seen
        release.set()
        frame = await client.read_until(HEADERS, stream_id=sid)
        assert frame.flags & END_STREAM
        release.clear()
    await client.aclose()
