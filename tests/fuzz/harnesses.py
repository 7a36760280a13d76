"""Fuzz harnesses: any bytes either parse, or end in our own protocol error. Nothing else.

The invariant is h11's (``fuzz/afl-server.py``): whatever a peer sends, fed
whole or one byte at a time, a parser answers with events or with the error
it documents, never with an exception of its own, and never differently
depending on how the bytes were split. Each harness takes one input (``bytes``)
and raises ``AssertionError`` (or lets an unexpected exception escape) when
the invariant breaks; the drivers are ``run_fuzz.py`` (atheris, coverage
guided) and ``test_fuzz_corpus.py`` (the corpus as regression inputs, and a
short atheris run, in CI).

Harnesses (``HARNESSES``), all through the public engine API:

- ``h2_server`` / ``h2_client``: ``Http2Engine`` in each role, after a valid
  handshake (a client with two requests in flight), the input as the peer's
  next bytes; split runs must give the same events and bytes; connection
  errors are exactly one GOAWAY(error) and nothing after;
- ``h2_preface``: the server from its first byte (bad prefaces too);
- ``hpack``: ``HeaderDecoder`` over a sequence of header blocks (dynamic
  table state carries over): a list of fields, or ``HpackError`` /
  ``HeaderListTooLarge``; what decodes re-encodes and decodes the same;
- ``h1_parser``: ``Http1Parser``: events or ``RemoteProtocolError`` with a
  4xx/5xx status hint; split runs give the same requests and the same error;
- ``h1_server``: the whole HTTP/1.1 request cycle (``Http1Connection`` and an
  ASGI app) fed the input through an in-memory transport, no socket: no
  exception escapes to the loop, and the bytes written are whole responses;
- ``h3_server``: ``Http3Engine`` behind a real QUIC handshake (in memory),
  the input sent by a raw QUIC client on a request stream, a new
  unidirectional stream, or the control stream after its SETTINGS: the
  connection lives on, resets the stream, or closes with an H3 error code;
  ``receive_datagram`` never raises.

The first byte of an input picks the variant (split or whole, which stream),
so one corpus file replays one exact run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import h11
from aioquic._buffer import Buffer  # aioquic.buffer re-exports it without __all__
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.packet import pull_quic_header
from proxy_translation import fuzz_proxy

# Everything the harnesses drive is imported here, at the top, so that
# ``run_fuzz.py`` instruments it for coverage (atheris instruments what is
# imported inside its ``instrument_imports`` block, nothing imported later).
from lastcall.engines.http1 import BodyReceived, Http1Parser, RequestStarted, UpgradeRequested
from lastcall.engines.http2 import FrameType, Http2Engine, Role
from lastcall.engines.http2 import events as ev
from lastcall.engines.http2.hpack import HeaderDecoder, HeaderEncoder
from lastcall.engines.http3 import H3_ALPN, Http3Engine, StreamType
from lastcall.engines.http3 import Role as H3Role
from lastcall.engines.http3 import events as h3ev
from lastcall.errors import HeaderListTooLarge, HpackError, RemoteProtocolError
from lastcall.lifecycle import ConnectionRegistry
from lastcall.observe import Observer
from lastcall.server.config import ServerConfig
from lastcall.server.http1 import Http1Connection
from lastcall.server.state import ServerState
from lastcall.testing.frames import DEFAULT_REQUEST, parse_frames
from lastcall.testing.quic_certs import make_self_signed

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(ftype: int, flags: int, sid: int, payload: bytes = b"") -> bytes:
    n = len(payload)
    return n.to_bytes(3, "big") + bytes([ftype, flags]) + sid.to_bytes(4, "big") + payload


# -- HTTP/2 engine -----------------------------------------------------------------------


def h2_ready(role: Role) -> Http2Engine:
    """An engine past the handshake; a client with two requests in flight."""
    engine = Http2Engine(role)
    engine.initiate()
    engine.data_to_send()
    hello = frame(FrameType.SETTINGS, 0, 0) + frame(FrameType.SETTINGS, 1, 0)
    if role is Role.SERVER:
        hello = PREFACE + hello
    events = engine.receive_data(hello, 0.0)
    assert [type(e) for e in events] == [ev.SettingsReceived, ev.SettingsAcknowledged]
    if role is Role.CLIENT:
        engine.open_stream(DEFAULT_REQUEST, end_stream=True)
        engine.open_stream(DEFAULT_REQUEST, end_stream=False)
    engine.data_to_send()
    return engine


def h2_feed(engine: Http2Engine, data: bytes, one_at_a_time: bool) -> tuple[list[ev.Event], bytes]:
    """Feed ``data`` whole or byte by byte (the clock moving 1 ms a byte)."""
    events: list[ev.Event] = []
    out = bytearray()
    pieces = [data[i : i + 1] for i in range(len(data))] if one_at_a_time else [data]
    for i, piece in enumerate(pieces):
        events += engine.receive_data(piece, i * 0.001 if one_at_a_time else 0.0)
        out += engine.data_to_send()
    return events, bytes(out)


def h2_check(engine: Http2Engine, events: list[ev.Event], out: bytes) -> None:
    """Our output is whole frames; a connection error is one GOAWAY(error) and nothing after."""
    assert all(isinstance(e, ev.Event) for e in events)
    sent = parse_frames(out)
    terminated = [e for e in events if isinstance(e, ev.ConnectionTerminated)]
    error_goaways = [f for f in sent if f.type == FrameType.GOAWAY and f.error_code != 0]
    if terminated:
        assert len(terminated) == 1 and events[-1] is terminated[0]
        assert not terminated[0].remote or not error_goaways
        if not terminated[0].remote:
            assert len(error_goaways) == 1 and sent[-1] is error_goaways[0]
            assert error_goaways[0].error_code == terminated[0].error_code
        assert engine.is_drained
    else:
        assert not error_goaways
    # Whatever happened, the engine still takes actions without raising.
    engine.start_drain(10.0)
    engine.handle_timer(20.0)
    engine.cancel_remaining()
    parse_frames(engine.data_to_send())


def _respond(engine: Http2Engine, events: list[ev.Event]) -> None:
    """Answer what was asked, so the response side is fuzzed too (server role)."""
    for event in events:
        if isinstance(event, ev.RequestReceived) and engine.is_stream_open(event.stream_id):
            engine.send_headers(event.stream_id, [(b":status", b"200")])
            engine.send_data(event.stream_id, b"x" * 70_000, end_stream=True)


def h2_run(role: Role, data: bytes) -> None:
    """Whole and byte-at-a-time runs must agree (unless a flood budget, which
    refills with the clock that moves only in the split run, was hit)."""
    whole = h2_ready(role)
    events_whole, out_whole = h2_feed(whole, data, one_at_a_time=False)
    h2_check(whole, events_whole, out_whole)
    split = h2_ready(role)
    events_split, out_split = h2_feed(split, data, one_at_a_time=True)
    if not any(
        isinstance(e, ev.ConnectionTerminated) and e.error_code == 0xB
        for e in events_whole + events_split
    ):
        assert events_split == events_whole
        assert out_split == out_whole
    h2_check(split, events_split, out_split)


def fuzz_h2_server(data: bytes) -> None:
    if data[:1] == b"\x01":  # respond to requests, then feed the rest
        engine = h2_ready(Role.SERVER)
        half = len(data) // 2
        events, out = h2_feed(engine, data[1:half], one_at_a_time=False)
        if not engine.is_drained:
            _respond(engine, events)
            more, rest = h2_feed(engine, data[half:], one_at_a_time=False)
            events += more
            out += rest
        parse_frames(out)
        engine.start_drain(10.0)
        engine.handle_timer(20.0)
        engine.cancel_remaining()
        parse_frames(engine.data_to_send())
        return
    h2_run(Role.SERVER, data)


def fuzz_h2_client(data: bytes) -> None:
    h2_run(Role.CLIENT, data)


def fuzz_h2_preface(data: bytes) -> None:
    """``h2_from_first_byte``; a first byte 0 stands for a valid preface."""
    h2_from_first_byte(PREFACE + data[1:] if data[:1] == b"\x00" else data)


def h2_from_first_byte(data: bytes) -> None:
    """The server from its first byte: garbage ends in GOAWAY(PROTOCOL_ERROR) and nothing else."""
    for one_at_a_time in (False, True):
        engine = Http2Engine(Role.SERVER)
        engine.initiate()
        engine.data_to_send()
        events, out = h2_feed(engine, data, one_at_a_time)
        h2_check(engine, events, out)


# -- HPACK -------------------------------------------------------------------------------


def fuzz_hpack(data: bytes) -> None:
    """Blocks separated by the byte 0xFE-0xFE (the decoder keeps its table between them)."""
    decoder = HeaderDecoder(max_table_size=4096, max_header_list_size=16384)
    encoder = HeaderEncoder()
    check = HeaderDecoder(max_table_size=4096, max_header_list_size=1 << 30)
    for block in data.split(b"\xfe\xfe"):
        try:
            headers = decoder.decode(block)
        except (HpackError, HeaderListTooLarge):
            return  # the connection ends: COMPRESSION_ERROR, or 431 / reset
        assert all(isinstance(n, bytes) and isinstance(v, bytes) for n, v in headers)
        assert check.decode(encoder.encode(headers)) == headers


# -- HTTP/1.1 ----------------------------------------------------------------------------


def h1_parse(data: bytes, one_at_a_time: bool) -> tuple[list[Any], int | None]:
    """Requests (head fields + whole body) and the error status, if any."""
    parser = Http1Parser()
    requests: list[Any] = []
    pieces = [data[i : i + 1] for i in range(len(data))] if one_at_a_time else [data]
    for piece in pieces:
        try:
            events = parser.feed(piece)
        except RemoteProtocolError as exc:
            status = exc.status_hint
            assert status is not None and 400 <= status < 600, exc
            return requests, status
        for event in events:
            if isinstance(event, RequestStarted):
                requests.append([event.method, event.target, event.headers, b""])
            elif isinstance(event, BodyReceived):
                requests[-1][3] += event.data
            elif isinstance(event, UpgradeRequested) and parser.pending_error is None:
                return requests, None  # an upgrade: the rest is not HTTP/1.1
        if parser.pending_error is not None:
            status = parser.pending_error.status_hint
            assert status is not None and 400 <= status < 600
            return requests, status
    return requests, None


def fuzz_h1_parser(data: bytes) -> None:
    whole = h1_parse(data, one_at_a_time=False)
    split = h1_parse(data, one_at_a_time=True)
    assert whole == split, (whole, split)


class _MemoryTransport(asyncio.Transport):
    """What ``Http1Connection`` needs of a transport, in memory: it keeps what is written."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False
        self.eof = False
        self.protocol: asyncio.BaseProtocol | None = None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.eof, "write after write_eof"
        self.written += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_reading(self) -> bool:
        return True

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol


