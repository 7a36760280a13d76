"""RFC 9113 §6: frame definitions, one class per frame type (h2spec http2/6.x).

Window-related cases of §6.9 beyond frame validity are in
test_rfc9113_s5_2_flow_control.py; GOAWAY as a drain is in test_rfc9113_s6_8_drain.py.
"""

from __future__ import annotations

import pytest

from lastcall.engines.http2 import ErrorCode, Http2Config, Phase, SettingCode
from lastcall.engines.http2 import events as ev
from lastcall.errors import LocalProtocolError
from lastcall.testing.frames import (
    DEFAULT_REQUEST,
    ScriptedPeer,
    continuation_frame,
    data_frame,
    event_types,
    goaway_frame,
    headers_frame,
    ping_frame,
    priority_frame,
    push_promise_frame,
    raw_frame,
    rst_stream_frame,
    settings_frame,
    window_update_frame,
)
from lastcall.testing.frames import server_peer as make_server

RESPONSE = [(b":status", b"200")]

# -- §6.1 DATA ------------------------------------------------------------------------------


def test_data_on_stream_zero_is_protocol_error(either: ScriptedPeer) -> None:
    """h2spec 6.1.1."""
    events = either.send(data_frame(0, b"test"))
    either.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


def test_data_on_half_closed_remote_stream_is_stream_closed(server: ScriptedPeer) -> None:
    """h2spec 6.1.2."""
    server.send(server.request(1, end_stream=True))
    events = server.send(data_frame(1, b"test"))
    server.expect_stream_error(events, 1, ErrorCode.STREAM_CLOSED)


def test_data_with_invalid_pad_length_is_protocol_error(server: ScriptedPeer) -> None:
    """h2spec 6.1.3: pad length >= payload length."""
    server.send(server.request(1, end_stream=False))
    events = server.send(raw_frame(0x0, 0x9, 1, b"\x06test"))
    server.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR, last_stream_id=1)


def test_padded_data_without_pad_length_octet_is_frame_size_error(server: ScriptedPeer) -> None:
    server.send(server.request(1, end_stream=False))
    events = server.send(raw_frame(0x0, 0x8, 1, b""))
    server.expect_connection_error(events, ErrorCode.FRAME_SIZE_ERROR, last_stream_id=1)


def test_padded_data_is_unpadded(server: ScriptedPeer) -> None:
    server.send(server.request(1, end_stream=False))
    events = server.send(
        data_frame(1, b"body", pad_length=10), data_frame(1, b"", pad_length=0, end_stream=True)
    )
    assert events == [ev.DataReceived(1, b"body", 15, False), ev.DataReceived(1, b"", 1, True)]


def test_data_before_request_headers_cannot_happen(server: ScriptedPeer) -> None:
    """DATA can only follow HEADERS: on an idle stream it is a connection error."""
    events = server.send(data_frame(1, b"x"), server.request(1))
    server.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


def test_data_before_response_headers_is_protocol_error(client: ScriptedPeer) -> None:
    sid = client.engine.open_stream(DEFAULT_REQUEST, end_stream=True)
    client.frames()
    events = client.send(data_frame(sid, b"no headers yet"))
    client.expect_stream_error(events, sid, ErrorCode.PROTOCOL_ERROR)


def test_end_stream_on_data_half_closes(server: ScriptedPeer) -> None:
    server.send(server.request(1, end_stream=False))
    events = server.send(data_frame(1, b"last", end_stream=True))
    assert events == [ev.DataReceived(1, b"last", 4, True)]
    assert server.engine.is_stream_open(1)  # half-closed (remote): our response is due
    server.engine.send_headers(1, RESPONSE, end_stream=True)
    assert not server.engine.is_stream_open(1)
    assert server.summaries() == ["HEADERS[1] END_STREAM|END_HEADERS"]


def test_send_data_on_unknown_stream_raises(server: ScriptedPeer) -> None:
    with pytest.raises(LocalProtocolError):
        server.engine.send_data(1, b"x")


