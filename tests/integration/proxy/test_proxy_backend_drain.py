"""A backend drains or fails: what it never processed is retried, nothing reaches the client as an error.

The backends here are frame-level scripts (``scripted_h2.py``), so GOAWAY ids and
RST_STREAM codes are exactly the ones each test names.
"""

from __future__ import annotations

import asyncio
import socket

import pytest
from proxy_harness import Stack
from scripted_h2 import CANCEL, REFUSED_STREAM, ScriptedH2Server, ServerConn, serve_forever

from lastcall import Client
from lastcall.observe import events as oe
from lastcall.proxy import (
    BudgetSettings,
    ProxyConfig,
    RouteConfig,
    UpstreamConfig,
    simple_proxy_config,
)

INTERNAL_ERROR = 0x2


def _h2c(server: ScriptedH2Server) -> str:
    return server.url.replace("http://", "h2c://")


async def _refuse_all(conn: ServerConn) -> None:
    while True:
        req = await conn.next_request()
        conn.reset(req.stream_id, REFUSED_STREAM)


async def _refuse_first(conn: ServerConn) -> None:
    req = await conn.next_request()
    conn.reset(req.stream_id, REFUSED_STREAM)
    await serve_forever(conn)


async def test_refused_streams_are_retried_post_included(stack: Stack) -> None:
    async with ScriptedH2Server([_refuse_first]) as backend:
        proxy, _ = await stack.proxy(simple_proxy_config([_h2c(backend)]))
        async with Client() as client:
            response = await client.post(f"http://127.0.0.1:{proxy.port}/p", content=b"once")
        assert response.status_code == 200
        assert response.content == b"0:/p:once"
        assert sorted(backend.conns[0].requests) == [1, 3]
    retries = proxy.recorder.of_type(oe.UpstreamRetry)
    assert [r.reason for r in retries] == ["refused"]
    assert proxy.recorder.of_type(oe.UpstreamRequest)[-1].retries == 1


async def test_goaway_unprocessed_streams_move_promised_ones_finish(stack: Stack) -> None:
    async def goaway_after_two(conn: ServerConn) -> None:
        first, second = await conn.requests_until(2)
        low, _ = sorted((first, second), key=lambda r: r.stream_id)
        conn.goaway(low.stream_id, debug=b"shutdown")
        conn.respond(low.stream_id, b"promised")

    async with ScriptedH2Server([goaway_after_two, serve_forever]) as backend:
        proxy, _ = await stack.proxy(simple_proxy_config([_h2c(backend)]))
        async with Client(http2=True, http1=False) as client:
            url = f"http://127.0.0.1:{proxy.port}"
            a, b = await asyncio.gather(
                client.post(url + "/a", content=b"x"), client.post(url + "/b", content=b"y")
            )
        bodies = sorted([a.content, b.content])
        assert a.status_code == b.status_code == 200
        assert b"promised" in bodies and any(body.startswith(b"1:/") for body in bodies)
        assert len(backend.conns) == 2
    goaways = proxy.recorder.of_type(oe.UpstreamGoAway)
    assert goaways and goaways[0].last_processed_id == 1 and goaways[0].http_version == "HTTP/2"
    assert [r.reason for r in proxy.recorder.of_type(oe.UpstreamRetry)] == ["refused"]


async def test_refused_connections_eject_and_retry_elsewhere(stack: Stack) -> None:
    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    live = await stack.backend()
    group = UpstreamConfig(
        "g", (f"http://127.0.0.1:{dead}", f"http://127.0.0.1:{live.port}"), balancer="round_robin"
    )
    proxy, _ = await stack.proxy(ProxyConfig({"g": group}, (RouteConfig("g"),)))
    async with Client() as client:
        for _ in range(6):
            response = await client.post(f"http://127.0.0.1:{proxy.port}/x", content=b"body")
            assert response.status_code == 200
    ejected = proxy.recorder.of_type(oe.BackendEjected)
    assert [(e.backend, e.reason) for e in ejected] == [
        (f"http://127.0.0.1:{dead}", "connect_failed")
    ]
    # Ejected: no more attempts on it, so exactly one retry in all.
    assert [r.reason for r in proxy.recorder.of_type(oe.UpstreamRetry)] == ["connect_failed"]


async def test_maybe_processed_requests_are_retried_only_when_idempotent(stack: Stack) -> None:
    async def reset_first(conn: ServerConn) -> None:
        req = await conn.next_request()
        conn.reset(req.stream_id, INTERNAL_ERROR)
        await serve_forever(conn)

    async with ScriptedH2Server([reset_first]) as backend:
        proxy, _ = await stack.proxy(simple_proxy_config([_h2c(backend)]))
        async with Client() as client:
            post = await client.post(f"http://127.0.0.1:{proxy.port}/p", content=b"x")
            assert post.status_code == 502  # may have been processed: never sent twice
        assert len(backend.conns[0].requests) == 1
    async with ScriptedH2Server([reset_first]) as backend:
        proxy, _ = await stack.proxy(simple_proxy_config([_h2c(backend)]))
        async with Client() as client:
            get = await client.get(f"http://127.0.0.1:{proxy.port}/g")
            assert get.status_code == 200 and get.content == b"0:/g:"
        assert [r.reason for r in proxy.recorder.of_type(oe.UpstreamRetry)] == ["reset"]


