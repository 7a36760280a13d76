"""RFC 9113 §6: each frame type -- DATA (§6.1), HEADERS (§6.2), PRIORITY (§6.3),
RST_STREAM (§6.4), SETTINGS (§6.5), PUSH_PROMISE (§6.6), PING (§6.7), GOAWAY
(§6.8), WINDOW_UPDATE (§6.9), CONTINUATION (§6.10)."""

from __future__ import annotations

import struct

import pytest

from .harness import SPLITS, Case, frame

SLOW = b"/slow?ms=60000"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY = range(8)
WINDOW_UPDATE, CONTINUATION = 8, 9


def setting(key: int, value: int) -> bytes:
    return struct.pack(">HI", key, value)


def window_update(stream_id: int, increment: int) -> bytes:
    return frame(WINDOW_UPDATE, 0, stream_id, struct.pack(">I", increment))


# -- §6.1 DATA ----------------------------------------------------------------------------


async def test_data_on_stream_zero_is_protocol_error(conn: Case) -> None:
    await conn.send(frame(DATA, 0x1, 0, b"test"))
    await conn.expect_connection_error("PROTOCOL_ERROR")


async def test_data_padding_longer_than_the_payload_is_protocol_error(conn: Case) -> None:
    padded = frame(DATA, 0x8 | 0x1, 1, bytes([10]) + b"abc")
    await conn.send(conn.request(1, SLOW, end_stream=False) + padded)
    await conn.expect_connection_error("PROTOCOL_ERROR")


# -- §6.2 HEADERS -------------------------------------------------------------------------


async def test_headers_on_stream_zero_is_protocol_error(conn: Case) -> None:
    await conn.send(conn.request(0))
    await conn.expect_connection_error("PROTOCOL_ERROR")


