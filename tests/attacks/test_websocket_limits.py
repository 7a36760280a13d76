"""WebSocket limits against a hostile peer (issue 15 items 3, 4, 5, 7), over 127.0.0.1.

Each test runs ``lastcall serve`` (the demo app echoes WebSocket messages) as
a subprocess, attacks it from one connection while a bystander makes a
request every 20 ms on another, and asserts the bound: the attacker is cut
off, the server's peak memory grows by less than a stated amount, the
bystander sees no failure.
"""

from __future__ import annotations

import asyncio
import socket
import time

from attack_kit import (
    OP_BINARY,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    WAIT_TIMEOUT,
    Bystander,
    MiB,
    attacker,
    close_codes,
    count_frames,
    pieces,
    push,
    read_all,
    repeat,
    served,
    ws_frame,
    ws_handshake,
)

from lastcall.testing import RawH2Client
from lastcall.testing.h2_raw_client import DATA, END_STREAM, HEADERS

PING = ws_frame(OP_PING, b"p" * 125)


async def test_oversized_frame_input_is_discarded_after_close_1009() -> None:
    """Item 3: past ``ws_max_message_size`` the server sends Close 1009 and from
    then on discards what arrives, unparsed. Before, it kept feeding wsproto
    through the lingering close and appended every byte to the message: a
    peer streaming one endless frame grew the server by link speed x
    ``lingering_close_timeout`` (a long one here, so the test sees it: +85 MiB)."""
    flags = ("--ws-max-size", str(MiB), "--lingering-close-timeout", "20")
    async with (
        served(*flags) as server,
        Bystander(server.port) as bystander,
        attacker(server.port) as sock,
    ):
        await ws_handshake(sock)
        server.reset_peak()
        rss_before = server.rss_bytes()
        endless = pieces(ws_frame(OP_BINARY, length=1 << 40), *[bytes(MiB)] * 96)
        await push(sock, endless, cap=97 * MiB, stall_timeout=5.0, until_answered=False)
        sock.shutdown(socket.SHUT_WR)  # our side is done: the lingering close may end
        received = await read_all(sock)
        growth = server.peak_rss_bytes() - rss_before
    assert close_codes(received) == [1009]
    assert growth < 16 * MiB, f"peak RSS grew {growth / MiB:.1f} MiB"
    assert not bystander.failures, bystander.failures


async def test_continuation_without_a_message_is_failed_with_1002() -> None:
    """Item 7: a continuation frame with no message started is a protocol error
    (RFC 6455 §5.4): the server sends Close 1002 and stops reading. Before, it
    took wsproto's report for the peer's own Close, sent nothing, half-closed,
    and when the app then returned its Close 1000 was written after
    ``write_eof()``: ``RuntimeError`` in a task nobody awaited (uvloop reports
    ``is_closing()`` False after ``write_eof``, so the write guard missed it)."""
    async with served() as server:
        async with attacker(server.port) as sock:
            await ws_handshake(sock)
            await asyncio.get_running_loop().sock_sendall(
                sock, ws_frame(OP_CONTINUATION, b"no message started")
            )
            received = await read_all(sock)
        assert close_codes(received) == [1002]
    # served() has stopped the server and read all of its log.
    assert not [line for line in server.log if "Error" in line or "exception" in line], server.log


async def test_ping_flood_is_cut_by_the_control_frame_budget() -> None:
    """Item 4: PINGs are answered within a budget (burst 200, then 20/s); past
    it the peer gets Close 1008. Before, every PING was answered, forever."""
    async with (
        served() as server,
        Bystander(server.port) as bystander,
        attacker(server.port) as sock,
    ):
        await ws_handshake(sock)
        started = time.monotonic()
        flood = pieces(*[PING * 100] * 20)
        await push(sock, flood, cap=2000 * len(PING), stall_timeout=5.0, until_answered=False)
        received = await read_all(sock)
        elapsed = time.monotonic() - started
    assert close_codes(received) == [1008]
    pongs = count_frames(received, OP_PONG)
    # The burst, and what refilled (20/s) while a loaded host read the flood.
    assert 200 <= pongs <= 201 + 20 * elapsed, (pongs, elapsed)
    assert not bystander.failures, bystander.failures


async def test_ping_flood_from_a_peer_that_never_reads_is_held_back() -> None:
    """Item 4: with the budget out of the way, a peer that sends PINGs and never
    reads meets backpressure: while our write buffer is full we stop reading and
    answer only the latest PING later; ``send_timeout`` after our writes stopped
    moving the connection is aborted (no Close could reach the peer). Before,
    the PONGs piled up in our write buffer (+24.5 MiB for 26 MB of PINGs)."""
    flags = ("--ws-control-frame-burst", "100000000", "--send-timeout", "1")
    async with (
        served(*flags) as server,
        Bystander(server.port) as bystander,
        attacker(server.port, rcvbuf=4096) as sock,
    ):
        await ws_handshake(sock)
        server.reset_peak()
        rss_before = server.rss_bytes()
        outcome = await push(
            sock, repeat(PING * 1000), cap=26 * MiB, stall_timeout=2.0, until_answered=False
        )
        await server.wait_for_log("send_stalled")
        await read_all(sock)  # the server closed: EOF, or a reset if it left input unread
        growth = server.peak_rss_bytes() - rss_before
    # The server stopped reading (what it took is the kernels' buffers), then
    # closed once send_timeout passed, maybe while we were still blocked sending.
    assert outcome.ended in ("stalled", "closed"), outcome
    assert outcome.bytes_in < 16 * MiB, outcome
    assert growth < 8 * MiB, f"peak RSS grew {growth / MiB:.1f} MiB"
    assert not bystander.failures, bystander.failures


async def test_empty_fragment_flood_is_cut_at_the_fragment_limit() -> None:
    """Item 5: a message may span ``ws_max_message_fragments`` frames, empty ones
    included; past it: Close 1009. Before, empty continuation frames never added
    to the message's size and could go on forever."""
    empty = ws_frame(OP_CONTINUATION, fin=False)
    async with (
        served() as server,
        Bystander(server.port) as bystander,
        attacker(server.port) as sock,
    ):
        await ws_handshake(sock)
        flood = pieces(ws_frame(OP_TEXT, b"x", fin=False), *[empty * 10_000] * 10)
        await push(sock, flood, cap=1 << 30, stall_timeout=5.0, until_answered=False)
        sock.shutdown(socket.SHUT_WR)
        received = await read_all(sock)
    assert close_codes(received) == [1009]
    assert not bystander.failures, bystander.failures


async def test_ping_flood_over_http2_is_cut_by_the_control_frame_budget() -> None:
    """The same budget on an RFC 8441 WebSocket: Close 1008, then END_STREAM."""
    async with served() as server, Bystander(server.port) as bystander:
        client = await RawH2Client.connect("127.0.0.1", server.port)
        sid = client.request(
            "/ws",
            "CONNECT",
            extra=[(":protocol", "websocket"), ("sec-websocket-version", "13")],
            open_ended=True,
        )
        head = await client.read_until(HEADERS, stream_id=sid)
        assert dict(head.headers)[b":status"] == b"200"
        for _ in range(30):
            client.send_frame(DATA, 0, sid, PING * 100)
        received = bytearray()
        async with asyncio.timeout(WAIT_TIMEOUT):
            while True:
                frame = await client.read_until(DATA, stream_id=sid)
                received += frame.payload
                if frame.flags & END_STREAM:
                    break
        await client.aclose()
    assert close_codes(bytes(received)) == [1008]
    assert not bystander.failures, bystander.failures
