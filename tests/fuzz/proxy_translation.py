"""The ``proxy`` fuzz harness: what ``lastcall proxy`` regenerates from a hostile request.

The input is what a downstream client sends: an HTTP/1.1 request stream (first
byte even), or an HPACK header block on HTTP/2 (first byte odd). It goes
through the same code the proxy runs, in the same order:

1. the server's parsing: ``Http1Parser`` and ``split_target`` (HTTP/1.1), or
   ``Http2Engine`` (server role) and ``Http2Connection.stream_request`` (HTTP/2);
2. the proxy's translation: ``request_target``, ``backend_fields`` (hop-by-hop
   fields out, one plain ``Content-Length`` or none, ``X-Forwarded-*``/
   ``Forwarded``/``Via``) and ``backend_request``;
3. the client's regeneration for each upstream protocol: ``request_head`` and
   h11's serialisation (HTTP/1.1), ``request_headers`` and our client engine's
   HEADERS frame (HTTP/2).

The invariant: a request either stops at one of our protocol errors on the way
(``RemoteProtocolError`` from the server's parsing, a stream or connection error
from its engine, ``LocalProtocolError`` from the client, or h11's, which the
client turns into ours) or reaches the backend as valid framing of its own:

- HTTP/1.1: the bytes parse, with our server's parser, as exactly one request
  with the downstream method and target; one ``Host``; never both
  ``Content-Length`` and ``Transfer-Encoding``, and ``Transfer-Encoding`` only
  ``chunked``, ours; no hop-by-hop field but ``TE: trailers``; no CR, LF or NUL
  in a value;
- HTTP/2: the four request pseudo-fields first, then lowercase names only, no
  connection-specific field, ``te`` only ``trailers``, no CR, LF or NUL in a
  value; and our server engine, receiving the frame, accepts it as the same
  request (no RST_STREAM, no GOAWAY).

Bits of the first byte choose the variant, so one corpus file replays one run:
bit 0 the downstream protocol, bit 1 the forwarding policy (X-Forwarded and the
client's Host, or RFC 7239 and the backend's Host), bit 2 whether the body is
whole (``content=``) or streamed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import h11

from lastcall.client.http1 import request_head
from lastcall.client.models import Request
from lastcall.client.multiplexed import request_headers
from lastcall.engines.http1 import Http1Limits, Http1Parser, RequestStarted, UpgradeRequested
from lastcall.engines.http2 import FrameType, Http2Engine, Role
from lastcall.engines.http2 import events as ev
from lastcall.errors import LocalProtocolError, RemoteProtocolError
from lastcall.lifecycle import ConnectionRegistry
from lastcall.observe import Observer
from lastcall.proxy.forward import backend_fields, backend_request, request_target
from lastcall.proxy.headers import HOP_BY_HOP, ForwardingPolicy
from lastcall.server.config import ServerConfig
from lastcall.server.http1 import split_target
from lastcall.server.http2 import Http2Connection
from lastcall.server.state import ServerState
from lastcall.testing.frames import parse_frames

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
BACKEND_BASE = "http://10.0.0.7:8080"
BACKEND_AUTHORITY = b"10.0.0.7:8080"
CLIENT = ("192.0.2.1", 40000)
POLICIES = (ForwardingPolicy(), ForwardingPolicy(rfc7239=True, preserve_host=False))
#: RFC 9113 §8.2.2: never in an HTTP/2 field section (``te`` only as ``trailers``).
CONNECTION_SPECIFIC = frozenset(HOP_BY_HOP - {b"te"}) | {b"host"}
PSEUDO_REQUEST = [b":method", b":scheme", b":authority", b":path"]
STANDARD_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
BACKEND_LIMITS = Http1Limits(
    max_request_line_size=1 << 20, max_header_size=1 << 22, max_header_count=1 << 20
)
#: What one proxied request looks like here: (scope, body is whole).
Downstream = tuple[dict[str, Any], bool]


def _frame(ftype: int, flags: int, sid: int, payload: bytes = b"") -> bytes:
    n = len(payload)
    return n.to_bytes(3, "big") + bytes([ftype, flags]) + sid.to_bytes(4, "big") + payload


def _server_engine() -> Http2Engine:
    engine = Http2Engine(Role.SERVER)
    engine.initiate()
    engine.receive_data(
        PREFACE + _frame(FrameType.SETTINGS, 0, 0) + _frame(FrameType.SETTINGS, 1, 0), 0.0
    )
    engine.data_to_send()
    return engine


def _client_engine() -> Http2Engine:
    engine = Http2Engine(Role.CLIENT)
    engine.initiate()
    engine.receive_data(_frame(FrameType.SETTINGS, 0, 0) + _frame(FrameType.SETTINGS, 1, 0), 0.0)
    engine.data_to_send()
    return engine


_h2_connection: Http2Connection | None = None


def _scope_connection() -> Http2Connection:
    """The server's HTTP/2 connection that builds a request's scope (never attached)."""
    global _h2_connection
    if _h2_connection is None:

        async def app(scope: Any, receive: Any, send: Any) -> None:
            raise AssertionError("never called")

        loop = asyncio.new_event_loop()
        state = ServerState(ServerConfig(), app, loop, Observer(), ConnectionRegistry())
        _h2_connection = Http2Connection(state)
        _h2_connection.client = CLIENT
    return _h2_connection


# -- 1. the server's parsing ----------------------------------------------------------


def _h1_downstream(data: bytes) -> list[dict[str, Any]]:
    """The scopes our HTTP/1.1 server would hand the proxy for ``data`` (those
    before a parse error: the server answers that one itself)."""
    parser = Http1Parser()
    scopes: list[dict[str, Any]] = []
    try:
        events = parser.feed(data)
    except RemoteProtocolError:
        return scopes
    for event in events:
        if isinstance(event, UpgradeRequested):
            break  # WebSocket: the proxy's other path
        if isinstance(event, RequestStarted):
            try:
                raw_path, query = split_target(event.target)
            except RemoteProtocolError:
                break  # the server answers 400 itself
            scopes.append(
                {
                    "method": event.method.decode("ascii"),
                    "raw_path": raw_path,
                    "query_string": query,
                    "headers": event.headers,
                    "http_version": event.http_version,
                    "scheme": "http",
                    "client": CLIENT,
                }
            )
    return scopes


def _h2_downstream(block: bytes, end_stream: bool) -> list[dict[str, Any]]:
    """The scope our HTTP/2 server would hand the proxy for one HEADERS frame."""
    engine = _server_engine()
    flags = 0x4 | (0x1 if end_stream else 0)
    events = engine.receive_data(_frame(FrameType.HEADERS, flags, 1, block), 0.0)
    scopes = []
    for event in events:
        if isinstance(event, ev.RequestReceived) and event.headers is not None:
            request = _scope_connection().stream_request(list(event.headers), "2")
            if request.protocol is None:  # an extended CONNECT is a WebSocket
                scopes.append(request.scope)
    return scopes


# -- 2. the proxy's translation --------------------------------------------------------


async def _body() -> AsyncIterator[bytes]:
    yield b"body"


def _backend_request(scope: dict[str, Any], policy: ForwardingPolicy, whole: bool) -> Request:
    forwarded = backend_fields(
        scope,
        scope["headers"],
        policy,
        backend_authority=BACKEND_AUTHORITY,
        body_is_whole=whole,
    )
    return backend_request(
        scope["method"],
        request_target(scope),
        forwarded,
        policy,
        BACKEND_BASE,
        BACKEND_AUTHORITY,
        content=b"body" if whole else None,
        stream=None if whole else _body(),
    )


# -- 3. the client's regeneration, checked -----------------------------------------------


def _check_value(name: bytes, value: bytes) -> None:
    assert not any(c in value for c in b"\r\n\x00"), (name, value)


def _check_h1_upstream(request: Request, method: str, target: bytes, whole: bool) -> None:
    try:
        head = request_head(request, close=False)
        wire = h11.Connection(h11.CLIENT).send(head)
    except (h11.LocalProtocolError, LocalProtocolError):
        return  # ours, or h11's that the client raises as ours: the proxy answers 502
    assert wire is not None
    parsed = [_parse_with_h11(wire)]
    if method in STANDARD_METHODS:
        parsed.append(_parse_with_ours(wire))
    for got_method, got_target, fields in parsed:
        assert got_method == method.encode("ascii"), (method, got_method)
        assert got_target == target, (target, got_target)
        _check_h1_fields(fields, whole)


def _parse_with_h11(wire: bytes) -> tuple[bytes, bytes, list[tuple[bytes, bytes]]]:
    """h11 (a parser we did not write) takes any token as a method."""
    server = h11.Connection(h11.SERVER)
    server.receive_data(wire)
    event = server.next_event()  # h11.RemoteProtocolError here breaks the invariant
    assert isinstance(event, h11.Request), (wire, event)
    return (
        bytes(event.method),
        bytes(event.target),
        [(bytes(n), bytes(v)) for n, v in event.headers],
    )


def _parse_with_ours(wire: bytes) -> tuple[bytes, bytes, list[tuple[bytes, bytes]]]:
    """Our server's parser (llhttp) knows a fixed list of methods, hence only
    for those. The framing is checked, not the backend's size limits: an
    HTTP/2 request may hold more fields than our HTTP/1.1 server's 100 (431)."""
    parser = Http1Parser(BACKEND_LIMITS)
    events = parser.feed(wire)  # RemoteProtocolError here breaks the invariant
    assert parser.pending_error is None, (wire, parser.pending_error)
    started = [e for e in events if isinstance(e, RequestStarted)]
    assert len(started) == 1, (wire, events)
    return started[0].method, started[0].target, started[0].headers