# -- §6.2 HEADERS -----------------------------------------------------------------------------


def test_headers_then_priority_is_protocol_error(server: ScriptedPeer) -> None:
    """h2spec 6.2.1."""
    block = server.block(DEFAULT_REQUEST)
    events = server.send(headers_frame(1, block, end_headers=False), priority_frame(1))
    server.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


def test_headers_on_stream_zero_is_protocol_error(either: ScriptedPeer) -> None:
    """h2spec 6.2.2."""
    events = either.send(headers_frame(0, either.block(DEFAULT_REQUEST), end_stream=True))
    either.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


def test_headers_with_invalid_pad_length_is_protocol_error(server: ScriptedPeer) -> None:
    """h2spec 6.2.3."""
    block = server.block(DEFAULT_REQUEST)
    payload = bytes([len(block) + 1]) + block
    events = server.send(raw_frame(0x1, 0x0D, 1, payload))
    server.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


def test_headers_then_other_stream_is_protocol_error(server: ScriptedPeer) -> None:
    """h2spec 6.2.4."""
    block = server.block(DEFAULT_REQUEST)
    events = server.send(headers_frame(1, block, end_headers=False), data_frame(3, b"x"))
    server.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


def test_headers_with_priority_flag_too_short_is_frame_size_error(server: ScriptedPeer) -> None:
    events = server.send(raw_frame(0x1, 0x25, 1, b"\x00\x00\x00"))
    server.expect_connection_error(events, ErrorCode.FRAME_SIZE_ERROR)


def test_headers_padded_with_priority(server: ScriptedPeer) -> None:
    block = server.block(DEFAULT_REQUEST)
    events = server.send(
        headers_frame(1, block, end_stream=True, pad_length=200, priority=(0, 200, False))
    )
    assert events == [ev.RequestReceived(1, DEFAULT_REQUEST, True)]


def test_headers_end_stream_is_honoured_after_continuation(server: ScriptedPeer) -> None:
    block = server.block(DEFAULT_REQUEST)
    events = server.send(
        headers_frame(1, block[:3], end_stream=True, end_headers=False),
        continuation_frame(1, block[3:]),
    )
    assert events == [ev.RequestReceived(1, DEFAULT_REQUEST, True)]
    events = server.send(data_frame(1, b"x"))
    server.expect_stream_error(events, 1, ErrorCode.STREAM_CLOSED)


# -- §6.3 PRIORITY --------------------------------------------------------------------------


def test_priority_on_stream_zero_is_protocol_error(server: ScriptedPeer) -> None:
    """h2spec 6.3.1."""
    events = server.send(priority_frame(0, depends_on=1))
    server.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


def test_priority_with_wrong_length_is_frame_size_error(server: ScriptedPeer) -> None:
    """h2spec 6.3.2: a stream error of type FRAME_SIZE_ERROR."""
    server.send(server.request(1, end_stream=False))
    events = server.send(raw_frame(0x2, 0, 1, b"\x80\x00\x00"))
    assert events == [ev.StreamReset(1, ErrorCode.FRAME_SIZE_ERROR, False)]
    server.expect_stream_error(events, 1, ErrorCode.FRAME_SIZE_ERROR)


def test_priority_on_closed_stream_is_ignored(server: ScriptedPeer) -> None:
    server.send(server.request(1))
    server.engine.send_headers(1, RESPONSE, end_stream=True)
    server.frames()
    assert server.send(priority_frame(1, depends_on=3)) == []
    assert server.summaries() == []


# -- §6.4 RST_STREAM ----------------------------------------------------------------------


def test_rst_stream_on_stream_zero_is_protocol_error(either: ScriptedPeer) -> None:
    """h2spec 6.4.1."""
    events = either.send(rst_stream_frame(0, ErrorCode.CANCEL))
    either.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


