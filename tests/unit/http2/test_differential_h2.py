"""Differential tests: our engine against python-hyper ``h2``, the reference.

Our client talks to ``h2``'s server state machine, and ``h2``'s client talks to
our server, exchanging random request/response sequences (headers, bodies of
any size so flow control is exercised, trailers, interim responses), with the
bytes of each direction cut into random pieces before they are fed in. Both
ends must agree on every header and every body byte, and neither may report a
reset or a connection error. GOAWAY is left out: ``h2`` cannot drain (that is
why this engine exists).
"""

from __future__ import annotations

import os
import random
import string
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h2.exceptions
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lastcall.engines.http2 import Http2Engine, Role
from lastcall.engines.http2 import events as ev

Headers = list[tuple[bytes, bytes]]

_RESERVED = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "content-length",
    "cookie",
    "host",
}
names = st.text(
    alphabet=string.ascii_lowercase + string.digits + "-", min_size=1, max_size=16
).filter(lambda s: s not in _RESERVED)
values = st.text(
    alphabet=string.ascii_letters + string.digits + " !#$%&'()*+,-./:;<=>?@[]^_`{|}~\"", max_size=40
).map(lambda s: s.strip())
fields = st.lists(st.tuples(names.map(str.encode), values.map(str.encode)), max_size=6)
body_sizes = st.one_of(st.just(0), st.integers(1, 300), st.integers(16_000, 140_000))


@dataclass
class Exchange:
    method: bytes
    path: bytes
    request_fields: Headers
    request_body: bytes
    request_trailers: Headers | None
    content_length: bool
    interim: list[bytes]
    status: bytes
    response_fields: Headers
    response_body: bytes
    response_trailers: Headers | None

    def request(self) -> Headers:
        headers = [
            (b":method", self.method),
            (b":scheme", b"https"),
            (b":authority", b"example.com"),
            (b":path", self.path),
            *self.request_fields,
        ]
        if self.content_length:
            headers.append((b"content-length", str(len(self.request_body)).encode()))
        return headers

    def response(self) -> Headers:
        headers = [(b":status", self.status), *self.response_fields]
        if self.content_length:
            headers.append((b"content-length", str(len(self.response_body)).encode()))
        return headers


