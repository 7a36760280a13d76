"""One connection drains by itself (max age, max requests), and a gradual server drain.

Over real sockets on 127.0.0.1. The ages and graces are the deadlines under
test; every wait is for a frame, a response or a drain event, bounded by the
harness. The age jitter is pinned (``state.unit_random``) where a test needs
the exact age; the jitter rule itself is tested in tests/unit/lifecycle.
"""

from __future__ import annotations

import asyncio
from typing import Any

from server_apps import ReasonApp
from server_harness import Running, StartServer

from lastcall.observe import events as oe
from lastcall.testing import RawH2Client
from lastcall.testing.clock import FakeClock
from lastcall.testing.h2_raw_client import DATA, GOAWAY, PING, RST_STREAM

MAX_ID = 2**31 - 1
CANCEL = 0x8


def no_jitter(run: Running) -> None:
    assert run.server.state is not None
    run.server.state.unit_random = lambda: 0.5  # the age exactly as configured


def draining_reasons(run: Running) -> list[str]:
    return [e.reason for e in run.recorder.of_type(oe.ConnectionDraining)]


# -- HTTP/2 ------------------------------------------------------------------------------


async def test_h2_max_age_drains_with_goaway_max_age(start_server: StartServer) -> None:
    app = ReasonApp()
    run = await start_server(app, max_connection_age=0.3)
    no_jitter(run)
    client = await RawH2Client.connect("127.0.0.1", run.port)
    sid = client.request("/wait-drain")
    first = await client.read_until(GOAWAY)
    assert first.goaway == (MAX_ID, 0, b"max_age")
    await client.read_until(PING)
    final = await client.read_until(GOAWAY)
    assert final.goaway == (sid, 0, b"max_age")
    await client.read_to_eof()
    assert client.status(sid) == b"200" and client.body(sid) == b"max_age"  # the app was told
    assert draining_reasons(run) == ["max_age"]
    assert [e.debug_data for e in run.recorder.of_type(oe.GoAwaySent)] == ["max_age"] * 2
    # Only that connection went: the server serves on.
    again = await RawH2Client.connect("127.0.0.1", run.port)
    ok = again.request("/")
    await again.read_until(DATA, stream_id=ok)
    assert not run.server.controller.is_draining
    await again.aclose()


async def test_h2_max_age_grace_cancels_what_is_left(start_server: StartServer) -> None:
    """On virtual time: the drain starts at the age, the cancel at the end of its grace."""
    app = ReasonApp()
    clock = FakeClock()
    run = await start_server(app, max_connection_age=60, max_connection_age_grace=5, clock=clock)
    no_jitter(run)
    client = await RawH2Client.connect("127.0.0.1", run.port)
    sid = client.request("/forever")
    await app.wait_for_waiting(1)
    clock.advance(59.999)
    assert draining_reasons(run) == []
    clock.advance(0.001)
    assert draining_reasons(run) == ["max_age"]
    assert (await client.read_until(GOAWAY)).goaway == (MAX_ID, 0, b"max_age")
    assert (await client.read_until(GOAWAY)).goaway == (sid, 0, b"max_age")
    clock.advance(4.999)
    assert not run.recorder.of_type(oe.ConnectionGraceExpired)
    clock.advance(0.001)
    reset = await client.read_until(RST_STREAM, stream_id=sid)
    assert reset.error_code == CANCEL  # as at the server's grace expiry
    last = await client.read_until(GOAWAY)
    assert last.goaway == (sid, 0, b"grace_expired")
    await client.read_to_eof()
    (expired,) = run.recorder.of_type(oe.ConnectionGraceExpired)
    assert expired.reason == "max_age" and expired.streams == 1
    assert [e.how for e in run.recorder.of_type(oe.RequestCancelled)] == ["rst_stream_cancel"]
    assert not run.server.controller.is_draining


async def test_h2_max_requests_drains_after_the_last_one(start_server: StartServer) -> None:
    run = await start_server(ReasonApp(), max_requests_per_connection=3)
    client = await RawH2Client.connect("127.0.0.1", run.port)
    sids = []
    for _ in range(2):
        sids.append(client.request("/"))
        await client.read_until(DATA, stream_id=sids[-1])
    assert not [f for f in client.frames if f.type == GOAWAY]
    sids.append(client.request("/"))  # the third and last
    first = await client.read_until(GOAWAY)
    assert first.goaway == (MAX_ID, 0, b"max_requests")
    final = await client.read_until(GOAWAY)
    assert final.goaway == (sids[-1], 0, b"max_requests")
    await client.read_to_eof()
    assert [client.status(s) for s in sids] == [b"200"] * 3
    assert draining_reasons(run) == ["max_requests"]


async def test_h2_streams_racing_the_first_goaway_are_still_served(
    start_server: StartServer,
) -> None:
    run = await start_server(ReasonApp(), max_requests_per_connection=2)
    client = await RawH2Client.connect("127.0.0.1", run.port)
    sids = [client.request("/") for _ in range(4)]  # one write: all sent before any GOAWAY
    await client.read_to_eof()
    assert [client.status(s) for s in sids] == [b"200"] * 4
    goaways = [f.goaway for f in client.frames if f.type == GOAWAY]
    assert goaways == [(MAX_ID, 0, b"max_requests"), (sids[-1], 0, b"max_requests")]
    assert draining_reasons(run) == ["max_requests"]


