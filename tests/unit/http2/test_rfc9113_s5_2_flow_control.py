"""RFC 9113 §5.2 and §6.9: flow control, send side and receive side.

Send side: what the windows do not allow is queued in the engine and goes out
as WINDOW_UPDATE or a larger SETTINGS_INITIAL_WINDOW_SIZE arrives; windows
can go negative (§6.9.2). Receive side: the peer may not exceed our windows,
and ``acknowledge_received_data`` hands window back in batches.
"""

from __future__ import annotations

import tracemalloc

import pytest

from lastcall.engines.http2 import ErrorCode, Http2Config, SettingCode
from lastcall.engines.http2 import events as ev
from lastcall.errors import LocalProtocolError
from lastcall.testing.frames import (
    DEFAULT_REQUEST,
    ScriptedPeer,
    data_frame,
    event_types,
    settings_frame,
    window_update_frame,
)
from lastcall.testing.frames import client_peer as make_client
from lastcall.testing.frames import server_peer as make_server

RESPONSE = [(b":status", b"200")]
IWS = SettingCode.INITIAL_WINDOW_SIZE


def serving(peer: ScriptedPeer, *sids: int) -> None:
    """Open request streams and send response headers on each."""
    for sid in sids:
        peer.send(peer.request(sid))
        peer.engine.send_headers(sid, RESPONSE)
    peer.frames()


# -- send side: stream and connection windows ---------------------------------------------------


def test_data_beyond_the_windows_is_queued_then_released(server: ScriptedPeer) -> None:
    serving(server, 1)
    server.engine.send_data(1, b"a" * 70_000, end_stream=True)
    assert server.summaries() == ["DATA[1] 16384"] * 3 + ["DATA[1] 16383"]
    assert server.engine.outbound_buffered(1) == 70_000 - 65_535
    # Stream window alone is not enough: the connection window is 0 too.
    assert server.send(window_update_frame(1, 10_000)) == [ev.WindowUpdated(1, 10_000)]
    assert server.summaries() == []
    # The connection window opens: the rest goes, with END_STREAM on the last frame.
    assert server.send(window_update_frame(0, 10_000)) == [ev.WindowUpdated(0, 10_000)]
    assert server.summaries() == ["DATA[1] 4465 END_STREAM"]
    assert server.engine.outbound_buffered(1) == 0
    assert not server.engine.is_stream_open(1)


def test_stream_window_limits_before_connection_window() -> None:
    """h2spec 6.9.1.1: with SETTINGS_INITIAL_WINDOW_SIZE=1, exactly one octet goes out."""
    peer = make_server(settings={IWS: 1})
    serving(peer, 1)
    peer.engine.send_data(1, b"hello", end_stream=True)
    assert peer.summaries() == ["DATA[1] 1"]
    peer.send(window_update_frame(1, 2))
    assert peer.summaries() == ["DATA[1] 2"]
    peer.send(window_update_frame(1, 100))
    assert peer.summaries() == ["DATA[1] 2 END_STREAM"]


def test_connection_window_is_shared_by_streams() -> None:
    peer = make_server(settings={IWS: 1_000_000})
    serving(peer, 1, 3)
    peer.engine.send_data(1, b"1" * 40_000, end_stream=True)
    peer.engine.send_data(3, b"3" * 40_000, end_stream=True)
    assert peer.summaries() == [
        "DATA[1] 16384",
        "DATA[1] 16384",
        "DATA[1] 7232 END_STREAM",
        "DATA[3] 16384",
        "DATA[3] 9151",
    ]
    assert peer.engine.outbound_buffered(3) == 40_000 - 25_535
    peer.send(window_update_frame(0, 100_000))
    assert peer.summaries() == ["DATA[3] 14465 END_STREAM"]


