"""What an app sends and what a client sends, checked on HTTP/2 and HTTP/3 alike.

Each test runs twice: over HTTP/2 (``RawH2Client``, raw frames) and over
HTTP/3 (aioquic's client), against one in-process server on 127.0.0.1. They
cover what ``server/multiplexed.py`` and ``server/response_fields.py``
promise, each a defect an audit found:

- response fields (RFC 9113 §8.2, RFC 9114 §4.2): a CR, LF or NUL, a bad name
  or a pseudo-header from the app is a 500 (or a reset once the response has
  begun), never a field on the wire; connection-specific fields are dropped;
- framing (RFC 9113 §8.1.1, RFC 9114 §4.1.2): no content for 204, 304 or HEAD;
  a body longer or shorter than the app's content-length, or a 1xx status,
  never passes as a complete response;
- ``max_body_size`` (RFC 9110 §15.5.14): 413 for a declared length over it
  without running the app; a body that grows past it ends the app's reading
  with ``http.disconnect``;
- after ``http.disconnect`` the app's sends are no-ops (ASGI spec 2.4), and an
  app that returns after it logs no error.

Every wait is for a frame, an event or the app's own signal, bounded by
``BOUND``; the only duration is the grace period under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from server_harness import Running, StartServer

from lastcall.server.asgi import Message, Receive, Scope, Send
from lastcall.testing import RawH2Client
from lastcall.testing.clock import FakeClock
from lastcall.testing.h2_raw_client import (
    CONTINUATION,
    DATA,
    END_HEADERS,
    END_STREAM,
    HEADERS,
    RST_STREAM,
    Frame,
)

BOUND = 10.0
Headers = list[tuple[bytes, bytes]]

# Reset codes by protocol: (HTTP/2 RFC 9113 §7, HTTP/3 RFC 9114 §8.1).
INTERNAL = {"h2": 0x2, "h3": 0x102}
CANCELLED = {"h2": 0x8, "h3": 0x10C}
STOPPED = {"h2": 0x0, "h3": 0x100}  # NO_ERROR / H3_NO_ERROR: "stop sending, thanks"


# -- the application -----------------------------------------------------------------------


def start_msg(status: int = 200, headers: Headers | None = None, **kw: Any) -> Message:
    return {"type": "http.response.start", "status": status, "headers": headers or [], **kw}


def body_msg(data: bytes = b"", more: bool = False) -> Message:
    return {"type": "http.response.body", "body": data, "more_body": more}


def trailers_msg(*fields: tuple[bytes, bytes]) -> Message:
    return {"type": "http.response.trailers", "headers": list(fields)}


#: Routes that only send: the messages each sends, in order.
SCRIPTS: dict[str, list[Message]] = {
    "/": [start_msg(headers=[(b"content-type", b"text/plain")]), body_msg(b"default")],
    "/inject": [start_msg(headers=[(b"x-a", b"v\r\nSet-Cookie: evil=1")]), body_msg(b"hi")],
    "/inject-name": [start_msg(headers=[(b"x-a: b\r\nx-evil", b"1")]), body_msg(b"hi")],
    "/nul": [start_msg(headers=[(b"x-a", b"a\x00b")]), body_msg(b"hi")],
    "/pseudo": [start_msg(headers=[(b":status", b"204")]), body_msg(b"hi")],
    "/inject-trailer": [
        start_msg(trailers=True),
        body_msg(b"hi"),
        trailers_msg((b"grpc-status", b"0\r\n\r\nHTTP/1.1 200 OK\r\nx-smuggled: 1")),
    ],
    "/translate": [
        start_msg(
            headers=[
                (b"X-Upper", b"1"),
                (b"x-padded", b"  padded\t"),
                (b"Connection", b"close"),
                (b"keep-alive", b"timeout=5"),
                (b"transfer-encoding", b"chunked"),
                (b"upgrade", b"h2c"),
                (b"te", b"trailers"),
            ]
        ),
        body_msg(b"ok"),
    ],
    "/204": [
        start_msg(204, [(b"content-length", b"9")]),
        body_msg(b"A", more=True),
        body_msg(b"BODY-LEAK"),
    ],
    "/304": [start_msg(304, [(b"etag", b'"x"'), (b"content-length", b"4")]), body_msg(b"nope")],
    "/304-no-length": [start_msg(304, [(b"etag", b'"x"')]), body_msg(b"nope")],
    "/cl-over": [
        start_msg(headers=[(b"content-length", b"2")]),
        body_msg(b"hello world, longer than 2"),
    ],
    "/cl-over-streamed": [
        start_msg(headers=[(b"content-length", b"5")]),
        body_msg(b"abc", more=True),
        body_msg(b"defgh"),
    ],
    "/cl-under": [start_msg(headers=[(b"content-length", b"100")]), body_msg(b"short")],
    "/cl-under-streamed": [
        start_msg(headers=[(b"content-length", b"10")]),
        body_msg(b"abc", more=True),
        body_msg(b""),
    ],
    "/cl-bad": [start_msg(headers=[(b"content-length", b"abc")]), body_msg(b"x")],
    "/status-101": [start_msg(101), body_msg(b"x")],
    "/status-1000": [start_msg(1000), body_msg(b"x")],
}

Route = Callable[["App", Receive, Send], Awaitable[None]]
#: Routes that also receive.
ROUTES: dict[str, Route] = {}


def route(path: str) -> Callable[[Route], Route]:
    def register(handler: Route) -> Route:
        ROUTES[path] = handler
        return handler

    return register


class App:
    """``SCRIPTS`` and ``ROUTES`` below; records the RuntimeError each path's
    sends raised, what it received, and sets ``finished[path]`` when its
    handler returns or raises."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}
        self.received: dict[str, list[Message]] = defaultdict(list)
        self.finished: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.paths: list[str] = []
        self.release = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        self.paths.append(path)

        async def recording_receive() -> Message:
            message = await receive()
            self.received[path].append(message)
            return message

        try:
            if path in ROUTES:
                await ROUTES[path](self, recording_receive, send)
            else:
                for message in SCRIPTS.get(path, SCRIPTS["/"]):
                    await send(message)
        except RuntimeError as exc:
            self.errors[path] = str(exc)
            raise
        finally:
            self.finished[path].set()

    async def wait(self, path: str) -> None:
        async with asyncio.timeout(BOUND):
            await self.finished[path].wait()


