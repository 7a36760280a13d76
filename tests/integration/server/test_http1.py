"""HTTP/1.1 over 127.0.0.1: keep-alive, chunked, 100-continue, pipelining, limits."""

from __future__ import annotations

from server_apps import hello, state_app
from server_harness import StartServer


async def test_keep_alive_serves_several_requests(start_server: StartServer) -> None:
    run = await start_server(hello)
    client = await run.open()
    for i in range(3):
        client.send(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
        status, headers, body = await client.response()
        assert status == b"HTTP/1.1 200 OK"
        assert body == b"hello" and headers[b"x-path"] == b"/%d" % i
        assert b"connection" not in headers and b"date" in headers
    client.close()


async def test_pipelined_requests_answered_in_order(start_server: StartServer) -> None:
    run = await start_server(hello)
    client = await run.open()
    client.send(b"".join(b"GET /p%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(5)))
    for i in range(5):
        _, headers, _ = await client.response()
        assert headers[b"x-path"] == b"/p%d" % i
    client.close()


async def test_chunked_request_and_streamed_response(start_server: StartServer) -> None:
    run = await start_server(None)  # the demo app
    client = await run.open()
    client.send(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    _, headers, body = await client.response()
    assert body == b"hello world" and headers[b"content-length"] == b"11"
    client.send(b"GET /stream?chunks=3&ms=0 HTTP/1.1\r\nHost: x\r\n\r\n")
    _, headers, body = await client.response()
    assert headers[b"transfer-encoding"] == b"chunked"
    assert body == b"chunk 0\nchunk 1\nchunk 2\n"
    client.close()


async def test_expect_100_continue(start_server: StartServer) -> None:
    run = await start_server(None)
    client = await run.open()
    client.send(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
    )
    status, _, _ = await client.response()
    assert status == b"HTTP/1.1 100 Continue"
    client.send(b"ping")
    _, _, body = await client.response()
    assert body == b"ping"
    client.close()


async def test_header_limit_answers_431_and_closes(start_server: StartServer) -> None:
    run = await start_server(hello, max_header_size=1024)
    client = await run.open()
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 2000 + b"\r\n\r\n")
    status, headers, _ = await client.response()
    assert status.startswith(b"HTTP/1.1 431") and headers[b"connection"] == b"close"
    assert await client.eof()


async def test_body_limit_answers_413(start_server: StartServer) -> None:
    run = await start_server(None, max_body_size=10)
    client = await run.open()
    client.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world")
    status, _, _ = await client.response()
    assert status.startswith(b"HTTP/1.1 413")


async def test_garbage_answers_400(start_server: StartServer) -> None:
    run = await start_server(hello)
    client = await run.open()
    client.send(b"\x00\x01 nonsense\r\n\r\n")
    status, _, _ = await client.response()
    assert status.startswith(b"HTTP/1.1 400")
    assert await client.eof()


async def test_http10_closes_after_response(start_server: StartServer) -> None:
    run = await start_server(hello)
    client = await run.open()
    client.send(b"GET / HTTP/1.0\r\n\r\n")
    _, headers, body = await client.response()
    assert body == b"hello" and headers[b"connection"] == b"close"
    assert await client.eof()


async def test_lifespan_state_reaches_requests(start_server: StartServer) -> None:
    log: list[str] = []
    run = await start_server(state_app(log))
    client = await run.open()
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    _, _, body = await client.response()
    assert body == b"hi"
    client.close()
    run.server.drain()
    assert await run.exit_code() == 0
    assert log == ["lifespan.startup", "lifespan.shutdown"]


async def test_app_exception_gives_500(start_server: StartServer) -> None:
    async def broken(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "http":
            raise ValueError("boom")

    run = await start_server(broken)
    client = await run.open()
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, _ = await client.response()
    assert status.startswith(b"HTTP/1.1 500") and headers[b"connection"] == b"close"
