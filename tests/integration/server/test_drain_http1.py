"""The HTTP/1.1 drain contract (DESIGN.md), step by step, over 127.0.0.1."""

from __future__ import annotations

import asyncio

import pytest
from server_apps import Gate, hello
from server_harness import RawClient, Running, StartServer

from lastcall.lifecycle import Drainable
from lastcall.lifecycle.registry import ConnectionRegistry
from lastcall.observe import events as oe
from lastcall.server import DRAIN_EXTENSION
from lastcall.server.asgi import Receive, Scope, Send
from lastcall.testing.clock import FakeClock


async def test_idle_server_drains_at_once(start_server: StartServer) -> None:
    run = await start_server(hello)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    run.server.drain()
    assert await run.exit_code() == 0
    assert loop.time() - t0 < 0.1
    assert run.recorder.names() == [
        "server_started",
        "drain_started",
        "listener_closed",
        "drained",
        "lifespan_shutdown",
    ]


async def test_idle_keep_alive_connection_is_closed(start_server: StartServer) -> None:
    run = await start_server(hello)
    client = await run.open()
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    _, headers, _ = await client.response()
    assert b"connection" not in headers
    run.server.drain()
    assert await client.eof()
    assert await run.exit_code() == 0
    closed = run.recorder.of_type(oe.ConnectionClosed)
    assert len(closed) == 1 and closed[0].clean


async def test_in_flight_response_gets_connection_close(start_server: StartServer) -> None:
    gate = Gate()
    run = await start_server(gate)
    client = await run.open()
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await gate.entered.wait()
    run.server.drain()
    gate.release.set()
    status, headers, body = await client.response()
    assert status == b"HTTP/1.1 200 OK" and body == b"done"
    assert headers[b"connection"] == b"close"
    assert await client.eof()
    assert await run.exit_code() == 0
    names = run.recorder.names()
    assert (
        names.index("connection_draining")
        < names.index("connection_closed")
        < names.index("drained")
    )


async def test_request_already_arriving_is_answered(start_server: StartServer) -> None:
    gate = Gate()
    run = await start_server(gate)
    client = await run.open()
    # One write: a whole request (held by the gate) and the start of a second.
    # When the app sees the first, the server has already parsed the partial second.
    client.send(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /late HTTP/1.1\r\nHost: x\r\n")
    await gate.entered.wait()
    run.server.drain()
    gate.release.set()
    _, headers, body = await client.response()
    assert body == b"done" and b"connection" not in headers  # more was arriving
    client.send(b"\r\n")
    status, headers, body = await client.response()
    assert status == b"HTTP/1.1 200 OK" and body == b"done"
    assert headers[b"connection"] == b"close"
    assert await client.eof()
    assert await run.exit_code() == 0
    assert [s["path"] for s in gate.scopes] == ["/first", "/late"]


async def test_grace_expiry_before_response_gives_503_and_disconnect(
    start_server: StartServer,
) -> None:
    gate = Gate()
    clock = FakeClock()
    run = await start_server(gate, graceful_timeout=30, clock=clock)
    client = await run.open()
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await gate.entered.wait()
    run.server.drain()
    clock.advance(30)  # the grace period, on virtual time
    status, headers, _ = await client.response()
    assert status.startswith(b"HTTP/1.1 503") and headers[b"connection"] == b"close"
    assert await client.eof()
    assert await run.exit_code() == 0
    await gate.finished.wait()
    assert gate.received[-1] == {"type": "http.disconnect"}
    assert [e.how for e in run.recorder.of_type(oe.RequestCancelled)] == ["503"]
    assert run.recorder.of_type(oe.GraceExpired)[0].streams == 1


async def test_grace_expiry_after_response_started_closes(start_server: StartServer) -> None:
    gate = Gate(stream_first=True)
    clock = FakeClock()
    run = await start_server(gate, graceful_timeout=30, clock=clock)
    client = await run.open()
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await gate.entered.wait()
    run.server.drain()
    clock.advance(30)  # the grace period, on virtual time
    async with asyncio.timeout(5):
        data = await client.reader.read()  # until EOF: a truncated chunked body
    client.close()
    assert b"transfer-encoding: chunked" in data and b"5\r\nfirst\r\n" in data
    assert not data.endswith(b"0\r\n\r\n")
    assert await run.exit_code() == 0
    assert [e.how for e in run.recorder.of_type(oe.RequestCancelled)] == ["close"]


async def test_second_drain_request_with_shorter_grace(start_server: StartServer) -> None:
    gate = Gate()
    clock = FakeClock()
    run = await start_server(gate, graceful_timeout=30, clock=clock)
    client = await run.open()
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await gate.entered.wait()
    run.server.drain()
    run.server.drain(grace=5)
    clock.advance(5)  # the shorter grace wins: 25 s early
    status, _, _ = await client.response()
    assert status.startswith(b"HTTP/1.1 503")
    assert await run.exit_code() == 0


async def test_cancel_skips_to_the_cancel_step(start_server: StartServer) -> None:
    gate = Gate()
    run = await start_server(gate, graceful_timeout=30)
    client = await run.open()
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await gate.entered.wait()
    run.server.drain()
    run.server.cancel()
    status, _, _ = await client.response()
    assert status.startswith(b"HTTP/1.1 503")
    assert await run.exit_code() == 0
    assert run.recorder.of_type(oe.GraceExpired)[0].forced


async def test_app_awaits_drain_and_finishes_its_stream(start_server: StartServer) -> None:
    run = await start_server(None)  # demo /stream ends early on drain
    client = await run.open()
    client.send(b"GET /stream?chunks=1000&ms=50 HTTP/1.1\r\nHost: x\r\n\r\n")
    async with asyncio.timeout(5):
        await client.reader.readuntil(b"chunk 0\n")
    run.server.drain(reason="deploy")
    async with asyncio.timeout(5):
        rest = await client.reader.read()
    client.close()
    assert b"stream ended early: server draining (deploy)" in rest
    assert rest.endswith(b"0\r\n\r\n")  # a complete chunked body
    assert await run.exit_code() == 0


async def test_drain_connection_from_the_app(start_server: StartServer) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        drain = scope["extensions"][DRAIN_EXTENSION]
        assert not drain.is_draining
        drain.drain_connection("max_requests")
        assert drain.is_draining and await drain.wait() == "max_requests"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"bye"})

    run = await start_server(app)
    client = await run.open()
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    _, headers, body = await client.response()
    assert body == b"bye" and headers[b"connection"] == b"close"
    assert await client.eof()
    # The server itself keeps serving.
    client2 = await run.open()
    client2.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    _, _, body = await client2.response()
    assert body == b"bye"


