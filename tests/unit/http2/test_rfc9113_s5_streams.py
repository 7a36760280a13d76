"""RFC 9113 §5: streams — states (§5.1), identifiers (§5.1.1), concurrency
(§5.1.2), priority (§5.3), error handling (§5.4), extensions (§5.5).
Flow control (§5.2) is in test_rfc9113_s5_2_flow_control.py.
"""

from __future__ import annotations

import pytest

from lastcall.engines.http2 import ErrorCode, Http2Config, Phase, SettingCode
from lastcall.engines.http2 import events as ev
from lastcall.errors import ConnectionDraining, LocalProtocolError
from lastcall.testing.frames import (
    DEFAULT_REQUEST,
    ScriptedPeer,
    continuation_frame,
    data_frame,
    event_types,
    headers_frame,
    ping_frame,
    priority_frame,
    raw_frame,
    rst_stream_frame,
    settings_frame,
    window_update_frame,
)
from lastcall.testing.frames import client_peer as make_client
from lastcall.testing.frames import server_peer as make_server

RESPONSE = [(b":status", b"200")]

# -- §5.1 stream states: idle ------------------------------------------------------------


def test_idle_data_is_protocol_error(server: ScriptedPeer) -> None:
    """h2spec 5.1.1."""
    events = server.send(data_frame(1, b"test", end_stream=True))
    server.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


def test_idle_rst_stream_is_protocol_error(server: ScriptedPeer) -> None:
    """h2spec 5.1.2."""
    events = server.send(rst_stream_frame(1, ErrorCode.CANCEL))
    server.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


def test_idle_window_update_is_protocol_error(server: ScriptedPeer) -> None:
    """h2spec 5.1.3."""
    events = server.send(window_update_frame(1, 100))
    server.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


def test_idle_continuation_is_protocol_error(server: ScriptedPeer) -> None:
    """h2spec 5.1.4."""
    events = server.send(continuation_frame(1, server.block(DEFAULT_REQUEST)))
    server.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


def test_idle_priority_is_allowed_and_opens_nothing(server: ScriptedPeer) -> None:
    """§5.1: PRIORITY is allowed in any state, and does not use up the id."""
    assert server.send(priority_frame(7, depends_on=0)) == []
    assert server.summaries() == []
    assert event_types(server.send(server.request(3))) == ["RequestReceived"]
    assert event_types(server.send(server.request(7))) == ["RequestReceived"]


def test_client_idle_data_is_protocol_error(client: ScriptedPeer) -> None:
    events = client.send(data_frame(1, b"x"))
    client.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


def test_client_headers_on_stream_never_opened_is_protocol_error(client: ScriptedPeer) -> None:
    events = client.send(client.response(3))
    client.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


# -- §5.1: open and half-closed (remote) ----------------------------------------------------


def test_open_stream_takes_data_both_ways(server: ScriptedPeer) -> None:
    events = server.send(server.request(1, end_stream=False), data_frame(1, b"ping"))
    assert event_types(events) == ["RequestReceived", "DataReceived"]
    server.engine.send_headers(1, RESPONSE)
    server.engine.send_data(1, b"pong")
    assert server.summaries() == ["HEADERS[1] END_HEADERS", "DATA[1] 4"]
    assert server.engine.is_stream_open(1)


def test_half_closed_remote_data_is_stream_closed(server: ScriptedPeer) -> None:
    """h2spec 5.1.5."""
    server.send(server.request(1))
    events = server.send(data_frame(1, b"test"))
    assert events == [ev.StreamReset(1, ErrorCode.STREAM_CLOSED, False)]
    server.expect_stream_error(events, 1, ErrorCode.STREAM_CLOSED)


def test_half_closed_remote_headers_is_stream_closed(server: ScriptedPeer) -> None:
    """h2spec 5.1.6."""
    server.send(server.request(1))
    events = server.send(server.request(1))
    server.expect_stream_error(events, 1, ErrorCode.STREAM_CLOSED)