@st.composite
def exchanges(draw: st.DrawFn) -> Exchange:
    seed = draw(st.integers(0, 2**32))
    rnd = random.Random(seed)
    return Exchange(
        method=draw(st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE"])),
        path=b"/" + draw(st.text(alphabet=string.ascii_letters + "/?=&%", max_size=30)).encode(),
        request_fields=draw(fields),
        request_body=rnd.randbytes(draw(body_sizes)),
        request_trailers=draw(st.none() | fields.filter(bool)),
        content_length=draw(st.booleans()),
        interim=draw(st.lists(st.sampled_from([b"100", b"103"]), max_size=2)),
        status=draw(st.sampled_from([b"200", b"201", b"400", b"404", b"500", b"503"])),
        response_fields=draw(fields),
        response_body=rnd.randbytes(draw(body_sizes)),
        response_trailers=draw(st.none() | fields.filter(bool)),
    )


@dataclass
class Seen:
    """What one end received for one stream."""

    headers: Headers | None = None
    interim: list[Headers] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    trailers: Headers | None = None
    ended: bool = False


def cut(data: bytes, rnd: random.Random) -> list[bytes]:
    """Split ``data`` into random pieces: single octets, a few, whole frames, several."""
    pieces = []
    pos = 0
    while pos < len(data):
        size = rnd.choice([1, 2, 7, 9, 100, 4096, 20_000, 1 << 20])
        pieces.append(data[pos : pos + rnd.randint(1, size)])
        pos += len(pieces[-1])
    return pieces


class H2Sender:
    """Sends bodies from an ``h2`` connection within its flow-control windows."""

    def __init__(self, conn: h2.connection.H2Connection) -> None:
        self.conn = conn
        self.pending: dict[int, tuple[bytearray, Headers | None]] = {}

    def send(self, sid: int, body: bytes, trailers: Headers | None) -> None:
        self.pending[sid] = (bytearray(body), trailers)
        self.flush()

    def flush(self) -> None:
        for sid in list(self.pending):
            body, trailers = self.pending[sid]
            while body:
                n = min(
                    len(body),
                    self.conn.local_flow_control_window(sid),
                    self.conn.max_outbound_frame_size,
                )
                if n <= 0:
                    break
                self.conn.send_data(sid, bytes(body[:n]))
                del body[:n]
            if not body:
                if trailers:
                    self.conn.send_headers(sid, trailers, end_stream=True)
                else:
                    self.conn.end_stream(sid)
                del self.pending[sid]


#: Modest by default so the suite stays fast; scale it up for a campaign:
#: ``LASTCALL_HYPOTHESIS_SCALE=20 pytest tests/unit/http2/test_differential_h2.py``.
SCALE = float(os.environ.get("LASTCALL_HYPOTHESIS_SCALE", "1"))
SETTINGS = settings(
    max_examples=int(40 * SCALE),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@SETTINGS
@given(st.lists(exchanges(), min_size=1, max_size=6), st.integers(0, 2**32).map(random.Random))
def test_our_client_against_h2_server(plan: list[Exchange], rnd: random.Random) -> None:
    ours = Http2Engine(Role.CLIENT)
    theirs = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=False, header_encoding=None)
    )
    ours.initiate()
    theirs.initiate_connection()
    sender = H2Sender(theirs)
    by_sid: dict[int, Exchange] = {}
    at_server: dict[int, Seen] = {}
    at_client: dict[int, Seen] = {}
    for exchange in plan:
        end = not exchange.request_body and exchange.request_trailers is None
        sid = ours.open_stream(exchange.request(), end_stream=end)
        by_sid[sid] = exchange
        at_client[sid] = Seen()
        if exchange.request_body:
            ours.send_data(sid, exchange.request_body, end_stream=exchange.request_trailers is None)
        if exchange.request_trailers is not None:
            ours.send_trailers(sid, exchange.request_trailers)

    def server_events(events: list[h2.events.Event]) -> None:
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                at_server[event.stream_id] = Seen(headers=list(event.headers))
            elif isinstance(event, h2.events.DataReceived):
                at_server[event.stream_id].body += event.data
                theirs.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.TrailersReceived):
                at_server[event.stream_id].trailers = list(event.headers)
            elif isinstance(event, h2.events.StreamEnded):
                sid = event.stream_id
                at_server[sid].ended = True
                exchange = by_sid[sid]
                for status in exchange.interim:
                    theirs.send_headers(sid, [(b":status", status)])
                end = not exchange.response_body and exchange.response_trailers is None
                theirs.send_headers(sid, exchange.response(), end_stream=end)
                if not end:
                    sender.send(sid, exchange.response_body, exchange.response_trailers)
            elif isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
                sender.flush()
            else:
                assert not isinstance(
                    event, h2.events.StreamReset | h2.events.ConnectionTerminated
                ), event

    def client_events(events: list[ev.Event]) -> None:
        for event in events:
            if isinstance(event, ev.ResponseReceived):
                at_client[event.stream_id].headers = event.headers
                at_client[event.stream_id].ended |= event.end_stream
            elif isinstance(event, ev.InformationalResponseReceived):
                at_client[event.stream_id].interim.append(event.headers)
            elif isinstance(event, ev.DataReceived):
                at_client[event.stream_id].body += event.data
                at_client[event.stream_id].ended |= event.end_stream
                ours.acknowledge_received_data(event.stream_id, event.flow_controlled_length)
            elif isinstance(event, ev.TrailersReceived):
                at_client[event.stream_id].trailers = event.headers
                at_client[event.stream_id].ended = True
            else:
                assert not isinstance(
                    event, ev.StreamReset | ev.ConnectionTerminated | ev.StreamRefused
                ), event

    for _ in range(10_000):
        out = ours.data_to_send()
        for piece in cut(out, rnd):
            server_events(theirs.receive_data(piece))
        back = theirs.data_to_send()
        for piece in cut(back, rnd):
            client_events(ours.receive_data(piece, 0.0))
        if not out and not back:
            break
    for sid, exchange in by_sid.items():
        server_seen, client_seen = at_server[sid], at_client[sid]
        assert server_seen.headers == exchange.request()
        assert bytes(server_seen.body) == exchange.request_body
        assert server_seen.trailers == exchange.request_trailers
        assert server_seen.ended
        assert client_seen.interim == [[(b":status", s)] for s in exchange.interim]
        assert client_seen.headers == exchange.response()
        assert bytes(client_seen.body) == exchange.response_body
        assert client_seen.trailers == exchange.response_trailers
        assert client_seen.ended
    assert ours.active_stream_count == 0