def test_blocked_streams_resume_in_order_when_connection_window_opens() -> None:
    peer = make_server(settings={IWS: 1_000_000})
    serving(peer, 1, 3, 5)
    peer.engine.send_data(1, b"x" * 65_535)
    peer.frames()
    peer.engine.send_data(3, b"y" * 10, end_stream=True)
    peer.engine.send_data(5, b"z" * 10, end_stream=True)
    peer.engine.send_data(1, b"x" * 10, end_stream=True)
    assert peer.summaries() == []
    peer.send(window_update_frame(0, 25))
    assert peer.summaries() == ["DATA[3] 10 END_STREAM", "DATA[5] 10 END_STREAM", "DATA[1] 5"]
    peer.send(window_update_frame(0, 5))
    assert peer.summaries() == ["DATA[1] 5 END_STREAM"]


def test_end_stream_and_trailers_wait_behind_queued_data() -> None:
    peer = make_server(settings={IWS: 10})
    serving(peer, 1, 3)
    peer.engine.send_data(1, b"x" * 15)
    peer.engine.end_stream(1)
    peer.engine.send_data(3, b"y" * 15)
    peer.engine.send_trailers(3, [(b"grpc-status", b"0")])
    assert peer.summaries() == ["DATA[1] 10", "DATA[3] 10"]
    assert peer.engine.is_stream_open(1) and peer.engine.is_stream_open(3)
    with pytest.raises(LocalProtocolError):
        peer.engine.send_data(1, b"after end")
    peer.send(window_update_frame(1, 5), window_update_frame(3, 5))
    frames = peer.frames()
    assert [f.summary() for f in frames] == [
        "DATA[1] 5 END_STREAM",
        "DATA[3] 5",
        "HEADERS[3] END_STREAM|END_HEADERS",
    ]
    assert frames[2].headers == [(b"grpc-status", b"0")]


def test_empty_end_stream_needs_no_window() -> None:
    peer = make_server(settings={IWS: 0})
    serving(peer, 1)
    peer.engine.send_data(1, b"", end_stream=True)
    assert peer.summaries() == ["DATA[1] 0 END_STREAM"]


def test_empty_data_without_end_stream_sends_nothing(server: ScriptedPeer) -> None:
    serving(server, 1)
    server.engine.send_data(1, b"")
    assert server.summaries() == []


def test_reset_drops_queued_data(server: ScriptedPeer) -> None:
    serving(server, 1, 3)
    server.engine.send_data(1, b"q" * 70_000)
    server.frames()
    server.engine.reset_stream(1, ErrorCode.CANCEL)
    assert server.summaries() == ["RST_STREAM[1] CANCEL"]
    assert server.engine.outbound_buffered(1) == 0
    server.send(window_update_frame(0, 100))
    assert server.summaries() == []
    server.engine.send_data(3, b"w" * 100, end_stream=True)
    assert server.summaries() == ["DATA[3] 100 END_STREAM"]


def test_peer_reset_drops_queued_data(server: ScriptedPeer) -> None:
    serving(server, 1)
    server.engine.send_data(1, b"q" * 70_000)
    server.frames()
    from lastcall.testing.frames import rst_stream_frame

    assert server.send(rst_stream_frame(1, ErrorCode.CANCEL)) == [
        ev.StreamReset(1, ErrorCode.CANCEL, True)
    ]
    assert server.engine.outbound_buffered(1) == 0
    server.send(window_update_frame(0, 100_000))
    assert server.summaries() == []


def test_client_request_body_respects_windows() -> None:
    peer = make_client(settings={IWS: 100})
    sid = peer.engine.open_stream([*DEFAULT_REQUEST[:1], *DEFAULT_REQUEST[1:]])
    peer.engine.send_data(sid, b"b" * 250, end_stream=True)
    assert peer.summaries() == [f"HEADERS[{sid}] END_HEADERS", f"DATA[{sid}] 100"]
    peer.send(window_update_frame(sid, 150))
    assert peer.summaries() == [f"DATA[{sid}] 150 END_STREAM"]