async def _echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the whole body, answers with its length (chunked when the target says so)."""
    if scope["type"] != "http":
        return
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    chunked = scope["path"].startswith("/c")
    headers = [] if chunked else [(b"content-length", str(len(str(size))).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": str(size).encode()})


_h1_loop: asyncio.AbstractEventLoop | None = None


def fuzz_h1_server(data: bytes) -> None:
    """The server's whole HTTP/1.1 request cycle, fed ``data`` through memory."""
    global _h1_loop
    if _h1_loop is None:
        _h1_loop = asyncio.new_event_loop()
    loop = _h1_loop
    failures: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: failures.append(context))
    # The first byte picks the split and is not part of the request (before,
    # it was fed too, so every input was a 400 at its first byte).
    requests = data[1:]
    written = loop.run_until_complete(_serve_h1(requests, data[:1] == b"\x01"))
    assert not failures, failures
    methods = [request[0] for request in h1_parse(requests, False)[0]]
    for head in _response_heads(written, methods):
        assert head.startswith(b"HTTP/1.1 "), head[:40]


async def _serve_h1(data: bytes, one_at_a_time: bool) -> bytes:
    loop = asyncio.get_running_loop()
    state = ServerState(
        ServerConfig(http2=False), _echo_app, loop, Observer(), ConnectionRegistry()
    )
    conn = Http1Connection(state, sniff_h2=False)
    transport = _MemoryTransport()
    conn.connection_made(transport)
    pieces = [data[i : i + 1] for i in range(len(data))] if one_at_a_time else [data]
    for piece in pieces:
        if transport.closed:
            break
        conn.data_received(piece)
        # Let the app's tasks run to their next wait (bounded: every task
        # either finishes or waits for more body).
        for _ in range(8):
            await asyncio.sleep(0)
    if not transport.closed:
        conn.eof_received()
    for _ in range(8):
        await asyncio.sleep(0)
    tasks = list(getattr(conn, "tasks", ()))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    conn.connection_lost(None)
    return bytes(transport.written)


