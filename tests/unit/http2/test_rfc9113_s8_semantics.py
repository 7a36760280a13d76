"""RFC 9113 §8: HTTP semantics — message framing (§8.1: content-length,
trailers, 1xx), field validity (§8.2), pseudo-header fields (§8.3), CONNECT
(§8.5) and extended CONNECT (RFC 8441). h2spec http2/8.x.

A malformed request or response is a stream error of type PROTOCOL_ERROR
(§8.1.1) and never reaches the application.
"""

from __future__ import annotations

import pytest

from lastcall.engines.http2 import ErrorCode, Http2Config, SettingCode
from lastcall.engines.http2 import events as ev
from lastcall.errors import LocalProtocolError
from lastcall.testing.frames import (
    DEFAULT_REQUEST,
    ScriptedPeer,
    data_frame,
    event_types,
    headers_frame,
    settings_frame,
)
from lastcall.testing.frames import server_peer as make_server

Headers = list[tuple[bytes, bytes]]
GET = DEFAULT_REQUEST
POST = [(b":method", b"POST"), *GET[1:]]
RESPONSE = [(b":status", b"200")]


def refused_as_malformed(peer: ScriptedPeer, events: list[ev.Event], sid: int = 1) -> None:
    assert not any(isinstance(e, ev.RequestReceived | ev.ResponseReceived) for e in events)
    assert peer.summaries() == [f"RST_STREAM[{sid}] PROTOCOL_ERROR"]
    assert not peer.engine.is_drained


# -- §8.1 message framing -------------------------------------------------------------------


def test_request_with_body_and_trailers(server: ScriptedPeer) -> None:
    trailers = [(b"grpc-status", b"0"), (b"x-checksum", b"abc")]
    events = server.send(
        server.request(1, POST, end_stream=False),
        data_frame(1, b"part1"),
        data_frame(1, b"part2"),
        server.trailers(1, trailers),
    )
    assert events == [
        ev.RequestReceived(1, POST, False),
        ev.DataReceived(1, b"part1", 5, False),
        ev.DataReceived(1, b"part2", 5, False),
        ev.TrailersReceived(1, trailers),
    ]
    events = server.send(data_frame(1, b"after trailers"))
    server.expect_stream_error(events, 1, ErrorCode.STREAM_CLOSED)


def test_second_headers_without_end_stream_is_malformed(server: ScriptedPeer) -> None:
    """h2spec 8.1.1: trailers must end the stream."""
    server.send(server.request(1, POST, end_stream=False))
    events = server.send(headers_frame(1, server.block([(b"x-t", b"1")])))
    assert events == [ev.StreamReset(1, ErrorCode.PROTOCOL_ERROR, False)]
    refused_as_malformed(server, events)


def test_pseudo_header_in_trailers_is_malformed(server: ScriptedPeer) -> None:
    """h2spec 8.1.2.1.3."""
    server.send(server.request(1, POST, end_stream=False))
    events = server.send(server.trailers(1, [(b":path", b"/"), (b"x-t", b"1")]))
    refused_as_malformed(server, events)


@pytest.mark.parametrize("chunks", [[b"x" * 5], [b"xx", b"xxx"]])
def test_content_length_longer_than_data_is_malformed(
    server: ScriptedPeer, chunks: list[bytes]
) -> None:
    """h2spec 8.1.2.6.1 / 8.1.2.6.2."""
    server.send(server.request(1, POST, end_stream=False, extra=[(b"content-length", b"6")]))
    frames = [data_frame(1, c) for c in chunks[:-1]] + [data_frame(1, chunks[-1], end_stream=True)]
    events = server.send(*frames)
    assert not any(isinstance(e, ev.DataReceived) and e.end_stream for e in events)
    assert server.summaries() == ["RST_STREAM[1] PROTOCOL_ERROR"]


def test_content_length_shorter_than_data_is_malformed(server: ScriptedPeer) -> None:
    server.send(server.request(1, POST, end_stream=False, extra=[(b"content-length", b"3")]))
    events = server.send(data_frame(1, b"xx"), data_frame(1, b"xx"))
    assert events == [
        ev.DataReceived(1, b"xx", 2, False),
        ev.StreamReset(1, ErrorCode.PROTOCOL_ERROR, False),
    ]
    assert server.summaries() == ["RST_STREAM[1] PROTOCOL_ERROR"]


