"""Drain, the contract of DESIGN.md "Drain semantics" (RFC 9113 §6.8, §8.7).

Server: GOAWAY(2^31-1, NO_ERROR, debug) then PING; the PING ACK (or
``handle_timer`` past ``goaway_ping_timeout``) brings the final GOAWAY with
the highest stream actually accepted. Streams at or below it keep working
both ways; newer ones are refused with REFUSED_STREAM and never surfaced.
``DrainCompleted`` comes only after the final GOAWAY and the last byte of the
last stream. Client: a received GOAWAY(L) names the streams above L as
unprocessed (safe to retry); streams at or below L complete.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from lastcall.engines.http2 import (
    DRAIN_PING_PAYLOAD,
    DrainInitiator,
    DrainPhase,
    ErrorCode,
    Http2Config,
    Phase,
)
from lastcall.engines.http2 import events as ev
from lastcall.errors import ConnectionDraining
from lastcall.testing.frames import (
    DEFAULT_REQUEST,
    ScriptedPeer,
    data_frame,
    event_types,
    goaway_frame,
    ping_frame,
    rst_stream_frame,
    window_update_frame,
)
from lastcall.testing.frames import client_peer as make_client
from lastcall.testing.frames import server_peer as make_server

MAX_ID = 2**31 - 1
RESPONSE = [(b":status", b"200")]
POST = [(b":method", b"POST"), *DEFAULT_REQUEST[1:]]
PING_HEX = DRAIN_PING_PAYLOAD.hex()
DRAIN_ACK = ping_frame(DRAIN_PING_PAYLOAD, ack=True)


def drain(peer: ScriptedPeer, now: float = 100.0, debug: bytes = b"shutdown") -> list[ev.Event]:
    """start_drain, checking the first GOAWAY and PING went out in that order."""
    peer.engine.start_drain(now, debug)
    frames = peer.frames()
    assert [f.summary() for f in frames] == [
        f"GOAWAY last={MAX_ID} NO_ERROR",
        f"PING {PING_HEX}",
    ]
    assert frames[0].debug_data == debug
    return peer.engine.pop_events()


# -- the two GOAWAYs --------------------------------------------------------------------------


def test_start_drain_sends_goaway_max_then_ping(server: ScriptedPeer) -> None:
    events = drain(server, debug=b"max_age")
    assert events == [ev.GoAwaySent(MAX_ID, ErrorCode.NO_ERROR, b"max_age", False)]
    assert server.engine.phase is Phase.DRAINING
    assert server.engine.get_timer() == 101.0


def test_ping_ack_brings_final_goaway_with_highest_accepted_id(server: ScriptedPeer) -> None:
    server.send(server.request(1), server.request(3))
    server.frames()
    drain(server)
    events = server.send(DRAIN_ACK)
    assert events == [
        ev.PingAcknowledged(DRAIN_PING_PAYLOAD),
        ev.GoAwaySent(3, ErrorCode.NO_ERROR, b"shutdown", True),
    ]
    frames = server.frames()
    assert [f.summary() for f in frames] == ["GOAWAY last=3 NO_ERROR"]
    assert frames[0].debug_data == b"shutdown"
    assert server.engine.get_timer() is None


def test_final_goaway_with_no_streams_completes_the_drain(server: ScriptedPeer) -> None:
    drain(server)
    events = server.send(DRAIN_ACK)
    assert event_types(events) == ["PingAcknowledged", "GoAwaySent", "DrainCompleted"]
    assert server.summaries() == ["GOAWAY last=0 NO_ERROR"]
    assert server.engine.phase is Phase.CLOSING and server.engine.is_drained


def test_other_ping_acks_do_not_end_the_wait(server: ScriptedPeer) -> None:
    drain(server)
    server.engine.send_ping(b"userping")
    server.frames()
    assert server.send(ping_frame(b"userping", ack=True)) == [ev.PingAcknowledged(b"userping")]
    assert server.summaries() == []
    assert server.engine.get_timer() == 101.0


def test_timer_brings_final_goaway_when_no_ack_comes(server: ScriptedPeer) -> None:
    server.send(server.request(1))
    server.frames()
    drain(server, now=50.0)
    assert server.engine.handle_timer(50.999) == []
    assert server.summaries() == []
    assert server.engine.handle_timer(51.0) == [
        ev.GoAwaySent(1, ErrorCode.NO_ERROR, b"shutdown", True)
    ]
    assert server.summaries() == ["GOAWAY last=1 NO_ERROR"]
    assert server.engine.get_timer() is None
    # A late ACK changes nothing.
    assert server.send(DRAIN_ACK) == [ev.PingAcknowledged(DRAIN_PING_PAYLOAD)]
    assert server.summaries() == []


@pytest.mark.parametrize(("configured", "effective"), [(0.25, 0.25), (1.0, 1.0), (60.0, 5.0)])
def test_ping_timeout_is_clamped_to_five_seconds(configured: float, effective: float) -> None:
    assert Http2Config().goaway_ping_timeout == 1.0
    peer = make_server(Http2Config(goaway_ping_timeout=configured))
    drain(peer, now=10.0)
    assert peer.engine.get_timer() == 10.0 + effective


@pytest.mark.parametrize("timeout", [0.0, -3.0])
def test_zero_ping_timeout_sends_both_goaways_at_once(timeout: float) -> None:
    peer = make_server(Http2Config(goaway_ping_timeout=timeout))
    peer.send(peer.request(1, end_stream=False))
    peer.frames()
    peer.engine.start_drain(0.0)
    assert peer.summaries() == [
        f"GOAWAY last={MAX_ID} NO_ERROR",
        f"PING {PING_HEX}",
        "GOAWAY last=1 NO_ERROR",
    ]
    assert peer.engine.get_timer() is None


def test_start_drain_is_idempotent(server: ScriptedPeer) -> None:
    server.send(server.request(1))
    server.frames()
    drain(server)
    server.engine.start_drain(100.5, b"again")
    assert server.summaries() == [] and server.engine.pop_events() == []
    assert server.engine.get_timer() == 101.0  # the first deadline stands
    server.send(DRAIN_ACK)
    server.frames()
    server.engine.start_drain(102.0)
    assert server.summaries() == [] and server.engine.pop_events() == []


def test_goaway_ids_never_increase(server: ScriptedPeer) -> None:
    """Every GOAWAY we send carries an id <= the one before it (§6.8)."""
    server.send(server.request(1, end_stream=False))
    server.frames()
    drain(server)
    server.send(server.request(3, end_stream=False))  # races the drain: accepted
    server.send(DRAIN_ACK)
    server.send(server.request(5, end_stream=False))  # after the final one: refused
    server.engine.start_drain(200.0)
    server.engine.cancel_remaining()
    server.engine.close(ErrorCode.INTERNAL_ERROR)
    ids = [int(s.split()[1][5:]) for s in server.summaries() if s.startswith("GOAWAY")]
    assert ids == [3, 3]
    assert server.engine.last_processed_id == 3


# -- the races ----------------------------------------------------------------------------------


def test_headers_between_the_goaways_is_accepted_and_counted(server: ScriptedPeer) -> None:
    server.send(server.request(1))
    drain(server)
    events = server.send(server.request(3, POST, end_stream=False))
    assert events == [ev.RequestReceived(3, POST, False)]
    assert server.summaries() == []
    events = server.send(DRAIN_ACK)
    assert ev.GoAwaySent(3, ErrorCode.NO_ERROR, b"shutdown", True) in events
    assert server.summaries() == ["GOAWAY last=3 NO_ERROR"]
    # The raced stream works to the end.
    assert event_types(server.send(data_frame(3, b"body", end_stream=True))) == ["DataReceived"]


def test_headers_after_the_final_goaway_is_refused(server: ScriptedPeer) -> None:
    server.send(server.request(1, end_stream=False))
    drain(server)
    server.send(DRAIN_ACK)
    server.frames()
    events = server.send(server.request(3, POST, end_stream=False), data_frame(3, b"body"))
    assert events == [ev.StreamRefused(3, "draining")]
    assert not any(isinstance(e, ev.RequestReceived) for e in events)
    assert server.summaries() == ["RST_STREAM[3] REFUSED_STREAM"]
    assert server.engine.last_processed_id == 1
    assert not server.engine.is_stream_open(3)


def test_refused_stream_does_not_hold_the_drain(server: ScriptedPeer) -> None:
    drain(server)
    server.send(DRAIN_ACK)
    server.frames()
    events = server.send(server.request(1, POST, end_stream=False), data_frame(1, b"x"))
    assert events == [ev.StreamRefused(1, "draining")]
    assert server.engine.phase is Phase.CLOSING


def test_header_block_split_across_the_drain_is_accepted(server: ScriptedPeer) -> None:
    from lastcall.testing.frames import continuation_frame, headers_frame

    block = server.block(DEFAULT_REQUEST)
    server.send(headers_frame(1, block[:3], end_stream=True, end_headers=False))
    drain(server)
    events = server.send(continuation_frame(1, block[3:]))
    assert events == [ev.RequestReceived(1, DEFAULT_REQUEST, True)]


# -- streams at or below the id keep working ----------------------------------------------------


def test_streams_keep_working_both_ways_after_the_final_goaway(server: ScriptedPeer) -> None:
    server.send(
        server.request(1, POST, end_stream=False), server.request(3, POST, end_stream=False)
    )
    drain(server)
    server.send(DRAIN_ACK)
    assert server.summaries() == ["GOAWAY last=3 NO_ERROR"]
    # Request bodies, trailers, a reset and window updates still flow in.
    events = server.send(
        data_frame(1, b"request body"),
        server.trailers(1, [(b"x-sum", b"42")]),
        rst_stream_frame(3, ErrorCode.CANCEL),
        window_update_frame(0, 1000),
    )
    assert event_types(events) == [
        "DataReceived",
        "TrailersReceived",
        "StreamReset",
        "WindowUpdated",
    ]
    server.engine.acknowledge_received_data(1, 12)
    # Responses go out: headers, data, trailers.
    server.engine.send_headers(1, RESPONSE)
    server.engine.send_data(1, b"response body")
    server.engine.send_trailers(1, [(b"grpc-status", b"0")])
    frames = server.frames()
    assert [f.summary() for f in frames] == [
        "HEADERS[1] END_HEADERS",
        "DATA[1] 13",
        "HEADERS[1] END_STREAM|END_HEADERS",
    ]
    assert event_types(server.engine.pop_events()) == ["DrainCompleted"]
    assert server.engine.phase is Phase.CLOSING


def test_ping_and_settings_still_answered_while_draining(server: ScriptedPeer) -> None:
    server.send(server.request(1, end_stream=False))
    drain(server)
    server.send(DRAIN_ACK)
    server.frames()
    from lastcall.testing.frames import settings_frame

    server.send(ping_frame(b"stillthr"), settings_frame({}))
    assert server.summaries() == ["PING ACK 7374696c6c746872", "SETTINGS ACK"]


def test_drain_completed_waits_for_the_final_goaway(server: ScriptedPeer) -> None:
    """The last stream ends before the PING ACK: no DrainCompleted until the final GOAWAY."""
    server.send(server.request(1))
    drain(server)
    server.engine.send_headers(1, RESPONSE, end_stream=True)
    assert server.engine.pop_events() == []
    assert server.summaries() == ["HEADERS[1] END_STREAM|END_HEADERS"]
    assert server.engine.phase is Phase.DRAINING
    events = server.send(DRAIN_ACK)
    assert event_types(events) == ["PingAcknowledged", "GoAwaySent", "DrainCompleted"]
    assert server.summaries() == ["GOAWAY last=1 NO_ERROR"]


def test_drain_completed_waits_for_queued_data(server: ScriptedPeer) -> None:
    """No DrainCompleted while DATA is queued behind flow control; it comes with the last byte."""
    server.send(server.request(1))
    server.engine.send_headers(1, RESPONSE)
    server.engine.send_data(1, b"q" * 70_000, end_stream=True)
    server.frames()
    drain(server)
    events = server.send(DRAIN_ACK)
    assert "DrainCompleted" not in event_types(events)
    assert server.summaries() == ["GOAWAY last=1 NO_ERROR"]
    assert server.engine.outbound_buffered(1) == 70_000 - 65_535
    events = server.send(window_update_frame(0, 4_000), window_update_frame(1, 4_000))
    assert "DrainCompleted" not in event_types(events)
    assert server.summaries() == ["DATA[1] 4000"]
    assert server.engine.phase is Phase.DRAINING
    events = server.send(window_update_frame(0, 465), window_update_frame(1, 465))
    assert event_types(events) == ["WindowUpdated", "WindowUpdated", "DrainCompleted"]
    assert server.summaries() == ["DATA[1] 465 END_STREAM"]
    assert server.engine.outbound_buffered(1) == 0
    assert server.engine.is_drained


def test_drain_completed_waits_for_queued_trailers() -> None:
    """A gRPC-style response: DATA blocked on the stream window, trailers behind it.
    The drain completes with the trailers, not before."""
    peer = make_server(settings={0x4: 10})
    peer.send(peer.request(1))
    peer.engine.send_headers(1, RESPONSE)
    peer.engine.send_data(1, b"m" * 25)
    peer.engine.send_trailers(1, [(b"grpc-status", b"0")])
    peer.frames()
    drain(peer)
    peer.send(DRAIN_ACK)
    assert peer.summaries() == ["GOAWAY last=1 NO_ERROR"]
    events = peer.send(window_update_frame(1, 10))
    assert event_types(events) == ["WindowUpdated"]
    assert peer.summaries() == ["DATA[1] 10"]
    events = peer.send(window_update_frame(1, 10))
    assert event_types(events) == ["WindowUpdated", "DrainCompleted"]
    frames = peer.frames()
    assert [f.summary() for f in frames] == ["DATA[1] 5", "HEADERS[1] END_STREAM|END_HEADERS"]
    assert frames[1].headers == [(b"grpc-status", b"0")]


def test_drain_completed_waits_for_the_request_side_too(server: ScriptedPeer) -> None:
    """A stream is done when both sides are: a request body still arriving keeps it open."""
    server.send(server.request(1, POST, end_stream=False))
    drain(server)
    server.send(DRAIN_ACK)
    server.frames()
    server.engine.send_headers(1, RESPONSE, end_stream=False)
    server.engine.send_data(1, b"streaming")
    assert server.engine.pop_events() == []
    events = server.send(data_frame(1, b"last", end_stream=True))
    assert event_types(events) == ["DataReceived"]
    server.engine.end_stream(1)
    assert server.summaries() == ["HEADERS[1] END_HEADERS", "DATA[1] 9", "DATA[1] 0 END_STREAM"]
    assert event_types(server.engine.pop_events()) == ["DrainCompleted"]


def test_drain_completed_is_reported_once(server: ScriptedPeer) -> None:
    server.send(server.request(1))
    drain(server)
    server.send(DRAIN_ACK)
    server.engine.send_headers(1, RESPONSE, end_stream=True)
    assert event_types(server.engine.pop_events()) == ["DrainCompleted"]
    server.engine.cancel_remaining()
    server.engine.start_drain(300.0)
    server.send(ping_frame(b"12345678"))
    assert server.engine.pop_events() == []
    assert server.engine.handle_timer(1e9) == []


# -- grace expiry -----------------------------------------------------------------------------


def test_cancel_remaining_resets_streams_then_final_goaway(server: ScriptedPeer) -> None:
    server.send(server.request(1), server.request(3, POST, end_stream=False))
    server.engine.send_headers(1, RESPONSE)
    server.engine.send_data(1, b"z" * 70_000)
    server.frames()
    drain(server)
    server.engine.cancel_remaining()
    frames = server.frames()
    assert [f.summary() for f in frames] == [
        "RST_STREAM[1] CANCEL",
        "RST_STREAM[3] CANCEL",
        "GOAWAY last=3 NO_ERROR",
    ]
    assert frames[2].debug_data == b"grace_expired"
    assert server.engine.pop_events() == [
        ev.StreamReset(1, ErrorCode.CANCEL, False),
        ev.StreamReset(3, ErrorCode.CANCEL, False),
        ev.GoAwaySent(3, ErrorCode.NO_ERROR, b"grace_expired", True),
        ev.DrainCompleted(),
    ]
    assert server.engine.outbound_buffered(1) == 0
    assert server.engine.get_timer() is None
    # Frames the client had in flight for them are ignored, not answered.
    assert server.send(data_frame(3, b"late body"), window_update_frame(1, 10)) == []
    assert server.summaries() == []
    # And it is idempotent.
    server.engine.cancel_remaining()
    assert server.summaries() == [] and server.engine.pop_events() == []


def test_cancel_remaining_without_a_drain(server: ScriptedPeer) -> None:
    server.send(server.request(1, end_stream=False))
    server.frames()
    server.engine.cancel_remaining(b"deadline")
    assert server.summaries() == ["RST_STREAM[1] CANCEL", "GOAWAY last=1 NO_ERROR"]
    assert event_types(server.engine.pop_events()) == [
        "StreamReset",
        "GoAwaySent",
        "DrainCompleted",
    ]
    assert server.engine.is_drained
    events = server.send(server.request(3))
    assert events == [ev.StreamRefused(3, "draining")]


def test_cancel_remaining_after_the_final_goaway_keeps_its_id(server: ScriptedPeer) -> None:
    server.send(server.request(1, end_stream=False), server.request(3, end_stream=False))
    drain(server)
    server.send(DRAIN_ACK)
    server.frames()
    server.engine.cancel_remaining()
    assert server.summaries() == [
        "RST_STREAM[1] CANCEL",
        "RST_STREAM[3] CANCEL",
        "GOAWAY last=3 NO_ERROR",
    ]


# -- close and connection errors during a drain ----------------------------------------------------


def test_close_with_error_code_terminates(server: ScriptedPeer) -> None:
    server.send(server.request(1, end_stream=False))
    server.frames()
    server.engine.close(ErrorCode.INTERNAL_ERROR, b"crash")
    assert server.summaries() == ["GOAWAY last=1 INTERNAL_ERROR"]
    assert server.engine.pop_events() == [
        ev.StreamReset(1, ErrorCode.INTERNAL_ERROR, False),
        ev.GoAwaySent(1, ErrorCode.INTERNAL_ERROR, b"crash", True),
        ev.ConnectionTerminated(ErrorCode.INTERNAL_ERROR, b"crash", False),
    ]
    assert server.engine.phase is Phase.CLOSING


def test_close_without_error_completes(server: ScriptedPeer) -> None:
    server.engine.close()
    assert server.summaries() == ["GOAWAY last=0 NO_ERROR"]
    assert event_types(server.engine.pop_events()) == ["GoAwaySent", "DrainCompleted"]


def test_connection_error_while_draining(server: ScriptedPeer) -> None:
    server.send(server.request(1, end_stream=False))
    drain(server)
    events = server.send(window_update_frame(0, 0))
    assert event_types(events) == ["StreamReset", "GoAwaySent", "ConnectionTerminated"]
    server.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR, last_stream_id=1)


def test_transport_closed(server: ScriptedPeer) -> None:
    server.send(server.request(1, end_stream=False))
    drain(server)
    server.engine.transport_closed()
    assert server.engine.phase is Phase.CLOSED
    assert server.engine.get_timer() is None
    assert server.send(DRAIN_ACK) == []
    assert server.summaries() == []


def test_client_goaway_to_a_server(server: ScriptedPeer) -> None:
    """A client's GOAWAY: the server takes no new streams and finishes the open ones."""
    server.send(server.request(1))
    events = server.send(goaway_frame(0, ErrorCode.NO_ERROR, b"client leaving"))
    assert events == [ev.GoAwayReceived(0, ErrorCode.NO_ERROR, b"client leaving", [])]
    assert server.send(server.request(3)) == [ev.StreamRefused(3, "draining")]
    server.frames()
    server.engine.send_headers(1, RESPONSE, end_stream=True)
    assert server.summaries() == ["HEADERS[1] END_STREAM|END_HEADERS"]
    assert event_types(server.engine.pop_events()) == ["DrainCompleted"]