@SETTINGS
@given(st.lists(exchanges(), min_size=1, max_size=6), st.integers(0, 2**32).map(random.Random))
def test_h2_client_against_our_server(plan: list[Exchange], rnd: random.Random) -> None:
    ours = Http2Engine(Role.SERVER)
    theirs = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding=None)
    )
    ours.initiate()
    theirs.initiate_connection()
    sender = H2Sender(theirs)
    by_sid: dict[int, Exchange] = {}
    at_server: dict[int, Seen] = {}
    at_client: dict[int, Seen] = {}
    for exchange in plan:
        sid = theirs.get_next_available_stream_id()
        by_sid[sid] = exchange
        at_client[sid] = Seen()
        end = not exchange.request_body and exchange.request_trailers is None
        theirs.send_headers(sid, exchange.request(), end_stream=end)
        if not end:
            sender.send(sid, exchange.request_body, exchange.request_trailers)

    def server_events(events: list[ev.Event]) -> None:
        finished = []
        for event in events:
            if isinstance(event, ev.RequestReceived):
                at_server[event.stream_id] = Seen(headers=event.headers, ended=event.end_stream)
                if event.end_stream:
                    finished.append(event.stream_id)
            elif isinstance(event, ev.DataReceived):
                at_server[event.stream_id].body += event.data
                ours.acknowledge_received_data(event.stream_id, event.flow_controlled_length)
                if event.end_stream:
                    at_server[event.stream_id].ended = True
                    finished.append(event.stream_id)
            elif isinstance(event, ev.TrailersReceived):
                at_server[event.stream_id].trailers = event.headers
                at_server[event.stream_id].ended = True
                finished.append(event.stream_id)
            else:
                assert not isinstance(
                    event, ev.StreamReset | ev.ConnectionTerminated | ev.StreamRefused
                ), event
        for sid in finished:
            exchange = by_sid[sid]
            for status in exchange.interim:
                ours.send_headers(sid, [(b":status", status)])
            end = not exchange.response_body and exchange.response_trailers is None
            ours.send_headers(sid, exchange.response(), end_stream=end)
            if exchange.response_body:
                ours.send_data(
                    sid, exchange.response_body, end_stream=exchange.response_trailers is None
                )
            if exchange.response_trailers is not None:
                ours.send_trailers(sid, exchange.response_trailers)

    def client_events(events: list[h2.events.Event]) -> None:
        for event in events:
            if isinstance(event, h2.events.ResponseReceived):
                at_client[event.stream_id].headers = list(event.headers)
            elif isinstance(event, h2.events.InformationalResponseReceived):
                at_client[event.stream_id].interim.append(list(event.headers))
            elif isinstance(event, h2.events.DataReceived):
                at_client[event.stream_id].body += event.data
                theirs.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.TrailersReceived):
                at_client[event.stream_id].trailers = list(event.headers)
            elif isinstance(event, h2.events.StreamEnded):
                at_client[event.stream_id].ended = True
            elif isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
                sender.flush()
            else:
                assert not isinstance(
                    event, h2.events.StreamReset | h2.events.ConnectionTerminated
                ), event

    for _ in range(10_000):
        out = theirs.data_to_send()
        for piece in cut(out, rnd):
            server_events(ours.receive_data(piece, 0.0))
        back = ours.data_to_send()
        for piece in cut(back, rnd):
            client_events(theirs.receive_data(piece))
        if not out and not back:
            break
    for sid, exchange in by_sid.items():
        server_seen, client_seen = at_server[sid], at_client[sid]
        assert server_seen.headers == exchange.request()
        assert bytes(server_seen.body) == exchange.request_body
        assert server_seen.trailers == exchange.request_trailers
        assert server_seen.ended
        assert client_seen.interim == [[(b":status", s)] for s in exchange.interim]
        assert client_seen.headers == exchange.response()
        assert bytes(client_seen.body) == exchange.response_body
        assert client_seen.trailers == exchange.response_trailers
        assert client_seen.ended
    assert ours.active_stream_count == 0
