"""RFC 9113 §4: frame format (§4.1), frame size (§4.2), field section
compression and decompression (§4.3)."""

from __future__ import annotations

from .harness import Case, frame

SLOW = b"/slow?ms=60000"


# -- §4.1 frame format ---------------------------------------------------------------------


async def test_unknown_frame_type_is_ignored(conn: Case) -> None:
    await conn.send(frame(0x20, 0x0, 0, b"extension payload") + conn.request(1))
    await conn.response_end(1)
    await conn.expect_no_error()


async def test_unknown_flags_are_ignored(conn: Case) -> None:
    """§4.1: flags with no meaning for the type are ignored (0xE0 on a PING)."""
    await conn.send(frame(0x6, 0xE0, 0, b"12345678"))
    frames = await conn.expect_no_error()
    assert any(f.type == 0x6 and f.flags & 0x1 and f.payload == b"12345678" for f in frames)


async def test_reserved_bit_of_the_stream_id_is_ignored(conn: Case) -> None:
    """§4.1: the reserved bit "MUST be ignored when receiving"."""
    await conn.send(conn.request(1 | 0x80000000))
    await conn.response_end(1)
    await conn.expect_no_error()


# -- §4.2 frame size -----------------------------------------------------------------------


async def test_data_over_max_frame_size_is_frame_size_error(conn: Case) -> None:
    """A frame over SETTINGS_MAX_FRAME_SIZE (16,384 by default) is FRAME_SIZE_ERROR;
    ours ends the connection whatever the type (allowed for any frame, §4.2)."""
    data = conn.request(1, SLOW, end_stream=False) + frame(0x0, 0x1, 1, b"x" * 16_385)
    await conn.send(data, "whole")
    await conn.expect_connection_error("FRAME_SIZE_ERROR")


async def test_headers_over_max_frame_size_is_a_connection_error(conn: Case) -> None:
    """§4.2: a frame that carries a field block "MUST" be a connection error."""
    block = conn.block([(b":method", b"GET"), (b":path", b"/"), (b"x-big", b"~" * 17_000)])
    await conn.send(frame(0x1, 0x5, 1, block))
    await conn.expect_connection_error("FRAME_SIZE_ERROR")


async def test_a_frame_header_alone_waits_for_its_payload(conn: Case) -> None:
    """Half a frame is not an error: the rest completes it."""
    data = conn.request(1)
    await conn.send(data[:5])
    await conn.send(data[5:])
    await conn.response_end(1)
    await conn.expect_no_error()


# -- §4.3 field section compression --------------------------------------------------------


async def test_undecodable_field_block_is_compression_error(conn: Case) -> None:
    """Index 70 does not exist in an empty dynamic table (RFC 7541 §2.3.3)."""
    await conn.send(frame(0x1, 0x5, 1, bytes([0x80 | 70])))
    await conn.expect_connection_error("COMPRESSION_ERROR")


async def test_table_size_update_above_the_limit_is_compression_error(conn: Case) -> None:
    """RFC 7541 §6.3: a size update above SETTINGS_HEADER_TABLE_SIZE (4,096)."""
    await conn.send(
        frame(
            0x1,
            0x5,
            1,
            b"\x3f\xe1\x3f"
            + conn.block([(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/")]),
        )
    )
    await conn.expect_connection_error("COMPRESSION_ERROR")


async def test_field_block_interleaved_with_another_frame_is_protocol_error(conn: Case) -> None:
    """§4.3: a field block is a contiguous sequence of frames (HEADERS, CONTINUATION...)."""
    block = conn.block([*[(b":method", b"GET"), (b":scheme", b"http")], (b":path", b"/")])
    await conn.send(frame(0x1, 0x1, 1, block[:2]) + frame(0x6, 0, 0, b"12345678"))
    await conn.expect_connection_error("PROTOCOL_ERROR")
