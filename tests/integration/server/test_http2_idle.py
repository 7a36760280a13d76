"""HTTP/2 connections that sit idle, or never finish their preface, are bounded."""

from __future__ import annotations

import asyncio

from server_apps import hello
from server_harness import StartServer

from lastcall.testing import RawH2Client
from lastcall.testing.h2_raw_client import DATA, GOAWAY, PING

MAX_ID = 2**31 - 1


async def test_idle_connection_is_drained_with_goaway(start_server: StartServer) -> None:
    run = await start_server(hello, http2_idle_timeout=0.3)
    client = await RawH2Client.connect("127.0.0.1", run.port)
    sid = client.request("/")
    await client.read_until(DATA, stream_id=sid)
    first = await client.read_until(GOAWAY)  # no stream for 0.3 s: drained politely
    assert first.goaway == (MAX_ID, 0, b"idle")
    await client.read_until(PING)
    final = await client.read_until(GOAWAY)
    assert final.goaway[:2] == (sid, 0)
    await client.read_to_eof()  # then the server closes
    assert client.status(sid) == b"200"
    await run.events.wait_for("connection_closed", 1)


async def test_busy_connection_outlives_its_idle_timeout(start_server: StartServer) -> None:
    run = await start_server(hello, http2_idle_timeout=0.5)
    client = await RawH2Client.connect("127.0.0.1", run.port)
    loop = asyncio.get_running_loop()
    until = loop.time() + 1.2  # more than two idle periods, requests back to back
    served = 0
    while loop.time() < until and served < 100_000:
        sid = client.request("/")
        await client.read_until(DATA, stream_id=sid)
        served += 1
    assert not [f for f in client.frames if f.type == GOAWAY]
    first = await client.read_until(GOAWAY)  # and once idle, it goes
    assert first.goaway[2] == b"idle"
    await client.aclose()


async def test_preface_without_settings_is_closed(start_server: StartServer) -> None:
    run = await start_server(hello, request_head_timeout=0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", run.port)
    writer.write(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")  # the magic, then nothing
    data = await asyncio.wait_for(reader.read(), 5)  # our SETTINGS, then EOF
    assert data[3] == 0x4  # a SETTINGS frame came first
    writer.close()