def test_half_closed_remote_continuation_is_stream_closed(server: ScriptedPeer) -> None:
    """h2spec 5.1.7: the block is decoded, then refused with STREAM_CLOSED."""
    server.send(server.request(1))
    block = server.block(DEFAULT_REQUEST)
    events = server.send(
        headers_frame(1, block[:2], end_headers=False), continuation_frame(1, block[2:])
    )
    server.expect_stream_error(events, 1, ErrorCode.STREAM_CLOSED)


def test_half_closed_remote_allows_window_update_priority_rst(server: ScriptedPeer) -> None:
    server.send(server.request(1))
    events = server.send(window_update_frame(1, 10), priority_frame(1, depends_on=0))
    assert events == [ev.WindowUpdated(1, 10)]
    assert server.summaries() == []
    events = server.send(rst_stream_frame(1, ErrorCode.CANCEL))
    assert events == [ev.StreamReset(1, ErrorCode.CANCEL, True)]
    assert server.summaries() == []
    assert not server.engine.is_stream_open(1)


def test_half_closed_local_still_receives(client: ScriptedPeer) -> None:
    sid = client.engine.open_stream(DEFAULT_REQUEST, end_stream=True)
    client.frames()
    events = client.send(client.response(sid, end_stream=False), data_frame(sid, b"body"))
    assert event_types(events) == ["ResponseReceived", "DataReceived"]
    with pytest.raises(LocalProtocolError):
        client.engine.send_data(sid, b"more")
    client.send(data_frame(sid, b"", end_stream=True))
    assert not client.engine.is_stream_open(sid)


# -- §5.1: closed -----------------------------------------------------------------------


def test_closed_by_peer_reset_then_data_is_stream_closed(server: ScriptedPeer) -> None:
    """h2spec 5.1.8: after *receiving* RST_STREAM, any frame but PRIORITY is STREAM_CLOSED."""
    events = server.send(
        server.request(1, end_stream=False),
        rst_stream_frame(1, ErrorCode.CANCEL),
        data_frame(1, b"test", end_stream=True),
    )
    assert event_types(events) == ["RequestReceived", "StreamReset"]
    assert server.summaries() == ["RST_STREAM[1] STREAM_CLOSED"]


def test_closed_by_peer_reset_then_headers_is_stream_closed(server: ScriptedPeer) -> None:
    """h2spec 5.1.9."""
    server.send(server.request(1, end_stream=False), rst_stream_frame(1))
    server.send(server.request(1))
    assert server.summaries() == ["RST_STREAM[1] STREAM_CLOSED"]
    assert not server.engine.is_drained


def test_closed_by_peer_reset_then_continuation_is_an_error(server: ScriptedPeer) -> None:
    """h2spec 5.1.10: a CONTINUATION with no HEADERS before it is PROTOCOL_ERROR."""
    server.send(server.request(1, end_stream=False), rst_stream_frame(1))
    events = server.send(continuation_frame(1, server.block(DEFAULT_REQUEST)))
    server.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR, last_stream_id=1)


def test_closed_after_both_end_streams_then_data_is_a_connection_error(
    server: ScriptedPeer,
) -> None:
    """h2spec 5.1.11. §5.1 (closed): "an endpoint that receives any frames after
    receiving a frame with the END_STREAM flag set MUST treat that as a connection
    error of type STREAM_CLOSED". Not a stream error: that is for a stream the
    peer reset (below), or one we no longer remember."""
    server.send(server.request(1))
    server.engine.send_headers(1, RESPONSE, end_stream=True)
    server.frames()
    assert not server.engine.is_stream_open(1)
    events = server.send(data_frame(1, b"test", end_stream=True))
    server.expect_connection_error(events, ErrorCode.STREAM_CLOSED, last_stream_id=1)