async def test_retry_budget_bounds_maybe_processed_retries_only(stack: Stack) -> None:
    async def reset_all(conn: ServerConn) -> None:
        while True:
            req = await conn.next_request()
            conn.reset(req.stream_id, INTERNAL_ERROR)

    async with ScriptedH2Server([_refuse_first, reset_all]) as backend:
        group = UpstreamConfig(
            "g",
            (_h2c(backend),),
            retry_budget=BudgetSettings(budget_percent=0, min_retry_concurrency=0),
        )
        proxy, _ = await stack.proxy(ProxyConfig({"g": group}, (RouteConfig("g"),)))
        async with Client() as client:
            refused = await client.get(f"http://127.0.0.1:{proxy.port}/a")  # not processed: retried
            assert refused.status_code == 200
            await backend.conns[0].close()
            reset = await client.get(f"http://127.0.0.1:{proxy.port}/b")  # maybe processed: budget
            assert reset.status_code == 503
    assert [e.reason for e in proxy.recorder.of_type(oe.RetryBudgetExhausted)] == ["reset"]


async def test_downstream_reset_cancels_the_upstream_stream(stack: Stack) -> None:
    arrived = asyncio.Event()

    async def hold(conn: ServerConn) -> None:
        await conn.next_request()  # never answered
        arrived.set()
        await conn.wait_for(lambda c: bool(c.resets))

    async with ScriptedH2Server([hold]) as backend:
        proxy, _ = await stack.proxy(simple_proxy_config([_h2c(backend)]))
        async with Client(http2=True, http1=False) as client:
            task = asyncio.create_task(client.get(f"http://127.0.0.1:{proxy.port}/hold"))
            await arrived.wait()
            task.cancel()  # the client resets its stream (RST_STREAM(CANCEL))
            await asyncio.wait({task})
            conn = backend.conns[0]
            async with asyncio.timeout(10):
                await conn.wait_for(lambda c: bool(c.resets))
        assert conn.resets == [(1, CANCEL)]


async def test_client_gone_mid_body_cancels_upstream_quietly(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    """The downstream resets its stream while the request body streams: the upstream
    stream is reset with CANCEL and nothing is logged as an application error."""
    from lastcall.testing.h2_raw_client import RST_STREAM, RawH2Client

    async with ScriptedH2Server([serve_forever]) as backend:
        proxy, _ = await stack.proxy(simple_proxy_config([_h2c(backend)]))
        client = await RawH2Client.connect("127.0.0.1", proxy.port)
        try:
            sid = client.request("/up", "POST", body=b"first", open_ended=True)
            await backend.new_conn.wait()
            conn = backend.conns[0]
            async with asyncio.timeout(10):
                await conn.wait_for(lambda c: bool(c.requests) and c.requests[1].body == b"first")
            client.send_frame(RST_STREAM, 0, sid, CANCEL.to_bytes(4, "big"))
            async with asyncio.timeout(10):
                await conn.wait_for(lambda c: bool(c.resets))
            assert conn.resets == [(1, CANCEL)]
        finally:
            await client.aclose()
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_refused_by_every_attempt_is_refused_downstream(stack: Stack) -> None:
    """Processed nowhere: an HTTP/2 client gets REFUSED_STREAM (it may send it
    again, POST included), never a response; HTTP/1.1 has no such signal: 502."""
    from lastcall.testing.h2_raw_client import HEADERS, RST_STREAM, RawH2Client

    async with ScriptedH2Server([_refuse_all]) as backend:
        proxy, _ = await stack.proxy(simple_proxy_config([_h2c(backend)]))
        client = await RawH2Client.connect("127.0.0.1", proxy.port)
        try:
            sid = client.request("/p", "POST", body=b"once")
            reset = await client.read_until(RST_STREAM, stream_id=sid)
            assert reset.error_code == REFUSED_STREAM
            assert not [f for f in client.frames if f.type == HEADERS and f.stream_id == sid]
        finally:
            await client.aclose()
        tries = len(backend.conns[0].requests)
        assert tries > 1  # retried (refused: any method) before giving up
        async with Client() as h1:
            response = await h1.post(f"http://127.0.0.1:{proxy.port}/p", content=b"once")
        assert response.status_code == 502
    assert {r.reason for r in proxy.recorder.of_type(oe.UpstreamRetry)} == {"refused"}