def _check_h1_fields(fields: list[tuple[bytes, bytes]], whole: bool) -> None:
    names = [name.lower() for name, _ in fields]
    assert names.count(b"host") == 1, fields
    assert not (b"content-length" in names and b"transfer-encoding" in names), fields
    for name, value in fields:
        _check_value(name, value)
        lower = name.lower()
        if lower == b"transfer-encoding":
            assert value == b"chunked" and not whole, fields
        elif lower == b"te":
            assert value == b"trailers", fields
        else:
            assert lower not in HOP_BY_HOP, fields


def _check_h2_upstream(request: Request, method: str, target: bytes) -> None:
    try:
        fields = request_headers(request, b"http")
    except LocalProtocolError:
        return
    assert [name for name, _ in fields[:4]] == PSEUDO_REQUEST, fields
    assert fields[0][1] == method.encode("ascii") and fields[3][1] == target, (fields, target)
    for name, value in fields[4:]:
        assert name == name.lower() and not name.startswith(b":"), fields
        assert name not in CONNECTION_SPECIFIC, fields
        assert name != b"te" or value == b"trailers", fields
        _check_value(name, value)
    client = _client_engine()
    client.open_stream(fields, end_stream=False)
    server = _server_engine()
    events = server.receive_data(client.data_to_send(), 0.0)
    answered = parse_frames(server.data_to_send())
    problems = [f for f in answered if f.type in (FrameType.RST_STREAM, FrameType.GOAWAY)]
    assert not problems, (fields, [f.summary() for f in problems])
    received = [e for e in events if isinstance(e, ev.RequestReceived)]
    assert len(received) == 1 and list(received[0].headers or ()) == fields, (fields, events)


def fuzz_proxy(data: bytes) -> None:
    if not data:
        return
    variant, payload = data[0], data[1:]
    policy = POLICIES[(variant >> 1) & 1]
    whole = bool(variant & 4)
    scopes = _h2_downstream(payload, end_stream=whole) if variant & 1 else _h1_downstream(payload)
    for scope in scopes:
        target = request_target(scope)
        try:
            request = _backend_request(scope, policy, whole)
        except LocalProtocolError:
            continue  # a target it cannot forward byte for byte: the proxy answers 400
        _check_h1_upstream(request, scope["method"], target, whole)
        _check_h2_upstream(request, scope["method"], target)