def test_content_length_matching_data(server: ScriptedPeer) -> None:
    server.send(server.request(1, POST, end_stream=False, extra=[(b"content-length", b"4")]))
    events = server.send(data_frame(1, b"ab"), data_frame(1, b"cd", pad_length=5, end_stream=True))
    assert event_types(events) == ["DataReceived", "DataReceived"]
    assert server.summaries() == []


def test_content_length_with_no_body_is_malformed(server: ScriptedPeer) -> None:
    events = server.send(server.request(1, POST, extra=[(b"content-length", b"1")]))
    refused_as_malformed(server, events)


def test_content_length_zero_with_no_body(server: ScriptedPeer) -> None:
    events = server.send(server.request(1, POST, extra=[(b"content-length", b"0")]))
    assert event_types(events) == ["RequestReceived"]


def test_trailers_before_content_length_is_reached_are_malformed(server: ScriptedPeer) -> None:
    server.send(server.request(1, POST, end_stream=False, extra=[(b"content-length", b"10")]))
    events = server.send(data_frame(1, b"12345"), server.trailers(1, [(b"x-t", b"1")]))
    assert event_types(events) == ["DataReceived", "StreamReset"]
    assert server.summaries() == ["RST_STREAM[1] PROTOCOL_ERROR"]


@pytest.mark.parametrize("value", [b"-1", b"abc", b"1 2", b"", b"1" * 19, b"+5"])
def test_invalid_content_length_is_malformed(server: ScriptedPeer, value: bytes) -> None:
    events = server.send(
        server.request(1, POST, end_stream=False, extra=[(b"content-length", value)])
    )
    refused_as_malformed(server, events)


def test_conflicting_content_lengths_are_malformed(server: ScriptedPeer) -> None:
    extra = [(b"content-length", b"5"), (b"content-length", b"6")]
    events = server.send(server.request(1, POST, end_stream=False, extra=extra))
    refused_as_malformed(server, events)


def test_repeated_equal_content_lengths_are_accepted(server: ScriptedPeer) -> None:
    extra = [(b"content-length", b"2"), (b"content-length", b"2")]
    events = server.send(
        server.request(1, POST, end_stream=False, extra=extra),
        data_frame(1, b"ok", end_stream=True),
    )
    assert event_types(events) == ["RequestReceived", "DataReceived"]


def test_response_content_length_is_checked_by_the_client(client: ScriptedPeer) -> None:
    sid = client.engine.open_stream(GET, end_stream=True)
    client.frames()
    response = [(b":status", b"200"), (b"content-length", b"10")]
    events = client.send(
        client.response(sid, response, end_stream=False), data_frame(sid, b"short", end_stream=True)
    )
    assert events == [
        ev.ResponseReceived(sid, response, False),
        ev.StreamReset(sid, ErrorCode.PROTOCOL_ERROR, False),
    ]
    assert client.summaries() == [f"RST_STREAM[{sid}] PROTOCOL_ERROR"]


def test_head_response_content_length_needs_no_body(client: ScriptedPeer) -> None:
    """RFC 9110 §9.3.2: a HEAD response's content-length describes the GET body."""
    sid = client.engine.open_stream([(b":method", b"HEAD"), *GET[1:]], end_stream=True)
    client.frames()
    response = [(b":status", b"200"), (b"content-length", b"1234")]
    events = client.send(client.response(sid, response, end_stream=True))
    assert events == [ev.ResponseReceived(sid, response, True)]
    assert client.summaries() == []


@pytest.mark.parametrize("status", [b"204", b"304"])
def test_no_body_statuses_ignore_content_length(client: ScriptedPeer, status: bytes) -> None:
    sid = client.engine.open_stream(GET, end_stream=True)
    client.frames()
    response = [(b":status", status), (b"content-length", b"55")]
    assert client.send(client.response(sid, response)) == [ev.ResponseReceived(sid, response, True)]