def test_closed_after_both_end_streams_then_headers_is_a_connection_error(
    server: ScriptedPeer,
) -> None:
    """h2spec 5.1.12 (§5.1, closed: a connection error of type STREAM_CLOSED)."""
    server.send(server.request(1))
    server.engine.send_headers(1, RESPONSE, end_stream=True)
    server.frames()
    events = server.send(server.request(1))
    assert not any(isinstance(e, ev.RequestReceived) for e in events)
    server.expect_connection_error(events, ErrorCode.STREAM_CLOSED, last_stream_id=1)


def test_closed_after_both_end_streams_the_other_way_round(server: ScriptedPeer) -> None:
    """The response ends first, the request's END_STREAM comes last: closed the same way."""
    server.send(server.request(1, end_stream=False))
    server.engine.send_headers(1, RESPONSE, end_stream=False)
    server.engine.send_data(1, b"", end_stream=False)
    server.send(data_frame(1, b"body", end_stream=True))
    server.engine.send_data(1, b"done", end_stream=True)
    server.frames()
    assert not server.engine.is_stream_open(1)
    events = server.send(server.trailers(1, [(b"x-late", b"1")]))
    server.expect_connection_error(events, ErrorCode.STREAM_CLOSED, last_stream_id=1)


def test_closed_normally_but_forgotten_costs_only_the_stream(server: ScriptedPeer) -> None:
    """Once hundreds of streams have come and gone, stream 1 may be forgotten: we
    cannot tell how it closed, so only the stream pays (as for a forgotten reset)."""
    server.send(server.request(1))
    server.engine.send_headers(1, RESPONSE, end_stream=True)
    serve_and_close(server, range(3, 603, 2))
    server.send(data_frame(1, b"late", end_stream=True))
    assert server.summaries() == ["RST_STREAM[1] STREAM_CLOSED"]
    assert not server.engine.is_drained


def test_closed_after_both_end_streams_then_continuation_is_an_error(
    server: ScriptedPeer,
) -> None:
    """h2spec 5.1.13."""
    server.send(server.request(1))
    server.engine.send_headers(1, RESPONSE, end_stream=True)
    server.frames()
    events = server.send(continuation_frame(1, server.block(DEFAULT_REQUEST)))
    server.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR, last_stream_id=1)


def test_closed_allows_window_update_rst_priority_in_flight(server: ScriptedPeer) -> None:
    """§5.1: after our END_STREAM the peer may still send WINDOW_UPDATE, RST_STREAM, PRIORITY."""
    server.send(server.request(1))
    server.engine.send_headers(1, RESPONSE, end_stream=True)
    server.frames()
    events = server.send(
        window_update_frame(1, 100), rst_stream_frame(1, ErrorCode.NO_ERROR), priority_frame(1)
    )
    assert events == []
    assert server.summaries() == []


def test_frames_after_our_reset_are_ignored(server: ScriptedPeer) -> None:
    """§5.1: after *sending* RST_STREAM, frames the peer had in flight are ignored."""
    server.send(server.request(1, end_stream=False))
    server.engine.reset_stream(1, ErrorCode.CANCEL)
    assert server.summaries() == ["RST_STREAM[1] CANCEL"]
    events = server.send(
        data_frame(1, b"in flight"),
        window_update_frame(1, 5),
        server.trailers(1, [(b"x-t", b"1")]),
        rst_stream_frame(1, ErrorCode.CANCEL),
    )
    assert events == []
    assert server.summaries() == []
    # The HPACK block in the ignored trailers was still decoded: the table is in step.
    request = [*DEFAULT_REQUEST, (b"x-t", b"1")]
    assert server.send(server.request(3, request)) == [ev.RequestReceived(3, request, True)]


def test_frames_after_our_stream_error_are_ignored(server: ScriptedPeer) -> None:
    server.send(server.request(1, end_stream=False))
    server.send(window_update_frame(1, 0))
    assert server.summaries() == ["RST_STREAM[1] PROTOCOL_ERROR"]
    assert server.send(data_frame(1, b"x", end_stream=True)) == []
    assert server.summaries() == []