# -- HTTP/1.1 -------------------------------------------------------------------------------


async def test_h1_max_requests_last_response_carries_close(start_server: StartServer) -> None:
    run = await start_server(ReasonApp(), max_requests_per_connection=2)
    client = await run.open()
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    _, headers, body = await client.response()
    assert body == b"ok" and b"connection" not in headers
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    _, headers, body = await client.response()
    assert body == b"ok" and headers[b"connection"] == b"close"
    assert await client.eof()
    assert draining_reasons(run) == ["max_requests"]


async def test_h1_max_age_response_in_flight_carries_close(start_server: StartServer) -> None:
    run = await start_server(ReasonApp(), max_connection_age=0.2)
    client = await run.open()
    client.send(b"GET /wait-drain HTTP/1.1\r\nHost: x\r\n\r\n")
    _, headers, body = await client.response()
    assert body == b"max_age" and headers[b"connection"] == b"close"
    assert await client.eof()


async def test_h1_max_age_closes_an_idle_connection(start_server: StartServer) -> None:
    run = await start_server(ReasonApp(), max_connection_age=0.2)
    client = await run.open()
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    _, headers, _ = await client.response()
    assert b"connection" not in headers  # young: kept alive
    assert await client.eof()  # then closed at its age, idle
    await run.events.wait_for("connection_closed")
    assert draining_reasons(run) == ["max_age"]


async def test_server_drain_shortens_a_connections_own_grace(start_server: StartServer) -> None:
    app = ReasonApp()
    run = await start_server(app, max_connection_age=0.1, max_connection_age_grace=60)
    client = await RawH2Client.connect("127.0.0.1", run.port)
    sid = client.request("/forever")
    await client.read_until(GOAWAY)  # draining by age, 60 s of grace of its own
    run.server.drain(grace=0.1)  # the server's deadline is sooner and wins
    reset = await client.read_until(RST_STREAM, stream_id=sid)
    assert reset.error_code == CANCEL
    await client.read_to_eof()
    assert await run.exit_code() == 0
    assert run.recorder.of_type(oe.GraceExpired)
    assert not run.recorder.of_type(oe.ConnectionGraceExpired)


# -- gradual drain ----------------------------------------------------------------------------


async def test_gradual_drain_tells_connections_one_by_one_oldest_first(
    start_server: StartServer,
) -> None:
    """On virtual time: each connection is told exactly when its turn comes."""
    app = ReasonApp()
    clock = FakeClock()
    count, grace, fraction = 4, 2.0, 0.5  # one every 0.25 s
    run = await start_server(
        app,
        drain_strategy="gradual",
        graceful_timeout=grace,
        drain_spread_fraction=fraction,
        clock=clock,
    )
    clients = []
    for i in range(count):  # one at a time, so the accept order is known
        client = await RawH2Client.connect("127.0.0.1", run.port)
        client.request("/wait-drain")
        await app.wait_for_waiting(i + 1)
        clients.append(client)

    def told() -> list[int]:
        draining = run.recorder.of_type(oe.ConnectionDraining)
        return [int(e.connection.split("#")[1].split()[0]) for e in draining]

    run.server.drain()
    (scheduled,) = run.recorder.of_type(oe.GradualDrainScheduled)
    assert (scheduled.connections, scheduled.last_at - scheduled.at) == (count, 0.75)
    assert told() == [1]  # the oldest at once
    await clients[0].read_to_eof()
    assert clients[0].body(1) == b"drain"
    for turn in range(2, count + 1):
        clock.advance(0.249)
        assert told() == list(range(1, turn))  # not yet
        clock.advance(0.001)
        assert told() == list(range(1, turn + 1))
        await clients[turn - 1].read_to_eof()
        assert clients[turn - 1].body(1) == b"drain"
    assert await run.exit_code() == 0
    assert not run.recorder.of_type(oe.GraceExpired)  # all done long before the deadline


async def test_immediate_drain_tells_every_connection_in_one_step(
    start_server: StartServer,
) -> None:
    app = ReasonApp()
    run = await start_server(app, graceful_timeout=2.0)
    clients = []
    for i in range(3):
        client = await RawH2Client.connect("127.0.0.1", run.port)
        client.request("/wait-drain")
        await app.wait_for_waiting(i + 1)
        clients.append(client)
    loop = asyncio.get_running_loop()
    told: list[Any] = []
    run.server.observer.add_sink(
        lambda e: told.append(loop.time()) if isinstance(e, oe.ConnectionDraining) else None
    )
    handle_before = loop.time()
    run.server.drain()  # synchronous: every connection is told before it returns
    assert len(told) == 3 and all(t >= handle_before for t in told)
    assert not run.recorder.of_type(oe.GradualDrainScheduled)
    for client in clients:
        await client.read_to_eof()
    assert await run.exit_code() == 0
