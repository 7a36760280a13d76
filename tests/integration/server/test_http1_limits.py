"""HTTP/1.1 limits over 127.0.0.1: request head timeout, keep-alive timer, connection cap,
and response header injection.

The connection's deadline runs on the server's clock: the tests of when it fires
give the server a ``FakeClock`` and move virtual time past it, so they neither
wait on real sub-second timeouts nor depend on the machine's load. The moment a
deadline is armed is known from the wire: the server arms the next one before
the response that precedes it leaves (``response_done``).
"""

from __future__ import annotations

import asyncio

from server_apps import hello
from server_harness import StartServer

from lastcall.server.asgi import Receive, Scope, Send
from lastcall.testing.clock import FakeClock


async def test_trickled_request_head_gets_408_and_close(start_server: StartServer) -> None:
    """Slowloris: more header lines keep coming, but the head never ends."""
    clock = FakeClock()
    run = await start_server(hello, request_head_timeout=20, clock=clock)
    client = await run.open()
    # A complete request, then the start of a second head: once the first
    # answer is out, the second head's deadline is armed (response_done).
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n")
    status, _, _ = await client.response()
    assert status == b"HTTP/1.1 200 OK"
    start = clock.time()
    for _ in range(3):  # one more header line every 6 s, as slowloris does
        client.send(b"X-A: b\r\n")
        clock.advance(6)
    assert clock.next_deadline == start + 20  # the lines did not move it
    clock.advance(2)  # request_head_timeout from the head's first byte, on virtual time
    status, headers, _ = await client.response()
    assert status.startswith(b"HTTP/1.1 408") and headers[b"connection"] == b"close"
    assert await client.eof()


async def test_head_timeout_does_not_touch_a_complete_request(start_server: StartServer) -> None:
    run = await start_server(hello, request_head_timeout=0.05, keep_alive_timeout=30.0)
    client = await run.open()
    for _ in range(3):
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = await client.response()
        assert status == b"HTTP/1.1 200 OK" and body == b"hello"
    client.close()


async def test_idle_keep_alive_connection_closes(start_server: StartServer) -> None:
    clock = FakeClock()
    run = await start_server(hello, keep_alive_timeout=30, clock=clock)
    client = await run.open()
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await client.response()
    start = clock.time()
    clock.advance(29)
    assert clock.next_deadline == start + 30  # idle, not yet for the whole timeout
    clock.advance(1)  # keep_alive_timeout, on virtual time
    assert await client.eof()


async def test_busy_connection_outlives_its_keep_alive_timeout(start_server: StartServer) -> None:
    """The keep-alive deadline moves with every response; the timer re-arms for the rest."""
    clock = FakeClock()
    run = await start_server(hello, keep_alive_timeout=30, clock=clock)
    client = await run.open()
    for _ in range(8):  # 80 s of virtual time: more than two timeout periods
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, _ = await client.response()
        assert status == b"HTTP/1.1 200 OK" and b"connection" not in headers
        clock.advance(10)  # a third of the timeout between requests
    clock.advance(20)  # and once idle for the whole timeout, it closes by itself
    assert await client.eof()