# -- client role --------------------------------------------------------------------------------


def open_requests(peer: ScriptedPeer, n: int) -> list[int]:
    ids = [peer.engine.open_stream(DEFAULT_REQUEST, end_stream=True) for _ in range(n)]
    peer.frames()
    return ids


def test_client_goaway_lists_unprocessed_streams(client: ScriptedPeer) -> None:
    assert open_requests(client, 4) == [1, 3, 5, 7]
    events = client.send(goaway_frame(3, ErrorCode.NO_ERROR, b"max_requests"))
    assert events == [ev.GoAwayReceived(3, ErrorCode.NO_ERROR, b"max_requests", [5, 7])]
    assert [client.engine.is_stream_open(s) for s in (1, 3, 5, 7)] == [True, True, False, False]
    assert client.engine.peer_last_processed_id == 3
    assert client.engine.available_stream_capacity == 0
    # Frames for unprocessed streams are ignored; streams <= 3 complete.
    events = client.send(
        client.response(5),
        client.response(1, end_stream=False),
        data_frame(1, b"one", end_stream=True),
        client.response(3),
    )
    assert event_types(events) == [
        "ResponseReceived",
        "DataReceived",
        "ResponseReceived",
        "DrainCompleted",
    ]
    assert [e.stream_id for e in events[:3]] == [1, 1, 3]
    assert client.summaries() == []
    assert client.engine.is_drained