async def test_headers_padding_longer_than_the_payload_is_protocol_error(conn: Case) -> None:
    block = conn.block([(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/")])
    await conn.send(frame(HEADERS, 0x8 | 0x5, 1, bytes([len(block) + 5]) + block))
    await conn.expect_connection_error("PROTOCOL_ERROR")


async def test_headers_without_end_headers_then_priority_is_protocol_error(conn: Case) -> None:
    """§6.2/§6.10: only CONTINUATION may follow a HEADERS without END_HEADERS."""
    block = conn.block([(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/")])
    await conn.send(frame(HEADERS, 0x1, 1, block) + frame(PRIORITY, 0, 1, b"\0\0\0\0\x10"))
    await conn.expect_connection_error("PROTOCOL_ERROR")


# -- §6.3 PRIORITY ------------------------------------------------------------------------


async def test_priority_on_stream_zero_is_protocol_error(conn: Case) -> None:
    await conn.send(frame(PRIORITY, 0, 0, b"\0\0\0\0\x10"))
    await conn.expect_connection_error("PROTOCOL_ERROR")


async def test_priority_of_the_wrong_length_is_frame_size_error(conn: Case) -> None:
    """On an open stream: a stream error (§6.3)."""
    await conn.send(conn.request(1, SLOW) + frame(PRIORITY, 0, 1, b"\0\0\0\0"))
    await conn.expect_stream_error(1, "FRAME_SIZE_ERROR")


# -- §6.4 RST_STREAM -----------------------------------------------------------------------


async def test_rst_stream_on_stream_zero_is_protocol_error(conn: Case) -> None:
    await conn.send(frame(RST_STREAM, 0, 0, b"\0\0\0\x08"))
    await conn.expect_connection_error("PROTOCOL_ERROR")


async def test_rst_stream_of_the_wrong_length_is_frame_size_error(conn: Case) -> None:
    await conn.send(conn.request(1, SLOW) + frame(RST_STREAM, 0, 1, b"\0\0\x08"))
    await conn.expect_connection_error("FRAME_SIZE_ERROR")


# -- §6.5 SETTINGS -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("ack_with_payload", frame(SETTINGS, 0x1, 0, setting(1, 4096)), "FRAME_SIZE_ERROR"),
        ("on_a_stream", frame(SETTINGS, 0, 1, setting(1, 4096)), "PROTOCOL_ERROR"),
        ("length_not_a_multiple_of_6", frame(SETTINGS, 0, 0, b"\0\x01\0\0"), "FRAME_SIZE_ERROR"),
        ("enable_push_2", frame(SETTINGS, 0, 0, setting(2, 2)), "PROTOCOL_ERROR"),
        (
            "initial_window_size_over_the_maximum",
            frame(SETTINGS, 0, 0, setting(4, 2**31)),
            "FLOW_CONTROL_ERROR",
        ),
        ("max_frame_size_too_small", frame(SETTINGS, 0, 0, setting(5, 16_383)), "PROTOCOL_ERROR"),
        ("max_frame_size_too_large", frame(SETTINGS, 0, 0, setting(5, 2**24)), "PROTOCOL_ERROR"),
    ],
    ids=lambda value: value if isinstance(value, str) and value.islower() else "",
)
async def test_invalid_settings_are_connection_errors(
    conn: Case, name: str, data: bytes, code: str
) -> None:
    await conn.send(data)
    await conn.expect_connection_error(code)


async def test_unknown_setting_is_ignored_and_acknowledged(conn: Case) -> None:
    await conn.send(frame(SETTINGS, 0, 0, setting(0xFF, 1)))
    frames = await conn.expect_no_error()
    assert sum(1 for f in frames if f.type == SETTINGS and f.flags & 0x1) >= 2


async def test_initial_window_size_overflowing_a_stream_window_is_flow_control_error(
    conn: Case,
) -> None:
    """§6.9.2: a SETTINGS_INITIAL_WINDOW_SIZE change that takes an open stream's
    window past 2^31-1 is a connection error FLOW_CONTROL_ERROR."""
    await conn.send(
        conn.request(1, SLOW)
        + window_update(1, 2**31 - 1 - 65_535)
        + frame(SETTINGS, 0, 0, setting(4, 65_536))
    )
    await conn.expect_connection_error("FLOW_CONTROL_ERROR")


# -- §6.6 PUSH_PROMISE ---------------------------------------------------------------------


async def test_push_promise_from_a_client_is_protocol_error(conn: Case) -> None:
    """§8.4: a client cannot push."""
    await conn.send(conn.request(1, SLOW) + frame(PUSH_PROMISE, 0x4, 1, b"\0\0\0\x02" + b"\x82"))
    await conn.expect_connection_error("PROTOCOL_ERROR")


# -- §6.7 PING ----------------------------------------------------------------------------


async def test_ping_is_answered_with_the_same_payload(conn: Case) -> None:
    await conn.send(frame(PING, 0, 0, b"\x01\x02\x03\x04\x05\x06\x07\x08"))
    frames = await conn.expect_no_error()
    assert any(
        f.type == PING and f.flags & 0x1 and f.payload == b"\x01\x02\x03\x04\x05\x06\x07\x08"
        for f in frames
    )


async def test_ping_ack_is_not_answered(conn: Case) -> None:
    await conn.send(frame(PING, 0x1, 0, b"unasked!"))
    frames = await conn.expect_no_error()
    assert not [f for f in frames if f.type == PING and f.payload == b"unasked!"]


async def test_ping_on_a_stream_is_protocol_error(conn: Case) -> None:
    await conn.send(frame(PING, 0, 1, b"12345678"))
    await conn.expect_connection_error("PROTOCOL_ERROR")


async def test_ping_of_the_wrong_length_is_frame_size_error(conn: Case) -> None:
    await conn.send(frame(PING, 0, 0, b"1234567"))
    await conn.expect_connection_error("FRAME_SIZE_ERROR")


# -- §6.8 GOAWAY --------------------------------------------------------------------------


async def test_goaway_on_a_stream_is_protocol_error(conn: Case) -> None:
    await conn.send(frame(GOAWAY, 0, 1, b"\0\0\0\0\0\0\0\0"))
    await conn.expect_connection_error("PROTOCOL_ERROR")


async def test_the_clients_goaway_lets_its_streams_finish(conn: Case) -> None:
    """§6.8: a client's GOAWAY(0) (it takes no pushed streams) does not cut the
    request it already sent."""
    await conn.send(conn.request(1, b"/slow?ms=50") + frame(GOAWAY, 0, 0, b"\0\0\0\0\0\0\0\0"))
    await conn.response_end(1)


# -- §6.9 WINDOW_UPDATE --------------------------------------------------------------------


async def test_window_update_of_zero_on_the_connection_is_protocol_error(conn: Case) -> None:
    await conn.send(window_update(0, 0))
    await conn.expect_connection_error("PROTOCOL_ERROR")


@pytest.mark.parametrize("split", SPLITS)
async def test_window_update_of_zero_on_a_stream_is_protocol_error(conn: Case, split: str) -> None:
    await conn.send(conn.request(1, SLOW) + window_update(1, 0), split)
    await conn.expect_stream_error(1, "PROTOCOL_ERROR")


async def test_window_update_of_the_wrong_length_is_frame_size_error(conn: Case) -> None:
    await conn.send(frame(WINDOW_UPDATE, 0, 0, b"\0\0\x01"))
    await conn.expect_connection_error("FRAME_SIZE_ERROR")


async def test_connection_window_over_the_maximum_is_flow_control_error(conn: Case) -> None:
    await conn.send(window_update(0, 2**31 - 1))
    await conn.expect_connection_error("FLOW_CONTROL_ERROR")


async def test_stream_window_over_the_maximum_is_flow_control_error(conn: Case) -> None:
    await conn.send(conn.request(1, SLOW) + window_update(1, 2**31 - 1))
    await conn.expect_stream_error(1, "FLOW_CONTROL_ERROR")


# -- §6.10 CONTINUATION --------------------------------------------------------------------


@pytest.mark.parametrize("split", SPLITS)
async def test_headers_and_continuation_make_one_request(conn: Case, split: str) -> None:
    block = conn.block([(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/")])
    data = frame(HEADERS, 0x1, 1, block[:1]) + frame(CONTINUATION, 0x4, 1, block[1:])
    await conn.send(data, split)
    await conn.response_end(1)
    await conn.expect_no_error()


async def test_continuation_after_end_headers_is_protocol_error(conn: Case) -> None:
    await conn.send(conn.request(1, SLOW) + frame(CONTINUATION, 0x4, 1, conn.block([(b"a", b"b")])))
    await conn.expect_connection_error("PROTOCOL_ERROR")


async def test_continuation_on_another_stream_is_protocol_error(conn: Case) -> None:
    block = conn.block([(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/")])
    await conn.send(frame(HEADERS, 0x1, 1, block[:1]) + frame(CONTINUATION, 0x4, 3, block[1:]))
    await conn.expect_connection_error("PROTOCOL_ERROR")


async def test_continuation_on_stream_zero_is_protocol_error(conn: Case) -> None:
    block = conn.block([(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/")])
    await conn.send(frame(HEADERS, 0x1, 1, block[:1]) + frame(CONTINUATION, 0x4, 0, block[1:]))
    await conn.expect_connection_error("PROTOCOL_ERROR")
