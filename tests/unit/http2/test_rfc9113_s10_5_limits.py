"""Limits and flood budgets (DESIGN.md "Named deadlines", issue 2 item 4).

Each budget is a token bucket refilled against the ``now`` passed in, and ends
the connection with GOAWAY(ENHANCE_YOUR_CALM) when it runs dry:

- resets: RST_STREAM from the peer (Rapid Reset, CVE-2023-44487) *and* the
  RST_STREAMs the peer provokes us into sending (MadeYouReset, CVE-2025-8671):
  burst 1000, 33 per second;
- PING and SETTINGS: burst 200, 20 per second;
- frames carrying nothing (empty DATA, empty header fragments): burst 1000,
  100 per second.

And a legitimate gRPC-like stream of many small frames never trips any of them.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lastcall.engines.http2 import ErrorCode, Http2Config
from lastcall.engines.http2 import events as ev
from lastcall.testing.frames import (
    DEFAULT_REQUEST,
    ScriptedPeer,
    continuation_frame,
    data_frame,
    event_types,
    headers_frame,
    ping_frame,
    priority_frame,
    rst_stream_frame,
    settings_frame,
    window_update_frame,
)
from lastcall.testing.frames import server_peer as make_server

CALM = ErrorCode.ENHANCE_YOUR_CALM
POST = [(b":method", b"POST"), *DEFAULT_REQUEST[1:]]


def no_errors(events: list[ev.Event]) -> bool:
    return not any(isinstance(e, ev.ConnectionTerminated | ev.GoAwaySent) for e in events)


# -- Rapid Reset (CVE-2023-44487) ---------------------------------------------------------------


def rapid_reset(peer: ScriptedPeer, first_sid: int, pairs: int, now: float) -> list[ev.Event]:
    chunks = []
    for i in range(pairs):
        sid = first_sid + 2 * i
        chunks += [peer.request(sid, end_stream=False), rst_stream_frame(sid, ErrorCode.CANCEL)]
    return peer.send(*chunks, now=now)


def test_rapid_reset_burst_then_enhance_your_calm(server: ScriptedPeer) -> None:
    events = rapid_reset(server, 1, 1000, now=0.0)
    assert no_errors(events)
    assert event_types(events).count("StreamReset") == 1000
    assert server.summaries() == []  # never answer a reset with a reset
    events = rapid_reset(server, 2001, 1, now=0.0)
    server.expect_connection_error(events, CALM, last_stream_id=2001)


def test_rapid_reset_budget_refills_with_now(server: ScriptedPeer) -> None:
    assert no_errors(rapid_reset(server, 1, 1000, now=0.0))
    assert no_errors(rapid_reset(server, 2001, 33, now=1.0))  # 33 per second came back
    events = rapid_reset(server, 2067, 1, now=1.0)
    server.expect_connection_error(events, CALM, last_stream_id=2067)


def test_a_quiet_period_banks_no_more_than_the_burst(server: ScriptedPeer) -> None:
    """Tokens accrue while idle only up to the burst: 1000 at once, never 2000."""
    assert no_errors(rapid_reset(server, 1, 1, now=0.0))
    assert no_errors(rapid_reset(server, 3, 1000, now=100.0))
    events = rapid_reset(server, 2003, 1, now=100.0)
    server.expect_connection_error(events, CALM, last_stream_id=2003)


def test_steady_resets_below_the_refill_rate_never_trip(server: ScriptedPeer) -> None:
    """A client cancelling 30 requests a second, for ten minutes."""
    sid = 1
    for second in range(600):
        assert no_errors(rapid_reset(server, sid, 30, now=float(second)))
        sid += 60
    assert server.summaries() == []


def test_reset_budget_is_configurable() -> None:
    peer = make_server(Http2Config(reset_burst=5, reset_refill_per_second=1.0))
    assert no_errors(rapid_reset(peer, 1, 5, now=0.0))
    events = rapid_reset(peer, 11, 1, now=0.5)
    peer.expect_connection_error(events, CALM, last_stream_id=11)


# -- MadeYouReset (CVE-2025-8671): resets we are provoked into sending ------------------------------

PROVOCATIONS = {
    "window update of zero": lambda peer, sid: [window_update_frame(sid, 0)],
    "data after end stream": lambda peer, sid: [
        data_frame(sid, b"x", end_stream=True),
        data_frame(sid, b"y"),
    ],
    "content-length exceeded": lambda peer, sid: [data_frame(sid, b"x" * 10)],
    "trailers without end stream": lambda peer, sid: [
        headers_frame(sid, peer.block([(b"x-t", b"1")]))
    ],
    "priority depending on itself": lambda peer, sid: [priority_frame(sid, depends_on=sid)],
}


@pytest.mark.parametrize("provoke", PROVOCATIONS.values(), ids=PROVOCATIONS.keys())
def test_provoked_resets_are_paid_from_the_reset_budget(
    provoke: Callable[[ScriptedPeer, int], list[bytes]],
) -> None:
    peer = make_server(Http2Config(reset_burst=20, reset_refill_per_second=1.0))
    request = [*POST, (b"content-length", b"1")]
    for i in range(20):
        sid = 2 * i + 1
        events = peer.send(peer.request(sid, request, end_stream=False), *provoke(peer, sid))
        assert no_errors(events)
        assert peer.summaries()[-1].startswith(f"RST_STREAM[{sid}] ")
    sid = 41
    events = peer.send(peer.request(sid, request, end_stream=False), *provoke(peer, sid))
    peer.expect_connection_error(events, CALM, last_stream_id=41)


def test_malformed_requests_are_paid_from_the_reset_budget() -> None:
    peer = make_server(Http2Config(reset_burst=10, reset_refill_per_second=1.0))
    bad = [*DEFAULT_REQUEST, (b"connection", b"close")]
    for i in range(10):
        assert no_errors(peer.send(peer.request(2 * i + 1, bad)))
    assert peer.summaries() == [f"RST_STREAM[{2 * i + 1}] PROTOCOL_ERROR" for i in range(10)]
    events = peer.send(peer.request(21, bad))
    peer.expect_connection_error(events, CALM)


def test_refused_streams_are_paid_from_the_reset_budget() -> None:
    peer = make_server(
        Http2Config(max_concurrent_streams=1, reset_burst=10, reset_refill_per_second=1.0)
    )
    peer.send(peer.request(1, end_stream=False))
    for i in range(10):
        assert peer.send(peer.request(2 * i + 3)) == [
            ev.StreamRefused(2 * i + 3, "max_concurrent_streams")
        ]
    peer.frames()
    events = peer.send(peer.request(23))
    peer.expect_connection_error(events, CALM, last_stream_id=1)


def test_peer_and_provoked_resets_share_one_budget() -> None:
    peer = make_server(Http2Config(reset_burst=10, reset_refill_per_second=1.0))
    assert no_errors(rapid_reset(peer, 1, 5, now=0.0))
    for sid in (11, 13, 15, 17, 19):
        assert no_errors(
            peer.send(peer.request(sid, end_stream=False), window_update_frame(sid, 0))
        )
    peer.frames()
    events = rapid_reset(peer, 21, 1, now=0.0)
    peer.expect_connection_error(events, CALM, last_stream_id=21)


# -- control frame floods -------------------------------------------------------------------------


def test_ping_flood(server: ScriptedPeer) -> None:
    # The handshake's SETTINGS spent one of the 200 control tokens.
    events = server.send(*(ping_frame(i.to_bytes(8, "big")) for i in range(199)))
    assert event_types(events) == ["PingReceived"] * 199
    assert len(server.summaries()) == 199
    events = server.send(ping_frame(b"one more"))
    server.expect_connection_error(events, CALM)


def test_ping_budget_refills(server: ScriptedPeer) -> None:
    server.send(*(ping_frame() for _ in range(199)), now=0.0)
    server.frames()
    assert (
        event_types(server.send(*(ping_frame() for _ in range(20)), now=1.0))
        == ["PingReceived"] * 20
    )
    server.frames()
    events = server.send(ping_frame(), now=1.0)
    server.expect_connection_error(events, CALM)


def test_ping_acks_are_not_counted(server: ScriptedPeer) -> None:
    events = server.send(*(ping_frame(ack=True) for _ in range(1000)))
    assert event_types(events) == ["PingAcknowledged"] * 1000
    assert server.summaries() == []


def test_settings_flood(server: ScriptedPeer) -> None:
    # The handshake's SETTINGS spent one token already.
    events = server.send(*(settings_frame({}) for _ in range(199)))
    assert event_types(events) == ["SettingsReceived"] * 199
    server.frames()
    events = server.send(settings_frame({}))
    server.expect_connection_error(events, CALM)


def test_pings_and_settings_share_the_control_budget(server: ScriptedPeer) -> None:
    server.send(*(ping_frame() for _ in range(100)), *(settings_frame({}) for _ in range(99)))
    server.frames()
    events = server.send(ping_frame())
    server.expect_connection_error(events, CALM)


def test_keepalive_pings_never_trip(server: ScriptedPeer) -> None:
    """gRPC keepalive: a PING every 10 s (or even every second) for a day."""
    for second in range(0, 86_400, 1):
        if second % 60 == 0:
            assert server.send(ping_frame(), now=float(second)) == [ev.PingReceived(b"\x00" * 8)]
    assert server.engine.phase.value == "open"


# -- empty frame floods -----------------------------------------------------------------------------


def test_empty_data_flood(server: ScriptedPeer) -> None:
    server.send(server.request(1, POST, end_stream=False))
    events = server.send(*(data_frame(1) for _ in range(1000)))
    assert events == [ev.DataReceived(1, b"", 0, False)] * 1000
    assert server.summaries() == []
    events = server.send(data_frame(1))
    server.expect_connection_error(events, CALM, last_stream_id=1)


def test_padding_only_data_counts_as_empty(server: ScriptedPeer) -> None:
    peer = make_server(Http2Config(empty_frame_burst=3))
    peer.send(peer.request(1, POST, end_stream=False))
    assert no_errors(peer.send(*(data_frame(1, b"", pad_length=10) for _ in range(3))))
    events = peer.send(data_frame(1, b"", pad_length=10))
    peer.expect_connection_error(events, CALM, last_stream_id=1)


def test_empty_data_with_end_stream_is_not_counted() -> None:
    peer = make_server(Http2Config(empty_frame_burst=1))
    for sid in range(1, 21, 2):
        events = peer.send(
            peer.request(sid, POST, end_stream=False), data_frame(sid, b"", end_stream=True)
        )
        assert event_types(events) == ["RequestReceived", "DataReceived"]


def test_empty_budget_refills(server: ScriptedPeer) -> None:
    server.send(server.request(1, POST, end_stream=False))
    server.send(*(data_frame(1) for _ in range(1000)), now=0.0)
    assert no_errors(server.send(*(data_frame(1) for _ in range(100)), now=1.0))
    events = server.send(data_frame(1), now=1.0)
    server.expect_connection_error(events, CALM, last_stream_id=1)


def test_empty_header_fragments_are_counted() -> None:
    peer = make_server(Http2Config(empty_frame_burst=2))
    block = peer.block(DEFAULT_REQUEST)
    events = peer.send(
        headers_frame(1, b"", end_headers=False),
        continuation_frame(1, b"", end_headers=False),
        continuation_frame(1, b"", end_headers=False),
    )
    peer.expect_connection_error(events, CALM)
    assert block


# -- header blocks ------------------------------------------------------------------------------------


def test_continuation_flood_is_cut_at_the_frame_count(server: ScriptedPeer) -> None:
    """CVE-2024-27316 class: endless CONTINUATION frames, each with a little data."""
    block = server.block(DEFAULT_REQUEST)
    events = server.send(
        headers_frame(1, block, end_headers=False),
        *(continuation_frame(1, b"\x40\x01a\x01b", end_headers=False) for _ in range(33)),
    )
    server.expect_connection_error(events, CALM)


def test_continuation_count_at_the_limit_is_fine(server: ScriptedPeer) -> None:
    request = [*DEFAULT_REQUEST, (b"x-long", b"v" * 320)]
    block = server.block(request, huffman=False)
    parts = [block[:10]] + [block[10 + i * 10 : 20 + i * 10] for i in range(31)] + [block[320:]]
    assert len(parts) == 33 and b"".join(parts) == block
    events = server.send(
        headers_frame(1, parts[0], end_stream=True, end_headers=False),
        *(continuation_frame(1, p, end_headers=False) for p in parts[1:-1]),
        continuation_frame(1, parts[-1]),
    )
    assert events == [ev.RequestReceived(1, request, True)]


def test_header_block_over_the_decode_bound_is_cut_before_decoding() -> None:
    """Bytes piling up in CONTINUATIONs are cut once past the bound up to which
    an oversized block is still decoded (4x the header list limit)."""
    peer = make_server(Http2Config(max_header_list_size=4096, max_continuation_frames=1000))
    chunk = b"\x40\x01a\x01b" * 100  # literal fields, 500 octets a frame
    first = peer.block(DEFAULT_REQUEST)
    events = peer.send(headers_frame(1, first, end_headers=False))
    for _ in range(32):  # 16,000 octets and more: still within 4 x 4096
        events += peer.send(continuation_frame(1, chunk, end_headers=False))
    assert len(first) + 32 * 500 <= 4 * 4096
    assert events == [] and peer.summaries() == []
    events = peer.send(continuation_frame(1, chunk, end_headers=False))
    peer.expect_connection_error(events, CALM)


def test_header_list_at_the_limit_passes_and_just_over_it_gets_431() -> None:
    """RFC 7541 §4.1 sizing: name + value + 32 octets per field; one octet over
    our limit refuses that request alone (RFC 9113 §10.5.1)."""
    limit = 2048
    base = sum(len(n) + len(v) + 32 for n, v in DEFAULT_REQUEST)
    filler = limit - base - 32 - len(b"x-fill")
    request = [*DEFAULT_REQUEST, (b"x-fill", b"f" * filler)]
    peer = make_server(Http2Config(max_header_list_size=limit))
    assert peer.send(peer.request(1, request)) == [ev.RequestReceived(1, request, True)]
    over = [*DEFAULT_REQUEST, (b"x-fill", b"f" * (filler + 1))]
    events = peer.send(peer.request(3, over))
    assert events == [ev.RequestRejected(3, 431, "header_list_too_large")]
    frames = peer.frames()
    assert [f.summary() for f in frames] == ["HEADERS[3] END_STREAM|END_HEADERS"]
    assert frames[0].headers == [(b":status", b"431"), (b"content-length", b"0")]
    assert not peer.engine.is_stream_open(3) and not peer.engine.is_drained


# -- an oversized request header block refuses its stream only (§10.5.1) -----------------------


def test_oversized_block_keeps_the_hpack_table_in_step() -> None:
    """The block is decoded whole: the entries it added to the dynamic table are
    there for the next request, which refers to them by index."""
    peer = make_server(Http2Config(max_header_list_size=1024))
    small = (b"x-session", b"abc123")
    big = [*DEFAULT_REQUEST, small, (b"x-big", b"b" * 2000)]
    assert peer.send(peer.request(1, big)) == [ev.RequestRejected(1, 431, "header_list_too_large")]
    assert peer.summaries() == ["HEADERS[1] END_STREAM|END_HEADERS"]
    following = [*DEFAULT_REQUEST, small]
    block = peer.block(following)
    assert len(block) < 8  # every field indexed: x-session only from the oversized block
    assert peer.send(headers_frame(3, block, end_stream=True)) == [
        ev.RequestReceived(3, following, True)
    ]


def test_oversized_open_request_gets_431_then_no_error_reset() -> None:
    """The client was still sending: after the complete 431, RST_STREAM(NO_ERROR)
    asks it to stop (RFC 9113 §8.1); DATA it had in flight is dropped quietly."""
    peer = make_server(Http2Config(max_header_list_size=1024))
    request = [*POST, (b"x-big", b"b" * 2000)]
    events = peer.send(peer.request(1, request, end_stream=False))
    assert events == [ev.RequestRejected(1, 431, "header_list_too_large")]
    assert peer.summaries() == ["HEADERS[1] END_STREAM|END_HEADERS", "RST_STREAM[1] NO_ERROR"]
    assert peer.send(data_frame(1, b"late body", end_stream=True)) == []
    assert peer.summaries() == []
    assert peer.send(peer.request(3)) == [ev.RequestReceived(3, DEFAULT_REQUEST, True)]


def test_oversized_block_in_continuations_gets_431_and_the_connection_lives() -> None:
    """The audit's case: a 70 KB header over a 64 KiB limit, in HEADERS plus
    CONTINUATION frames, used to end the connection with COMPRESSION_ERROR."""
    peer = make_server()
    block = peer.block([*DEFAULT_REQUEST, (b"x-big", b"a" * 70_000)], huffman=False)
    parts = [block[i : i + 16_000] for i in range(0, len(block), 16_000)]
    events = peer.send(
        headers_frame(1, parts[0], end_stream=True, end_headers=False),
        *(continuation_frame(1, p, end_headers=False) for p in parts[1:-1]),
        continuation_frame(1, parts[-1]),
    )
    assert events == [ev.RequestRejected(1, 431, "header_list_too_large")]
    assert peer.summaries() == ["HEADERS[1] END_STREAM|END_HEADERS"]
    assert peer.send(peer.request(3)) == [ev.RequestReceived(3, DEFAULT_REQUEST, True)]


def test_decoded_list_past_the_bound_still_ends_the_connection() -> None:
    """An HPACK bomb: a small block that decodes past 4x the limit is cut while
    decoding, and then the table may be out of step: COMPRESSION_ERROR."""
    peer = make_server(Http2Config(max_header_list_size=1024))
    entry = (b"x-b", b"v" * 1000)
    first = peer.block([*DEFAULT_REQUEST, entry])  # indexes the entry
    assert event_types(peer.send(headers_frame(1, first))) == ["RequestRejected"]
    peer.frames()
    bomb = peer.block([*DEFAULT_REQUEST, *([entry] * 5)])  # 5 one-octet references
    assert len(bomb) < 16
    events = peer.send(headers_frame(3, bomb))
    peer.expect_connection_error(events, ErrorCode.COMPRESSION_ERROR, last_stream_id=1)


def test_oversized_trailers_reset_the_stream_only() -> None:
    """Trailers come after the request reached the application: too late for a
    431, so the stream is reset (ENHANCE_YOUR_CALM, as HTTP/3's H3_EXCESSIVE_LOAD)."""
    peer = make_server(Http2Config(max_header_list_size=1024))
    assert event_types(peer.send(peer.request(1, POST, end_stream=False))) == ["RequestReceived"]
    events = peer.send(peer.trailers(1, [(b"x-big", b"t" * 2000)]))
    assert events == [ev.StreamReset(1, CALM, False)]
    peer.expect_stream_error(events, 1, CALM)
    assert peer.send(peer.request(3)) == [ev.RequestReceived(3, DEFAULT_REQUEST, True)]


def test_oversized_blocks_are_paid_from_the_reset_budget() -> None:
    peer = make_server(Http2Config(max_header_list_size=1024, reset_burst=2))
    big = [*DEFAULT_REQUEST, (b"x-big", b"b" * 2000)]
    assert event_types(peer.send(peer.request(1, big), peer.request(3, big))) == [
        "RequestRejected",
        "RequestRejected",
    ]
    peer.frames()
    events = peer.send(peer.request(5, big))
    peer.expect_connection_error(events, CALM, last_stream_id=3)


def test_a_431_stream_counts_as_processed_in_the_final_goaway() -> None:
    """§6.8: the last stream id covers streams we "might have taken some action
    on"; an answered one is one, so the client never replays it."""
    peer = make_server(Http2Config(max_header_list_size=1024, goaway_ping_timeout=0))
    peer.send(peer.request(1, [*DEFAULT_REQUEST, (b"x-big", b"b" * 2000)]))
    peer.frames()
    peer.engine.start_drain(0.0)
    assert peer.summaries()[-1] == "GOAWAY last=1 NO_ERROR"
    assert peer.engine.last_processed_id == 1


def test_header_list_limit_applies_to_responses_too() -> None:
    from lastcall.testing.frames import client_peer as make_client

    peer = make_client(Http2Config(max_header_list_size=1024))
    sid = peer.engine.open_stream(DEFAULT_REQUEST, end_stream=True)
    peer.frames()
    events = peer.send(peer.response(sid, [(b":status", b"200"), (b"x-big", b"b" * 2000)]))
    peer.expect_connection_error(events, ErrorCode.COMPRESSION_ERROR)


# -- the legitimate heavy user ---------------------------------------------------------------------


def test_grpc_like_stream_of_small_frames_never_trips() -> None:
    """5,000 small non-empty DATA frames each way on one long stream, windows
    returned as data is consumed, keepalive PINGs, a few cancelled side calls:
    no budget, window or limit fires."""
    peer = make_server()
    engine = peer.engine
    request = [*POST, (b"content-type", b"application/grpc"), (b"te", b"trailers")]
    assert event_types(peer.send(peer.request(1, request, end_stream=False))) == ["RequestReceived"]
    engine.send_headers(1, [(b":status", b"200"), (b"content-type", b"application/grpc")])
    received = sent = 0
    now = 0.0
    for i in range(5_000):
        now += 0.002
        message = b"\x00\x00\x00\x00\x07" + i.to_bytes(7, "big")
        events = peer.send(data_frame(1, message), now=now)
        for event in events:
            assert isinstance(event, ev.DataReceived), event
            received += len(event.data)
            engine.acknowledge_received_data(1, event.flow_controlled_length)
        engine.send_data(1, message)
        sent += len(message)
        if i % 500 == 0:  # keepalive, and a cancelled unary call on the side
            sid = 3 + 2 * (i // 500)
            events = peer.send(
                ping_frame(), peer.request(sid, end_stream=False), rst_stream_frame(sid), now=now
            )
            assert event_types(events) == ["PingReceived", "RequestReceived", "StreamReset"]
        frames = peer.frames()
        out = sum(len(f.data) for f in frames if f.type == 0)
        assert not [f for f in frames if f.type in (0x3, 0x7)], frames
        if out:
            peer.send(window_update_frame(0, out), window_update_frame(1, out), now=now)
    events = peer.send(data_frame(1, b"", end_stream=True), now=now + 0.001)
    assert events == [ev.DataReceived(1, b"", 0, True)]
    engine.send_trailers(1, [(b"grpc-status", b"0")])
    summaries = peer.summaries()
    assert summaries[-1] == "HEADERS[1] END_STREAM|END_HEADERS"
    assert received == sent == 5_000 * 12
    assert engine.phase.value == "open" and engine.active_stream_count == 0


def test_server_resets_cost_a_client_nothing() -> None:
    """Rapid Reset is a client's attack on a server. A server resetting the client's
    own streams (RST_STREAM(NO_ERROR) after an early 413, say) amplifies nothing, so
    the client role does not spend its reset budget on them."""
    from lastcall.testing.frames import client_peer as make_client

    peer = make_client(Http2Config(reset_burst=5, reset_refill_per_second=0.0))
    for _ in range(50):
        sid = peer.engine.open_stream(POST)
        peer.engine.send_data(sid, b"upload")
        events = peer.send(
            peer.response(sid, [(b":status", b"413")]), rst_stream_frame(sid, ErrorCode.NO_ERROR)
        )
        assert events == [
            ev.ResponseReceived(sid, [(b":status", b"413")], True),
            ev.StreamReset(sid, ErrorCode.NO_ERROR, True),
        ]
    assert not [s for s in peer.summaries() if s.startswith("GOAWAY")]
    assert not peer.engine.is_drained
