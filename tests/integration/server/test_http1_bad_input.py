"""HTTP/1.1 bad input over 127.0.0.1: what was accepted is answered, nothing is left hanging.

From both sides: bad request bytes after good requests, bodies that go bad or are
never read, a client's FIN; and responses whose framing the app got wrong.
"""

from __future__ import annotations

import asyncio

from server_apps import hello
from server_harness import StartServer

from lastcall.server.asgi import Message, Receive, Scope, Send

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


async def test_good_pipelined_requests_before_garbage_are_answered(
    start_server: StartServer,
) -> None:
    run = await start_server(hello)
    client = await run.open()
    client.send(GET + b"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n" + b"GARBAGE\r\n\r\n")
    status, headers, _ = await client.response()
    assert status == b"HTTP/1.1 200 OK" and b"connection" not in headers
    status, headers, _ = await client.response()
    assert status == b"HTTP/1.1 200 OK" and headers[b"x-path"] == b"/2"
    assert headers[b"connection"] == b"close"
    assert await client.eof()


async def test_request_with_close_followed_by_bytes_is_answered(start_server: StartServer) -> None:
    run = await start_server(hello)
    client = await run.open()
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nmore bytes")
    status, headers, _ = await client.response()
    assert status == b"HTTP/1.1 200 OK" and headers[b"connection"] == b"close"
    assert await client.eof()