def test_client_open_stream_after_goaway_is_safe_to_retry(client: ScriptedPeer) -> None:
    open_requests(client, 1)
    client.send(goaway_frame(MAX_ID))
    with pytest.raises(ConnectionDraining) as info:
        client.engine.open_stream(DEFAULT_REQUEST)
    assert info.value.is_safe_to_retry
    assert client.summaries() == []


def test_client_follows_a_two_step_drain(client: ScriptedPeer) -> None:
    open_requests(client, 2)
    events = client.send(goaway_frame(MAX_ID, 0, b"shutdown"), ping_frame(DRAIN_PING_PAYLOAD))
    assert events == [
        ev.GoAwayReceived(MAX_ID, 0, b"shutdown", []),
        ev.PingReceived(DRAIN_PING_PAYLOAD),
    ]
    assert client.summaries() == [f"PING ACK {PING_HEX}"]
    # Between the two, the client still sends on its streams.
    sid = 3
    client.send(client.response(sid, end_stream=False))
    client.send(data_frame(sid, b"x" * 10))
    client.engine.acknowledge_received_data(sid, 10)
    events = client.send(goaway_frame(1, 0, b"shutdown"))
    assert events == [ev.GoAwayReceived(1, 0, b"shutdown", [3])]
    assert not client.engine.is_stream_open(3)
    events = client.send(client.response(1))
    assert event_types(events) == ["ResponseReceived", "DrainCompleted"]