def test_frames_after_early_response_reset_are_ignored(server: ScriptedPeer) -> None:
    """§8.1: a complete response before the request body ends is followed by
    RST_STREAM(NO_ERROR); the rest of the body the client already sent is ignored."""
    server.send(server.request(1, end_stream=False))
    server.engine.send_headers(1, RESPONSE, end_stream=True)
    assert server.summaries() == ["HEADERS[1] END_STREAM|END_HEADERS", "RST_STREAM[1] NO_ERROR"]
    assert server.send(data_frame(1, b"rest of the body", end_stream=True)) == []
    assert server.summaries() == []


def test_client_data_after_response_end_is_a_connection_error(client: ScriptedPeer) -> None:
    """§5.1 in the client role: both END_STREAMs went, so late DATA ends the connection."""
    sid = client.engine.open_stream(DEFAULT_REQUEST, end_stream=True)
    client.frames()
    client.send(client.response(sid, end_stream=True))
    assert not client.engine.is_stream_open(sid)
    events = client.send(data_frame(sid, b"late"))
    client.expect_connection_error(events, ErrorCode.STREAM_CLOSED)


def test_client_headers_after_the_server_reset_is_stream_closed(client: ScriptedPeer) -> None:
    """§5.1: after *receiving* RST_STREAM a frame on the stream is a stream error."""
    sid = client.engine.open_stream(DEFAULT_REQUEST, end_stream=True)
    client.frames()
    client.send(rst_stream_frame(sid, ErrorCode.INTERNAL_ERROR))
    client.send(client.response(sid, end_stream=True))
    assert client.summaries() == [f"RST_STREAM[{sid}] STREAM_CLOSED"]
    assert not client.engine.is_drained


def test_client_frames_after_its_cancel_are_ignored(client: ScriptedPeer) -> None:
    sid = client.engine.open_stream(DEFAULT_REQUEST, end_stream=True)
    client.engine.reset_stream(sid)
    assert client.summaries()[-1] == f"RST_STREAM[{sid}] CANCEL"
    assert client.send(client.response(sid, end_stream=False), data_frame(sid, b"x")) == []
    assert client.summaries() == []


# -- §5.1.1 stream identifiers -----------------------------------------------------------


def test_even_stream_id_from_client_is_protocol_error(server: ScriptedPeer) -> None:
    """h2spec 5.1.1.1."""
    events = server.send(server.request(2))
    server.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


def test_smaller_stream_id_than_previous_is_protocol_error(server: ScriptedPeer) -> None:
    """h2spec 5.1.1.2: stream 3 was never opened; its id is spent once 5 is used."""
    server.send(server.request(5))
    server.engine.send_headers(5, RESPONSE, end_stream=True)
    server.frames()
    events = server.send(server.request(3))
    assert not any(isinstance(e, ev.RequestReceived) for e in events)
    server.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR, last_stream_id=5)


def serve_and_close(peer: ScriptedPeer, sids: range) -> None:
    for sid in sids:
        peer.send(peer.request(sid))
        peer.engine.send_headers(sid, RESPONSE, end_stream=True)
    peer.frames()


def test_skipped_id_is_an_error_even_after_many_streams(server: ScriptedPeer) -> None:
    serve_and_close(server, range(1, 601, 2))
    serve_and_close(server, range(603, 605, 2))  # 601 skipped
    events = server.send(server.request(601))
    server.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR, last_stream_id=603)


def test_late_trailers_for_a_forgotten_reset_stream_cost_only_the_stream(
    server: ScriptedPeer,
) -> None:
    """After hundreds of streams have come and gone we may no longer remember that
    we reset stream 1; its late trailers are answered STREAM_CLOSED on that stream,
    never with a connection error (nghttp2 is just as careful)."""
    server.send(server.request(1, end_stream=False))
    server.engine.reset_stream(1)
    serve_and_close(server, range(3, 603, 2))
    events = server.send(server.trailers(1, [(b"x-t", b"1")]))
    assert server.summaries() == ["RST_STREAM[1] STREAM_CLOSED"]
    assert not server.engine.is_drained
    assert events == []