# -- §6.9.2 SETTINGS_INITIAL_WINDOW_SIZE changes mid-connection --------------------------------


def test_initial_window_increase_releases_queued_data() -> None:
    """h2spec 6.9.2.1: window 0, then INITIAL_WINDOW_SIZE=1 lets one octet through."""
    peer = make_server(settings={IWS: 0})
    serving(peer, 1)
    peer.engine.send_data(1, b"abc", end_stream=True)
    assert peer.summaries() == []
    events = peer.send(settings_frame({IWS: 1}))
    assert events == [ev.SettingsReceived({IWS: 1})]
    assert peer.summaries() == ["DATA[1] 1", "SETTINGS ACK"]


def test_initial_window_decrease_makes_windows_negative() -> None:
    """h2spec 6.9.2.2 and §6.9.2: a smaller INITIAL_WINDOW_SIZE can leave a stream
    window negative; DATA waits until WINDOW_UPDATEs bring it above zero."""
    peer = make_server()
    serving(peer, 1)
    peer.engine.send_data(1, b"n" * 60_000)
    assert sum(int(s.split()[1]) for s in peer.summaries()) == 60_000
    peer.send(settings_frame({IWS: 1_000}))  # window: 5_535 - 64_535 = -59_000
    assert peer.summaries() == ["SETTINGS ACK"]
    peer.send(window_update_frame(0, 1_000_000))
    peer.engine.send_data(1, b"m" * 10, end_stream=True)
    assert peer.summaries() == []
    peer.send(window_update_frame(1, 59_000))  # back to 0
    assert peer.summaries() == []
    peer.send(window_update_frame(1, 4))
    assert peer.summaries() == ["DATA[1] 4"]
    peer.send(window_update_frame(1, 6))
    assert peer.summaries() == ["DATA[1] 6 END_STREAM"]


def test_multiple_initial_window_values_apply_in_order() -> None:
    """h2spec 6.5.3.1: the last value in one SETTINGS frame wins."""
    peer = make_server()
    serving(peer, 1)
    payload = settings_frame({IWS: 100})[9:] + settings_frame({IWS: 5})[9:]
    from lastcall.testing.frames import raw_frame

    peer.send(raw_frame(0x4, 0, 0, payload))
    peer.engine.send_data(1, b"x" * 10)
    assert peer.summaries() == ["SETTINGS ACK", "DATA[1] 5"]


def test_new_streams_start_with_the_new_initial_window() -> None:
    peer = make_server()
    peer.send(settings_frame({IWS: 3}))
    peer.frames()
    serving(peer, 1)
    peer.engine.send_data(1, b"xxxxx")
    assert peer.summaries() == ["DATA[1] 3"]


def test_initial_window_does_not_change_connection_window() -> None:
    """§6.9.2: only WINDOW_UPDATE changes the connection window."""
    peer = make_server(settings={IWS: 1_000_000})
    serving(peer, 1)
    peer.engine.send_data(1, b"c" * 100_000)
    assert sum(int(s.split()[1]) for s in peer.summaries()) == 65_535


def test_initial_window_over_maximum_is_flow_control_error(server: ScriptedPeer) -> None:
    """h2spec 6.5.2.2 / 6.9.2.3."""
    events = server.send(settings_frame({IWS: 2**31}))
    server.expect_connection_error(events, ErrorCode.FLOW_CONTROL_ERROR)


def test_initial_window_change_overflowing_a_stream_is_flow_control_error() -> None:
    peer = make_server()
    serving(peer, 1)
    peer.send(window_update_frame(1, 2**31 - 1 - 65_535))  # stream window at the maximum
    assert peer.summaries() == []
    events = peer.send(settings_frame({IWS: 65_536}))
    peer.expect_connection_error(events, ErrorCode.FLOW_CONTROL_ERROR, last_stream_id=1)


# -- §6.9.1 window overflow ------------------------------------------------------------------