def test_client_goaway_id_never_increases(client: ScriptedPeer) -> None:
    open_requests(client, 3)
    client.send(goaway_frame(1))
    events = client.send(goaway_frame(5))
    assert events == [ev.GoAwayReceived(1, 0, b"", [])]
    assert client.engine.peer_last_processed_id == 1


def test_client_goaway_zero_with_nothing_open_completes(client: ScriptedPeer) -> None:
    events = client.send(goaway_frame(0, 0, b"bye"))
    assert events == [ev.GoAwayReceived(0, 0, b"bye", []), ev.DrainCompleted()]


def test_client_error_goaway_terminates(client: ScriptedPeer) -> None:
    """§5.4.1: after an error GOAWAY the peer closes the connection; every stream ends."""
    open_requests(client, 2)
    events = client.send(
        goaway_frame(1, ErrorCode.ENHANCE_YOUR_CALM, b"calm down"), client.response(1)
    )
    assert events == [
        ev.GoAwayReceived(1, ErrorCode.ENHANCE_YOUR_CALM, b"calm down", [3]),
        ev.ConnectionTerminated(ErrorCode.ENHANCE_YOUR_CALM, b"calm down", True),
    ]
    assert client.engine.is_drained and client.engine.active_stream_count == 0
    assert client.summaries() == []
    assert client.send(client.response(1)) == []