async def until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


@route("/read")
async def read(app: App, receive: Receive, send: Send) -> None:
    """Reads the whole body, then answers with its length (or returns on disconnect)."""
    total = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        total += len(message["body"])
        if not message["more_body"]:
            break
    await send(start_msg())
    await send(body_msg(b"%d" % total))


@route("/answer-then-read")
async def answer_then_read(app: App, receive: Receive, send: Send) -> None:
    """Starts streaming, then reads; after the disconnect it finishes anyway:
    every one of those sends must be a no-op (ASGI spec 2.4)."""
    await send(start_msg(trailers=True))
    await send(body_msg(b"first", more=True))
    await until_disconnect(receive)
    await send(body_msg(b"after the disconnect"))
    await send(trailers_msg((b"x-t", b"1")))


@route("/wait-for-disconnect")
async def wait_for_disconnect(app: App, receive: Receive, send: Send) -> None:
    """Streams, waits for ``http.disconnect`` (grace expiry), finishes, returns."""
    await send(start_msg(trailers=True))
    await send(body_msg(b"first", more=True))
    app.release.set()
    await until_disconnect(receive)
    await send(body_msg(b"late"))
    await send(trailers_msg((b"x-t", b"1")))


@route("/never-started")
async def never_started(app: App, receive: Receive, send: Send) -> None:
    """Waits for ``http.disconnect`` before starting, then sends a whole response."""
    app.release.set()
    await until_disconnect(receive)
    for message in (start_msg(trailers=True), body_msg(b"late"), trailers_msg((b"x-t", b"1"))):
        await send(message)


