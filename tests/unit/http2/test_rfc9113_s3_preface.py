"""RFC 9113 §3: starting HTTP/2 (h2spec http2/3.5 and a few more).

§3.4: the client sends the 24-octet preface then SETTINGS; the server's
preface is its SETTINGS frame. Anything else is a connection error of type
PROTOCOL_ERROR.
"""

from __future__ import annotations

import pytest

from lastcall.engines.http2 import ErrorCode, Http2Config, Http2Engine, Phase, Role, SettingCode
from lastcall.engines.http2 import events as ev
from lastcall.engines.http2.frames import CONNECTION_PREFACE, settings_payload
from lastcall.testing.frames import (
    DEFAULT_REQUEST,
    ScriptedPeer,
    data_frame,
    event_types,
    parse_frames,
    ping_frame,
    settings_frame,
    window_update_frame,
)


def fresh(role: Role, config: Http2Config | None = None) -> ScriptedPeer:
    peer = ScriptedPeer(Http2Engine(role, config))
    peer.engine.initiate()
    peer.frames()
    return peer


# -- what we send first -----------------------------------------------------------------


def test_server_preface_is_settings_then_connection_window_update() -> None:
    engine = Http2Engine(Role.SERVER)
    engine.initiate()
    frames = parse_frames(engine.data_to_send())
    assert [f.summary() for f in frames] == [
        "SETTINGS MAX_CONCURRENT_STREAMS=100,INITIAL_WINDOW_SIZE=1048576,"
        "MAX_HEADER_LIST_SIZE=65536,ENABLE_CONNECT_PROTOCOL=1",
        f"WINDOW_UPDATE[0] +{16_777_216 - 65_535}",
    ]
    assert engine.local_settings == frames[0].settings


def test_client_preface_then_settings_without_push() -> None:
    engine = Http2Engine(Role.CLIENT)
    engine.initiate()
    data = engine.data_to_send()
    assert data.startswith(CONNECTION_PREFACE)
    frames = parse_frames(data, preface=True)
    assert [f.summary() for f in frames] == [
        "SETTINGS MAX_CONCURRENT_STREAMS=100,INITIAL_WINDOW_SIZE=1048576,"
        "MAX_HEADER_LIST_SIZE=65536,ENABLE_PUSH=0",
        f"WINDOW_UPDATE[0] +{16_777_216 - 65_535}",
    ]


def test_configured_values_are_advertised() -> None:
    config = Http2Config(
        max_concurrent_streams=7,
        initial_window_size=1000,
        max_frame_size=32768,
        header_table_size=0,
        max_header_list_size=2048,
        connection_window_size=65_535,
        enable_connect_protocol=False,
    )
    engine = Http2Engine(Role.SERVER, config)
    engine.initiate()
    assert [f.summary() for f in parse_frames(engine.data_to_send())] == [
        "SETTINGS MAX_CONCURRENT_STREAMS=7,INITIAL_WINDOW_SIZE=1000,MAX_HEADER_LIST_SIZE=2048,"
        "MAX_FRAME_SIZE=32768,HEADER_TABLE_SIZE=0"
    ]


# -- h2spec 3.5: the client connection preface ---------------------------------------------


def test_valid_preface_and_settings_are_acknowledged() -> None:
    peer = fresh(Role.SERVER)
    events = peer.send(CONNECTION_PREFACE, settings_frame({SettingCode.MAX_FRAME_SIZE: 20000}))
    assert event_types(events) == ["SettingsReceived"]
    assert events[0] == ev.SettingsReceived({SettingCode.MAX_FRAME_SIZE: 20000})
    assert peer.summaries() == ["SETTINGS ACK"]
    assert peer.engine.phase is Phase.OPEN


def test_preface_and_request_in_one_read() -> None:
    peer = fresh(Role.SERVER)
    events = peer.send(CONNECTION_PREFACE, settings_frame(), peer.request(1))
    assert event_types(events) == ["SettingsReceived", "RequestReceived"]
    assert events[1] == ev.RequestReceived(1, DEFAULT_REQUEST, True)


def test_preface_split_one_byte_at_a_time() -> None:
    peer = fresh(Role.SERVER)
    data = CONNECTION_PREFACE + settings_frame() + peer.request(1)
    events = peer.send_split(data, [1] * (len(data) - 1))
    assert event_types(events) == ["SettingsReceived", "RequestReceived"]
    assert peer.summaries() == ["SETTINGS ACK"]