def test_client_start_drain_sends_goaway_zero(client: ScriptedPeer) -> None:
    open_requests(client, 1)
    client.engine.start_drain(5.0, b"client_close")
    frames = client.frames()
    assert [f.summary() for f in frames] == ["GOAWAY last=0 NO_ERROR"]
    assert frames[0].debug_data == b"client_close"
    assert client.engine.pop_events() == [
        ev.GoAwaySent(0, ErrorCode.NO_ERROR, b"client_close", True)
    ]
    assert client.engine.get_timer() is None
    with pytest.raises(ConnectionDraining):
        client.engine.open_stream(DEFAULT_REQUEST)
    # The request in flight completes; then the drain is done.
    events = client.send(
        client.response(1, end_stream=False), data_frame(1, b"ok", end_stream=True)
    )
    assert event_types(events) == ["ResponseReceived", "DataReceived", "DrainCompleted"]
    client.engine.start_drain(6.0)
    assert client.summaries() == []


def test_client_start_drain_idle_completes_at_once() -> None:
    peer = make_client()
    peer.engine.start_drain(0.0)
    assert peer.summaries() == ["GOAWAY last=0 NO_ERROR"]
    assert event_types(peer.engine.pop_events()) == ["GoAwaySent", "DrainCompleted"]


def test_client_cancel_remaining(client: ScriptedPeer) -> None:
    open_requests(client, 2)
    client.engine.cancel_remaining()
    assert client.summaries() == [
        "RST_STREAM[1] CANCEL",
        "RST_STREAM[3] CANCEL",
        "GOAWAY last=0 NO_ERROR",
    ]
    assert event_types(client.engine.pop_events()) == [
        "StreamReset",
        "StreamReset",
        "GoAwaySent",
        "DrainCompleted",
    ]
    assert client.send(client.response(1)) == []
    assert client.summaries() == []