# -- the two clients, behind one face -----------------------------------------------------


@dataclass
class Outcome:
    """What the client saw of one response stream."""

    head: Headers = field(default_factory=list)
    body: bytes = b""
    trailers: Headers | None = None
    ended: bool = False  # END_STREAM / FIN: a complete response
    reset: int | None = None  # RST_STREAM / RESET_STREAM code

    @property
    def status(self) -> bytes | None:
        return dict(self.head).get(b":status")

    def names(self) -> list[bytes]:
        return [n for n, _ in self.head]


class H2Peer:
    def __init__(self, run: Running, client: RawH2Client) -> None:
        self.run = run
        self.client = client

    def request(
        self,
        path: str,
        method: str = "GET",
        *,
        headers: Headers | None = None,
        open_ended: bool = False,
    ) -> int:
        extra = [(n.decode(), v.decode()) for n, v in headers or []]
        return self.client.request(path, method, extra=extra, open_ended=open_ended)

    def send_body(self, stream_id: int, data: bytes, end: bool = False) -> None:
        for i in range(0, max(len(data), 1), 16_384):
            last = i + 16_384 >= len(data)
            self.client.send_frame(
                DATA, END_STREAM if end and last else 0, stream_id, data[i : i + 16_384]
            )

    def _mine(self, stream_id: int) -> list[Frame]:
        return [f for f in self.client.frames if f.stream_id == stream_id]

    async def _read_until(self, done: Callable[[], bool]) -> None:
        async with asyncio.timeout(BOUND):
            while not done():
                if await self.client.read_frame() is None:
                    raise EOFError(f"connection closed: {self.client.frames}")

    async def outcome(self, stream_id: int) -> Outcome:
        def over() -> bool:
            return any(
                f.type == RST_STREAM or (f.type in (HEADERS, DATA) and f.flags & END_STREAM)
                for f in self._mine(stream_id)
            )

        await self._read_until(over)
        out = Outcome()
        heads = [f.headers for f in self._mine(stream_id) if f.type == HEADERS]
        out.head = heads[0] if heads else []
        out.trailers = heads[1] if len(heads) > 1 else None
        out.body = b"".join(f.payload for f in self._mine(stream_id) if f.type == DATA)
        for f in self._mine(stream_id):
            if f.type == RST_STREAM:
                out.reset = f.error_code
                break
            if f.type in (HEADERS, DATA) and f.flags & END_STREAM:
                out.ended = True
                break
        return out

    async def received(self, stream_id: int, data: bytes) -> None:
        """Wait until the response body so far is ``data``."""

        def got() -> bytes:
            return b"".join(f.payload for f in self._mine(stream_id) if f.type == DATA)

        await self._read_until(lambda: got() == data)

    async def stopped(self, stream_id: int) -> int:
        """The code with which the server asked us to stop sending the request."""

        def resets() -> list[Frame]:
            return [f for f in self._mine(stream_id) if f.type == RST_STREAM]

        await self._read_until(lambda: bool(resets()))
        return resets()[0].error_code