class BodyReader:
    """Reads the whole request body, then answers with what it read."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.first = asyncio.Event()
        self.done = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        try:
            while True:
                message = await receive()
                self.messages.append(message)
                self.first.set()
                if message["type"] == "http.disconnect":
                    return
                if not message.get("more_body"):
                    break
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"read"})
        finally:
            self.done.set()


async def test_body_going_bad_while_the_app_reads_gets_400(start_server: StartServer) -> None:
    app = BodyReader()
    run = await start_server(app)
    client = await run.open()
    client.send(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    await asyncio.wait_for(app.first.wait(), 5)  # it has the first chunk and waits for more
    client.send(b"zz\r\nnot a chunk size\r\n")
    status, headers, _ = await client.response()
    assert status.startswith(b"HTTP/1.1 400") and headers[b"connection"] == b"close"
    await asyncio.wait_for(app.done.wait(), 5)
    assert app.messages[-1]["type"] == "http.disconnect"
    assert await client.eof()


async def test_unread_large_body_closes_after_the_response(start_server: StartServer) -> None:
    """hello never reads its body: the connection must not stay stuck behind it."""
    run = await start_server(hello, keep_alive_timeout=30.0)
    client = await run.open()
    body = b"x" * 300_000
    client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    status, _, _ = await client.response()
    assert status == b"HTTP/1.1 200 OK"
    assert await client.eof()


async def test_fin_after_the_request_reaches_an_app_waiting_for_disconnect(
    start_server: StartServer,
) -> None:
    seen: list[Message] = []

    async def streamer(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"start", "more_body": True})
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                seen.append(message)
                return

    run = await start_server(streamer)
    client = await run.open()
    client.send(GET)
    await client.reader.readuntil(b"start\r\n")  # the first chunk
    client.writer.write_eof()  # FIN: the client is done
    rest = await asyncio.wait_for(client.reader.read(), 5)
    assert rest == b"", rest  # the app heard it, returned, and the connection closed
    assert seen == [{"type": "http.disconnect"}]


async def test_host_header_rules(start_server: StartServer) -> None:
    run = await start_server(hello)
    for request, expected in (
        (b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 400"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", b"HTTP/1.1 400"),
        (b"GET / HTTP/1.0\r\n\r\n", b"HTTP/1.1 200"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", b"HTTP/1.1 501"),
    ):
        client = await run.open()
        client.send(request)
        status, _, _ = await client.response()
        assert status.startswith(expected), (request, status)
        client.close()


async def _framing(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/short":
        headers = [(b"content-length", b"100")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"short"})
    elif path == "/long":
        headers = [(b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"longer than two"})
    elif path == "/204":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b"A", "more_body": True})
        await send({"type": "http.response.body", "body": b"LEAK"})
    elif path == "/101":
        await send({"type": "http.response.start", "status": 101, "headers": []})
        await send({"type": "http.response.body", "body": b""})
    else:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"next"})


async def test_short_body_closes_instead_of_desynchronising(start_server: StartServer) -> None:
    run = await start_server(_framing)
    client = await run.open()
    client.send(b"GET /short HTTP/1.1\r\nHost: x\r\n\r\n" + GET)
    head = await client.reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"content-length: 100" in head
    rest = await asyncio.wait_for(client.reader.read(), 5)  # to EOF: closed, never "next"
    assert rest == b"short"


async def test_long_body_or_app_1xx_is_a_500(start_server: StartServer) -> None:
    run = await start_server(_framing)
    for path in (b"/long", b"/101"):
        client = await run.open()
        client.send(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = await client.response()
        assert status.startswith(b"HTTP/1.1 500"), path
        assert b"longer" not in body
        assert await client.eof()


async def test_204_sends_no_body_and_keeps_the_connection(start_server: StartServer) -> None:
    run = await start_server(_framing)
    client = await run.open()
    client.send(b"GET /204 HTTP/1.1\r\nHost: x\r\n\r\n" + GET)
    head = await client.reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 204")
    status, _, body = await client.response()  # the very next bytes are the next response
    assert status == b"HTTP/1.1 200 OK" and body == b"next"
    client.close()


async def test_partial_http2_preface_is_bounded_by_the_head_timeout(
    start_server: StartServer,
) -> None:
    run = await start_server(hello, request_head_timeout=0.2)
    client = await run.open()
    client.send(b"PRI * HTTP")
    data = await asyncio.wait_for(client.reader.read(), 5)
    assert data.startswith(b"HTTP/1.1 408")


async def test_body_going_bad_after_the_response_started_closes(
    start_server: StartServer,
) -> None:
    """The app streams its response while it reads the body; the body goes bad."""
    started = asyncio.Event()

    async def echoing(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"go", "more_body": True})
        started.set()
        while (await receive())["type"] != "http.disconnect":
            pass
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    run = await start_server(echoing, keep_alive_timeout=30.0)
    client = await run.open()
    client.send(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n")
    await asyncio.wait_for(started.wait(), 5)
    client.send(b"zz\r\nnot a chunk size\r\n")
    data = await asyncio.wait_for(client.reader.read(), 5)  # to EOF: closed, not stuck
    assert data.startswith(b"HTTP/1.1 200") and b"0\r\n\r\n" not in data  # visibly cut short


async def test_a_target_the_url_parser_refuses_gets_400(start_server: StartServer) -> None:
    """llhttp takes ``ttp://pr@?e/otq`` as a request target and httptools'
    URL parser then refuses it: the ``HttpParserInvalidURLError`` escaped
    ``data_received``, so the loop logged a fatal error and reset the
    connection, answering nothing (found by the proxy fuzz harness, which
    shares ``split_target``). Now it is bad input like any other: a 400 when
    it comes first, after the good requests before it otherwise."""
    run = await start_server(hello)
    client = await run.open()
    client.send(b"GET ttp://pr@?e/otq HTTP/1.1\r\nHost: a\r\n\r\n")
    status, headers, _ = await client.response()
    assert status == b"HTTP/1.1 400 Bad Request"
    assert headers[b"connection"] == b"close"
    assert await client.eof()
    client = await run.open()
    client.send(GET + b"GET ttp://pr@?e/otq HTTP/1.1\r\nHost: a\r\n\r\n")
    status, headers, _ = await client.response()
    assert status == b"HTTP/1.1 200 OK" and headers[b"connection"] == b"close"
    assert await client.eof()
