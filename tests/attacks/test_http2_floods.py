"""HTTP/2 floods against ``lastcall serve``, each with a bystander that must see no failure.

Every attack is one raw connection on 127.0.0.1 sending frames as fast as the
socket takes them; the server must cut it off by its budget (GOAWAY with
ENHANCE_YOUR_CALM, the code RFC 9113 §5.4.1 and every major server use for
abuse) within a stated number of frames, its memory must not grow by more
than a stated amount, and a bystander on another connection keeps getting
answers. The budgets are the engine's (``Http2Config``) and ``serve``'s
flags; the figures here are the bounds, the exact numbers go to the closing
note of the attack suite.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable

import pytest
from attack_kit import Bystander, MiB, attacker, push, served

from lastcall.engines.http2.frames import ErrorCode
from lastcall.testing.frames import (
    Frame,
    PeerEncoder,
    continuation_frame,
    data_frame,
    headers_frame,
    parse_frames,
    ping_frame,
    rst_stream_frame,
    settings_frame,
    window_update_frame,
)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#: Memory one abusive connection may make the server keep (peak RSS growth).
MEMORY_BOUND = 10 * MiB
#: How long a flood may last before it must have been cut (bytes are bounded
#: separately: a server that stops reading ends the flood as "stalled").
STALL_TIMEOUT = 3.0


def _request(encoder: PeerEncoder, stream_id: int, path: bytes = b"/", *, end: bool) -> bytes:
    method = b"GET" if end else b"POST"
    fields = [(b":method", method), (b":scheme", b"http"), (b":authority", b"attack")]
    block = encoder.encode([*fields, (b":path", path)])
    return headers_frame(stream_id, block, end_stream=end)


async def _pieces(first: bytes, make: Callable[[int], bytes], count: int) -> AsyncIterator[bytes]:
    """``first``, then ``make(i)`` for i in 0..count-1 in batches of ~64 KiB."""
    yield first
    batch = bytearray()
    for i in range(count):
        batch += make(i)
        if len(batch) >= 65_536:
            yield bytes(batch)
            batch.clear()
    if batch:
        yield bytes(batch)


async def _read_all(sock: socket.socket, within: float = 5.0) -> bytes:
    """Everything the server sent until it closed (the attacker never read before)."""
    loop = asyncio.get_running_loop()
    out = bytearray()
    try:
        async with asyncio.timeout(within):
            while chunk := await loop.sock_recv(sock, 1 << 20):
                out += chunk
    except (TimeoutError, OSError):
        pass
    return bytes(out)


def _whole_frames(data: bytes) -> list[Frame]:
    """The whole frames at the start of ``data`` (a read may end inside one)."""
    pos = 0
    while len(data) - pos >= 9:
        end = pos + 9 + int.from_bytes(data[pos : pos + 3], "big")
        if end > len(data):
            break
        pos = end
    return parse_frames(data[:pos])


def _goaways(data: bytes) -> list[tuple[int, int]]:
    """(last_stream_id, error_code) of each GOAWAY the server sent."""
    frames = _whole_frames(data)
    return [(f.last_stream_id, f.error_code) for f in frames if f.type_name == "GOAWAY"]


async def _flood(
    port: int, pieces: AsyncIterator[bytes], *, rcvbuf: int | None = None
) -> tuple[str, bytes]:
    """Run one flood; how it ended and what the server sent."""
    async with attacker(port, rcvbuf=rcvbuf) as sock:
        outcome = await push(
            sock, pieces, cap=64 * MiB, stall_timeout=STALL_TIMEOUT, until_answered=False
        )
        return outcome.ended, await _read_all(sock)


async def _attack(
    make_pieces: Callable[[], AsyncIterator[bytes]],
    *,
    rcvbuf: int | None = None,
    serve_args: tuple[str, ...] = (),
) -> tuple[str, bytes, int]:
    """Serve, run the bystander and the flood; (ended, server bytes, RSS growth)."""
    async with served(*serve_args) as server:
        before = server.rss_bytes()
        async with Bystander(server.port) as bystander:
            ended, answer = await _flood(server.port, make_pieces(), rcvbuf=rcvbuf)
            # A few more bystander answers after the cut: the server still serves.
            await bystander.wait_answers(5)
        growth = server.rss_bytes() - before
        assert not bystander.failures, bystander.failures
    print(
        f"ended={ended} goaways={_goaways(answer)} rss_growth={growth / MiB:.1f}MiB "
        f"bystander_p99={bystander.p99() * 1000:.1f}ms n={len(bystander.latencies)}"
    )
    return ended, answer, growth


def _handshake() -> bytes:
    return PREFACE + settings_frame({})


async def test_rapid_reset_is_cut_within_the_reset_budget() -> None:
    """CVE-2023-44487: HEADERS then RST_STREAM, over and over."""
    encoder = PeerEncoder()

    def pair(i: int) -> bytes:
        sid = 2 * i + 1
        return _request(encoder, sid, end=True) + rst_stream_frame(sid)

    ended, answer, growth = await _attack(lambda: _pieces(_handshake(), pair, 100_000))
    goaways = _goaways(answer)
    assert goaways and goaways[-1][1] == ErrorCode.ENHANCE_YOUR_CALM, (ended, goaways)
    # reset_burst is 1000: cut within about that many streams.
    assert goaways[-1][0] <= 2 * 1_100 + 1, goaways
    assert growth < MEMORY_BOUND, growth


async def test_made_you_reset_counts_resets_the_server_is_provoked_into() -> None:
    """CVE-2025-8671: valid HEADERS then a frame the server must answer with RST_STREAM."""
    encoder = PeerEncoder()

    def pair(i: int) -> bytes:
        sid = 2 * i + 1
        # WINDOW_UPDATE of 0 on an open stream is a stream error (RFC 9113 §6.9).
        return _request(encoder, sid, b"/slow?ms=1000", end=True) + window_update_frame(sid, 0)

    ended, answer, growth = await _attack(lambda: _pieces(_handshake(), pair, 100_000))
    goaways = _goaways(answer)
    assert goaways and goaways[-1][1] == ErrorCode.ENHANCE_YOUR_CALM, (ended, goaways)
    assert goaways[-1][0] <= 2 * 1_100 + 1, goaways
    assert growth < MEMORY_BOUND, growth


async def test_continuation_flood_is_cut_at_the_frame_limit() -> None:
    """CVE-2024-27316 class: HEADERS without END_HEADERS, then CONTINUATION forever."""
    encoder = PeerEncoder()
    first = _handshake() + headers_frame(
        1, encoder.encode([(b":method", b"GET")]), end_headers=False
    )

    def more(i: int) -> bytes:
        return continuation_frame(1, b"\x40\x01a\x01b", end_headers=False)  # literal a: b

    ended, answer, growth = await _attack(lambda: _pieces(first, more, 1_000_000))
    goaways = _goaways(answer)
    assert goaways and goaways[-1][1] == ErrorCode.ENHANCE_YOUR_CALM, (ended, goaways)
    assert growth < MEMORY_BOUND, growth


async def test_hpack_bomb_is_cut_while_decoding() -> None:
    """One 4 KiB value in the dynamic table, then blocks that index it thousands of times."""
    encoder = PeerEncoder()
    big = b"x" * 4_000
    first = _handshake() + _request(encoder, 1, end=True)
    # Literal with incremental indexing of ("bomb", big): lands at dynamic index 62.
    insert = b"\x40\x04bomb" + b"\x7f" + _hpack_int(len(big) - 127) + big
    first += headers_frame(3, encoder.encode([(b":method", b"GET")]) + insert, end_stream=True)
    # 16 KiB of one-byte references (0xbe = indexed field 62): 64 MiB decoded per block.
    bomb = b"\xbe" * 16_000

    def block(i: int) -> bytes:
        sid = 5 + 2 * i
        return headers_frame(sid, bomb, end_stream=True)

    ended, answer, growth = await _attack(lambda: _pieces(first, block, 200))
    goaways = _goaways(answer)
    assert goaways and goaways[-1][1] in (
        ErrorCode.ENHANCE_YOUR_CALM,
        ErrorCode.COMPRESSION_ERROR,
    ), (ended, goaways)
    assert growth < MEMORY_BOUND, growth


def _hpack_int(value: int) -> bytes:
    """The continuation octets of an HPACK integer whose prefix was all ones (RFC 7541 §5.1)."""
    out = bytearray()
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


@pytest.mark.parametrize("kind", ["ping", "settings"])
async def test_control_frame_flood_from_a_client_that_never_reads(kind: str) -> None:
    """PINGs (or SETTINGS) as fast as possible; the answers are never read."""
    frame = ping_frame(b"12345678") if kind == "ping" else settings_frame({})

    ended, answer, growth = await _attack(
        lambda: _pieces(_handshake(), lambda i: frame, 10_000_000), rcvbuf=4096
    )
    goaways = _goaways(answer)
    assert goaways and goaways[-1][1] == ErrorCode.ENHANCE_YOUR_CALM, (ended, goaways)
    assert growth < MEMORY_BOUND, growth


async def test_empty_data_flood_is_cut() -> None:
    """Empty DATA frames without END_STREAM cost the server a frame each and carry nothing."""
    encoder = PeerEncoder()
    first = _handshake() + _request(encoder, 1, b"/slow?ms=2000", end=False)
    ended, answer, growth = await _attack(
        lambda: _pieces(first, lambda i: data_frame(1, b""), 10_000_000)
    )
    goaways = _goaways(answer)
    assert goaways and goaways[-1][1] == ErrorCode.ENHANCE_YOUR_CALM, (ended, goaways)
    assert growth < MEMORY_BOUND, growth


async def test_tiny_data_flood_to_an_app_that_does_not_read_is_cut() -> None:
    """One-byte DATA frames, never consumed by the app: each is a frame to parse and a
    chunk to hold, so their number must be bounded like empty frames are; the budget is
    refunded as the app consumes data, so a reading app's small messages are never cut
    (the gRPC test below)."""
    encoder = PeerEncoder()
    first = _handshake() + _request(encoder, 1, b"/slow?ms=2000", end=False)
    # 256 KiB in one-byte frames: 262,144 frames, well inside the default stream window.
    ended, answer, _growth = await _attack(
        lambda: _pieces(first, lambda i: data_frame(1, b"x"), 262_144)
    )
    goaways = _goaways(answer)
    assert goaways and goaways[-1][1] == ErrorCode.ENHANCE_YOUR_CALM, (ended, goaways)


async def test_the_reset_budget_flags_move_the_cut() -> None:
    """``--http2-reset-burst 100`` without refill: the 101st reset, on stream
    201, is the one cut (the default cuts at the 1,001st, stream 2001)."""
    encoder = PeerEncoder()

    def pair(i: int) -> bytes:
        sid = 2 * i + 1
        return _request(encoder, sid, end=True) + rst_stream_frame(sid)

    flags = ("--http2-reset-burst", "100", "--http2-reset-refill-per-second", "0")
    _ended, answer, _growth = await _attack(
        lambda: _pieces(_handshake(), pair, 10_000), serve_args=flags
    )
    assert _goaways(answer)[-1:] == [(201, ErrorCode.ENHANCE_YOUR_CALM)], _goaways(answer)


async def test_the_tiny_data_budget_flag_moves_the_cut() -> None:
    """``--http2-tiny-data-budget 2550``: ten unread one-byte frames (255 each)
    are taken, as a PING answered after them shows; the eleventh is cut."""
    encoder = PeerEncoder()
    async with served("--http2-tiny-data-budget", "2550") as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(_handshake() + _request(encoder, 1, b"/slow?ms=5000", end=False))
        writer.write(data_frame(1, b"x") * 10 + ping_frame(b"tenfirst"))
        received = bytearray()
        async with asyncio.timeout(30):
            while not any(
                f.type_name == "PING" and f.payload == b"tenfirst"
                for f in _whole_frames(bytes(received))
            ):
                chunk = await reader.read(65_536)
                assert chunk, "closed before the eleventh frame"
                received += chunk
            assert not _goaways(bytes(received))
            writer.write(data_frame(1, b"x"))
            while chunk := await reader.read(65_536):
                received += chunk
        writer.close()
    assert _goaways(bytes(received)) == [(1, ErrorCode.ENHANCE_YOUR_CALM)]


async def test_a_grpc_stream_of_many_small_messages_is_never_cut() -> None:
    """The legitimate counterpart of the floods: 1,500 DATA frames of 600 bytes each."""
    encoder = PeerEncoder()
    async with served() as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(_handshake() + _request(encoder, 1, b"/echo", end=False))
        message = b"m" * 600
        for _ in range(1_500):
            writer.write(data_frame(1, message))
        writer.write(data_frame(1, b"", end_stream=True) + window_update_frame(0, 1 << 24))
        writer.write(window_update_frame(1, 1 << 24))
        await writer.drain()
        received = bytearray()
        body = 0
        async with asyncio.timeout(30):
            while True:
                chunk = await reader.read(1 << 20)
                assert chunk, "the server closed the connection"
                received += chunk
                frames = _whole_frames(bytes(received))
                body = sum(
                    len(f.data) for f in frames if f.type_name == "DATA" and f.stream_id == 1
                )
                assert not _goaways(bytes(received)), frames[-3:]
                if any(f.type_name == "DATA" and f.stream_id == 1 and f.end_stream for f in frames):
                    break
        writer.close()
        assert body == 1_500 * 600