def test_rst_stream_on_idle_stream_is_protocol_error(server: ScriptedPeer) -> None:
    """h2spec 6.4.2."""
    events = server.send(rst_stream_frame(1, ErrorCode.CANCEL))
    server.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


def test_rst_stream_with_wrong_length_is_frame_size_error(server: ScriptedPeer) -> None:
    """h2spec 6.4.3."""
    server.send(server.request(1, end_stream=False))
    events = server.send(raw_frame(0x3, 0, 1, b"\x00\x00\x00"))
    server.expect_connection_error(events, ErrorCode.FRAME_SIZE_ERROR, last_stream_id=1)


def test_rst_stream_closes_the_stream(server: ScriptedPeer) -> None:
    server.send(server.request(1, end_stream=False))
    events = server.send(rst_stream_frame(1, ErrorCode.CANCEL))
    assert events == [ev.StreamReset(1, ErrorCode.CANCEL, True)]
    assert server.summaries() == []  # never answer a RST_STREAM with one
    assert not server.engine.is_stream_open(1)
    with pytest.raises(LocalProtocolError):
        server.engine.send_headers(1, RESPONSE)


def test_rst_stream_on_client_stream(client: ScriptedPeer) -> None:
    sid = client.engine.open_stream(DEFAULT_REQUEST, end_stream=True)
    client.frames()
    events = client.send(rst_stream_frame(sid, ErrorCode.REFUSED_STREAM))
    assert events == [ev.StreamReset(sid, ErrorCode.REFUSED_STREAM, True)]
    assert client.engine.active_stream_count == 0


def test_reset_stream_twice_sends_one_frame(server: ScriptedPeer) -> None:
    server.send(server.request(1, end_stream=False))
    server.engine.reset_stream(1, ErrorCode.INTERNAL_ERROR)
    server.engine.reset_stream(1, ErrorCode.INTERNAL_ERROR)
    assert server.summaries() == ["RST_STREAM[1] INTERNAL_ERROR"]


# -- §6.5 SETTINGS ------------------------------------------------------------------------


def test_settings_ack_with_payload_is_frame_size_error(either: ScriptedPeer) -> None:
    """h2spec 6.5.1."""
    events = either.send(raw_frame(0x4, 0x1, 0, b"\x00\x03\x00\x00\x00\x64"))
    either.expect_connection_error(events, ErrorCode.FRAME_SIZE_ERROR)


def test_settings_on_a_stream_is_protocol_error(either: ScriptedPeer) -> None:
    """h2spec 6.5.2."""
    events = either.send(raw_frame(0x4, 0, 1, b"\x00\x03\x00\x00\x00\x64"))
    either.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


def test_settings_length_not_multiple_of_six_is_frame_size_error(either: ScriptedPeer) -> None:
    """h2spec 6.5.3."""
    events = either.send(raw_frame(0x4, 0, 0, b"\x00\x03\x00\x00\x00"))
    either.expect_connection_error(events, ErrorCode.FRAME_SIZE_ERROR)


@pytest.mark.parametrize(
    ("key", "value", "code"),
    [
        (SettingCode.ENABLE_PUSH, 2, ErrorCode.PROTOCOL_ERROR),  # h2spec 6.5.2.1
        (SettingCode.INITIAL_WINDOW_SIZE, 2**31, ErrorCode.FLOW_CONTROL_ERROR),  # 6.5.2.2
        (SettingCode.MAX_FRAME_SIZE, 16_383, ErrorCode.PROTOCOL_ERROR),  # 6.5.2.3
        (SettingCode.MAX_FRAME_SIZE, 16_777_216, ErrorCode.PROTOCOL_ERROR),  # 6.5.2.4
        (SettingCode.ENABLE_CONNECT_PROTOCOL, 2, ErrorCode.PROTOCOL_ERROR),  # RFC 8441 §3
    ],
)
def test_invalid_setting_values(either: ScriptedPeer, key: int, value: int, code: int) -> None:
    events = either.send(settings_frame({key: value}))
    either.expect_connection_error(events, code)


