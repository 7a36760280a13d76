"""HTTP/1.1 write backpressure over 127.0.0.1 (issue #15 item 1): while the
connection's outbound is full, nothing more is read and no queued request
starts; a peer that reads nothing for ``send_timeout`` is cut off."""

from __future__ import annotations

import asyncio
import socket

from server_harness import StartServer

from lastcall.server.asgi import Receive, Scope, Send

BIG = b"x" * 262_144


async def test_pipelined_requests_wait_for_the_outbound_to_drain(
    start_server: StartServer,
) -> None:
    """200 pipelined requests for 256 KiB each, from a client that never reads:
    only the few that fit in the kernel's buffers are served before the server
    stops, and ``send_timeout`` then closes the connection (unclean: the
    responses could not be delivered). Before the fix all 200 ran at once and
    their 50 MiB sat in the transport's buffer."""
    started: list[int] = []

    async def big(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        started.append(1)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": BIG})

    run = await start_server(big, send_timeout=0.5)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        await loop.sock_connect(sock, ("127.0.0.1", run.port))
        await loop.sock_sendall(sock, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n" * 200)
        await run.events.wait_for("connection_closed")
    finally:
        sock.close()
    closed = [e for e in run.recorder.events if e.name == "connection_closed"]
    assert len(closed) == 1 and not getattr(closed[0], "clean", True)
    # The kernel buffers hold at most a few MiB (tcp_wmem's ceiling is 4 MiB).
    assert 1 <= len(started) <= 24, len(started)


async def test_a_slow_reader_still_gets_every_pipelined_response(
    start_server: StartServer,
) -> None:
    """The other side of the same gate: a client that does read, late, gets all
    its pipelined responses in order (dispatch resumes as the outbound drains)."""

    async def numbered(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = scope["path"].encode() * 20_000
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    run = await start_server(numbered)
    client = await run.open()
    client.send(b"".join(b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % i for i in range(40)))
    for i in range(40):
        status, _, body = await client.response()
        assert status == b"HTTP/1.1 200 OK" and body == b"/%d" % i * 20_000
