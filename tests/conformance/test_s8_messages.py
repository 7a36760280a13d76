"""RFC 9113 §8: HTTP message framing (§8.1), field validity (§8.2), pseudo-header
fields (§8.3).

A malformed request is a stream error of type PROTOCOL_ERROR (§8.1.1). The
cases of §8.1 where the server (the demo app at ``/``) answers before reading
the request body are the ones whose answer once depended on how the client's
bytes were split into reads (issue 13, class 3): the app's answer and the
server's RST_STREAM(NO_ERROR) can come before or after the bad frame arrives.
Each is sent whole, frame by frame and byte by byte, and must get the same
RST_STREAM(PROTOCOL_ERROR) every time.
"""

from __future__ import annotations

import struct

import pytest

from .harness import SPLITS, Case, frame

SLOW = b"/slow?ms=60000"
BASE = [(b":method", b"POST"), (b":scheme", b"http"), (b":authority", b"localhost")]


def request(
    conn: Case,
    path: bytes = b"/",
    extra: list[tuple[bytes, bytes]] | None = None,
    end_stream: bool = False,
) -> bytes:
    return conn.headers(1, [*BASE, (b":path", path), *(extra or [])], end_stream=end_stream)


def data(payload: bytes, end_stream: bool = False) -> bytes:
    return frame(0x0, 0x1 if end_stream else 0, 1, payload)


# -- §8.1 the body, trailers and content-length (answered before the body is read) ---------


EARLY_ANSWER_CASES = {
    "more_data_than_content_length": lambda c: (
        request(c, extra=[(b"content-length", b"3")]) + data(b"12345", end_stream=True)
    ),
    "less_data_than_content_length": lambda c: (
        request(c, extra=[(b"content-length", b"9")]) + data(b"123", end_stream=True)
    ),
    "trailers_without_end_stream": lambda c: (
        request(c) + data(b"body") + c.headers(1, [(b"x-trailer", b"1")], end_stream=False)
    ),
    "pseudo_header_in_trailers": lambda c: (
        request(c) + data(b"body") + c.headers(1, [(b":path", b"/")], end_stream=True)
    ),
    "window_update_of_zero": lambda c: request(c) + frame(0x8, 0, 1, struct.pack(">I", 0)),
}


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("name", sorted(EARLY_ANSWER_CASES))
async def test_malformed_body_of_a_request_answered_early(
    conn: Case, name: str, split: str
) -> None:
    await conn.send(EARLY_ANSWER_CASES[name](conn), split)
    await conn.expect_stream_error(1, "PROTOCOL_ERROR")


@pytest.mark.parametrize("split", SPLITS)
async def test_a_valid_body_of_a_request_answered_early_is_no_error(conn: Case, split: str) -> None:
    await conn.send(
        request(conn, extra=[(b"content-length", b"8")])
        + data(b"body")
        + data(b"body")
        + conn.headers(1, [(b"x-trailer", b"1")], end_stream=True),
        split,
    )
    await conn.response_end(1)
    await conn.expect_no_error()


async def test_echo_reads_the_whole_body(conn: Case) -> None:
    await conn.send(request(conn, b"/echo", [(b"content-length", b"8")]) + data(b"12345678", True))
    await conn.response_end(1)
    assert conn.client.body(1) == b"12345678"


async def test_content_length_with_an_empty_body_is_malformed(conn: Case) -> None:
    await conn.send(request(conn, SLOW, [(b"content-length", b"5")], end_stream=True))
    await conn.expect_stream_error(1, "PROTOCOL_ERROR")


# -- §8.2 field validity ------------------------------------------------------------------


FIELD_CASES = {
    "uppercase_name": [(b"X-Upper", b"1")],
    "connection_header": [(b"connection", b"keep-alive")],
    "transfer_encoding": [(b"transfer-encoding", b"chunked")],
    "te_other_than_trailers": [(b"te", b"gzip")],
    "value_with_cr_lf": [(b"x-bad", b"a\r\nb: c")],
    "value_with_nul": [(b"x-bad", b"a\x00b")],
    "value_with_leading_space": [(b"x-bad", b" a")],
    "empty_name": [(b"", b"a")],
    "name_with_a_space": [(b"x bad", b"a")],
}


@pytest.mark.parametrize("name", sorted(FIELD_CASES))
async def test_invalid_field_is_malformed(conn: Case, name: str) -> None:
    await conn.send(request(conn, SLOW, FIELD_CASES[name], end_stream=True))
    await conn.expect_stream_error(1, "PROTOCOL_ERROR")


async def test_te_trailers_is_allowed(conn: Case) -> None:
    await conn.send(request(conn, b"/", [(b"te", b"trailers")], end_stream=True))
    await conn.response_end(1)
    await conn.expect_no_error()


# -- §8.3 pseudo-header fields ------------------------------------------------------------


PSEUDO_CASES = {
    "unknown_pseudo_header": [
        (b":method", b"GET"),
        (b":scheme", b"http"),
        (b":path", b"/"),
        (b":unknown", b"x"),
    ],
    "response_pseudo_header": [
        (b":method", b"GET"),
        (b":scheme", b"http"),
        (b":path", b"/"),
        (b":status", b"200"),
    ],
    "pseudo_header_after_a_regular_one": [
        (b":method", b"GET"),
        (b":scheme", b"http"),
        (b"x-regular", b"1"),
        (b":path", b"/"),
    ],
    "duplicate_path": [
        (b":method", b"GET"),
        (b":scheme", b"http"),
        (b":path", b"/"),
        (b":path", b"/"),
    ],
    "missing_method": [(b":scheme", b"http"), (b":path", b"/")],
    "missing_scheme": [(b":method", b"GET"), (b":path", b"/")],
    "missing_path": [(b":method", b"GET"), (b":scheme", b"http")],
    "empty_path": [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"")],
}


@pytest.mark.parametrize("name", sorted(PSEUDO_CASES))
async def test_invalid_pseudo_headers_are_malformed(conn: Case, name: str) -> None:
    await conn.send(conn.headers(1, PSEUDO_CASES[name], end_stream=True))
    await conn.expect_stream_error(1, "PROTOCOL_ERROR")


async def test_pseudo_header_in_trailers_of_an_open_request_is_malformed(conn: Case) -> None:
    await conn.send(request(conn, SLOW) + conn.headers(1, [(b":method", b"GET")]))
    await conn.expect_stream_error(1, "PROTOCOL_ERROR")


async def test_a_malformed_request_never_reaches_the_app_and_others_go_on(conn: Case) -> None:
    await conn.send(conn.headers(1, PSEUDO_CASES["missing_path"]))
    await conn.expect_stream_error(1, "PROTOCOL_ERROR")
    await conn.send(conn.request(3))
    await conn.response_end(3)
    assert conn.client.status(3) == b"200"
