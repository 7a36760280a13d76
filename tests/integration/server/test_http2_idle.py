"""HTTP/2 connections that sit idle, or never finish their preface, are bounded."""

from __future__ import annotations

import asyncio

from server_apps import hello
from server_harness import StartServer

from lastcall.testing import FakeClock, RawH2Client
from lastcall.testing.h2_raw_client import DATA, GOAWAY, PING

MAX_ID = 2**31 - 1


async def test_idle_connection_is_drained_with_goaway(start_server: StartServer) -> None:
    clock = FakeClock()  # the idle timeout runs on virtual time
    run = await start_server(hello, http2_idle_timeout=30, clock=clock)
    client = await RawH2Client.connect("127.0.0.1", run.port)
    sid = client.request("/")
    # Idle from here: the stream's task ended (and armed the idle deadline) in the
    # loop turn that wrote its last DATA, before that DATA could be read here.
    await client.read_until(DATA, stream_id=sid)
    clock.advance(30)  # no stream for 30 s: drained politely
    first = await client.read_until(GOAWAY)
    assert first.goaway == (MAX_ID, 0, b"idle")
    await client.read_until(PING)
    final = await client.read_until(GOAWAY)
    assert final.goaway[:2] == (sid, 0)
    await client.read_to_eof()  # then the server closes
    assert client.status(sid) == b"200"
    await run.events.wait_for("connection_closed", 1)


async def test_busy_connection_outlives_its_idle_timeout(start_server: StartServer) -> None:
    """Requests back to back across three idle periods of virtual time: a busy
    connection is never idle, whatever the host's speed."""
    clock = FakeClock()
    run = await start_server(hello, http2_idle_timeout=30, clock=clock)
    client = await RawH2Client.connect("127.0.0.1", run.port)
    for _ in range(9):
        sid = client.request("/")
        await client.read_until(DATA, stream_id=sid)
        clock.advance(10)  # a third of the idle timeout between requests
    assert not [f for f in client.frames if f.type == GOAWAY]
    clock.advance(30)  # and once idle for the whole timeout, it goes
    first = await client.read_until(GOAWAY)
    assert first.goaway[2] == b"idle"
    await client.aclose()


async def test_preface_without_settings_is_closed(start_server: StartServer) -> None:
    clock = FakeClock()
    run = await start_server(hello, request_head_timeout=20, clock=clock)
    reader, writer = await asyncio.open_connection("127.0.0.1", run.port)
    writer.write(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")  # the magic, then nothing
    head = await asyncio.wait_for(reader.readexactly(9), 5)  # our SETTINGS: the preface began
    assert head[3] == 0x4  # a SETTINGS frame came first
    clock.advance(20)  # request_head_timeout, on virtual time
    await asyncio.wait_for(reader.read(), 5)  # the rest of what it sent, then EOF
    assert reader.at_eof()
    writer.close()
