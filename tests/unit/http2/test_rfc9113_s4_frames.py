"""RFC 9113 §4: frame format, frame size, field section compression
(h2spec http2/4.1, 4.2, 4.3 and the hpack/* cases that reach the engine).
"""

from __future__ import annotations

import hpack
import pytest

from lastcall.engines.http2 import ErrorCode, Http2Config, SettingCode
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
    raw_frame,
)
from lastcall.testing.frames import client_peer as make_client
from lastcall.testing.frames import server_peer as make_server

# -- §4.1 frame format --------------------------------------------------------------------


def test_unknown_frame_type_is_ignored(either: ScriptedPeer) -> None:
    """h2spec 4.1.1 / 5.5.1: frames of unknown type are ignored, and the connection goes on."""
    assert either.send(raw_frame(0xBB, 0xFF, 0, b"whatever")) == []
    assert either.send(raw_frame(0x0A, 0, 3, b"x" * 100)) == []  # ALTSVC-like, any stream
    assert either.summaries() == []
    events = either.send(ping_frame(b"12345678"))
    assert event_types(events) == ["PingReceived"]
    assert either.summaries() == ["PING ACK 3132333435363738"]


def test_undefined_flags_are_ignored(either: ScriptedPeer) -> None:
    """h2spec 4.1.2: unknown flags on PING are ignored; the ACK carries ACK only."""
    either.send(raw_frame(0x6, 0xFE, 0, b"abcdefgh"))
    frames = either.frames()
    assert [f.summary() for f in frames] == ["PING ACK 6162636465666768"]
    assert frames[0].flags == 0x1


def test_reserved_bit_in_stream_id_is_ignored(server: ScriptedPeer) -> None:
    """h2spec 4.1.3: the R bit is ignored on receipt."""
    events = server.send(raw_frame(0x6, 0, 0x80000000, b"\x00" * 8))
    assert event_types(events) == ["PingReceived"]
    block = server.block(DEFAULT_REQUEST)
    events = server.send(raw_frame(0x1, 0x5, 0x80000001, block))
    assert event_types(events) == ["RequestReceived"]
    assert events[0].stream_id == 1
    assert server.summaries() == ["PING ACK 0000000000000000"]


def test_reserved_bit_is_never_sent(server: ScriptedPeer) -> None:
    server.send(server.request(1))
    server.engine.send_headers(1, [(b":status", b"200")], end_stream=True)
    data = server.engine.data_to_send()
    assert data[5] & 0x80 == 0


# -- §4.2 frame size ------------------------------------------------------------------------


def test_data_of_max_frame_size_is_accepted(server: ScriptedPeer) -> None:
    """h2spec 4.2.1: a DATA frame of 2^14 octets is fine."""
    server.send(server.request(1, end_stream=False))
    events = server.send(data_frame(1, b"x" * 16384, end_stream=True))
    assert events == [ev.DataReceived(1, b"x" * 16384, 16384, True)]
    assert server.summaries() == []


def test_data_over_max_frame_size_is_frame_size_error(server: ScriptedPeer) -> None:
    """h2spec 4.2.2."""
    server.send(server.request(1, end_stream=False))
    events = server.send(data_frame(1, b"x" * 16385))
    server.expect_connection_error(events, ErrorCode.FRAME_SIZE_ERROR, last_stream_id=1)


def test_headers_over_max_frame_size_is_frame_size_error(server: ScriptedPeer) -> None:
    """h2spec 4.2.3: oversized HEADERS is a connection error (it carries HPACK state)."""
    block = server.block([*DEFAULT_REQUEST, (b"x-big", b"a" * 17000)], huffman=False)
    events = server.send(headers_frame(1, block, end_stream=True))
    server.expect_connection_error(events, ErrorCode.FRAME_SIZE_ERROR)


def test_oversized_frame_is_rejected_from_its_header_alone(server: ScriptedPeer) -> None:
    """The length check comes before the payload: nobody makes us buffer 16 MiB."""
    events = server.send(raw_frame(0x0, 0, 1, b"")[:3].replace(b"\x00\x00\x00", b"\xff\xff\xff"))
    assert events == []  # not a whole header yet
    events = server.send(b"\x00\x00\x00\x00\x01\x00")
    server.expect_connection_error(events, ErrorCode.FRAME_SIZE_ERROR)


def test_unknown_frame_over_max_frame_size_is_frame_size_error(server: ScriptedPeer) -> None:
    events = server.send(raw_frame(0xBB, 0, 0, b"x" * 16385))
    server.expect_connection_error(events, ErrorCode.FRAME_SIZE_ERROR)