def test_skipped_ids_are_closed(server: ScriptedPeer) -> None:
    """§5.1.1: opening 5 implicitly closes idle 1 and 3."""
    server.send(server.request(5, end_stream=False))
    server.send(data_frame(3, b"x"))
    assert server.summaries() == ["RST_STREAM[3] STREAM_CLOSED"]
    assert server.engine.is_stream_open(5)


def test_highest_stream_id_is_accepted(server: ScriptedPeer) -> None:
    sid = 2**31 - 1
    assert event_types(server.send(server.request(sid))) == ["RequestReceived"]


def test_client_uses_odd_increasing_ids(client: ScriptedPeer) -> None:
    ids = [client.engine.open_stream(DEFAULT_REQUEST, end_stream=True) for _ in range(3)]
    assert ids == [1, 3, 5]
    assert client.summaries() == [f"HEADERS[{i}] END_STREAM|END_HEADERS" for i in ids]


def test_client_stream_id_exhaustion_is_safe_to_retry(client: ScriptedPeer) -> None:
    client.engine._next_local_id = 2**31 - 1
    assert client.engine.open_stream(DEFAULT_REQUEST, end_stream=True) == 2**31 - 1
    with pytest.raises(ConnectionDraining) as info:
        client.engine.open_stream(DEFAULT_REQUEST, end_stream=True)
    assert info.value.is_safe_to_retry


def test_server_pushed_stream_is_protocol_error(client: ScriptedPeer) -> None:
    """We advertise ENABLE_PUSH=0: a server-initiated (even) stream is a connection error."""
    events = client.send(client.response(2))
    client.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


def test_server_cannot_open_streams(server: ScriptedPeer) -> None:
    with pytest.raises(LocalProtocolError):
        server.engine.open_stream(DEFAULT_REQUEST)


# -- §5.1.2 stream concurrency -------------------------------------------------------------


def test_streams_over_the_limit_are_refused() -> None:
    """h2spec 5.1.2.1: REFUSED_STREAM (safe to retry), never surfaced as a request."""
    peer = make_server(Http2Config(max_concurrent_streams=2))
    events = peer.send(*(peer.request(sid, end_stream=False) for sid in (1, 3, 5)))
    assert event_types(events) == ["RequestReceived", "RequestReceived", "StreamRefused"]
    assert events[2] == ev.StreamRefused(5, "max_concurrent_streams")
    assert peer.summaries() == ["RST_STREAM[5] REFUSED_STREAM"]
    # Frames the client already sent on the refused stream are ignored.
    assert peer.send(data_frame(5, b"body", end_stream=True)) == []
    assert peer.summaries() == []
    # Once a stream closes there is room again.
    peer.engine.reset_stream(1)
    peer.frames()
    assert event_types(peer.send(peer.request(7))) == ["RequestReceived"]


def test_default_limit_is_100(server: ScriptedPeer) -> None:
    events = server.send(*(server.request(2 * i + 1, end_stream=False) for i in range(101)))
    assert event_types(events) == ["RequestReceived"] * 100 + ["StreamRefused"]
    assert server.summaries() == ["RST_STREAM[201] REFUSED_STREAM"]
    assert server.engine.active_stream_count == 100


def test_half_closed_streams_count_toward_the_limit() -> None:
    peer = make_server(Http2Config(max_concurrent_streams=1))
    peer.send(peer.request(1, end_stream=True))  # half-closed (remote), response pending
    assert peer.send(peer.request(3)) == [ev.StreamRefused(3, "max_concurrent_streams")]


def test_zero_concurrent_streams_refuses_everything() -> None:
    peer = make_server(Http2Config(max_concurrent_streams=0))
    assert peer.send(peer.request(1)) == [ev.StreamRefused(1, "max_concurrent_streams")]
    assert peer.summaries() == ["RST_STREAM[1] REFUSED_STREAM"]