def test_response_trailers_reach_the_client(client: ScriptedPeer) -> None:
    sid = client.engine.open_stream(POST, end_stream=False)
    client.engine.send_data(sid, b"req", end_stream=True)
    client.frames()
    trailers = [(b"grpc-status", b"0"), (b"grpc-message", b"")]
    events = client.send(
        client.response(sid, end_stream=False),
        data_frame(sid, b"resp"),
        client.trailers(sid, trailers),
    )
    assert event_types(events) == ["ResponseReceived", "DataReceived", "TrailersReceived"]
    assert events[2] == ev.TrailersReceived(sid, trailers)
    assert not client.engine.is_stream_open(sid)


def test_client_trailers_without_end_stream_are_malformed(client: ScriptedPeer) -> None:
    sid = client.engine.open_stream(GET, end_stream=True)
    client.frames()
    client.send(client.response(sid, end_stream=False))
    events = client.send(headers_frame(sid, client.block([(b"x-t", b"1")])))
    assert client.summaries() == [f"RST_STREAM[{sid}] PROTOCOL_ERROR"]
    assert events == [ev.StreamReset(sid, ErrorCode.PROTOCOL_ERROR, False)]


def test_server_sends_trailers(server: ScriptedPeer) -> None:
    server.send(server.request(1))
    server.engine.send_headers(1, RESPONSE)
    server.engine.send_data(1, b"body")
    server.engine.send_headers(1, [(b"grpc-status", b"0")], end_stream=True)
    frames = server.frames()
    assert [f.summary() for f in frames] == [
        "HEADERS[1] END_HEADERS",
        "DATA[1] 4",
        "HEADERS[1] END_STREAM|END_HEADERS",
    ]
    assert frames[2].headers == [(b"grpc-status", b"0")]
    assert not server.engine.is_stream_open(1)


def test_trailers_must_end_the_stream(server: ScriptedPeer) -> None:
    server.send(server.request(1))
    server.engine.send_headers(1, RESPONSE)
    with pytest.raises(LocalProtocolError):
        server.engine.send_headers(1, [(b"x-t", b"1")], end_stream=False)


def test_complete_response_before_request_body_ends(server: ScriptedPeer) -> None:
    """§8.1: the server may answer early and then RST_STREAM(NO_ERROR) the rest."""
    server.send(server.request(1, POST, end_stream=False))
    server.engine.send_headers(1, [(b":status", b"413")], end_stream=True)
    assert server.summaries() == ["HEADERS[1] END_STREAM|END_HEADERS", "RST_STREAM[1] NO_ERROR"]
    assert not server.engine.is_stream_open(1)


def test_client_keeps_sending_body_after_early_response(client: ScriptedPeer) -> None:
    """§8.1: a complete response does not close the request side by itself."""
    sid = client.engine.open_stream(POST)
    client.frames()
    events = client.send(client.response(sid, end_stream=True))
    assert events == [ev.ResponseReceived(sid, RESPONSE, True)]
    client.engine.send_data(sid, b"rest", end_stream=True)
    assert client.summaries() == [f"DATA[{sid}] 4 END_STREAM"]
    assert not client.engine.is_stream_open(sid)


# -- §8.1 informational responses ------------------------------------------------------------


def test_server_sends_interim_responses_before_the_final_one(server: ScriptedPeer) -> None:
    server.send(server.request(1, POST, end_stream=False))
    server.engine.send_headers(1, [(b":status", b"100")])
    server.engine.send_headers(1, [(b":status", b"103"), (b"link", b"</s.css>; rel=preload")])
    server.engine.send_headers(1, RESPONSE, end_stream=True)
    frames = server.frames()
    assert [f.summary() for f in frames] == [
        "HEADERS[1] END_HEADERS",
        "HEADERS[1] END_HEADERS",
        "HEADERS[1] END_STREAM|END_HEADERS",
        "RST_STREAM[1] NO_ERROR",
    ]
    assert [f.headers[0] for f in frames[:3] if f.headers] == [
        (b":status", b"100"),
        (b":status", b"103"),
        (b":status", b"200"),
    ]