def test_enable_push_from_server_is_protocol_error(client: ScriptedPeer) -> None:
    """§6.5.2: a server MUST NOT send ENABLE_PUSH=1."""
    events = client.send(settings_frame({SettingCode.ENABLE_PUSH: 1}))
    client.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


def test_enable_push_from_client_is_accepted(server: ScriptedPeer) -> None:
    events = server.send(settings_frame({SettingCode.ENABLE_PUSH: 1}))
    assert events == [ev.SettingsReceived({SettingCode.ENABLE_PUSH: 1})]
    assert server.summaries() == ["SETTINGS ACK"]


def test_setting_boundaries_are_accepted(either: ScriptedPeer) -> None:
    values = {
        SettingCode.MAX_FRAME_SIZE: 16_777_215,
        SettingCode.INITIAL_WINDOW_SIZE: 2**31 - 1,
        SettingCode.MAX_CONCURRENT_STREAMS: 0,
        SettingCode.HEADER_TABLE_SIZE: 2**32 - 1,
        SettingCode.MAX_HEADER_LIST_SIZE: 1,
    }
    events = either.send(settings_frame(values))
    assert events == [ev.SettingsReceived(values)]
    assert either.summaries() == ["SETTINGS ACK"]
    assert either.engine.remote_settings == values


def test_unknown_setting_identifier_is_ignored(either: ScriptedPeer) -> None:
    """h2spec 6.5.2.5."""
    either.send(settings_frame({0xFF: 1}))
    assert either.summaries() == ["SETTINGS ACK"]


def test_settings_are_acknowledged(either: ScriptedPeer) -> None:
    """h2spec 6.5.3.2."""
    either.send(settings_frame({SettingCode.MAX_CONCURRENT_STREAMS: 10}))
    frames = either.frames()
    assert [f.summary() for f in frames] == ["SETTINGS ACK"]
    assert frames[0].payload == b"" and frames[0].flags == 0x1


def test_empty_settings_are_acknowledged(either: ScriptedPeer) -> None:
    assert either.send(settings_frame({})) == [ev.SettingsReceived({})]
    assert either.summaries() == ["SETTINGS ACK"]


def test_settings_ack_is_reported(either: ScriptedPeer) -> None:
    assert either.send(settings_frame(ack=True)) == [ev.SettingsAcknowledged()]
    assert either.summaries() == []


def test_max_frame_size_setting_applies_to_header_blocks() -> None:
    peer = make_server(settings={SettingCode.MAX_FRAME_SIZE: 20_000})
    peer.send(peer.request(1))
    headers = [(b":status", b"200"), (b"x-big", b"v" * 30_000)]
    peer.engine.send_headers(1, headers, end_stream=True)
    frames = peer.frames()
    assert len(frames[0].payload) == 20_000
    assert frames[-1].headers == headers


def test_enable_connect_protocol_is_remembered(client: ScriptedPeer) -> None:
    client.send(settings_frame({SettingCode.ENABLE_CONNECT_PROTOCOL: 1}))
    assert client.engine.remote_settings[SettingCode.ENABLE_CONNECT_PROTOCOL] == 1


# -- §6.6 PUSH_PROMISE ---------------------------------------------------------------------


def test_push_promise_to_a_server_is_protocol_error(server: ScriptedPeer) -> None:
    """h2spec 8.4 (generic 6.6): clients cannot push."""
    server.send(server.request(1, end_stream=False))
    events = server.send(push_promise_frame(1, 2, server.block(DEFAULT_REQUEST)))
    server.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR, last_stream_id=1)


def test_push_promise_with_push_disabled_is_protocol_error(client: ScriptedPeer) -> None:
    """§6.6: we advertised ENABLE_PUSH=0."""
    sid = client.engine.open_stream(DEFAULT_REQUEST, end_stream=True)
    client.frames()
    events = client.send(push_promise_frame(sid, 2, client.block(DEFAULT_REQUEST)))
    client.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