def test_client_respects_peer_limit() -> None:
    peer = make_client(settings={SettingCode.MAX_CONCURRENT_STREAMS: 2})
    engine = peer.engine
    assert engine.available_stream_capacity == 2
    engine.open_stream(DEFAULT_REQUEST, end_stream=True)
    engine.open_stream(DEFAULT_REQUEST, end_stream=True)
    assert engine.available_stream_capacity == 0
    with pytest.raises(LocalProtocolError):
        engine.open_stream(DEFAULT_REQUEST, end_stream=True)
    peer.frames()
    peer.send(peer.response(1))
    assert engine.available_stream_capacity == 1


def test_client_limit_can_shrink_mid_connection(client: ScriptedPeer) -> None:
    client.engine.open_stream(DEFAULT_REQUEST, end_stream=True)
    client.send(settings_frame({SettingCode.MAX_CONCURRENT_STREAMS: 1}))
    assert client.engine.available_stream_capacity == 0
    assert client.summaries()[-1] == "SETTINGS ACK"


# -- §5.3 priority ------------------------------------------------------------------------


def test_headers_depending_on_itself_is_stream_error(server: ScriptedPeer) -> None:
    """h2spec 5.3.1.1: PROTOCOL_ERROR on that stream; its block is still decoded."""
    request = [*DEFAULT_REQUEST, (b"x-dep", b"self")]
    block = server.block(request)
    events = server.send(headers_frame(1, block, end_stream=True, priority=(1, 16, False)))
    assert events == []
    assert server.summaries() == ["RST_STREAM[1] PROTOCOL_ERROR"]
    assert server.send(server.request(3, request)) == [ev.RequestReceived(3, request, True)]


def test_self_dependent_headers_stream_stays_closed(server: ScriptedPeer) -> None:
    """The reset stream's DATA in flight is ignored, not an idle-stream error."""
    block = server.block(DEFAULT_REQUEST)
    server.send(headers_frame(1, block, priority=(1, 16, False)))
    server.frames()
    assert server.send(data_frame(1, b"body", end_stream=True)) == []
    assert server.summaries() == []
    assert not server.engine.is_drained


def test_priority_depending_on_itself_is_an_error(server: ScriptedPeer) -> None:
    """h2spec 5.3.1.2: on an open stream, a stream error."""
    server.send(server.request(1, end_stream=False))
    events = server.send(priority_frame(1, depends_on=1))
    server.expect_stream_error(events, 1, ErrorCode.PROTOCOL_ERROR)


def test_priority_depending_on_itself_on_idle_stream_is_protocol_error(
    server: ScriptedPeer,
) -> None:
    """We never send RST_STREAM for an idle stream (§5.1): the error is raised to the connection."""
    events = server.send(priority_frame(1, depends_on=1))
    server.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


def test_priority_information_is_accepted_and_ignored(server: ScriptedPeer) -> None:
    """§5.3.2: the priority signalling of RFC 7540 is deprecated; accept and ignore."""
    block = server.block(DEFAULT_REQUEST)
    events = server.send(
        priority_frame(3, depends_on=1, weight=256, exclusive=True),
        headers_frame(1, block, end_stream=True, priority=(0, 1, True), pad_length=3),
        priority_frame(1, depends_on=3),
    )
    assert events == [ev.RequestReceived(1, DEFAULT_REQUEST, True)]
    assert server.summaries() == []


# -- §5.4 error handling ----------------------------------------------------------------------


def test_connection_error_goaway_names_last_processed_stream(server: ScriptedPeer) -> None:
    """§5.4.1: GOAWAY carries the last stream we processed; open streams are closed."""
    server.send(server.request(1, end_stream=False), server.request(3, end_stream=False))
    events = server.send(data_frame(0, b"bad"))
    assert event_types(events) == [
        "StreamReset",
        "StreamReset",
        "GoAwaySent",
        "ConnectionTerminated",
    ]
    goaway = server.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR, last_stream_id=3)
    assert goaway.debug_data == b"DATA on stream 0"
    assert server.engine.active_stream_count == 0