def test_server_drain_end_to_end_between_two_engines() -> None:
    """Our client against our server: drain with a request in flight; nothing is lost."""
    from lastcall.engines.http2 import Http2Engine, Role

    server, client = Http2Engine(Role.SERVER), Http2Engine(Role.CLIENT)
    client.initiate()
    server.initiate()

    def pump() -> tuple[list[ev.Event], list[ev.Event]]:
        s_events: list[ev.Event] = []
        c_events: list[ev.Event] = []
        for _ in range(10):
            a = client.data_to_send()
            s_events += server.receive_data(a, 0.0)
            b = server.data_to_send()
            c_events += client.receive_data(b, 0.0)
            if not a and not b:
                break
        return s_events, c_events

    pump()
    sid = client.open_stream(POST)
    client.send_data(sid, b"part")
    s_events, _ = pump()
    assert event_types(s_events) == ["RequestReceived", "DataReceived"]
    server.start_drain(0.0)
    s_events, c_events = pump()
    assert [e for e in c_events if isinstance(e, ev.GoAwayReceived)] == [
        ev.GoAwayReceived(MAX_ID, 0, b"shutdown", []),
        ev.GoAwayReceived(1, 0, b"shutdown", []),
    ]
    client.send_data(sid, b"rest", end_stream=True)
    s_events, _ = pump()
    assert s_events == [ev.DataReceived(sid, b"rest", 4, True)]
    server.send_headers(sid, RESPONSE)
    server.send_data(sid, b"done", end_stream=True)
    s_events, c_events = pump()
    assert event_types(s_events) == ["DrainCompleted"]
    assert event_types(c_events) == ["ResponseReceived", "DataReceived", "DrainCompleted"]
    assert server.is_drained and client.is_drained