# -- §6.7 PING ----------------------------------------------------------------------------


def test_ping_is_answered_with_the_same_payload(either: ScriptedPeer) -> None:
    """h2spec 6.7.1."""
    events = either.send(ping_frame(b"h2spec\x00\x01"))
    assert events == [ev.PingReceived(b"h2spec\x00\x01")]
    assert either.summaries() == ["PING ACK 683273706563" + "0001"]


def test_ping_ack_is_not_answered(either: ScriptedPeer) -> None:
    """h2spec 6.7.2."""
    events = either.send(ping_frame(b"\x01" * 8, ack=True))
    assert events == [ev.PingAcknowledged(b"\x01" * 8)]
    assert either.summaries() == []


def test_ping_on_a_stream_is_protocol_error(either: ScriptedPeer) -> None:
    """h2spec 6.7.3."""
    events = either.send(raw_frame(0x6, 0, 1, b"\x00" * 8))
    either.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


@pytest.mark.parametrize("length", [0, 7, 9])
def test_ping_with_wrong_length_is_frame_size_error(either: ScriptedPeer, length: int) -> None:
    """h2spec 6.7.4."""
    events = either.send(raw_frame(0x6, 0, 0, b"\x00" * length))
    either.expect_connection_error(events, ErrorCode.FRAME_SIZE_ERROR)


def test_send_ping(either: ScriptedPeer) -> None:
    either.engine.send_ping(b"87654321")
    assert either.summaries() == ["PING 3837363534333231"]
    with pytest.raises(LocalProtocolError):
        either.engine.send_ping(b"short")


# -- §6.8 GOAWAY ----------------------------------------------------------------------------


def test_goaway_on_a_stream_is_protocol_error(either: ScriptedPeer) -> None:
    """h2spec 6.8.1."""
    events = either.send(raw_frame(0x7, 0, 1, b"\x00" * 8))
    either.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


def test_goaway_too_short_is_frame_size_error(either: ScriptedPeer) -> None:
    events = either.send(raw_frame(0x7, 0, 0, b"\x00" * 7))
    either.expect_connection_error(events, ErrorCode.FRAME_SIZE_ERROR)


def test_goaway_is_reported_with_debug_data(either: ScriptedPeer) -> None:
    events = either.send(goaway_frame(0, ErrorCode.NO_ERROR, b"bye"))
    assert events[0] == ev.GoAwayReceived(0, ErrorCode.NO_ERROR, b"bye", [])
    assert either.engine.phase is not Phase.OPEN
    assert either.summaries() == []


# -- §6.9 WINDOW_UPDATE --------------------------------------------------------------------


def test_connection_window_update_of_zero_is_protocol_error(either: ScriptedPeer) -> None:
    """h2spec 6.9.1."""
    events = either.send(window_update_frame(0, 0))
    either.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


def test_stream_window_update_of_zero_is_stream_error(server: ScriptedPeer) -> None:
    """h2spec 6.9.2."""
    server.send(server.request(1, end_stream=False))
    events = server.send(window_update_frame(1, 0))
    assert events == [ev.StreamReset(1, ErrorCode.PROTOCOL_ERROR, False)]
    server.expect_stream_error(events, 1, ErrorCode.PROTOCOL_ERROR)


@pytest.mark.parametrize("length", [3, 5])
def test_window_update_with_wrong_length_is_frame_size_error(
    either: ScriptedPeer, length: int
) -> None:
    """h2spec 6.9.3."""
    events = either.send(raw_frame(0x8, 0, 0, b"\x00\x00\x00\x01\x00"[:length]))
    either.expect_connection_error(events, ErrorCode.FRAME_SIZE_ERROR)


def test_window_update_on_closed_stream_is_ignored(server: ScriptedPeer) -> None:
    server.send(server.request(1))
    server.engine.send_headers(1, RESPONSE, end_stream=True)
    server.frames()
    assert server.send(window_update_frame(1, 1)) == []
    assert server.summaries() == []


