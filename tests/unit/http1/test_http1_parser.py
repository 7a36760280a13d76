"""The sans-IO HTTP/1.1 parser: limits, declined upgrades, and the fuzz invariant."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lastcall.engines.http1 import (
    BodyReceived,
    Http1Limits,
    Http1Parser,
    RequestEnded,
    RequestStarted,
    UpgradeRequested,
)
from lastcall.errors import RemoteProtocolError

REQUESTS = (
    b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n"
    b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    b"PUT /d HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi"
)


def kinds(events: list[object]) -> list[str]:
    return [type(e).__name__ for e in events]


def test_pipelined_requests_whole_or_byte_by_byte() -> None:
    whole = Http1Parser().feed(REQUESTS)
    parser = Http1Parser()
    single: list[object] = []
    for i in range(len(REQUESTS)):
        single += parser.feed(REQUESTS[i : i + 1])
    assert kinds(whole)[0] == "RequestStarted"
    assert [k for k in kinds(single) if k != "BodyReceived"] == [
        k for k in kinds(whole) if k != "BodyReceived"
    ]
    body = b"".join(e.data for e in single if isinstance(e, BodyReceived))
    assert body == b"abchi"
    heads = [e for e in whole if isinstance(e, RequestStarted)]
    assert heads[2].expect_continue and heads[0].keep_alive


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 101 + b"\r\n", 431),
        (b"POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 413),
        (b"GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    ],
)
def test_limits_and_smuggling_give_status_hints(request_bytes: bytes, status: int) -> None:
    parser = Http1Parser(Http1Limits(max_body_size=10))
    with pytest.raises(RemoteProtocolError) as info:
        parser.feed(request_bytes)
    assert info.value.status_hint == status


def test_declined_upgrade_with_body_keeps_parsing() -> None:
    parser = Http1Parser()
    events = parser.feed(
        b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
        b"helloGET /next HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert kinds(events) == ["RequestStarted", "UpgradeRequested"]
    trailing = events[-1]
    assert isinstance(trailing, UpgradeRequested)
    parser.decline_upgrade()
    rest = parser.feed(trailing.trailing)
    assert kinds(rest) == ["BodyReceived", "RequestEnded", "RequestStarted", "RequestEnded"]
    assert isinstance(rest[2], RequestStarted) and rest[2].target == b"/next"


@settings(max_examples=300)
@given(st.binary(max_size=300), st.booleans())
def test_any_bytes_parse_or_raise_remote_protocol_error(data: bytes, one_at_a_time: bool) -> None:
    """h11's fuzz invariant: nothing but events or RemoteProtocolError comes out."""
    parser = Http1Parser()
    chunks = [data[i : i + 1] for i in range(len(data))] if one_at_a_time else [data]
    try:
        for chunk in chunks:
            for event in parser.feed(chunk):
                assert isinstance(
                    event, RequestStarted | BodyReceived | RequestEnded | UpgradeRequested
                )
                if isinstance(event, UpgradeRequested):
                    return
    except RemoteProtocolError:
        pass


def test_trailer_fields_never_join_the_request_head() -> None:
    """A chunked body's trailer section (RFC 9112 §7.1.2) is not part of the head:
    llhttp reports its fields through the same callback as the head's, and they
    used to be appended to the head's list, so an app (or a proxy) reading the
    headers after the body saw ``X-Injected`` as a request header."""
    events = Http1Parser().feed(
        b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\nX-Injected: 1\r\nHost: evil\r\n\r\n"
    )
    started = events[0]
    assert isinstance(started, RequestStarted)
    assert started.headers == [(b"host", b"x"), (b"transfer-encoding", b"chunked")]
    assert kinds(events)[-1] == "RequestEnded"


def feed_until_error(
    parser: Http1Parser, start: bytes, fill: bytes, cap: int = 10_000_000
) -> tuple[int, int]:
    """Feed ``start`` then ``fill`` again and again: (bytes fed, status) at the first error."""
    fed = 0
    piece = start
    while fed < cap:
        try:
            parser.feed(piece)
        except RemoteProtocolError as exc:
            assert exc.status_hint is not None
            return fed + len(piece), exc.status_hint
        fed += len(piece)
        piece = fill
    raise AssertionError(f"{fed} bytes taken in without an error")