def test_invalid_preface_is_protocol_error() -> None:
    """h2spec 3.5.2: an invalid connection preface ends in GOAWAY(PROTOCOL_ERROR)."""
    peer = fresh(Role.SERVER)
    events = peer.send(b"INVALID CONNECTION PREFACE\r\n\r\n" + settings_frame())
    assert event_types(events) == ["GoAwaySent", "ConnectionTerminated"]
    goaway = peer.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)
    assert b"preface" in goaway.debug_data
    assert peer.engine.phase is Phase.CLOSING


def test_http1_request_is_rejected_before_the_preface_is_complete() -> None:
    """An HTTP/1.1 request on a prior-knowledge port is refused at its first octets."""
    peer = fresh(Role.SERVER)
    events = peer.send(b"GET / ")
    peer.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


def test_incomplete_valid_preface_waits() -> None:
    peer = fresh(Role.SERVER)
    assert peer.send(CONNECTION_PREFACE[:10]) == []
    assert peer.summaries() == []


def test_first_frame_after_preface_must_be_settings() -> None:
    peer = fresh(Role.SERVER)
    events = peer.send(CONNECTION_PREFACE, ping_frame())
    peer.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


def test_first_frame_may_not_be_a_settings_ack() -> None:
    peer = fresh(Role.SERVER)
    events = peer.send(CONNECTION_PREFACE, settings_frame(ack=True))
    peer.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


def test_client_requires_server_settings_first() -> None:
    peer = fresh(Role.CLIENT)
    events = peer.send(window_update_frame(0, 100))
    peer.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


def test_client_accepts_server_settings() -> None:
    peer = fresh(Role.CLIENT)
    events = peer.send(settings_frame({SettingCode.MAX_CONCURRENT_STREAMS: 3}))
    assert event_types(events) == ["SettingsReceived"]
    assert peer.summaries() == ["SETTINGS ACK"]
    assert peer.engine.available_stream_capacity == 3


def test_client_may_send_requests_before_server_settings() -> None:
    """§3.4: clients can send requests right after their preface."""
    engine = Http2Engine(Role.CLIENT)
    engine.initiate()
    sid = engine.open_stream(DEFAULT_REQUEST, end_stream=True)
    frames = parse_frames(engine.data_to_send(), preface=True)
    assert sid == 1
    assert [f.summary() for f in frames][-1] == "HEADERS[1] END_STREAM|END_HEADERS"


def test_nothing_is_processed_after_a_connection_error() -> None:
    peer = fresh(Role.SERVER)
    peer.send(b"XXXX")
    peer.frames()
    assert peer.send(CONNECTION_PREFACE, settings_frame(), peer.request(1)) == []
    assert peer.summaries() == []


# -- §3.2 (RFC 7540): h2c upgrade ----------------------------------------------------------


def test_h2c_upgrade_adopts_request_as_stream_1() -> None:
    engine = Http2Engine(Role.SERVER)
    peer = ScriptedPeer(engine)
    sid = engine.initiate_upgrade(settings_payload({SettingCode.INITIAL_WINDOW_SIZE: 10}))
    assert sid == 1
    peer.frames()
    assert engine.is_stream_open(1) and engine.last_processed_id == 1
    assert event_types(peer.send(CONNECTION_PREFACE, settings_frame())) == ["SettingsReceived"]
    peer.frames()
    # The client's HTTP2-Settings apply: a stream window of 10.
    engine.send_headers(1, [(b":status", b"200")])
    engine.send_data(1, b"x" * 15, end_stream=True)
    assert peer.summaries() == ["HEADERS[1] END_HEADERS", "DATA[1] 10"]
    assert engine.outbound_buffered(1) == 5
    # Stream 1 is half-closed (remote): the client may not send on it.
    peer.send(data_frame(1, b"late"))
    assert peer.summaries() == ["RST_STREAM[1] STREAM_CLOSED"]
    # The client's next stream is 3.
    assert event_types(peer.send(peer.request(3))) == ["RequestReceived"]


def test_h2c_upgrade_is_server_only() -> None:
    from lastcall.errors import LocalProtocolError

    with pytest.raises(LocalProtocolError):
        Http2Engine(Role.CLIENT).initiate_upgrade(b"")