def test_window_update_is_reported(either: ScriptedPeer) -> None:
    assert either.send(window_update_frame(0, 1)) == [ev.WindowUpdated(0, 1)]


# -- §6.10 CONTINUATION ---------------------------------------------------------------------


def test_multiple_continuations_form_one_block(server: ScriptedPeer) -> None:
    """h2spec 6.10.1."""
    request = [*DEFAULT_REQUEST, *((f"x-{i}".encode(), b"v" * 50) for i in range(10))]
    block = server.block(request)
    parts = [block[i : i + 40] for i in range(0, len(block), 40)]
    events = server.send(
        headers_frame(1, parts[0], end_stream=True, end_headers=False),
        *(continuation_frame(1, p, end_headers=False) for p in parts[1:-1]),
        continuation_frame(1, parts[-1]),
    )
    assert events == [ev.RequestReceived(1, request, True)]


def test_continuation_then_other_frame_is_protocol_error(server: ScriptedPeer) -> None:
    """h2spec 6.10.2."""
    block = server.block(DEFAULT_REQUEST)
    events = server.send(
        headers_frame(1, block[:2], end_headers=False),
        continuation_frame(1, block[2:4], end_headers=False),
        data_frame(1, b"x"),
    )
    server.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


def test_continuation_on_stream_zero_is_protocol_error(server: ScriptedPeer) -> None:
    """h2spec 6.10.3."""
    block = server.block(DEFAULT_REQUEST)
    events = server.send(
        headers_frame(1, block[:2], end_headers=False), continuation_frame(0, block[2:])
    )
    server.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


def test_continuation_after_end_headers_is_protocol_error(server: ScriptedPeer) -> None:
    """h2spec 6.10.4."""
    events = server.send(
        server.request(1, end_stream=False), continuation_frame(1, server.block(DEFAULT_REQUEST))
    )
    server.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR, last_stream_id=1)


def test_continuation_after_ended_continuation_is_protocol_error(server: ScriptedPeer) -> None:
    """h2spec 6.10.5."""
    block = server.block(DEFAULT_REQUEST)
    events = server.send(
        headers_frame(1, block[:2], end_headers=False, end_stream=True),
        continuation_frame(1, block[2:], end_headers=True),
        continuation_frame(1, server.block([(b"x-a", b"b")])),
    )
    server.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR, last_stream_id=1)


def test_continuation_after_data_is_protocol_error(server: ScriptedPeer) -> None:
    """h2spec 6.10.6."""
    events = server.send(
        server.request(1, end_stream=False),
        data_frame(1, b"x"),
        continuation_frame(1, server.block([(b"x-a", b"b")])),
    )
    server.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR, last_stream_id=1)


def test_continuation_for_another_stream_is_protocol_error(server: ScriptedPeer) -> None:
    block = server.block(DEFAULT_REQUEST)
    events = server.send(
        headers_frame(1, block[:2], end_headers=False), continuation_frame(3, block[2:])
    )
    server.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


def test_client_response_in_continuations(client: ScriptedPeer) -> None:
    sid = client.engine.open_stream(DEFAULT_REQUEST, end_stream=True)
    client.frames()
    response = [(b":status", b"200"), (b"x-long", b"q" * 100)]
    block = client.block(response)
    events = client.send(
        headers_frame(sid, block[:5], end_headers=False, end_stream=True),
        continuation_frame(sid, block[5:20], end_headers=False),
        continuation_frame(sid, block[20:]),
    )
    assert events == [ev.ResponseReceived(sid, response, True)]


def test_larger_max_frame_size_for_continuation() -> None:
    peer = make_server(Http2Config(max_frame_size=65_536))
    request = [*DEFAULT_REQUEST, (b"x-big", b"b" * 30_000)]
    block = peer.block(request, huffman=False)
    assert len(block) > 16_384
    events = peer.send(headers_frame(1, block, end_stream=True))
    assert event_types(events) == ["RequestReceived"]