def test_larger_max_frame_size_is_honoured_on_receipt() -> None:
    peer = make_server(Http2Config(max_frame_size=32768))
    peer.send(peer.request(1, end_stream=False))
    events = peer.send(data_frame(1, b"y" * 30000, end_stream=True))
    assert events == [ev.DataReceived(1, b"y" * 30000, 30000, True)]
    events = peer.send(data_frame(3, b"y" * 32769))
    peer.expect_connection_error(events, ErrorCode.FRAME_SIZE_ERROR, last_stream_id=1)


def test_data_is_split_at_peer_max_frame_size(server: ScriptedPeer) -> None:
    server.send(server.request(1))
    server.engine.send_headers(1, [(b":status", b"200")])
    server.engine.send_data(1, b"z" * 40000, end_stream=True)
    assert server.summaries() == [
        "HEADERS[1] END_HEADERS",
        "DATA[1] 16384",
        "DATA[1] 16384",
        "DATA[1] 7232 END_STREAM",
    ]


def test_data_is_split_at_a_larger_peer_max_frame_size() -> None:
    peer = make_server(
        settings={SettingCode.MAX_FRAME_SIZE: 20000, SettingCode.INITIAL_WINDOW_SIZE: 100000}
    )
    peer.send(peer.request(1))
    peer.engine.send_headers(1, [(b":status", b"200")])
    peer.engine.send_data(1, b"z" * 50000, end_stream=True)
    assert peer.summaries() == [
        "HEADERS[1] END_HEADERS",
        "DATA[1] 20000",
        "DATA[1] 20000",
        "DATA[1] 10000 END_STREAM",
    ]


def test_large_header_block_goes_out_in_continuation_frames(server: ScriptedPeer) -> None:
    server.send(server.request(1))
    big = [(b":status", b"200"), *((f"x-h{i}".encode(), b"v" * 4000) for i in range(10))]
    server.engine.send_headers(1, big, end_stream=True)
    frames = server.frames()
    kinds = [f.summary() for f in frames]
    assert kinds[0] == "HEADERS[1] END_STREAM"
    assert kinds[1:-1] == ["CONTINUATION[1]"] * (len(kinds) - 2)
    assert kinds[-1] == "CONTINUATION[1] END_HEADERS"
    assert all(len(f.payload) <= 16384 for f in frames)
    assert frames[-1].headers == big


# -- §4.3 field section compression ---------------------------------------------------------


def test_invalid_header_block_is_compression_error(server: ScriptedPeer) -> None:
    """h2spec 4.3.1."""
    events = server.send(headers_frame(1, b"\xff\xff\xff\xff\xff\xff\xff\xff", end_stream=True))
    server.expect_connection_error(events, ErrorCode.COMPRESSION_ERROR)


def test_priority_inside_a_header_block_is_protocol_error(server: ScriptedPeer) -> None:
    """h2spec 4.3.2 / 6.2.1."""
    block = server.block(DEFAULT_REQUEST)
    events = server.send(
        headers_frame(1, block[:3], end_headers=False), priority_frame(1, depends_on=0)
    )
    server.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


def test_headers_for_another_stream_inside_a_header_block_is_protocol_error(
    server: ScriptedPeer,
) -> None:
    """h2spec 4.3.3 / 6.2.4."""
    block = server.block(DEFAULT_REQUEST)
    events = server.send(
        headers_frame(1, block[:3], end_headers=False), headers_frame(3, block, end_stream=True)
    )
    server.expect_connection_error(events, ErrorCode.PROTOCOL_ERROR)


def test_index_past_the_tables_is_compression_error(server: ScriptedPeer) -> None:
    """hpack 2.3.3: index 62 with an empty dynamic table."""
    events = server.send(headers_frame(1, b"\x82\x87\x84\xbe", end_stream=True))
    server.expect_connection_error(events, ErrorCode.COMPRESSION_ERROR)


def test_index_zero_is_compression_error(server: ScriptedPeer) -> None:
    """hpack 6.1."""
    events = server.send(headers_frame(1, b"\x80", end_stream=True))
    server.expect_connection_error(events, ErrorCode.COMPRESSION_ERROR)


def test_table_size_update_above_our_setting_is_compression_error(server: ScriptedPeer) -> None:
    """hpack 6.3: a dynamic table size update above SETTINGS_HEADER_TABLE_SIZE (4096)."""
    update = b"\x3f\xe2\x1f"  # size update to 4097 (31 + 0x62 + 0x1f * 128)
    block = update + server.block(DEFAULT_REQUEST)
    events = server.send(headers_frame(1, block, end_stream=True))
    server.expect_connection_error(events, ErrorCode.COMPRESSION_ERROR)