def test_client_receives_interim_then_final_response(client: ScriptedPeer) -> None:
    sid = client.engine.open_stream(GET, end_stream=True)
    client.frames()
    events = client.send(
        client.response(sid, [(b":status", b"100")], end_stream=False),
        client.response(sid, [(b":status", b"103"), (b"link", b"<x>")], end_stream=False),
        client.response(sid, RESPONSE, end_stream=False),
        data_frame(sid, b"ok", end_stream=True),
    )
    assert events == [
        ev.InformationalResponseReceived(sid, [(b":status", b"100")]),
        ev.InformationalResponseReceived(sid, [(b":status", b"103"), (b"link", b"<x>")]),
        ev.ResponseReceived(sid, RESPONSE, False),
        ev.DataReceived(sid, b"ok", 2, True),
    ]


def test_interim_response_with_end_stream_is_malformed(client: ScriptedPeer) -> None:
    sid = client.engine.open_stream(GET, end_stream=True)
    client.frames()
    events = client.send(client.response(sid, [(b":status", b"100")], end_stream=True))
    refused_as_malformed(client, events, sid)


def test_101_is_malformed_in_http2(client: ScriptedPeer) -> None:
    """§8.6: HTTP/2 has no 101 (Switching Protocols)."""
    sid = client.engine.open_stream(GET, end_stream=True)
    client.frames()
    events = client.send(client.response(sid, [(b":status", b"101")], end_stream=False))
    refused_as_malformed(client, events, sid)


# -- §8.2 field validity ---------------------------------------------------------------------

BAD_FIELDS: list[tuple[bytes, bytes]] = [
    (b"X-Upper", b"v"),  # h2spec 8.1.2.1: uppercase name
    (b"connection", b"keep-alive"),  # h2spec 8.1.2.2.1
    (b"keep-alive", b"timeout=5"),
    (b"proxy-connection", b"keep-alive"),
    (b"transfer-encoding", b"chunked"),
    (b"upgrade", b"websocket"),
    (b"te", b"gzip"),  # h2spec 8.1.2.2.2
    (b"te", b"trailers, deflate"),
    (b"x-cr", b"a\rb"),
    (b"x-lf", b"a\nb"),
    (b"x-nul", b"a\x00b"),
    (b"x-lead", b" v"),
    (b"x-trail", b"v\t"),
    (b"", b"empty-name"),
    (b"x y", b"space in name"),
    (b"x:y", b"colon in name"),
    (b"x\x7f", b"del in name"),
    (b"x\xc3\xa9", b"non-ascii name"),
]


@pytest.mark.parametrize(("name", "value"), BAD_FIELDS, ids=lambda x: repr(x)[:20])
def test_invalid_request_field_is_malformed(
    server: ScriptedPeer, name: bytes, value: bytes
) -> None:
    events = server.send(server.request(1, extra=[(name, value)]))
    refused_as_malformed(server, events)


@pytest.mark.parametrize(("name", "value"), BAD_FIELDS[:8], ids=lambda x: repr(x)[:20])
def test_invalid_response_field_is_malformed(
    client: ScriptedPeer, name: bytes, value: bytes
) -> None:
    sid = client.engine.open_stream(GET, end_stream=True)
    client.frames()
    events = client.send(client.response(sid, [*RESPONSE, (name, value)]))
    refused_as_malformed(client, events, sid)


def test_invalid_trailer_field_is_malformed(server: ScriptedPeer) -> None:
    server.send(server.request(1, POST, end_stream=False))
    events = server.send(server.trailers(1, [(b"connection", b"close")]))
    refused_as_malformed(server, events)


def test_valid_fields_pass(server: ScriptedPeer) -> None:
    extra = [
        (b"te", b"trailers"),
        (b"x-empty", b""),
        (b"x-inner-space", b"a b\tc"),
        (b"x-obs-text", b"caf\xc3\xa9"),
        (b"!#$%&'*+-.^_`|~09az", b"token chars"),
        (b"cookie", b"a=1"),
        (b"cookie", b"b=2"),
    ]
    events = server.send(server.request(1, extra=extra))
    assert events == [ev.RequestReceived(1, [*GET, *extra], True)]