class H3Peer:
    def __init__(self, run: Running, client: Any) -> None:
        from aioquic.h3 import events as h3e
        from aioquic.quic import events as qe

        self.run = run
        self.client = client
        self.h3e = h3e
        self.qe = qe

    def request(
        self,
        path: str,
        method: str = "GET",
        *,
        headers: Headers | None = None,
        open_ended: bool = False,
    ) -> int:
        client = self.client
        stream_id: int = client._quic.get_next_available_stream_id()
        head = [
            (b":method", method.encode()),
            (b":scheme", b"https"),
            (b":authority", b"localhost"),
            (b":path", path.encode()),
            *(headers or []),
        ]
        client.h3.send_headers(stream_id, head, end_stream=not open_ended)
        client.transmit()
        return stream_id

    def send_body(self, stream_id: int, data: bytes, end: bool = False) -> None:
        self.client.h3.send_data(stream_id, data, end_stream=end)
        self.client.transmit()

    async def outcome(self, stream_id: int) -> Outcome:
        client = self.client
        await client.wait_for(
            lambda: client.is_complete(stream_id) or client.reset_code(stream_id) is not None
        )
        out = Outcome()
        heads = client.headers(stream_id)
        out.head = heads[0] if heads else []
        out.trailers = heads[1] if len(heads) > 1 else None
        out.body = client.body(stream_id)[0]
        out.ended = client.is_complete(stream_id)
        out.reset = client.reset_code(stream_id)
        return out

    async def received(self, stream_id: int, data: bytes) -> None:
        client = self.client
        await client.wait_for(lambda: client.body(stream_id)[0] == data)

    async def stopped(self, stream_id: int) -> int:
        client = self.client
        qe = self.qe

        def codes() -> list[int]:
            return [
                e.error_code
                for e in client.events
                if isinstance(e, qe.StopSendingReceived) and e.stream_id == stream_id
            ]

        await client.wait_for(lambda: bool(codes()))
        return codes()[0]


Peer = H2Peer | H3Peer
Serve = Callable[..., Awaitable[Peer]]


@pytest.fixture(scope="module")
def cert_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from lastcall.testing.quic_certs import write_self_signed

    return write_self_signed(tmp_path_factory.mktemp("certs"))


@pytest.fixture(params=["h2", "h3"])
def proto(request: pytest.FixtureRequest) -> str:
    if request.param == "h3":
        pytest.importorskip("aioquic")
    return str(request.param)


@pytest.fixture
async def serve(
    proto: str, start_server: StartServer, cert_files: tuple[Path, Path]
) -> AsyncIterator[Serve]:
    """Start a server with ``settings`` and connect one client of ``proto`` to it."""
    async with contextlib.AsyncExitStack() as stack:

        async def connect(app: Any, **settings: Any) -> Peer:
            if proto == "h2":
                run = await start_server(app, **settings)
                client = await RawH2Client.connect("127.0.0.1", run.port)
                stack.push_async_callback(client.aclose)
                return H2Peer(run, client)
            from h3_client import h3_connect

            certfile, keyfile = cert_files
            run = await start_server(
                app,
                quic_bind=["127.0.0.1:0"],
                certfile=str(certfile),
                keyfile=str(keyfile),
                **settings,
            )
            client = await stack.enter_async_context(h3_connect(run, certfile))
            return H3Peer(run, client)

        yield connect


# -- response fields --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/inject", "CR, LF or NUL"),
        ("/inject-name", "invalid response header name"),
        ("/nul", "CR, LF or NUL"),
        ("/pseudo", "pseudo-header"),
    ],
)
async def test_an_invalid_response_field_is_a_500_never_a_field(
    serve: Serve, path: str, why: str
) -> None:
    app = App()
    peer = await serve(app)
    out = await peer.outcome(peer.request(path))
    assert out.status == b"500" and out.ended and out.body == b""
    assert b"x-a" not in out.names() and b"set-cookie" not in out.names()
    assert why in app.errors[path]  # the app's send() raised RuntimeError
    again = await peer.outcome(peer.request("/"))  # the connection is fine
    assert again.status == b"200" and again.body == b"default"


async def test_an_invalid_trailer_resets_the_stream(serve: Serve, proto: str) -> None:
    app = App()
    peer = await serve(app)
    out = await peer.outcome(peer.request("/inject-trailer"))
    assert out.trailers is None and not out.ended and out.reset == INTERNAL[proto]
    if proto == "h2":  # HTTP/3: see test_broken_framing_after_the_head_resets_the_stream
        assert out.status == b"200" and out.body == b"hi"
    assert "CR, LF or NUL" in app.errors["/inject-trailer"]