def test_nothing_is_sent_or_processed_after_a_connection_error(server: ScriptedPeer) -> None:
    """§5.4.1: after GOAWAY(error) the connection is done: later bytes are dropped."""
    events = server.send(ping_frame(b"1234567"), ping_frame(b"12345678"))
    server.expect_connection_error(events, ErrorCode.FRAME_SIZE_ERROR)
    assert server.send(ping_frame(b"12345678"), server.request(1)) == []
    assert server.summaries() == []
    assert server.engine.phase is Phase.CLOSING


def test_stream_error_leaves_other_streams_alone(server: ScriptedPeer) -> None:
    """§5.4.2: RST_STREAM on the faulty stream; the others go on."""
    events = server.send(
        server.request(1, end_stream=False),
        server.request(3, end_stream=False),
        window_update_frame(1, 0),
        data_frame(3, b"fine", end_stream=True),
    )
    assert event_types(events) == [
        "RequestReceived",
        "RequestReceived",
        "StreamReset",
        "DataReceived",
    ]
    assert events[2] == ev.StreamReset(1, ErrorCode.PROTOCOL_ERROR, False)
    assert server.summaries() == ["RST_STREAM[1] PROTOCOL_ERROR"]
    assert server.engine.is_stream_open(3)


def test_invalid_ping_closes_with_goaway(server: ScriptedPeer) -> None:
    """h2spec 5.4.1.1/5.4.1.2: an invalid PING ends the connection with a GOAWAY."""
    events = server.send(raw_frame(0x6, 0, 0, b"\x00" * 6))
    server.expect_connection_error(events, ErrorCode.FRAME_SIZE_ERROR)
    assert server.engine.is_drained


def test_local_close_with_error_code(either: ScriptedPeer) -> None:
    either.engine.close(ErrorCode.INTERNAL_ERROR, b"bug")
    events = either.engine.pop_events()
    assert events == [
        ev.GoAwaySent(0, ErrorCode.INTERNAL_ERROR, b"bug", True),
        ev.ConnectionTerminated(ErrorCode.INTERNAL_ERROR, b"bug", False),
    ]
    assert either.summaries() == ["GOAWAY last=0 INTERNAL_ERROR"]
    either.engine.close(ErrorCode.INTERNAL_ERROR)  # idempotent
    assert either.engine.pop_events() == [] and either.summaries() == []


# -- §5.5 extending HTTP/2 -------------------------------------------------------------------


def test_unknown_frame_inside_a_header_block_is_protocol_error(server: ScriptedPeer) -> None:
    """h2spec 5.5.2."""
    block = server.block(DEFAULT_REQUEST)
    events = server.send(
        headers_frame(1, block[:2], end_headers=False), raw_frame(0xBB, 0, 1, b"ext")
    )
    server.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


def test_unknown_setting_is_ignored(either: ScriptedPeer) -> None:
    events = either.send(settings_frame({0xABCD: 12345}))
    assert events == [ev.SettingsReceived({0xABCD: 12345})]
    assert either.summaries() == ["SETTINGS ACK"]


def test_unknown_error_codes_are_not_errors(server: ScriptedPeer) -> None:
    """§7: unknown error codes are treated like INTERNAL_ERROR would be, not as a fault."""
    server.send(server.request(1, end_stream=False))
    assert server.send(rst_stream_frame(1, 0xDEAD)) == [ev.StreamReset(1, 0xDEAD, True)]
    assert server.summaries() == []


def test_unknown_frame_on_a_closed_or_idle_stream_is_ignored(server: ScriptedPeer) -> None:
    assert server.send(raw_frame(0xF0, 0, 99, b"")) == []
    assert server.summaries() == []
    assert event_types(server.send(server.request(1))) == ["RequestReceived"]


def test_ping_during_open_streams_still_answered(server: ScriptedPeer) -> None:
    server.send(server.request(1, end_stream=False))
    server.send(ping_frame(b"abcdefgh"))
    assert server.summaries() == ["PING ACK 6162636465666768"]