def test_invalid_field_is_caught_after_a_valid_one_was_cached(server: ScriptedPeer) -> None:
    """Validation caches fields that passed; a bad one is never let through by it."""
    server.send(server.request(1, extra=[(b"x-ok", b"1")]))
    server.frames()
    events = server.send(server.request(3, extra=[(b"x-ok", b"1"), (b"x-ok", b"1\r")]))
    refused_as_malformed(server, events, 3)


# -- §8.3 pseudo-header fields ----------------------------------------------------------------

MALFORMED_REQUESTS: dict[str, Headers] = {
    "unknown pseudo-header (8.1.2.1.1)": [*GET, (b":foo", b"bar")],
    "response pseudo-header (8.1.2.1.2)": [*GET[:3], (b":status", b"200"), GET[3]],
    "pseudo after regular (8.1.2.1.4)": [*GET[:3], (b"x-a", b"b"), GET[3]],
    "empty :path (8.1.2.3.1)": [*GET[:3], (b":path", b"")],
    "no :method (8.1.2.3.2)": GET[1:],
    "no :scheme (8.1.2.3.3)": [GET[0], *GET[2:]],
    "no :path (8.1.2.3.4)": GET[:3],
    "two :method (8.1.2.3.5)": [*GET, (b":method", b"POST")],
    "two :scheme (8.1.2.3.6)": [*GET, (b":scheme", b"http")],
    "two :path (8.1.2.3.7)": [*GET, (b":path", b"/two")],
    "two :authority": [*GET, (b":authority", b"other")],
    "relative :path": [*GET[:3], (b":path", b"index.html")],
    "* :path not OPTIONS": [*GET[:3], (b":path", b"*")],
    "CR in :path": [*GET[:3], (b":path", b"/a\rb")],
    ":protocol without CONNECT": [*GET, (b":protocol", b"websocket")],
    "plain CONNECT with :path": [
        (b":method", b"CONNECT"),
        (b":authority", b"h:443"),
        (b":path", b"/"),
    ],
    "plain CONNECT with :scheme": [
        (b":method", b"CONNECT"),
        (b":authority", b"h:443"),
        (b":scheme", b"https"),
    ],
    "plain CONNECT without :authority": [(b":method", b"CONNECT")],
    "extended CONNECT without :path": [
        (b":method", b"CONNECT"),
        (b":protocol", b"websocket"),
        (b":scheme", b"https"),
        (b":authority", b"h"),
    ],
    "extended CONNECT without :authority": [
        (b":method", b"CONNECT"),
        (b":protocol", b"websocket"),
        (b":scheme", b"https"),
        (b":path", b"/chat"),
    ],
    "two :protocol": [
        (b":method", b"CONNECT"),
        (b":protocol", b"websocket"),
        (b":protocol", b"websocket"),
        (b":scheme", b"https"),
        (b":path", b"/chat"),
        (b":authority", b"h"),
    ],
    # RFC 3986 §3.1 and RFC 9110 §9.1: a scheme and a method are ASCII tokens.
    # Before, the server's scope build raised UnicodeDecodeError on these and
    # the connection died with every stream on it (found by the proxy fuzz
    # harness, docs/dev/fuzzing.md).
    ":scheme not ASCII": [
        (b":method", b"GET"),
        (b":scheme", b"\x82\x07"),
        (b":path", b"/"),
        (b":authority", b"h"),
    ],
    ":scheme not a scheme": [
        (b":method", b"GET"),
        (b":scheme", b"ht tp"),
        (b":path", b"/"),
    ],
    ":method not ASCII": [(b":method", b"G\xc3\x89T"), *GET[1:]],
    ":method not a token": [(b":method", b"GET /x HTTP/1.1"), *GET[1:]],
}


@pytest.mark.parametrize("headers", MALFORMED_REQUESTS.values(), ids=MALFORMED_REQUESTS.keys())
def test_malformed_request_pseudo_headers(server: ScriptedPeer, headers: Headers) -> None:
    events = server.send(server.request(1, headers))
    refused_as_malformed(server, events)


def test_options_asterisk_is_accepted(server: ScriptedPeer) -> None:
    request = [
        (b":method", b"OPTIONS"),
        (b":scheme", b"https"),
        (b":authority", b"h"),
        (b":path", b"*"),
    ]
    assert server.send(server.request(1, request)) == [ev.RequestReceived(1, request, True)]