async def test_connection_specific_fields_are_dropped_and_names_lowercased(serve: Serve) -> None:
    peer = await serve(App())
    out = await peer.outcome(peer.request("/translate"))
    assert out.status == b"200" and out.ended and out.body == b"ok"
    fields = [(n, v) for n, v in out.head if n not in (b":status", b"date", b"alt-svc")]
    assert fields == [(b"x-upper", b"1"), (b"x-padded", b"padded")]


# -- framing ------------------------------------------------------------------------------------


async def test_204_and_304_carry_no_content(serve: Serve, proto: str) -> None:
    app = App()
    peer = await serve(app)
    no_content = await peer.outcome(peer.request("/204"))
    assert no_content.status == b"204" and no_content.ended and no_content.body == b""
    assert b"content-length" not in no_content.names()  # RFC 9110 §8.6: never in a 204
    # A 304's content-length is the selected representation's, kept as the app
    # gave it (RFC 9110 §8.6, RFC 9114 §4.1.2). aioquic 1.7.2's client checks it
    # against the (empty) body all the same and fails the connection, so over
    # HTTP/3 the 304 here carries none.
    path = "/304" if proto == "h2" else "/304-no-length"
    not_modified = await peer.outcome(peer.request(path))
    assert not_modified.status == b"304" and not_modified.ended and not_modified.body == b""
    if proto == "h2":
        assert (b"content-length", b"4") in not_modified.head
    else:
        assert b"content-length" not in not_modified.names()
    assert app.errors == {}


async def test_head_carries_no_content_and_no_invented_length(serve: Serve) -> None:
    peer = await serve(App())
    out = await peer.outcome(peer.request("/", "HEAD"))
    assert out.status == b"200" and out.ended and out.body == b""
    # "content-length: 0" would be a lie about the GET response.
    assert b"content-length" not in out.names()


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/cl-over", "longer than"),
        ("/cl-under", "shorter than"),
        ("/cl-bad", "invalid content-length"),
        ("/status-101", "invalid response status"),
        ("/status-1000", "invalid response status"),
    ],
)
async def test_broken_framing_before_anything_was_sent_is_a_500(
    serve: Serve, path: str, why: str
) -> None:
    app = App()
    peer = await serve(app)
    out = await peer.outcome(peer.request(path))
    assert out.status == b"500" and out.ended and out.body == b""
    assert why in app.errors[path]


@pytest.mark.parametrize(
    ("path", "sent", "why"),
    [("/cl-over-streamed", b"abc", "longer than"), ("/cl-under-streamed", b"abc", "shorter than")],
)
async def test_broken_framing_after_the_head_resets_the_stream(
    serve: Serve, proto: str, path: str, sent: bytes, why: str
) -> None:
    """Never END_STREAM on a body that does not match its content-length: the
    client would take a truncated (or overlong) body for the whole one."""
    app = App()
    peer = await serve(app)
    out = await peer.outcome(peer.request(path))
    assert not out.ended and out.reset == INTERNAL[proto]
    if proto == "h2":
        assert out.status == b"200" and out.body == sent
    else:
        # QUIC's RESET_STREAM abandons what was not delivered yet (RFC 9000
        # §3.2): the head and body, sent in the same flight, may be gone too.
        assert out.body in (sent, b"")
    assert why in app.errors[path]


# -- max_body_size ------------------------------------------------------------------------------


async def test_declared_length_over_max_body_size_is_413_without_the_app(
    serve: Serve, proto: str
) -> None:
    app = App()
    peer = await serve(app, max_body_size=1000)
    sid = peer.request("/read", "POST", headers=[(b"content-length", b"5000")], open_ended=True)
    out = await peer.outcome(sid)
    assert out.status == b"413" and out.ended
    assert await peer.stopped(sid) == STOPPED[proto]  # we read no more of it
    assert app.paths == []  # the app never saw it
    fine = peer.request("/read", "POST", open_ended=True)
    peer.send_body(fine, b"x" * 1000, end=True)  # at the limit: allowed
    out = await peer.outcome(fine)
    assert out.status == b"200" and out.body == b"1000"


