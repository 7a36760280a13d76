"""WebSocket limits against a hostile peer (issue 15 items 3, 4, 5, 7), over 127.0.0.1.

Each test runs ``lastcall serve`` (the demo app echoes WebSocket messages) as
a subprocess, attacks it from one connection while a bystander makes a
request every 20 ms on another, and asserts the bound: the attacker is cut
off, the server grows by less than a stated amount, the bystander sees no
failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from attack_harness import (
    DEADLINE,
    OP_BINARY,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    close_codes,
    count_frames,
    measured,
    read_to_eof,
    send_until_cut,
    serve,
    ws_frame,
    ws_open,
)

from lastcall.testing import RawH2Client
from lastcall.testing.h2_raw_client import DATA, END_STREAM, HEADERS

MiB = 1024 * 1024


async def test_oversized_frame_input_is_discarded_after_close_1009() -> None:
    """Item 3: past ``ws_max_message_size`` the server sends Close 1009 and from
    then on discards what arrives, unparsed. Before, it kept feeding wsproto
    through the lingering close and appended every byte to the message: a
    peer streaming one endless frame grew the server by link speed x
    ``lingering_close_timeout`` (a long one here, so the test sees it)."""
    env = {"LASTCALL_WS_MAX_MESSAGE_SIZE": str(MiB), "LASTCALL_LINGERING_CLOSE_TIMEOUT": "20"}
    async with serve(env=env) as server, measured(server) as cost:
        reader, writer = await ws_open(server.port)
        total = 96 * MiB

        async def endless_frame() -> AsyncIterator[bytes]:
            yield ws_frame(OP_BINARY, length=1 << 40)
            chunk = bytes(MiB)
            for _ in range(total // MiB):
                yield chunk

        await send_until_cut(writer, endless_frame())
        if writer.can_write_eof():
            writer.write_eof()
        received = await read_to_eof(reader)
        writer.close()
    print(cost[0])
    assert close_codes(received) == [1009]
    assert cost[0].growth_kib < 16 * 1024, cost[0]
    assert not cost[0].bystander.failures


async def test_continuation_without_a_message_is_failed_with_1002() -> None:
    """Item 7: a continuation frame with no message started is a protocol error
    (RFC 6455 §5.4): the server sends Close 1002 and stops reading. Before, it
    took wsproto's report for the peer's own Close, sent nothing, half-closed,
    and when the app then returned its Close 1000 was written after
    ``write_eof()``: ``RuntimeError`` in a task nobody awaited (uvloop reports
    ``is_closing()`` False after ``write_eof``, so the write guard missed it)."""
    async with serve() as server:
        reader, writer = await ws_open(server.port)
        writer.write(ws_frame(OP_CONTINUATION, b"no message started"))
        received = await read_to_eof(reader)
        writer.close()
        assert close_codes(received) == [1002]
        await server.stop()
    assert not [line for line in server.log if "Error" in line or "exception" in line], server.log


def _ping_flood(count: int) -> list[bytes]:
    ping = ws_frame(OP_PING, b"p" * 125)
    return [ping * 1000] * (count // 1000)


async def test_ping_flood_is_cut_by_the_control_frame_budget() -> None:
    """Item 4: PINGs are answered within a budget (burst 200, then 20/s); past
    it the peer gets Close 1008. Before, every PING was answered, forever."""
    async with serve() as server, measured(server) as cost:
        reader, writer = await ws_open(server.port)
        await send_until_cut(writer, _ping_flood(2000))
        received = await read_to_eof(reader)
        writer.close()
    assert close_codes(received) == [1008]
    pongs = count_frames(received, OP_PONG)
    assert 200 <= pongs <= 260, pongs  # the burst, and what refilled meanwhile
    assert not cost[0].bystander.failures


async def test_ping_flood_from_a_peer_that_never_reads_is_held_back() -> None:
    """Item 4: with the budget out of the way, a peer that sends PINGs and never
    reads meets backpressure: while our write buffer is full we stop reading and
    answer only the latest PING later. Before, the PONGs piled up in the write
    buffer (+26 MiB for 26 MB of PINGs, growing with every one)."""
    env = {"LASTCALL_WS_CONTROL_FRAME_BURST": "100000000", "LASTCALL_SEND_TIMEOUT": "1"}
    async with serve(env=env) as server, measured(server) as cost:
        reader, writer = await ws_open(server.port, rcvbuf=4096)
        # The attacker gives up once the server stops taking its bytes.
        taken = await send_until_cut(writer, _ping_flood(200_000), stall=2.0)
        # send_timeout after the server's writes stopped moving it gives
        # up on the connection (no Close could reach the peer): a reset.
        await server.wait_for_log("send_stalled")
        with pytest.raises(ConnectionResetError):
            await read_to_eof(reader, reset_ok=False)
        writer.transport.abort()
    print(cost[0], taken)
    assert taken < 200_000 * 131, "the server kept reading PINGs it could not answer"
    assert cost[0].growth_kib < 8 * 1024, cost[0]
    assert not cost[0].bystander.failures


async def test_empty_fragment_flood_is_cut_at_the_fragment_limit() -> None:
    """Item 5: a message may span ``ws_max_message_fragments`` frames, empty ones
    included; past it: Close 1009. Before, empty continuation frames never added
    to the message's size and could go on forever."""
    async with serve() as server, measured(server) as cost:
        reader, writer = await ws_open(server.port)
        empty = ws_frame(OP_CONTINUATION, fin=False)
        flood = [ws_frame(OP_TEXT, b"x", fin=False)] + [empty * 10_000] * 10
        await send_until_cut(writer, flood)
        if writer.can_write_eof():
            writer.write_eof()
        received = await read_to_eof(reader)
        writer.close()
    assert close_codes(received) == [1009]
    assert not cost[0].bystander.failures


async def test_ping_flood_over_http2_is_cut_by_the_control_frame_budget() -> None:
    """The same budget on an RFC 8441 WebSocket: Close 1008, then END_STREAM."""
    async with serve() as server, measured(server) as cost:
        client = await RawH2Client.connect("127.0.0.1", server.port)
        sid = client.request(
            "/ws",
            "CONNECT",
            extra=[(":protocol", "websocket"), ("sec-websocket-version", "13")],
            open_ended=True,
        )
        head = await client.read_until(HEADERS, stream_id=sid)
        assert dict(head.headers)[b":status"] == b"200"
        ping = ws_frame(OP_PING, b"p" * 125)
        for _ in range(30):
            client.send_frame(DATA, 0, sid, ping * 100)
        received = bytearray()
        async with asyncio.timeout(DEADLINE):
            while True:
                frame = await client.read_until(DATA, stream_id=sid)
                received += frame.payload
                if frame.flags & END_STREAM:
                    break
        await client.aclose()
    assert close_codes(bytes(received)) == [1008]
    assert not cost[0].bystander.failures
