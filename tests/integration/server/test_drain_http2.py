"""The HTTP/2 drain contract (RFC 9113 §6.8) asserted frame by frame with a raw client."""

from __future__ import annotations

from server_apps import Gate, hello
from server_harness import StartServer

from lastcall.observe import events as oe
from lastcall.testing import RawH2Client
from lastcall.testing.clock import FakeClock
from lastcall.testing.h2_raw_client import (
    CANCEL,
    DATA,
    GOAWAY,
    HEADERS,
    PING,
    REFUSED_STREAM,
    RST_STREAM,
)

MAX_ID = 2**31 - 1


async def test_prior_knowledge_get_and_post(start_server: StartServer) -> None:
    run = await start_server(None)
    client = await RawH2Client.connect("127.0.0.1", run.port)
    sid = client.request("/")
    await client.read_until(DATA, stream_id=sid)
    assert client.status(sid) == b"200" and client.body(sid) == b"Hello from lastcall\n"
    sid = client.request("/echo", "POST", body=b"ping")
    frame = await client.read_until(DATA, stream_id=sid)
    assert frame.payload == b"ping"
    await client.aclose()


async def test_drain_frame_sequence_with_a_stream_in_flight(start_server: StartServer) -> None:
    gate = Gate()
    run = await start_server(gate)
    client = await RawH2Client.connect("127.0.0.1", run.port)
    sid = client.request("/")
    await gate.entered.wait()
    run.server.drain()
    first = await client.read_until(GOAWAY)
    assert first.goaway[:2] == (MAX_ID, 0)
    await client.read_until(PING)  # acknowledged by the client
    final = await client.read_until(GOAWAY)
    assert final.goaway[:2] == (sid, 0)
    # A stream that arrives after the final GOAWAY is refused, never processed.
    late = client.request("/late")
    refused = await client.read_until(RST_STREAM, stream_id=late)
    assert refused.error_code == REFUSED_STREAM
    gate.release.set()
    frames = await client.read_to_eof()
    assert client.status(sid) == b"200" and client.body(sid) == b"done"
    names = [f.name for f in frames]
    # GOAWAY(2^31-1) before the PING, and the accepted response's DATA before the close.
    assert names.index("GOAWAY") < names.index("PING")
    end = [f for f in frames if f.type == DATA and f.stream_id == sid and f.flags & 1]
    assert end, frames
    assert await run.exit_code() == 0
    assert len(gate.scopes) == 1  # the late stream never reached the app
    goaways = run.recorder.of_type(oe.GoAwaySent)
    assert [(g.last_processed_id, g.final) for g in goaways] == [(MAX_ID, False), (sid, True)]
    assert [r.stream_id for r in run.recorder.of_type(oe.StreamRefused)] == [late]


async def test_grace_expiry_cancels_streams(start_server: StartServer) -> None:
    """On virtual time: the grace period ends when the test moves the clock,
    after the drain's two GOAWAYs, however loaded the machine is."""
    gate = Gate()
    clock = FakeClock()
    run = await start_server(gate, graceful_timeout=30, clock=clock)
    client = await RawH2Client.connect("127.0.0.1", run.port)
    sid = client.request("/")
    await gate.entered.wait()
    run.server.drain()
    await run.events.wait_for(oe.GoAwaySent.name, 2)
    clock.advance(29.9)
    assert not run.recorder.of_type(oe.GraceExpired)
    clock.advance(0.1)
    assert len(run.recorder.of_type(oe.GraceExpired)) == 1
    frames = await client.read_to_eof()
    resets = [f for f in frames if f.type == RST_STREAM and f.stream_id == sid]
    assert resets and resets[0].error_code == CANCEL
    last_goaway = [f for f in frames if f.type == GOAWAY][-1]
    assert last_goaway.goaway[0] == sid
    assert frames.index(resets[0]) < frames.index(last_goaway)
    assert not any(f.type == HEADERS and f.stream_id == sid for f in frames)
    assert await run.exit_code() == 0
    await gate.finished.wait()
    assert gate.received[-1] == {"type": "http.disconnect"}
    assert [e.how for e in run.recorder.of_type(oe.RequestCancelled)] == ["rst_stream_cancel"]


async def test_idle_h2_connection_drains_at_once(start_server: StartServer) -> None:
    run = await start_server(hello)
    client = await RawH2Client.connect("127.0.0.1", run.port)
    sid = client.request("/")
    await client.read_until(DATA, stream_id=sid)
    run.server.drain()
    frames = await client.read_to_eof()
    goaways = [f.goaway[0] for f in frames if f.type == GOAWAY]
    assert goaways == [MAX_ID, sid]
    assert await run.exit_code() == 0
