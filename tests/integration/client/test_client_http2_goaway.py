"""GOAWAY done right, against a frame-level scripted server (RFC 9113 §6.8, §8.7).

The server opens with MAX_CONCURRENT_STREAMS=100, collects six requests on
connection 0, then sends GOAWAY(last id = the fourth stream), refuses the
second stream with REFUSED_STREAM, and only then answers the streams at or
below the last id. Every request must complete exactly once; the refused one
and the ones above the last id must be seen by connection 1 only.
"""

from __future__ import annotations

import asyncio

import pytest
from scripted_h2 import CANCEL, REFUSED_STREAM, ScriptedH2Server, ServerConn, serve_forever

import lastcall.client as lc
from lastcall.errors import ClientClosed, RequestCancelled, UnprocessedRequest


async def test_goaway_and_refused_streams_are_replayed_exactly_once() -> None:
    seen_on_first: list[str] = []

    async def first(conn: ServerConn) -> None:
        reqs = await conn.requests_until(6)
        ids = sorted(r.stream_id for r in reqs)
        assert ids == [1, 3, 5, 7, 9, 11]
        last = 7
        conn.goaway(last, debug=b"test_drain")
        conn.reset(3, REFUSED_STREAM)
        for req in sorted(reqs, key=lambda r: r.stream_id):
            if req.stream_id <= last and req.stream_id != 3:
                seen_on_first.append(req.path)
                # Answered only after the GOAWAY: streams <= last id run to completion.
                conn.respond(req.stream_id, f"0:{req.path}:".encode() + req.body)
        await conn.close()

    notices: list[lc.ClosingNotice] = []
    async with (
        ScriptedH2Server([first, serve_forever]) as server,
        lc.Client(http1=False, http2=True, on_notice=notices.append) as client,
    ):
        paths = [f"/r{i}" for i in range(6)]

        async def one(i: int, path: str) -> lc.Response:
            if i % 2:  # POSTs too: an unprocessed request is safe to replay, any method
                return await client.post(server.url + path, content=f"body{i}".encode())
            return await client.get(server.url + path)

        responses = await asyncio.gather(*(one(i, p) for i, p in enumerate(paths)))
        stats = client.stats

    assert [r.status_code for r in responses] == [200] * 6
    by_path = {r.request.url.target.decode(): r for r in responses}
    assert sorted(by_path) == sorted(paths)
    second_paths = [req.path for req in server.conns[1].requests.values()]
    assert len(seen_on_first) == 3
    assert sorted(seen_on_first + second_paths) == sorted(paths)  # exactly once overall
    assert not set(seen_on_first) & set(second_paths)
    for i, path in enumerate(paths):
        body = by_path[path].content
        conn_index = 0 if path in seen_on_first else 1
        expected = f"{conn_index}:{path}:".encode() + (f"body{i}".encode() if i % 2 else b"")
        assert body == expected
    assert stats.replays == 3
    assert stats.connections_opened == 2
    # The responses completed on connection 0 carry the GOAWAY notice.
    for path in seen_on_first:
        notice = by_path[path].closing.notice
        assert notice is not None
        assert (notice.last_processed_id, notice.error_code) == (7, 0)
        assert notice.debug_data == b"test_drain"
    remote = [n for n in notices if n.source == "remote"]
    assert len(remote) == 1 and remote[0].reason == "goaway"


async def test_connection_leaves_pool_at_once_on_goaway_and_answers_ping() -> None:
    server_has_two = asyncio.Event()

    async def first(conn: ServerConn) -> None:
        req = await conn.next_request()
        conn.ping(b"pingpong")
        await conn.wait_for(lambda c: bool(c.ping_acks))
        conn.goaway(req.stream_id)
        # Hold the response until the client has opened a second connection.
        await server_has_two.wait()
        conn.respond(req.stream_id, b"slow")
        await conn.close()

    async def second(conn: ServerConn) -> None:
        server_has_two.set()
        await serve_forever(conn)

    async with (
        ScriptedH2Server([first, second]) as server,
        lc.Client(http1=False, http2=True) as client,
    ):
        notices = client.notices()
        slow = asyncio.create_task(client.get(server.url + "/slow"))
        notice = await anext(notices)
        assert notice.last_processed_id == 1
        fast = await client.get(server.url + "/fast")
        assert fast.content == b"1:/fast:"
        response = await slow
        assert response.content == b"slow"
        assert response.closing.is_set()
    assert server.conns[0].ping_acks == [b"pingpong"]


async def test_streams_wait_for_head_then_goaway_completes_them() -> None:
    """The slow response is sent after GOAWAY while a new request goes elsewhere."""
    release = asyncio.Event()

    async def first(conn: ServerConn) -> None:
        req = await conn.next_request()
        conn.goaway(req.stream_id, debug=b"shutdown")
        await release.wait()
        conn.respond(req.stream_id, b"finished")
        await conn.close()

    async with (
        ScriptedH2Server([first, serve_forever]) as server,
        lc.Client(http1=False, http2=True) as client,
    ):
        slow = asyncio.create_task(client.get(server.url + "/slow"))
        notice = await anext(aiter(client.notices()))
        assert notice.last_processed_id == 1 and notice.debug_data == b"shutdown"
        other = await client.get(server.url + "/other")
        assert other.content == b"1:/other:"
        release.set()
        assert (await slow).content == b"finished"


