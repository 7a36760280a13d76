"""The client over HTTP/1.1 (h11) against a scripted server on 127.0.0.1."""

from __future__ import annotations

import asyncio

import pytest
from scripted_h1 import H1Conn, ScriptedH1Server, echo_forever

import lastcall.client as lc
from lastcall.errors import (
    ClientClosed,
    ConnectError,
    ConnectionLost,
    PoolTimeout,
    ReadTimeout,
    RequestCancelled,
)


async def test_keep_alive_reuses_one_connection() -> None:
    async with ScriptedH1Server([echo_forever]) as server, lc.Client() as client:
        for i in range(5):
            r = await client.get(f"{server.url}/a{i}?q=1")
            assert r.status_code == 200
            assert r.http_version == "HTTP/1.1"
            assert r.content == f"0:GET /a{i}?q=1:".encode()
            assert r.headers["Content-Length"] == str(len(r.content))
        assert client.stats.connections_opened == 1
        assert len(server.conns) == 1


async def test_concurrency_is_bounded_by_max_connections() -> None:
    limits = lc.Limits(max_connections=3)
    async with ScriptedH1Server([echo_forever]) as server, lc.Client(limits=limits) as client:
        responses = await asyncio.gather(*(client.get(f"{server.url}/{i}") for i in range(30)))
        assert all(r.status_code == 200 for r in responses)
        assert client.stats.connections_opened == 3


async def test_streaming_request_and_response_bodies() -> None:
    async def script(conn: H1Conn) -> None:
        req = await conn.read_request()
        assert req is not None and req.headers["transfer-encoding"] == "chunked"
        body = req.body * 1000
        conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for i in range(0, len(body), 4096):
            piece = body[i : i + 4096]
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        conn.send(b"0\r\n\r\n")
        await echo_forever(conn)

    async def chunks():  # type: ignore[no-untyped-def]
        for part in (b"ab", b"cd", b"ef"):
            yield part

    async with ScriptedH1Server([script]) as server, lc.Client() as client:
        async with client.stream("PUT", server.url + "/up", stream=chunks()) as r:
            got = [c async for c in r.aiter_bytes()]
        assert b"".join(got) == b"abcdef" * 1000
        # Reading to the end returned the connection to the pool.
        again = await client.get(server.url + "/again")
        assert again.content == b"0:GET /again:"
        assert client.stats.connections_opened == 1


async def test_connection_close_ends_reuse_and_is_a_notice() -> None:
    async def closing(conn: H1Conn) -> None:
        await conn.read_request()
        conn.respond(b"bye", close=True)

    notices: list[lc.ClosingNotice] = []
    async with (
        ScriptedH1Server([closing, echo_forever]) as server,
        lc.Client(on_notice=notices.append) as client,
    ):
        first = await client.get(server.url + "/1")
        assert first.content == b"bye"
        assert first.closing.is_set()
        assert first.closing.notice is not None
        assert first.closing.notice.reason == "connection_close"
        second = await client.get(server.url + "/2")
        assert second.content == b"1:GET /2:"
        assert client.stats.connections_opened == 2
        assert [n.reason for n in notices] == ["connection_close"]


async def test_idle_race_is_retried_for_idempotent_methods_only() -> None:
    # Connection 0 answers once, then closes without a word when the next request
    # arrives (as if its keep-alive timer fired just then).
    async def answer_once_then_drop(conn: H1Conn) -> None:
        req = await conn.read_request()
        assert req is not None
        conn.respond(b"first")
        await conn.read_request()
        conn.writer.transport.abort()

    async with (
        ScriptedH1Server([answer_once_then_drop, echo_forever]) as server,
        lc.Client() as client,
    ):
        assert (await client.get(server.url + "/a")).content == b"first"
        retried = await client.get(server.url + "/b")
        assert retried.content == b"1:GET /b:"
        assert client.stats.stale_retries == 1
    # The same race under a POST: it may have been processed, so it is not retried.
    async with (
        ScriptedH1Server([answer_once_then_drop, echo_forever]) as server,
        lc.Client() as client,
    ):
        assert (await client.get(server.url + "/a")).content == b"first"
        with pytest.raises(ConnectionLost) as info:
            await client.post(server.url + "/pay", content=b"money")
        assert not info.value.is_safe_to_retry
        assert client.stats.stale_retries == 0


async def test_read_timeout_is_named() -> None:
    silent = asyncio.Event()

    async def never_answers(conn: H1Conn) -> None:
        await conn.read_request()
        await silent.wait()

    async with ScriptedH1Server([never_answers]) as server, lc.Client() as client:
        with pytest.raises(ReadTimeout, match="no response bytes"):
            await client.get(server.url + "/", timeout=lc.Timeouts(read=0.05))


async def test_pool_timeout_when_the_only_connection_is_busy() -> None:
    release = asyncio.Event()
    arrived = asyncio.Event()

    async def slow(conn: H1Conn) -> None:
        await conn.read_request()
        arrived.set()
        await release.wait()
        conn.respond(b"late")

    limits = lc.Limits(max_connections=1)
    async with ScriptedH1Server([slow]) as server, lc.Client(limits=limits) as client:
        first = asyncio.create_task(client.get(server.url + "/1"))
        await arrived.wait()
        with pytest.raises(PoolTimeout):
            await client.get(server.url + "/2", timeout=lc.Timeouts(pool=0.05))
        release.set()
        assert (await first).content == b"late"