async def test_body_growing_past_max_body_size_is_413_and_a_disconnect(
    serve: Serve, proto: str
) -> None:
    app = App()
    peer = await serve(app, max_body_size=1000)
    sid = peer.request("/read", "POST", open_ended=True)
    peer.send_body(sid, b"x" * 600)
    peer.send_body(sid, b"x" * 600)
    out = await peer.outcome(sid)
    assert out.status == b"413" and out.ended
    assert await peer.stopped(sid) == STOPPED[proto]
    await app.wait("/read")
    assert app.received["/read"][-1] == {"type": "http.disconnect"}
    assert all(m.get("more_body") for m in app.received["/read"][:-1])  # never a complete body
    assert app.errors == {}


async def test_body_past_max_body_size_after_the_head_resets_the_stream(
    serve: Serve, proto: str
) -> None:
    app = App()
    peer = await serve(app, max_body_size=1000)
    sid = peer.request("/answer-then-read", "POST", open_ended=True)
    await peer.received(sid, b"first")  # the response has begun
    peer.send_body(sid, b"x" * 1001)
    out = await peer.outcome(sid)
    assert out.status == b"200" and out.body == b"first"
    assert not out.ended and out.reset == CANCELLED[proto]
    await app.wait("/answer-then-read")
    assert app.received["/answer-then-read"][-1] == {"type": "http.disconnect"}
    assert app.errors == {}  # its sends after the disconnect were no-ops


# -- after http.disconnect ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/wait-for-disconnect", "/never-started"])
async def test_grace_expiry_disconnect_then_return_logs_no_error(
    serve: Serve, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The app did everything right: it saw ``http.disconnect``, finished what it
    was sending (silently dropped: ASGI spec 2.4) and returned."""
    caplog.set_level(logging.INFO, logger="lastcall.server")
    app = App()
    clock = FakeClock()
    peer = await serve(app, clock=clock)
    peer.request(path)
    async with asyncio.timeout(BOUND):
        await app.release.wait()
    peer.run.server.drain(grace=30)  # the deadline under test, on virtual time
    clock.advance(30)
    await app.wait(path)
    assert await peer.run.exit_code() == 0
    assert app.received[path][-1] == {"type": "http.disconnect"}
    assert app.errors == {}
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


# -- an oversized request header block (HTTP/2, RFC 9113 §10.5.1) --------------------------


async def test_oversized_header_block_is_431_and_the_connection_lives(
    start_server: StartServer,
) -> None:
    """The audit's case: a 70 KB header over the 64 KiB limit, in HEADERS plus
    CONTINUATION frames. It was GOAWAY(COMPRESSION_ERROR), ending every stream."""
    app = App()
    run = await start_server(app)
    client = await RawH2Client.connect("127.0.0.1", run.port)
    try:
        block = client.encoder.encode(
            [
                (":method", "GET"),
                (":scheme", "http"),
                (":authority", "localhost"),
                (":path", "/big"),
                ("x-big", "a" * 70_000),
            ]
        )
        parts = [block[i : i + 16_000] for i in range(0, len(block), 16_000)]
        client.send_frame(HEADERS, END_STREAM, 1, parts[0])
        for i, part in enumerate(parts[1:], 2):
            client.send_frame(CONTINUATION, END_HEADERS if i == len(parts) else 0, 1, part)
        client.next_stream_id = 3
        peer = H2Peer(run, client)
        out = await peer.outcome(1)
        assert out.status == b"431" and out.ended
        again = await peer.outcome(peer.request("/"))
        assert again.status == b"200" and again.body == b"default"
        assert app.paths == ["/"]  # the oversized request never reached the app
    finally:
        await client.aclose()