def _response_heads(written: bytes, methods: list[bytes]) -> list[bytes]:
    """The status lines of the responses, checked with h11 as a client that sent
    the requests the parser saw (their methods decide the framing: HEAD has no body)."""
    client = h11.Connection(h11.CLIENT)
    heads: list[bytes] = []
    if written:
        client.receive_data(written)
    answered = 0
    while True:
        if client.our_state is h11.IDLE:
            method = methods[answered] if answered < len(methods) else b"GET"
            client.send(h11.Request(method=method, target="/", headers=[("host", "x")]))
            client.send(h11.EndOfMessage())
        try:
            event = client.next_event()
        except h11.RemoteProtocolError as exc:
            raise AssertionError(f"the server wrote a malformed response: {exc}") from exc
        if event is h11.NEED_DATA or event is h11.PAUSED or isinstance(event, h11.ConnectionClosed):
            return heads
        if isinstance(event, h11.InformationalResponse | h11.Response):
            heads.append(b"HTTP/1.1 %d" % event.status_code)
        if isinstance(event, h11.EndOfMessage):
            answered += 1
            if client.their_state is not h11.DONE or client.our_state is not h11.DONE:
                return heads
            client.start_next_cycle()


# -- HTTP/3 ------------------------------------------------------------------------------

_h3_cert: Any = None


