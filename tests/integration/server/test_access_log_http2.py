"""``access_log``: one ``lastcall.access`` line per answered HTTP/2 request, as HTTP/1.1 writes.

The line is logged when the response is handed to the engine, before its
last frame is written, so once the client has read END_STREAM the line is
there: the tests wait for the response, never for time.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from server_apps import hello
from server_harness import StartServer

from lastcall.server.asgi import Receive, Scope, Send
from lastcall.testing import RawH2Client
from lastcall.testing.h2_raw_client import DATA, END_STREAM, HEADERS


def access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "lastcall.access"]


async def connect(start_server: StartServer, app: Any, **settings: Any) -> tuple[RawH2Client, str]:
    """A server running ``app`` and an HTTP/2 client; also the client's address as logged."""
    run = await start_server(app, **settings)
    client = await RawH2Client.connect("127.0.0.1", run.port)
    host, port = client.writer.get_extra_info("sockname")[:2]
    return client, f"{host}:{port}"


async def trailers_or_failure(scope: Scope, receive: Receive, send: Send) -> None:
    """``/trailers``: 201 whose end is its trailers; ``/fail``: raises before any response."""
    if scope["path"] == "/fail":
        raise RuntimeError("the app broke")
    await send({"type": "http.response.start", "status": 201, "headers": [], "trailers": True})
    await send({"type": "http.response.body", "body": b"body"})
    await send({"type": "http.response.trailers", "headers": [(b"x-done", b"1")]})


async def test_http2_request_writes_an_access_line(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lastcall.access")
    client, peer = await connect(start_server, hello, access_log=True)
    sid = client.request("/hello%20there?x=1")
    frame = await client.read_until(DATA, stream_id=sid)
    await client.aclose()
    assert frame.flags & END_STREAM and client.status(sid) == b"200"
    # Raw path as sent, without the query, and the scope's version: "HTTP/2".
    assert access_lines(caplog) == [f'{peer} - "GET /hello%20there?x=1 HTTP/2" 200']


async def test_http2_trailers_and_server_error_are_logged(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lastcall.access")
    client, peer = await connect(start_server, trailers_or_failure, access_log=True)
    sid = client.request("/trailers", "POST", body=b"")
    trailers = await client.read_until(HEADERS, stream_id=sid)
    while not trailers.flags & END_STREAM:  # the response head, then the trailers
        trailers = await client.read_until(HEADERS, stream_id=sid)
    failed = client.request("/fail")
    await client.read_until(HEADERS, stream_id=failed)  # the server's own 500
    await client.aclose()
    assert client.status(failed) == b"500"
    assert access_lines(caplog) == [
        f'{peer} - "POST /trailers HTTP/2" 201',
        f'{peer} - "GET /fail HTTP/2" 500',
    ]


async def test_http2_writes_no_access_line_by_default(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lastcall.access")
    client, _ = await connect(start_server, hello)
    sid = client.request("/")
    await client.read_until(DATA, stream_id=sid)
    await client.aclose()
    assert access_lines(caplog) == []