async def test_connect_error_is_safe_to_retry() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    async with lc.Client() as client:
        with pytest.raises(ConnectError) as info:
            await client.get(f"http://127.0.0.1:{port}/")
        assert info.value.is_safe_to_retry


async def test_aclose_drains_in_flight_then_cancels() -> None:
    release_quick = asyncio.Event()
    both_arrived = asyncio.Event()
    arrived: list[str] = []

    async def script(conn: H1Conn) -> None:
        req = await conn.read_request()
        assert req is not None
        arrived.append(req.target)
        if len(arrived) == 2:
            both_arrived.set()
        if req.target == "/quick":
            await release_quick.wait()
            conn.respond(b"quick")
        await conn.read_request()  # /stuck is never answered

    async with ScriptedH1Server([script]) as server:
        client = lc.Client(limits=lc.Limits(max_connections=2))
        quick = asyncio.create_task(client.get(server.url + "/quick"))
        stuck = asyncio.create_task(client.get(server.url + "/stuck"))
        await both_arrived.wait()
        notices = client.notices()
        closing = asyncio.create_task(client.aclose(drain=0.3))
        assert (await anext(notices)).reason == "client_close"
        with pytest.raises(ClientClosed):
            await client.get(server.url + "/new")
        release_quick.set()
        assert (await quick).content == b"quick"
        with pytest.raises(RequestCancelled):
            await stuck
        await closing
        assert client.stats.cancelled_by_drain == 1


async def test_drain_default_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LASTCALL_CLIENT_DRAIN", "2.5")
    assert lc.Client().config.drain_timeout == 2.5
    assert lc.Client(drain=0.1).config.drain_timeout == 0.1
    monkeypatch.delenv("LASTCALL_CLIENT_DRAIN")
    assert lc.Client().config.drain_timeout == 1.0


async def test_max_requests_sends_connection_close_on_the_last_one() -> None:
    lifetime = lc.Lifetime(max_requests=3, jitter=0.0)
    notices: list[lc.ClosingNotice] = []
    async with (
        ScriptedH1Server([echo_forever]) as server,
        lc.Client(lifetime=lifetime, on_notice=notices.append) as client,
    ):
        for i in range(7):
            assert (await client.get(f"{server.url}/{i}")).status_code == 200
        assert client.stats.connections_opened == 3
        closes = [r.headers.get("connection") for c in server.conns for r in c.requests]
        assert closes == [None, None, "close"] * 2 + [None]
        assert [n.reason for n in notices] == ["max_requests", "max_requests"]


async def test_pool_waiters_are_served_in_order_not_starved() -> None:
    # One connection, one caller looping as fast as it can, one caller waiting:
    # the waiter must get the connection next, not after the loop is done.
    limits = lc.Limits(max_connections=1)
    async with ScriptedH1Server([echo_forever]) as server, lc.Client(limits=limits) as client:
        order: list[str] = []
        first_in_flight = asyncio.Event()

        async def looping() -> None:
            for i in range(30):
                request = client.get(f"{server.url}/loop{i}")
                if i == 0:
                    first_in_flight.set()
                response = await request
                await response.aread()
                order.append(f"loop{i}")

        async def waiting() -> None:
            await first_in_flight.wait()
            response = await client.get(f"{server.url}/waiter")
            await response.aread()
            order.append("waiter")

        await asyncio.gather(looping(), waiting())
        assert order.index("waiter") <= 2, order


async def _burst(client: lc.Client, url: str, n: int) -> None:
    """``n`` requests at once: with a server that answers at once, ``n`` connections."""
    responses = await asyncio.gather(*(client.get(f"{url}/burst{i}") for i in range(n)))
    assert all(r.status_code == 200 for r in responses)


async def test_idle_connections_are_reused_newest_first() -> None:
    # Rule 3 of pool.decide, also on the pool's fast path for HTTP/1.1 origins:
    # the most recently used idle connection, so the others age out.
    async with ScriptedH1Server([echo_forever]) as server, lc.Client() as client:
        await _burst(client, server.url, 3)
        assert client.stats.connections_opened == 3
        served = set()
        for i in range(6):
            r = await client.get(f"{server.url}/seq{i}")
            served.add(r.content.split(b":")[0])
        assert len(served) == 1
        assert client.stats.connections_opened == 3


async def test_expired_idle_connections_are_closed_not_reused() -> None:
    limits = lc.Limits(keepalive_expiry=0.0)
    async with ScriptedH1Server([echo_forever]) as server, lc.Client(limits=limits) as client:
        for i in range(3):
            r = await client.get(f"{server.url}/{i}")
            assert r.content.startswith(b"%d:" % i)
        assert client.stats.connections_opened == 3
        assert len(client.pool.connections()) == 1


async def test_idle_connections_beyond_max_keepalive_are_closed() -> None:
    limits = lc.Limits(max_connections=3, max_keepalive_connections=1)
    async with ScriptedH1Server([echo_forever]) as server, lc.Client(limits=limits) as client:
        await _burst(client, server.url, 3)
        r = await client.get(f"{server.url}/after")
        assert r.status_code == 200
        assert client.stats.connections_opened == 3
        assert len(client.pool.connections()) == 1