async def test_connection_cap_closes_new_ones_and_keeps_the_others(
    start_server: StartServer,
) -> None:
    run = await start_server(hello, max_connections=2)
    first, second = await run.open(), await run.open()
    for client in (first, second):  # both accepted and registered
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await client.response())[0] == b"HTTP/1.1 200 OK"
    third = await run.open()
    third.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert await third.eof()
    first.send(b"GET /again HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await first.response())[2] == b"hello"
    closed_before = run.events.counts.get("connection_closed", 0)
    await second.aclose()
    await run.events.wait_for("connection_closed", closed_before + 1)
    fourth = await run.open()  # a slot came free
    fourth.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    status, _, _ = await fourth.response()
    assert status == b"HTTP/1.1 200 OK"


async def _injecting(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    value = b"a\r\nSet-Cookie: evil=1" if scope["path"] == "/value" else b"ok"
    name = b"x-a\r\nset-cookie" if scope["path"] == "/name" else b"x-a"
    await send({"type": "http.response.start", "status": 200, "headers": [(name, value)]})
    await send({"type": "http.response.body", "body": b"body"})


async def test_response_header_with_crlf_is_refused_with_500(start_server: StartServer) -> None:
    run = await start_server(_injecting)
    for path in (b"/value", b"/name"):
        client = await run.open()
        client.send(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, _ = await client.response()
        assert status.startswith(b"HTTP/1.1 500") and b"set-cookie" not in headers
        assert await client.eof()
    client = await run.open()
    client.send(b"GET /fine HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, body = await client.response()
    assert status == b"HTTP/1.1 200 OK" and headers[b"x-a"] == b"ok" and body == b"body"


async def test_stalled_request_body_gets_408_and_the_app_a_disconnect(
    start_server: StartServer,
) -> None:
    """Slow POST: the head is complete, the body stops coming while the app waits."""
    seen: list[str] = []
    done = asyncio.Event()

    async def reader(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        try:
            while True:
                message = await receive()
                seen.append(message["type"])
                if message["type"] == "http.disconnect" or not message.get("more_body"):
                    break
            if seen[-1] != "http.disconnect":
                await send({"type": "http.response.start", "status": 200, "headers": []})
                await send({"type": "http.response.body", "body": b"read it"})
        finally:
            done.set()

    run = await start_server(reader, request_body_timeout=0.6)
    client = await run.open()
    client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhal")
    status, headers, _ = await client.response()
    assert status.startswith(b"HTTP/1.1 408") and headers[b"connection"] == b"close"
    await asyncio.wait_for(done.wait(), 5)
    assert seen[-1] == "http.disconnect"
    assert await client.eof()
    # A body that keeps coming, in pieces closer together than the timeout, is read.
    client = await run.open()
    client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nab")
    loop = asyncio.get_running_loop()
    handles = [loop.call_later(0.05, client.send, b"cd"), loop.call_later(0.1, client.send, b"ef")]
    status, _, body = await client.response()
    for handle in handles:
        handle.cancel()
    assert status == b"HTTP/1.1 200 OK" and body == b"read it"


async def test_chunk_framing_alone_does_not_stop_the_body_timeout(
    start_server: StartServer,
) -> None:
    """Bytes that carry no body (a chunk-size line) still leave the gap bounded."""
    waiting = asyncio.Event()

    async def reader(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        waiting.set()
        while (await receive())["type"] != "http.disconnect":
            pass

    run = await start_server(reader, request_body_timeout=0.3)
    client = await run.open()
    client.send(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    await asyncio.wait_for(waiting.wait(), 5)
    client.send(b"5\r\n")  # framing only, then nothing more
    status, _, _ = await client.response()
    assert status.startswith(b"HTTP/1.1 408")


async def test_trailers_that_never_end_get_408_within_the_head_timeout(
    start_server: StartServer,
) -> None:
    """#15 item 2: a trailer section has a time limit like a head (it had none:
    each trickled byte reset the body timer, and with the body read nothing
    bounded it at all)."""

    async def read_all(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body", False):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    run = await start_server(read_all, request_head_timeout=0.3, request_body_timeout=30.0)
    client = await run.open()
    client.send(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"1\r\na\r\n0\r\nX-Trailer: "
    )
    loop = asyncio.get_running_loop()
    trickle: list[asyncio.TimerHandle] = []

    def more() -> None:  # one more byte every 50 ms: a body timer would never fire
        if not client.writer.is_closing():
            client.send(b"t")
            trickle.append(loop.call_later(0.05, more))

    trickle.append(loop.call_later(0.05, more))
    try:
        status, headers, _ = await client.response()
    finally:
        for handle in trickle:
            handle.cancel()
    assert status.startswith(b"HTTP/1.1 408") and headers[b"connection"] == b"close"


async def test_http_2_0_as_text_gets_505(start_server: StartServer) -> None:
    """#15 item 9 over the wire (it was 200 and close); HTTP/1.2 is served as 1.1."""
    run = await start_server(hello, http2=False)
    client = await run.open()
    client.send(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n")
    status, headers, _ = await client.response()
    assert status.startswith(b"HTTP/1.1 505") and headers[b"connection"] == b"close"
    other = await run.open()
    other.send(b"GET / HTTP/1.2\r\nHost: x\r\n\r\n")
    status, headers, body = await other.response()
    assert status == b"HTTP/1.1 200 OK" and body == b"hello" and b"connection" not in headers