def test_huffman_with_eos_is_compression_error(server: ScriptedPeer) -> None:
    """hpack 5.2: a Huffman string containing the EOS symbol."""
    literal = b"\x00\x85\xf2\xb2\x4a\x87\xff\xff\xff\xfd\x25\x42\x7f"
    events = server.send(headers_frame(1, b"\x82\x87\x84" + literal, end_stream=True))
    server.expect_connection_error(events, ErrorCode.COMPRESSION_ERROR)


def test_huffman_padding_longer_than_7_bits_is_compression_error(server: ScriptedPeer) -> None:
    """hpack 5.2: padding of more than 7 bits (a whole 0xff octet)."""
    literal = b"\x00\x85\xf2\xb2\x4a\x87\xff\x84\xff\xff\xff\xff"
    events = server.send(headers_frame(1, b"\x82\x87\x84" + literal, end_stream=True))
    server.expect_connection_error(events, ErrorCode.COMPRESSION_ERROR)


def test_dynamic_table_persists_across_header_blocks(server: ScriptedPeer) -> None:
    request = [*DEFAULT_REQUEST, (b"x-custom", b"same-every-time")]
    for sid in (1, 3, 5):
        events = server.send(server.request(sid, request))
        assert events == [ev.RequestReceived(sid, request, True)]


def test_refused_stream_block_is_still_decoded() -> None:
    """A refused stream's header block updates the dynamic table; later blocks that
    index into it must still decode (RFC 9113 §4.3: blocks are always processed)."""
    peer = make_server(Http2Config(max_concurrent_streams=1))
    peer.send(peer.request(1, end_stream=False))
    refused = [*DEFAULT_REQUEST, (b"x-only-in-the-refused-one", b"remember me")]
    events = peer.send(peer.request(3, refused))
    assert events == [ev.StreamRefused(3, "max_concurrent_streams")]
    assert peer.summaries() == ["RST_STREAM[3] REFUSED_STREAM"]
    peer.engine.reset_stream(1)
    peer.frames()
    events = peer.send(peer.request(5, refused))  # now indexed from the table
    assert events == [ev.RequestReceived(5, refused, True)]


def test_peer_header_table_size_zero_is_honoured() -> None:
    """Our encoder must follow the peer's SETTINGS_HEADER_TABLE_SIZE with a size update."""
    peer = make_server(settings={SettingCode.HEADER_TABLE_SIZE: 0})
    peer.decoder._decoder.max_allowed_table_size = 0
    peer.send(peer.request(1))
    headers = [(b":status", b"200"), (b"x-repeat", b"value")]
    peer.engine.send_headers(1, headers, end_stream=True)
    frames = peer.frames()
    assert frames[0].headers == headers
    assert len(peer.decoder._decoder.header_table.dynamic_entries) == 0


def test_hpack_bomb_is_cut_at_header_list_size() -> None:
    """One 4 KiB entry in the dynamic table referenced 16,000 times would decode to
    64 MiB; decoding stops once the list passes SETTINGS_MAX_HEADER_LIST_SIZE."""
    peer = make_server()
    encoder = hpack.Encoder()
    first = bytes(encoder.encode([*DEFAULT_REQUEST, (b"x-bomb", b"b" * 4000)]))
    peer.send(headers_frame(1, first, end_stream=True))
    peer.frames()
    index = b"\xbe"  # dynamic index 62: x-bomb
    bomb = b"\x82\x87\x84" + index * 16000
    events = peer.send(headers_frame(3, bomb[:16000], end_headers=False))
    events += peer.send(
        *(
            continuation_frame(3, bomb[i : i + 16000], end_headers=False)
            for i in range(16000, 16003, 16000)
        ),
        continuation_frame(3, bomb[16000:], end_headers=True),
    )
    assert not any(isinstance(e, ev.RequestReceived) and e.stream_id == 3 for e in events)
    peer.expect_connection_error(events, ErrorCode.COMPRESSION_ERROR, last_stream_id=1)


@pytest.mark.parametrize("role", ["server", "client"])
def test_response_and_request_headers_roundtrip_both_ways(role: str) -> None:
    """Our encoder's blocks decode with an independent decoder, over many blocks."""
    if role == "server":
        peer = make_server()
        for sid in range(1, 40, 2):
            peer.send(peer.request(sid))
            headers = [(b":status", b"200"), (b"x-seq", str(sid).encode()), (b"server", b"lc")]
            peer.engine.send_headers(sid, headers, end_stream=True)
            assert peer.frames()[0].headers == headers
    else:
        peer = make_client()
        for i in range(20):
            headers = [*DEFAULT_REQUEST, (b"x-seq", str(i).encode())]
            sid = peer.engine.open_stream(headers, end_stream=True)
            assert peer.frames()[0].headers == headers
            peer.send(peer.response(sid))