# -- property: a drain at any moment loses nothing ------------------------------------------------


class _Wire:
    """Our client and our server, with the bytes in flight each way held back
    so that drains race requests at every possible point."""

    def __init__(self) -> None:
        from lastcall.engines.http2 import Http2Engine, Role

        self.client = Http2Engine(Role.CLIENT)
        self.server = Http2Engine(Role.SERVER)
        self.client.initiate()
        self.server.initiate()
        self.c2s = bytearray()
        self.s2c = bytearray()
        self.now = 0.0
        self.bodies: dict[int, bytes] = {}  # request body the client still has to send
        self.accepted: set[int] = set()
        self.complete_requests: set[int] = set()
        self.responses: dict[int, bool] = {}  # stream -> response complete
        self.retry_safe: set[int] = set()
        self.client_goaways: list[int] = []
        self.server_final_ids: list[int] = []
        self.drained: set[str] = set()
        self.responded: set[int] = set()

    def collect(self) -> None:
        self.c2s += self.client.data_to_send()
        self.s2c += self.server.data_to_send()
        self.on_server(self.server.pop_events())
        self.on_client(self.client.pop_events())

    def on_server(self, events: list[ev.Event]) -> None:
        for e in events:
            if isinstance(e, ev.RequestReceived):
                assert not self.server_final_ids or e.stream_id <= self.server_final_ids[0]
                self.accepted.add(e.stream_id)
                if e.end_stream:
                    self.complete_requests.add(e.stream_id)
            elif isinstance(e, ev.DataReceived):
                self.server.acknowledge_received_data(e.stream_id, e.flow_controlled_length)
                if e.end_stream:
                    self.complete_requests.add(e.stream_id)
            elif isinstance(e, ev.GoAwaySent):
                if e.final:
                    self.server_final_ids.append(e.last_processed_id)
            elif isinstance(e, ev.DrainCompleted):
                self.drained.add("server")
            else:
                assert isinstance(
                    e,
                    ev.StreamRefused
                    | ev.SettingsReceived
                    | ev.SettingsAcknowledged
                    | ev.WindowUpdated
                    | ev.PingAcknowledged,
                ), e

    def on_client(self, events: list[ev.Event]) -> None:
        for e in events:
            if isinstance(e, ev.ResponseReceived):
                self.responses[e.stream_id] = e.end_stream
            elif isinstance(e, ev.DataReceived):
                self.client.acknowledge_received_data(e.stream_id, e.flow_controlled_length)
                if e.end_stream:
                    self.responses[e.stream_id] = True
            elif isinstance(e, ev.GoAwayReceived):
                self.client_goaways.append(e.last_processed_id)
                self.retry_safe.update(e.unprocessed_stream_ids)
            elif isinstance(e, ev.StreamReset):
                assert e.error_code == ErrorCode.REFUSED_STREAM and e.remote, e
                self.retry_safe.add(e.stream_id)
            elif isinstance(e, ev.DrainCompleted):
                self.drained.add("client")
            else:
                assert isinstance(
                    e,
                    ev.SettingsReceived
                    | ev.SettingsAcknowledged
                    | ev.WindowUpdated
                    | ev.PingReceived,
                ), e

    def step(self, action: str, n: int) -> None:
        client, server = self.client, self.server
        if action == "open" and client.phase is Phase.OPEN and client.available_stream_capacity:
            body = b"b" * (n * 997)
            sid = client.open_stream(POST, end_stream=not body)
            if body:
                self.bodies[sid] = body
        elif action == "body":
            for sid in list(self.bodies):
                if client.is_stream_open(sid):
                    client.send_data(sid, self.bodies.pop(sid), end_stream=True)
                else:
                    del self.bodies[sid]
                break
        elif action == "respond":
            for sid in sorted(self.complete_requests - self.responded):
                self.responded.add(sid)
                server.send_headers(sid, RESPONSE)
                server.send_data(sid, b"r" * (n * 1499), end_stream=True)
                break
        elif action == "c2s":
            piece, self.c2s[:] = bytes(self.c2s[: n * 37]), self.c2s[n * 37 :]
            self.on_server(server.receive_data(piece, self.now))
        elif action == "s2c":
            piece, self.s2c[:] = bytes(self.s2c[: n * 37]), self.s2c[n * 37 :]
            self.on_client(client.receive_data(piece, self.now))
        elif action == "drain":
            server.start_drain(self.now)
        elif action == "tick":
            self.now += n * 0.1
            self.on_server(server.handle_timer(self.now))
        self.collect()

    def settle(self) -> None:
        for _ in range(1000):
            for _sid in list(self.bodies):
                self.step("body", 0)
            for _sid in sorted(self.complete_requests - self.responded):
                self.step("respond", 3)
            moved = bool(self.c2s or self.s2c)
            self.step("c2s", 10**6)
            self.step("s2c", 10**6)
            if not moved and not self.bodies and not (self.complete_requests - self.responded):
                return
        raise AssertionError("no quiescence")