async def test_aclose_drains_then_cancels_and_sends_goaway() -> None:
    got_goaway = asyncio.Event()

    async def script(conn: ServerConn) -> None:
        reqs = {r.path: r for r in await conn.requests_until(2)}
        await conn.wait_for(lambda c: bool(c.goaways))
        got_goaway.set()
        # One request finishes within the drain; the other never answers.
        conn.respond(reqs["/quick"].stream_id, b"done")
        await conn.wait_for(lambda c: bool(c.resets))

    async with ScriptedH2Server([script]) as server:
        client = lc.Client(http1=False, http2=True)
        quick = asyncio.create_task(client.get(server.url + "/quick"))
        stuck = asyncio.create_task(client.get(server.url + "/stuck"))
        conn0 = await _first_conn(server)
        await conn0.wait_for(lambda c: len(c.requests) == 2)
        await client.aclose(drain=0.5)
        assert (await quick).content == b"done"
        with pytest.raises(RequestCancelled):
            await stuck
        with pytest.raises(ClientClosed):
            await client.get(server.url + "/late")
        await conn0.wait_for(lambda c: bool(c.resets) or c.closed.is_set())
        assert got_goaway.is_set()
        assert conn0.goaways[0][0] == 0  # a client's GOAWAY: it accepts no pushed streams
        assert any(code == CANCEL for _, code in conn0.resets)
        assert client.stats.cancelled_by_drain == 1


async def _first_conn(server: ScriptedH2Server) -> ServerConn:
    await server.new_conn.wait()
    return server.conns[0]


async def test_one_shot_streamed_body_is_not_replayed() -> None:
    async def first(conn: ServerConn) -> None:
        req = await conn.next_request()
        conn.reset(req.stream_id, REFUSED_STREAM)
        await serve_forever(conn)

    async def body():  # type: ignore[no-untyped-def]
        yield b"once"

    async with (
        ScriptedH2Server([first]) as server,
        lc.Client(http1=False, http2=True) as client,
    ):
        with pytest.raises(UnprocessedRequest) as info:
            await client.post(server.url + "/up", stream=body())
        assert info.value.is_safe_to_retry  # the caller may resend it with a fresh body
        again = await client.post(server.url + "/up", stream=[b"re", b"play"])
        assert again.content == b"0:/up:replay"


async def test_max_requests_drains_our_own_connection_with_goaway() -> None:
    lifetime = lc.Lifetime(max_requests=4, jitter=0.0)
    notices: list[lc.ClosingNotice] = []
    async with (
        ScriptedH2Server([serve_forever]) as server,
        lc.Client(http1=False, http2=True, lifetime=lifetime, on_notice=notices.append) as client,
    ):
        for i in range(9):
            assert (await client.get(f"{server.url}/{i}")).status_code == 200
        await server.conns[0].wait_for(lambda c: c.closed.is_set())
    assert [len(c.requests) for c in server.conns] == [4, 4, 1]
    assert server.conns[0].goaways[0][2] == b"max_requests"
    assert [n.reason for n in notices][:2] == ["max_requests", "max_requests"]
    assert all(n.source == "local" for n in notices)


async def test_streams_are_limited_by_the_servers_max_concurrent_streams() -> None:
    """With one connection allowed, the 10 requests share it two at a time (SETTINGS)."""
    batches: list[list[int]] = []

    async def script(conn: ServerConn) -> None:
        while True:
            reqs = await conn.requests_until(2)
            # Both streams are open at once, and no third one arrived meanwhile.
            assert len([r for r in conn.requests.values() if r.complete]) == 2 * (len(batches) + 1)
            batches.append([r.stream_id for r in reqs])
            for req in reqs:
                conn.respond(req.stream_id, b"x")

    limits = lc.Limits(max_connections=1)
    async with (
        ScriptedH2Server([script], max_concurrent_streams=2) as server,
        lc.Client(http1=False, http2=True, limits=limits) as client,
    ):
        responses = await asyncio.gather(*(client.get(f"{server.url}/{i}") for i in range(10)))
    assert all(r.content == b"x" for r in responses)
    assert len(batches) == 5
    assert len(server.conns) == 1


async def test_retired_connection_closes_once_its_last_response_is_abandoned() -> None:
    """Issue 10, bug 2: ``max_requests`` drained the connection (our GOAWAY) while
    its last response was still arriving; the application abandons that response
    (RST_STREAM(CANCEL)). Nothing is left, so the connection must close at once,
    without waiting for the server to send anything more: the server here sends
    nothing after the first chunk and only watches the socket."""

    async def script(conn: ServerConn) -> None:
        req = await conn.next_request()
        conn.respond(req.stream_id, b"first chunk", end=False)

    lifetime = lc.Lifetime(max_requests=1, jitter=0.0)
    async with (
        ScriptedH2Server([script]) as server,
        lc.Client(http1=False, http2=True, lifetime=lifetime) as client,
    ):
        async with asyncio.timeout(5):
            async with client.stream("GET", server.url + "/endless") as response:
                assert await anext(response.aiter_raw()) == b"first chunk"
            conn0 = server.conns[0]
            await conn0.closed.wait()
        assert conn0.goaways[0][2] == b"max_requests"
        assert conn0.resets == [(1, CANCEL)]