def test_connection_window_overflow_is_flow_control_error(either: ScriptedPeer) -> None:
    """h2spec 6.9.1.2."""
    events = either.send(window_update_frame(0, 2**31 - 1))
    either.expect_connection_error(events, ErrorCode.FLOW_CONTROL_ERROR)


def test_stream_window_overflow_is_stream_error(server: ScriptedPeer) -> None:
    """h2spec 6.9.1.3."""
    server.send(server.request(1, end_stream=False))
    events = server.send(window_update_frame(1, 2**31 - 1))
    assert events == [ev.StreamReset(1, ErrorCode.FLOW_CONTROL_ERROR, False)]
    server.expect_stream_error(events, 1, ErrorCode.FLOW_CONTROL_ERROR)


def test_window_update_reserved_bit_is_ignored(server: ScriptedPeer) -> None:
    serving(server, 1)
    assert server.send(window_update_frame(1, 0x80000000 | 7)) == [ev.WindowUpdated(1, 7)]


# -- receive side -------------------------------------------------------------------------


def test_peer_exceeding_our_stream_window_is_stream_error() -> None:
    peer = make_server(Http2Config(initial_window_size=100))
    peer.send(peer.request(1, end_stream=False))
    assert event_types(peer.send(data_frame(1, b"x" * 100))) == ["DataReceived"]
    events = peer.send(data_frame(1, b"x"))
    peer.expect_stream_error(events, 1, ErrorCode.FLOW_CONTROL_ERROR)


def test_padding_counts_against_the_window() -> None:
    peer = make_server(Http2Config(initial_window_size=100))
    peer.send(peer.request(1, end_stream=False))
    events = peer.send(data_frame(1, b"x" * 50, pad_length=30))
    assert events == [ev.DataReceived(1, b"x" * 50, 81, False)]
    events = peer.send(data_frame(1, b"x" * 10, pad_length=9))  # 20 > 19 left
    peer.expect_stream_error(events, 1, ErrorCode.FLOW_CONTROL_ERROR)


def test_peer_exceeding_our_connection_window_is_connection_error() -> None:
    peer = make_server(Http2Config(connection_window_size=65_535))
    peer.send(*(peer.request(sid, end_stream=False) for sid in (1, 3, 5, 7, 9)))
    for sid in (1, 3, 5):
        peer.send(data_frame(sid, b"d" * 16_384))
    peer.send(data_frame(7, b"d" * 16_383))
    assert peer.summaries() == []
    events = peer.send(data_frame(9, b"d"))
    peer.expect_connection_error(events, ErrorCode.FLOW_CONTROL_ERROR, last_stream_id=9)


def test_acknowledge_received_data_batches_window_updates() -> None:
    """WINDOW_UPDATE goes out once half a window has been consumed, stream and connection."""
    peer = make_server(Http2Config(initial_window_size=1_000, connection_window_size=65_535))
    engine = peer.engine
    peer.send(peer.request(1, end_stream=False))
    peer.send(data_frame(1, b"d" * 1_000))
    engine.acknowledge_received_data(1, 499)
    assert peer.summaries() == []
    engine.acknowledge_received_data(1, 1)
    assert peer.summaries() == ["WINDOW_UPDATE[1] +500"]
    engine.acknowledge_received_data(1, 500)
    assert peer.summaries() == ["WINDOW_UPDATE[1] +500"]
    # The stream window is whole again: 1000 more octets are allowed, not 1001.
    assert event_types(peer.send(data_frame(1, b"d" * 1_000))) == ["DataReceived"]
    # Connection: it had 1_000 unacknowledged; once 32_767 (half of 65_535) are
    # consumed, one update returns them all.
    for _ in range(40):
        engine.acknowledge_received_data(1, 1_000)
        peer.send(data_frame(1, b"d" * 1_000))
    frames = peer.summaries()
    assert frames.count("WINDOW_UPDATE[1] +1000") == 40
    assert [f for f in frames if f.startswith("WINDOW_UPDATE[0]")] == ["WINDOW_UPDATE[0] +33000"]