async def test_readiness_and_pre_stop_delay(start_server: StartServer) -> None:
    run = await start_server(hello, readiness_path="/readyz", pre_stop_delay=0.2)
    client = await run.open()
    client.send(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
    status, _, body = await client.response()
    assert status == b"HTTP/1.1 200 OK" and body == b"ok\n"
    run.server.drain(reason="deploy")
    client.send(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
    status, _, body = await client.response()
    assert status.startswith(b"HTTP/1.1 503") and body == b"draining: deploy\n"
    # Still accepting during the pre-stop delay.
    late = await run.open()
    late.send(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
    _, _, body = await late.response()
    assert body == b"hello"
    assert await run.exit_code() == 0
    names = run.recorder.names()
    assert (
        names.index("drain_started")
        < names.index("pre_stop_elapsed")
        < names.index("listener_closed")
    )


async def test_startup_failure_stops_with_nonzero_code(start_server: StartServer) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "lifespan"
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "database unreachable"})

    run = await start_server(app)
    assert await run.exit_code() == 3
    assert run.server.listeners == []


async def test_lifespan_shutdown_runs_after_connections_are_gone(
    start_server: StartServer,
) -> None:
    order: list[str] = []
    gate = Gate()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            order.append("shutdown")
            await send({"type": "lifespan.shutdown.complete"})
            return
        await gate(scope, receive, send)
        order.append("response")

    run = await start_server(app)
    client = await run.open()
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await gate.entered.wait()
    run.server.drain()
    gate.release.set()
    await client.response()
    assert await run.exit_code() == 0
    assert order == ["response", "shutdown"]


async def open_accepted(run: Running, monkeypatch: pytest.MonkeyPatch) -> RawClient:
    """A connection the server has accepted and registered (so a drain sees it)."""
    accepted = asyncio.Event()
    add = ConnectionRegistry.add

    def add_and_tell(registry: ConnectionRegistry, connection: Drainable) -> None:
        add(registry, connection)
        accepted.set()

    monkeypatch.setattr(ConnectionRegistry, "add", add_and_tell)
    client = await run.open()
    async with asyncio.timeout(5.0):
        await accepted.wait()
    return client


async def test_fresh_connection_gets_its_first_request_answered(
    start_server: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that connected just before the drain and sends its first request
    a moment later gets it answered with Connection: close. It used to find the
    connection closed at once, its request sent and lost (the drill's
    ``lost:ConnectionLost`` in ~2 of 11 h1 runs)."""
    run = await start_server(hello, keep_alive_timeout=30.0)
    client = await open_accepted(run, monkeypatch)
    run.server.drain()
    await run.events.wait_for("connection_draining")
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, body = await client.response()
    assert status == b"HTTP/1.1 200 OK" and body == b"hello"
    assert headers[b"connection"] == b"close"
    assert await client.eof()
    assert await run.exit_code() == 0


async def test_fresh_connection_that_sends_nothing_is_closed_after_the_wait(
    start_server: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()  # the first-request wait runs on virtual time
    run = await start_server(
        hello, keep_alive_timeout=30.0, drain_first_request_timeout=5, clock=clock
    )
    client = await open_accepted(run, monkeypatch)
    run.server.drain()
    await run.events.wait_for("connection_draining")  # told to drain: the wait is armed
    start = clock.time()
    clock.advance(4)
    assert clock.next_deadline == start + 5  # not yet: a request may still come
    clock.advance(1)  # drain_first_request_timeout
    assert await client.eof()
    assert await run.exit_code() == 0