def fuzz_h3_server(data: bytes) -> None:
    """A raw QUIC client sends ``data[1:]`` on the stream ``data[0]`` picks, to our engine."""
    pair = _QuicPair.connected()
    quic = pair.client
    where = data[:1][0] % 3 if data else 0
    payload = data[1:]
    if where == 0:  # a request stream
        stream_id = quic.get_next_available_stream_id()
        quic.send_stream_data(stream_id, payload, end_stream=True)
    elif where == 1:  # a new unidirectional stream (its type is the first varint)
        stream_id = quic.get_next_available_stream_id(is_unidirectional=True)
        quic.send_stream_data(stream_id, payload, end_stream=False)
    else:  # the control stream, after its SETTINGS
        quic.send_stream_data(pair.control_stream, payload, end_stream=False)
    pair.pump()
    engine = pair.server
    events = pair.server_events
    assert all(isinstance(e, h3ev.Event) for e in events)
    closed = [e for e in events if isinstance(e, h3ev.ConnectionTerminated)]
    assert len(closed) <= 1
    # Whatever happened, the engine still takes actions without raising.
    engine.start_drain(pair.now)
    pair.pump()
    engine.cancel_remaining()
    pair.pump()


class _QuicPair:
    """Our ``Http3Engine`` (server) and aioquic's bare ``QuicConnection`` (client), in memory."""

    CLIENT = ("10.0.0.1", 50000)
    SERVER = ("10.0.0.2", 443)

    def __init__(self) -> None:
        global _h3_cert
        if _h3_cert is None:
            _h3_cert = make_self_signed()
        self.now = 100.0
        client_config = QuicConfiguration(is_client=True, alpn_protocols=[H3_ALPN])
        client_config.verify_mode = 0  # ssl.CERT_NONE: a throwaway certificate
        self.client = QuicConnection(configuration=client_config)
        self.server: Any = None
        self.server_events: list[Any] = []
        self.client.connect(self.SERVER, self.now)
        self.pump()
        assert self.server is not None
        self.control_stream = self.client.get_next_available_stream_id(is_unidirectional=True)
        # Stream type CONTROL (a one-byte varint), then an empty SETTINGS frame (RFC 9114 §7.2.4).
        self.client.send_stream_data(self.control_stream, bytes([StreamType.CONTROL, 0x04, 0x00]))
        self.pump()

    @classmethod
    def connected(cls) -> _QuicPair:
        return cls()

    def _to_server(self, data: bytes) -> None:
        if self.server is None:
            header = pull_quic_header(Buffer(data=data), host_cid_length=8)
            server_config = QuicConfiguration(
                is_client=False,
                alpn_protocols=[H3_ALPN],
                certificate=_h3_cert.certificate,
                private_key=_h3_cert.private_key,
            )
            self.server = Http3Engine(
                H3Role.SERVER,
                None,
                server_config,
                original_destination_connection_id=header.destination_cid,
            )
        self.server_events += self.server.receive_datagram(data, self.CLIENT, self.now)

    def pump(self, within: float = 0.5) -> None:
        """Move datagrams both ways, and the fake clock to each next timer (pacing,
        ACK delay, loss detection), until both sides are quiet or ``within``
        seconds of fake time have passed."""
        limit = self.now + within
        for _ in range(1000):
            moved = False
            for data, _ in self.client.datagrams_to_send(self.now):
                moved = True
                self._to_server(data)
            if self.server is not None:
                for data, _ in self.server.datagrams_to_send(self.now):
                    moved = True
                    self.client.receive_datagram(data, self.SERVER, self.now)
                self.server_events += self.server.pop_events()
            while self.client.next_event() is not None:
                pass
            if moved:
                continue
            timers = [self.client.get_timer()]
            if self.server is not None:
                timers.append(self.server.get_timer())
            due = min((t for t in timers if t is not None), default=None)
            if due is None or due > limit:
                return
            self.now = max(self.now, due)
            if (self.client.get_timer() or limit + 1) <= self.now:
                self.client.handle_timer(self.now)
            if self.server is not None and (self.server.get_timer() or limit + 1) <= self.now:
                self.server_events += self.server.handle_timer(self.now)


HARNESSES: dict[str, Callable[[bytes], None]] = {
    "h2_server": fuzz_h2_server,
    "h2_client": fuzz_h2_client,
    "h2_preface": fuzz_h2_preface,
    "hpack": fuzz_hpack,
    "h1_parser": fuzz_h1_parser,
    "h1_server": fuzz_h1_server,
    "h3_server": fuzz_h3_server,
    "proxy": fuzz_proxy,
}