def test_acknowledge_on_a_closed_stream_returns_only_connection_window() -> None:
    peer = make_server(Http2Config(initial_window_size=100, connection_window_size=65_535))
    peer.send(peer.request(1, end_stream=False), data_frame(1, b"x" * 100, end_stream=True))
    peer.engine.acknowledge_received_data(1, 100)
    assert peer.summaries() == []
    peer.engine.acknowledge_received_data(1, 32_667)
    assert peer.summaries() == ["WINDOW_UPDATE[0] +32767"]


def test_data_nobody_will_read_returns_connection_window_at_once() -> None:
    """DATA on a stream we reset (or refused) is dropped and its window handed back."""
    peer = make_server(Http2Config(connection_window_size=65_535))
    peer.send(peer.request(1, end_stream=False))
    peer.engine.reset_stream(1)
    peer.frames()
    peer.send(*(data_frame(1, b"z" * 16_000) for _ in range(2)))
    assert peer.summaries() == []
    peer.send(data_frame(1, b"z" * 16_000))
    assert peer.summaries() == ["WINDOW_UPDATE[0] +48000"]


def test_stream_error_returns_connection_window() -> None:
    """DATA that broke content-length, and DATA after our reset, give their window back."""
    peer = make_server(Http2Config(connection_window_size=65_535))
    cl = [*DEFAULT_REQUEST, (b"content-length", b"1")]
    peer.send(peer.request(1, cl, end_stream=False), data_frame(1, b"z" * 16_000))
    assert peer.summaries() == ["RST_STREAM[1] PROTOCOL_ERROR"]
    peer.send(peer.request(3, cl, end_stream=False), data_frame(3, b"z" * 16_384))
    assert peer.summaries() == ["RST_STREAM[3] PROTOCOL_ERROR"]
    peer.send(data_frame(3, b"z" * 1_000))
    assert peer.summaries() == ["WINDOW_UPDATE[0] +33384"]


def test_client_acknowledges_response_data(client: ScriptedPeer) -> None:
    sid = client.engine.open_stream(DEFAULT_REQUEST, end_stream=True)
    client.frames()
    client.send(client.response(sid, end_stream=False))
    for _ in range(40):
        events = client.send(data_frame(sid, b"r" * 16_384))
        for event in events:
            assert isinstance(event, ev.DataReceived)
            client.engine.acknowledge_received_data(sid, event.flow_controlled_length)
    updates = [s for s in client.summaries() if s.startswith("WINDOW_UPDATE")]
    assert updates == [f"WINDOW_UPDATE[{sid}] +524288"]


def test_tiny_chunks_queued_for_window_cost_about_their_payload() -> None:
    """Issue 15 item 6: the server stops adding to a stream at 64 KiB of
    ``outbound_buffered``; queued as one object per chunk, 10-byte chunks made
    that ~330 KiB of memory per stream. Small chunks share a tail now."""
    peer = make_server(settings={IWS: 0})
    serving(peer, 1)
    was_tracing = tracemalloc.is_tracing()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        n = 0
        while peer.engine.outbound_buffered(1) <= 65_536:
            peer.engine.send_data(1, b"chunk %d\n" % n)
            n += 1
        held = tracemalloc.get_traced_memory()[0] - start
    finally:
        if not was_tracing:
            tracemalloc.stop()
    assert held < 80 * 1024, f"{held} bytes held for {peer.engine.outbound_buffered(1)} queued"
    # And every byte still goes out, in order, when the window opens.
    assert peer.frames() == []
    peer.send(window_update_frame(1, 1 << 20), window_update_frame(0, 1 << 20))
    sent = b"".join(f.data for f in peer.frames())
    assert sent == b"".join(b"chunk %d\n" % i for i in range(n))