def test_authority_is_optional(server: ScriptedPeer) -> None:
    request = [GET[0], GET[1], GET[3], (b"host", b"example.com")]
    assert server.send(server.request(1, request)) == [ev.RequestReceived(1, request, True)]


def test_non_http_scheme_may_use_other_path_forms(server: ScriptedPeer) -> None:
    request = [GET[0], (b":scheme", b"urn"), (b":path", b"isbn:0451450523")]
    assert event_types(server.send(server.request(1, request))) == ["RequestReceived"]


MALFORMED_RESPONSES: dict[str, Headers] = {
    "no :status": [(b"content-type", b"text/plain")],
    ":status not first": [(b"x-a", b"b"), (b":status", b"200")],
    "two :status": [(b":status", b"200"), (b":status", b"204")],
    "request pseudo-header": [(b":status", b"200"), (b":path", b"/")],
    "non-numeric :status": [(b":status", b"2xx")],
    "short :status": [(b":status", b"20")],
}


@pytest.mark.parametrize("headers", MALFORMED_RESPONSES.values(), ids=MALFORMED_RESPONSES.keys())
def test_malformed_response_pseudo_headers(client: ScriptedPeer, headers: Headers) -> None:
    sid = client.engine.open_stream(GET, end_stream=True)
    client.frames()
    events = client.send(client.response(sid, headers))
    refused_as_malformed(client, events, sid)


def test_malformed_request_spends_no_stream_but_uses_its_id(server: ScriptedPeer) -> None:
    server.send(server.request(1, [*GET, (b":foo", b"x")]))
    server.frames()
    assert server.engine.active_stream_count == 0
    assert event_types(server.send(server.request(3))) == ["RequestReceived"]


# -- §8.5 CONNECT and RFC 8441 extended CONNECT ------------------------------------------------


def test_connect_with_authority_only(server: ScriptedPeer) -> None:
    request = [(b":method", b"CONNECT"), (b":authority", b"upstream:443")]
    events = server.send(
        server.request(1, request, end_stream=False), data_frame(1, b"\x16\x03\x01")
    )
    assert events == [
        ev.RequestReceived(1, request, False),
        ev.DataReceived(1, b"\x16\x03\x01", 3, False),
    ]
    server.engine.send_headers(1, RESPONSE)
    server.engine.send_data(1, b"tunnel")
    assert server.summaries() == ["HEADERS[1] END_HEADERS", "DATA[1] 6"]


EXTENDED_CONNECT: Headers = [
    (b":method", b"CONNECT"),
    (b":protocol", b"websocket"),
    (b":scheme", b"https"),
    (b":path", b"/chat"),
    (b":authority", b"example.com"),
    (b"sec-websocket-version", b"13"),
]


def test_extended_connect_is_advertised_and_accepted(server: ScriptedPeer) -> None:
    """RFC 8441 §3-§4."""
    assert server.engine.local_settings[SettingCode.ENABLE_CONNECT_PROTOCOL] == 1
    events = server.send(server.request(1, EXTENDED_CONNECT, end_stream=False))
    assert events == [ev.RequestReceived(1, EXTENDED_CONNECT, False)]


def test_extended_connect_refused_when_not_advertised() -> None:
    peer = make_server(Http2Config(enable_connect_protocol=False))
    assert SettingCode.ENABLE_CONNECT_PROTOCOL not in peer.engine.local_settings
    events = peer.send(peer.request(1, EXTENDED_CONNECT, end_stream=False))
    refused_as_malformed(peer, events)


def test_client_sends_extended_connect(client: ScriptedPeer) -> None:
    client.send(settings_frame({SettingCode.ENABLE_CONNECT_PROTOCOL: 1}))
    client.frames()
    sid = client.engine.open_stream(EXTENDED_CONNECT)
    frames = client.frames()
    assert [f.summary() for f in frames] == [f"HEADERS[{sid}] END_HEADERS"]
    assert frames[0].headers == EXTENDED_CONNECT
    events = client.send(client.response(sid, end_stream=False), data_frame(sid, b"ws frame"))
    assert event_types(events) == ["ResponseReceived", "DataReceived"]
