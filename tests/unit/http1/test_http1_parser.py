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