@settings(
    max_examples=int(150 * float(os.environ.get("LASTCALL_HYPOTHESIS_SCALE", "1"))), deadline=None
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                ["open", "open", "open", "body", "respond", "c2s", "s2c", "s2c", "drain", "tick"]
            ),
            st.integers(0, 40),
        ),
        max_size=60,
    ),
    st.booleans(),
)
def test_a_drain_at_any_moment_loses_nothing(
    actions: list[tuple[str, int]], finish_with_drain: bool
) -> None:
    """Random interleavings of requests, bodies, responses, partial delivery, the drain
    and the clock: every request either completes, or the client is told it was never
    processed (GOAWAY above its id, or REFUSED_STREAM) and the server never saw it."""
    wire = _Wire()
    wire.collect()
    for action, n in actions:
        wire.step(action, n)
    if finish_with_drain:
        wire.step("drain", 0)
    wire.settle()
    wire.step("tick", 100)  # past any PING-ACK allowance
    wire.settle()
    opened = set(range(1, wire.client._next_local_id, 2))
    for sid in opened:
        if sid in wire.retry_safe:
            assert sid not in wire.accepted, f"stream {sid} reported unprocessed but was served"
            assert sid not in wire.responses
        else:
            assert sid in wire.accepted
            assert wire.responses.get(sid) is True, f"stream {sid} lost"
    event(f"drained: {bool(wire.server_final_ids)}")
    event(f"retry-safe streams: {min(len(wire.retry_safe), 3)}")
    event(f"served streams: {min(len(wire.accepted), 5)}")
    assert wire.client_goaways == sorted(wire.client_goaways, reverse=True)
    if wire.server_final_ids:
        assert wire.client_goaways[0] == MAX_ID
        assert wire.client_goaways[-1] == wire.server_final_ids[0]
        assert all(sid <= wire.server_final_ids[0] for sid in wire.accepted)
        assert wire.drained == {"server", "client"}
        assert wire.server.phase is Phase.CLOSING and wire.client.phase is Phase.CLOSING


# -- who started the drain (drain_initiator) -----------------------------------------------


def test_our_goaway_first_makes_the_drain_local(either: ScriptedPeer) -> None:
    engine = either.engine
    assert engine.drain_initiator is None
    engine.start_drain(100.0)
    assert either.frames()[0].summary().startswith("GOAWAY")
    assert engine.drain_initiator is DrainInitiator.LOCAL
    # The peer's GOAWAY that follows changes nothing: ours came first.
    either.send(goaway_frame(0))
    assert engine.drain_initiator is DrainInitiator.LOCAL


def test_the_peers_goaway_first_makes_the_drain_the_peers(either: ScriptedPeer) -> None:
    engine = either.engine
    either.send(goaway_frame(0))
    assert engine.drain_initiator is DrainInitiator.PEER
    # Our own GOAWAY after it (a server answering with its drain) keeps that.
    engine.start_drain(100.0)
    assert engine.drain_initiator is DrainInitiator.PEER


def test_both_kinds_end_complete_and_only_the_initiator_tells_them_apart() -> None:
    ours, theirs = make_client(), make_client()
    ours.engine.start_drain(100.0)
    theirs.send(goaway_frame(0))
    for peer in (ours, theirs):
        assert peer.engine.drain_phase is DrainPhase.COMPLETE
        assert peer.engine.phase is Phase.CLOSING
    assert ours.engine.drain_initiator is DrainInitiator.LOCAL
    assert theirs.engine.drain_initiator is DrainInitiator.PEER


def test_a_close_or_an_error_is_no_drain(either: ScriptedPeer) -> None:
    either.engine.close(ErrorCode.INTERNAL_ERROR)
    assert either.engine.drain_initiator is None
    other = make_server()
    other.send(goaway_frame(0, ErrorCode.PROTOCOL_ERROR))
    assert other.engine.drain_initiator is None


def test_grace_expiry_before_any_goaway_is_a_local_drain(server: ScriptedPeer) -> None:
    server.send(server.request(1))
    server.engine.cancel_remaining()
    assert server.engine.drain_initiator is DrainInitiator.LOCAL
