"""RFC 9113 §5: stream states (§5.1), identifiers (§5.1.1), concurrency
(§5.1.2), prioritisation (§5.3), error handling (§5.4)."""

from __future__ import annotations

import struct

import pytest

from .harness import SPLITS, Case, frame

SLOW = b"/slow?ms=60000"
DATA, HEADERS, PRIORITY, RST_STREAM, WINDOW_UPDATE, CONTINUATION = 0, 1, 2, 3, 8, 9


def rst(stream_id: int, code: int = 0x8) -> bytes:
    return frame(RST_STREAM, 0, stream_id, struct.pack(">I", code))


def window_update(stream_id: int, increment: int) -> bytes:
    return frame(WINDOW_UPDATE, 0, stream_id, struct.pack(">I", increment))


# -- §5.1 idle -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["DATA", "RST_STREAM", "WINDOW_UPDATE", "CONTINUATION"])
async def test_frames_on_an_idle_stream_are_protocol_error(conn: Case, name: str) -> None:
    """§5.1 idle: anything but HEADERS or PRIORITY is a connection error PROTOCOL_ERROR."""
    data = {
        "DATA": frame(DATA, 0x1, 1, b"test"),
        "RST_STREAM": rst(1),
        "WINDOW_UPDATE": window_update(1, 100),
        "CONTINUATION": frame(CONTINUATION, 0x4, 1, conn.block([(b"x", b"y")])),
    }[name]
    await conn.send(data)
    await conn.expect_connection_error("PROTOCOL_ERROR")


async def test_priority_on_an_idle_stream_is_allowed(conn: Case) -> None:
    await conn.send(frame(PRIORITY, 0, 3, struct.pack(">IB", 1, 16)) + conn.request(1))
    await conn.response_end(1)
    await conn.expect_no_error()


# -- §5.1 half-closed (remote) -----------------------------------------------------------


async def test_half_closed_remote_data_is_stream_closed(conn: Case) -> None:
    """The request ended (END_STREAM) and the response is still to come."""
    await conn.send(conn.request(1, SLOW) + frame(DATA, 0x1, 1, b"test"))
    await conn.expect_stream_error(1, "STREAM_CLOSED")


async def test_half_closed_remote_headers_is_stream_closed(conn: Case) -> None:
    await conn.send(conn.request(1, SLOW) + conn.request(1, SLOW))
    await conn.expect_stream_error(1, "STREAM_CLOSED")


async def test_half_closed_remote_allows_window_update_and_priority(conn: Case) -> None:
    await conn.send(
        conn.request(1, SLOW) + window_update(1, 1000) + frame(PRIORITY, 0, 1, b"\0\0\0\0\x10")
    )
    await conn.expect_no_error()


# -- §5.1 closed -----------------------------------------------------------------------


@pytest.mark.parametrize("split", SPLITS)
async def test_closed_by_end_stream_both_ways_then_data_is_a_connection_error(
    conn: Case, split: str
) -> None:
    """Issue 13, class 2: §5.1 "an endpoint that receives any frames after receiving a
    frame with the END_STREAM flag set MUST treat that as a connection error (Section
    5.4.1) of type STREAM_CLOSED"."""
    await conn.send(conn.request(1))
    await conn.response_end(1)
    await conn.send(frame(DATA, 0x1, 1, b"test"), split)
    await conn.expect_connection_error("STREAM_CLOSED")


@pytest.mark.parametrize("split", SPLITS)
async def test_closed_by_end_stream_both_ways_then_headers_is_a_connection_error(
    conn: Case, split: str
) -> None:
    await conn.send(conn.request(1))
    await conn.response_end(1)
    await conn.send(conn.request(1), split)
    await conn.expect_connection_error("STREAM_CLOSED")


async def test_closed_by_our_reset_then_data_is_stream_closed(conn: Case) -> None:
    """After *receiving* RST_STREAM the server answers frames with a stream error."""
    await conn.send(conn.request(1, SLOW, end_stream=False) + rst(1) + frame(DATA, 0, 1, b"x"))
    await conn.expect_stream_error(1, "STREAM_CLOSED")


async def test_closed_allows_priority(conn: Case) -> None:
    await conn.send(conn.request(1))
    await conn.response_end(1)
    await conn.send(frame(PRIORITY, 0, 1, b"\0\0\0\0\x10"))
    await conn.expect_no_error()


# -- §5.1.1 stream identifiers -------------------------------------------------------------


async def test_even_stream_id_from_a_client_is_protocol_error(conn: Case) -> None:
    await conn.send(conn.request(2))
    await conn.expect_connection_error("PROTOCOL_ERROR")


async def test_stream_id_below_the_last_one_is_protocol_error(conn: Case) -> None:
    """Opening 5 closes the idle 3 (§5.1.1); HEADERS on 3 after that is an error."""
    await conn.send(conn.request(5) + conn.request(3))
    await conn.expect_connection_error("PROTOCOL_ERROR")


# -- §5.1.2 concurrency ---------------------------------------------------------------------


async def test_streams_over_max_concurrent_streams_are_refused(conn: Case) -> None:
    """SETTINGS_MAX_CONCURRENT_STREAMS is 100: the 101st open stream is refused
    (REFUSED_STREAM: never processed, safe to retry, §8.7)."""
    data = b"".join(conn.request(1 + 2 * i, SLOW) for i in range(101))
    await conn.send(data)
    await conn.expect_stream_error(201, "REFUSED_STREAM")


# -- §5.3 prioritisation ---------------------------------------------------------------------


async def test_headers_depending_on_itself_is_protocol_error(conn: Case) -> None:
    """§5.3.1: a stream cannot depend on itself (a stream error)."""
    block = conn.block([(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/")])
    await conn.send(frame(HEADERS, 0x25, 1, struct.pack(">IB", 1, 16) + block))
    await conn.expect_stream_error(1, "PROTOCOL_ERROR")


async def test_priority_depending_on_itself_is_protocol_error(conn: Case) -> None:
    await conn.send(conn.request(1, SLOW) + frame(PRIORITY, 0, 1, struct.pack(">IB", 1, 16)))
    await conn.expect_stream_error(1, "PROTOCOL_ERROR")


# -- §5.4 error handling ---------------------------------------------------------------------


async def test_a_stream_error_leaves_the_connection_usable(conn: Case) -> None:
    """§5.4.2: after RST_STREAM the other streams and new ones go on."""
    await conn.send(conn.request(1, SLOW) + window_update(1, 0))
    await conn.expect_stream_error(1, "PROTOCOL_ERROR")
    await conn.send(conn.request(3))
    await conn.response_end(3)


async def test_a_connection_error_names_the_last_processed_stream(conn: Case) -> None:
    """§5.4.1: the GOAWAY carries the last stream id the server processed."""
    await conn.send(conn.request(1))
    await conn.response_end(1)
    await conn.send(frame(DATA, 0, 0, b"on stream zero"))
    goaway = await conn.expect_connection_error("PROTOCOL_ERROR")
    assert goaway.goaway[0] == 1