SMALL = Http1Limits(max_header_size=1024, max_chunk_extension_size=256)
CHUNKED = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize(
    ("start", "status", "bound"),
    [
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: ", 431, 1024),  # a value that never ends
        (b"GET / HTTP/1.1\r\nHost: a\r\n", 431, 1024),  # a name that never ends
        (CHUNKED + b"1\r\na\r\n0\r\nX-Trailer: ", 431, 1024),  # a trailer that never ends
        (CHUNKED + b"1;ext=", 400, 256),  # a chunk extension (CVE-2024-22019)
        (CHUNKED + b"1\r\na\r\n5;", 400, 256),  # ... on a later chunk
    ],
)
def test_lines_are_bounded_as_bytes_arrive(start: bytes, status: int, bound: int) -> None:
    """#15 items 2 and 8: the limit holds while the line is still arriving (it
    used to be checked once the line was complete, so an endless one was taken
    in without limit): cut within one read (here 100 bytes) past the bound."""
    fed, got = feed_until_error(Http1Parser(SMALL), start, b"v" * 100)
    assert got == status
    assert fed <= len(start) + bound + 100, fed


def test_an_endless_header_line_in_one_byte_reads_is_cut_at_the_bound() -> None:
    fed, got = feed_until_error(Http1Parser(SMALL), b"GET / HTTP/1.1\r\nHost: a\r\nX: ", b"v")
    assert got == 431 and fed <= 30 + 1024 + 1


def test_many_small_chunks_with_short_extensions_are_fine() -> None:
    """The chunk-line bound is per line: a long body of small chunks passes."""
    body = b"".join(b"4;e=1\r\nabcd\r\n" for _ in range(5000)) + b"0\r\n\r\n"
    events = Http1Parser(SMALL).feed(CHUNKED + body)
    assert kinds(events)[-1] == "RequestEnded"
    assert sum(len(e.data) for e in events if isinstance(e, BodyReceived)) == 20_000


@pytest.mark.parametrize("one_at_a_time", [False, True])
@pytest.mark.parametrize(
    ("version", "status"), [(b"2.0", 505), (b"0.9", 505), (b"3.1", 505), (b"1.2", None)]
)
def test_http_versions(version: bytes, status: int | None, one_at_a_time: bool) -> None:
    """#15 item 9: another major version is 505 (``GET / HTTP/2.0`` as text used
    to get 200 and close); a later 1.x is served as 1.1 (RFC 9110 §2.5; it
    used to be 400)."""
    data = b"GET / HTTP/" + version + b"\r\nHost: a\r\n\r\n"
    parser = Http1Parser()
    pieces = [data[i : i + 1] for i in range(len(data))] if one_at_a_time else [data]
    events: list[object] = []
    try:
        for piece in pieces:
            events += parser.feed(piece)
    except RemoteProtocolError as exc:
        assert exc.status_hint == status
        return
    assert status is None
    started = events[0]
    assert isinstance(started, RequestStarted)
    assert started.http_version == "1.1" and started.keep_alive


@pytest.mark.parametrize("one_at_a_time", [False, True])
@pytest.mark.parametrize(
    ("raw", "value"),
    [(b"a\t", b"a"), (b"a ", b"a"), (b"a \t ", b"a"), (b" a b ", b"a b"), (b"a\tb", b"a\tb")],
)
def test_whitespace_around_a_value_is_not_part_of_it(
    raw: bytes, value: bytes, one_at_a_time: bool
) -> None:
    """RFC 9112 §5: ``field-line = field-name ":" OWS field-value OWS``. llhttp
    drops the leading OWS only; the trailing one reached the application, and
    through the proxy an HTTP/2 backend, where a value that ends in whitespace
    is malformed (RFC 9113 §8.2.1) and the stream was reset (``Host: a\\t`` made
    ``x-forwarded-host: a\\t``; found by the proxy fuzz harness)."""
    data = b"GET / HTTP/1.1\r\nHost: x\r\nX-V: " + raw + b"\r\n\r\n"
    parser = Http1Parser()
    pieces = [data[i : i + 1] for i in range(len(data))] if one_at_a_time else [data]
    events = [event for piece in pieces for event in parser.feed(piece)]
    started = [e for e in events if isinstance(e, RequestStarted)]
    assert started[0].headers == [(b"host", b"x"), (b"x-v", value)]
