"""``Client(http3=True)`` over real UDP on 127.0.0.1 (RFC 9114).

Two servers: the ``h3_loop`` test kit (our server engine, which drains by the
book: GOAWAY, H3_REQUEST_REJECTED, CONNECTION_CLOSE(H3_NO_ERROR)) and
aioquic's own HTTP/3 server (``aioquic.asyncio.serve`` with aioquic's
``H3Connection``, a peer we did not write; it cannot send GOAWAY, so the test
writes the frame into aioquic's own control stream: the bytes on the wire are
exactly what a server sends, RFC 9114 §7.2.6).

Every wait is for an event, bounded by ``asyncio.timeout``; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import pathlib
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aioquic.asyncio import serve
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.asyncio.server import QuicServer
from aioquic.h3 import events as h3e
from aioquic.h3.connection import H3Connection
from aioquic.quic import events as qe
from aioquic.quic.configuration import QuicConfiguration

import lastcall.client as lc
from lastcall.drill.process import free_port
from lastcall.engines.http3 import ErrorCode, Http3Config
from lastcall.engines.http3 import events as ev
from lastcall.errors import ConnectError, RequestCancelled, StreamReset
from lastcall.testing.h3_loop import H3Request, H3Response, H3TestServer
from lastcall.testing.quic_certs import SelfSignedCertificate, make_self_signed

BOUND = 10.0  # no test step may take longer than this


@pytest.fixture(scope="module")
def cert() -> SelfSignedCertificate:
    return make_self_signed()


@pytest.fixture(scope="module")
def cafile(cert: SelfSignedCertificate, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    path.write_bytes(cert.certificate_pem)
    return str(path)


def server_configuration(cert: SelfSignedCertificate) -> QuicConfiguration:
    return QuicConfiguration(
        is_client=False,
        alpn_protocols=["h3"],
        certificate=cert.certificate,
        private_key=cert.private_key,
    )


# -- our server engine: the h3_loop kit ------------------------------------------------------


class Kit:
    """The kit with a handler: ``/slow`` waits for ``release``; the rest echo."""

    def __init__(self, cert: SelfSignedCertificate, config: Http3Config | None = None) -> None:
        self.release = asyncio.Event()
        self.server = H3TestServer(
            self.handler, quic_configuration=server_configuration(cert), config=config
        )
        self.url = ""

    async def handler(self, request: H3Request) -> H3Response:
        if request.path.startswith(b"/slow"):
            await self.release.wait()
            return H3Response(200, [(b"x-path", request.path)], b"slow body " * 1000)
        method = next(v for k, v in request.headers if k == b":method")
        return H3Response(200, [(b"x-method", method)], request.path + b":" + request.body)

    def requests_for(self, path: bytes) -> list[tuple[int, ev.Event]]:
        return [
            (conn, e)
            for conn, e in self.server.events
            if isinstance(e, ev.RequestReceived) and (b":path", path) in e.headers
        ]

    def of(self, kind: type[ev.Event]) -> list[tuple[int, ev.Event]]:
        return [(conn, e) for conn, e in self.server.events if isinstance(e, kind)]


@pytest.fixture
async def kit(cert: SelfSignedCertificate) -> AsyncIterator[Kit]:
    k = Kit(cert)
    host, port = await k.server.start()
    k.url = f"https://{host}:{port}"
    try:
        yield k
    finally:
        await k.server.aclose()


@pytest.fixture
async def kit_on_free_port(cert: SelfSignedCertificate) -> AsyncIterator[tuple[Kit, int]]:
    """The kit on a port number that is free for TCP too."""
    k = Kit(cert)
    port = free_port(udp=True)
    await k.server.start("127.0.0.1", port)
    k.url = f"https://127.0.0.1:{port}"
    try:
        yield k, port
    finally:
        await k.server.aclose()


async def test_requests_and_bodies_on_one_connection(kit: Kit, cafile: str) -> None:
    async with asyncio.timeout(BOUND):
        async with lc.Client(http3=True, verify=cafile) as client:
            r = await client.get(kit.url + "/hello?x=1")
            assert r.http_version == "HTTP/3"
            assert (r.status_code, r.content) == (200, b"/hello?x=1:")
            assert r.headers["x-method"] == "GET"
            body = bytes(range(256)) * 800  # 200 KiB, several QUIC packets and ACK rounds
            r = await client.post(kit.url + "/up", content=body)
            assert r.content == b"/up:" + body
            chunks = [b"a" * 70_000, b"b" * 70_000, b"c"]
            r = await client.put(kit.url + "/stream", stream=chunks)
            assert r.content == b"/stream:" + b"".join(chunks)
            rs = await asyncio.gather(*(client.get(f"{kit.url}/r{i}") for i in range(30)))
            assert [x.content for x in rs] == [f"/r{i}:".encode() for i in range(30)]
            kit.release.set()
            async with client.stream("GET", kit.url + "/slow") as streamed:
                got = b"".join([chunk async for chunk in streamed.aiter_bytes()])
            assert got == b"slow body " * 1000
            assert client.stats.connections_opened == 1
            assert client.stats.replays == 0


async def test_server_drain_completes_in_flight_and_replays_the_late_request(
    cert: SelfSignedCertificate,
) -> None:
    """RFC 9114 §5.2. The server sends its final GOAWAY at once (no settle
    allowance), so a request the client sends just before it sees that GOAWAY
    reaches the server after it: the server rejects it (H3_REQUEST_REJECTED),
    the client learns from the GOAWAY id that it was not processed, and
    replays it, a POST, on a new connection. The in-flight request completes."""
    kit = Kit(cert, Http3Config(goaway_settle_timeout=0.0))
    host, port = await kit.server.start()
    url = f"https://{host}:{port}"
    notices: list[lc.ClosingNotice] = []
    try:
        async with asyncio.timeout(BOUND):
            async with lc.Client(http3=True, verify=False, on_notice=notices.append) as client:
                await client.get(url + "/warm")
                slow = asyncio.create_task(client.get(url + "/slow"))
                await kit.server.wait_for(lambda: bool(kit.requests_for(b"/slow")))
                # Task order is the wire order: the late request is opened (and
                # flushed on the next loop iteration) before the GOAWAYs are read.
                late = asyncio.create_task(client.post(url + "/late", content=b"once"))

                async def drain_connections() -> None:
                    kit.server.drain_connections()

                await asyncio.create_task(drain_connections())
                late_response = await late
                assert late_response.content == b"/late:once"
                assert not slow.done()  # the accepted request is still being served
                kit.release.set()
                slow_response = await slow
                assert slow_response.content == b"slow body " * 1000
                notice = await slow_response.closing
                # The connection that served /slow and /late's first attempt closes
                # with H3_NO_ERROR once the slow response is acknowledged.
                first_conn = kit.requests_for(b"/slow")[0][0]
                await kit.server.wait_for(
                    lambda: any(
                        c == first_conn and e.error_code == ErrorCode.H3_NO_ERROR  # type: ignore[attr-defined]
                        for c, e in kit.of(ev.ConnectionTerminated)
                    )
                )
                stats = client.stats
    finally:
        await kit.server.aclose()
    slow_id = kit.requests_for(b"/slow")[0][1].stream_id  # type: ignore[attr-defined]
    # The server refused the late stream and never handed it to the application there.
    refused = [(c, e) for c, e in kit.of(ev.StreamRefused) if c == first_conn]
    assert [e.stream_id for _, e in refused] == [slow_id + 4]  # type: ignore[attr-defined]
    assert [c for c, _ in kit.requests_for(b"/late")] != [first_conn]
    assert len(kit.requests_for(b"/late")) == 1  # processed exactly once, elsewhere
    assert stats.replays == 1
    assert stats.connections_opened == 2
    assert notice.http_version == "HTTP/3" and notice.source == "remote"
    assert notice.reason == "goaway"
    assert notice.first_rejected_id is not None
    assert notice.first_rejected_id >= slow_id + 4
    assert notice.last_processed_id is None
    # The first GOAWAY (nothing rejected) and the final one, which updated the notice.
    assert [(n.first_rejected_id, n.is_update) for n in notices if n.source == "remote"] == [
        (2**62 - 4, False),
        (notice.first_rejected_id, True),
    ]


async def test_whole_server_drain_with_settle_round(kit: Kit) -> None:
    """The full sequence: GOAWAY(2^62-4) + PING, final GOAWAY, the in-flight
    response, CONNECTION_CLOSE(H3_NO_ERROR), the UDP socket closed last."""
    async with asyncio.timeout(BOUND):
        async with lc.Client(http3=True, verify=False) as client:
            notices = client.notices()
            slow = asyncio.create_task(client.get(kit.url + "/slow"))
            await kit.server.wait_for(lambda: bool(kit.requests_for(b"/slow")))
            drain = asyncio.create_task(kit.server.drain(grace_timeout=BOUND))
            notice = await anext(notices)
            assert notice.first_rejected_id == 2**62 - 4  # the early GOAWAY: nothing rejected
            assert client.pool.connections()[0].state.value == "draining"
            kit.release.set()
            assert (await slow).content == b"slow body " * 1000
            await drain
            assert [entry[0] for entry in kit.server.log] == [
                "drain_started",
                "connection_closed",
                "endpoint_closed",
            ]
            await asyncio.gather(*(c.wait_closed() for c in client.pool.connections()))
            assert client.pool.connections() == []
    terminated = [e for _, e in kit.of(ev.ConnectionTerminated)]
    assert [(e.error_code, e.remote) for e in terminated] == [(ErrorCode.H3_NO_ERROR, False)]  # type: ignore[attr-defined]


async def test_aclose_drains_then_closes_with_h3_no_error(kit: Kit) -> None:
    async with asyncio.timeout(BOUND):
        client = lc.Client(http3=True, verify=False)
        slow = asyncio.create_task(client.get(kit.url + "/slow"))
        await kit.server.wait_for(lambda: bool(kit.requests_for(b"/slow")))
        closing = asyncio.create_task(client.aclose(drain=BOUND))
        # Our GOAWAY(0) reached the server: it answers with a drain of its own.
        await kit.server.wait_for(lambda: bool(kit.of(ev.GoAwayReceived)))
        kit.release.set()
        assert (await slow).content == b"slow body " * 1000
        await closing
        await kit.server.wait_for(lambda: kit.server.connection_count == 0)
    assert [e.first_rejected_id for _, e in kit.of(ev.GoAwayReceived)] == [0]  # type: ignore[attr-defined]
    # Both sides drain (the server answers our GOAWAY with its own) and either
    # may close first once the last response is acknowledged: cleanly, either way.
    closes = [e.error_code for _, e in kit.of(ev.ConnectionTerminated)]  # type: ignore[attr-defined]
    assert closes == [ErrorCode.H3_NO_ERROR]
    assert client.stats.cancelled_by_drain == 0


async def test_aclose_deadline_cancels_with_h3_request_cancelled(kit: Kit) -> None:
    async with asyncio.timeout(BOUND):
        client = lc.Client(http3=True, verify=False)
        slow = asyncio.create_task(client.get(kit.url + "/slow"))
        await kit.server.wait_for(lambda: bool(kit.requests_for(b"/slow")))
        await client.aclose(drain=0.05)
        with pytest.raises(RequestCancelled):
            await slow
        await kit.server.wait_for(lambda: bool(kit.of(ev.StreamReset)))
    assert [(e.error_code, e.remote) for _, e in kit.of(ev.StreamReset)] == [  # type: ignore[attr-defined]
        (ErrorCode.H3_REQUEST_CANCELLED, True)
    ]
    assert client.stats.cancelled_by_drain == 1


async def test_certificate_verification(kit: Kit, cafile: str) -> None:
    async with asyncio.timeout(BOUND):
        async with lc.Client(http3=True) as client:  # system CAs: the test CA is not one
            with pytest.raises(ConnectError, match="QUIC handshake failed"):
                await client.get(kit.url + "/")
        async with lc.Client(http3=True, verify=cafile) as client:
            assert (await client.get(kit.url.replace("127.0.0.1", "localhost") + "/")).is_success


async def test_nobody_listening_fails_fast_and_safe_to_retry() -> None:
    port = free_port(udp=True)
    async with asyncio.timeout(BOUND), lc.Client(http3=True, verify=False) as client:
        with pytest.raises(ConnectError) as raised:
            await client.get(f"https://127.0.0.1:{port}/")  # ICMP unreachable, not a timeout
        assert raised.value.is_safe_to_retry


def test_config_needs_at_least_one_protocol() -> None:
    config = lc.ClientConfig(http1=False, http3=True)
    assert config.http3 and not config.http1
    with pytest.raises(ValueError, match="http1, http2 and http3"):
        lc.ClientConfig(http1=False, http2=False, http3=False)


# -- Alt-Svc: from TCP to HTTP/3 (RFC 7838, RFC 9114 §3.1.1) ----------------------------


class AltSvcTcpServer:
    """HTTP/1.1 over TLS on TCP; every response says ``Alt-Svc: h3=":PORT"`` and
    ``Connection: close`` (so the next request needs a new connection)."""

    def __init__(self, cert: SelfSignedCertificate, tmp: pathlib.Path, h3_port: int) -> None:
        certfile, keyfile = tmp / "cert.pem", tmp / "key.pem"
        certfile.write_bytes(cert.certificate_pem)
        keyfile.write_bytes(cert.private_key_pem)
        self.ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ssl.load_cert_chain(certfile, keyfile)
        self.h3_port = h3_port
        self.requests = 0
        self.server: asyncio.Server | None = None

    async def start(self, port: int) -> None:
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", port, ssl=self.ssl)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            self.requests += 1
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n"
                + f'alt-svc: h3=":{self.h3_port}"; ma=60\r\n\r\ntcp'.encode()
            )
            await writer.drain()
        finally:
            writer.close()

    async def aclose(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def test_alt_svc_moves_the_next_connection_to_http3(
    kit_on_free_port: tuple[Kit, int],
    cert: SelfSignedCertificate,
    tmp_path: pathlib.Path,
    cafile: str,
) -> None:
    kit, port = kit_on_free_port
    tcp = AltSvcTcpServer(cert, tmp_path, h3_port=port)
    await tcp.start(port)  # the same number on TCP and UDP, as servers usually do
    try:
        async with asyncio.timeout(BOUND):
            async with lc.Client(alt_svc=True, verify=cafile) as client:
                url = f"https://127.0.0.1:{port}/a"
                first = await client.get(url)
                assert (first.http_version, first.content) == ("HTTP/1.1", b"tcp")
                second = await client.get(url)
                assert (second.http_version, second.content) == ("HTTP/3", b"/a:")
                third = await client.get(url)  # the HTTP/3 connection is reused
                assert third.http_version == "HTTP/3"
                assert client.stats.connections_opened == 2
    finally:
        await tcp.aclose()
    assert tcp.requests == 1
    assert len(kit.requests_for(b"/a")) == 2


async def test_alt_svc_to_a_dead_port_falls_back_to_tcp(
    cert: SelfSignedCertificate, tmp_path: pathlib.Path, cafile: str
) -> None:
    port, dead = free_port(udp=True), free_port(udp=True)
    tcp = AltSvcTcpServer(cert, tmp_path, h3_port=dead)
    await tcp.start(port)
    try:
        async with asyncio.timeout(BOUND):
            async with lc.Client(alt_svc=True, verify=cafile) as client:
                url = f"https://127.0.0.1:{port}/a"
                versions = [(await client.get(url)).http_version for _ in range(3)]
                assert versions == ["HTTP/1.1"] * 3  # ICMP unreachable: TCP at once
                assert client.pool._alt_svc is not None
                now = asyncio.get_running_loop().time()
                assert client.pool._alt_svc.h3_port(("https", "127.0.0.1", port), now) is None
    finally:
        await tcp.aclose()
    assert tcp.requests == 3


# -- our own server: lastcall serve --quic-bind ----------------------------------------------


@pytest.fixture(scope="module")
def cert_files(
    cert: SelfSignedCertificate, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, str]:
    directory = tmp_path_factory.mktemp("server-tls")
    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    certfile.write_bytes(cert.certificate_pem)
    keyfile.write_bytes(cert.private_key_pem)
    return str(certfile), str(keyfile)


class SlowApp:
    """ASGI app: every request waits for ``release`` (all ``expected`` arrived first)."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.arrived = 0
        self.all_arrived = asyncio.Event()
        self.release = asyncio.Event()
        self.versions: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        self.versions.append(scope["http_version"])
        if scope["path"].startswith("/slow"):
            self.arrived += 1
            if self.arrived == self.expected:
                self.all_arrived.set()
            await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})


async def test_twenty_slow_requests_survive_a_lastcall_server_drain_over_http3(
    cert_files: tuple[str, str], cafile: str
) -> None:
    from lastcall.server import Server

    app = SlowApp(expected=20)
    certfile, keyfile = cert_files
    server = Server(
        app,
        bind=["127.0.0.1:0"],
        quic_bind=["127.0.0.1:0"],
        certfile=certfile,
        keyfile=keyfile,
        graceful_timeout=BOUND,
    )
    serving = asyncio.create_task(server.serve())
    async with asyncio.timeout(BOUND):
        await server.started
        url = f"https://127.0.0.1:{server.quic_port}"
        async with lc.Client(http3=True, verify=cafile) as client:
            tasks = [asyncio.create_task(client.get(f"{url}/slow/{i}")) for i in range(20)]
            await app.all_arrived.wait()
            subscription = client.notices()
            server.drain(grace=BOUND)
            notice = await anext(subscription)
            assert (notice.source, notice.http_version) == ("remote", "HTTP/3")
            app.release.set()
            results = await asyncio.gather(*tasks, return_exceptions=True)
        await serving
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert sorted(r.content for r in results if isinstance(r, lc.Response)) == sorted(
        f"/slow/{i}".encode() for i in range(20)
    )
    assert set(app.versions) == {"3"}


async def test_alt_svc_from_lastcall_server_moves_http2_to_http3(
    cert_files: tuple[str, str], cafile: str
) -> None:
    from lastcall.server import Server

    app = SlowApp(expected=0)
    certfile, keyfile = cert_files
    server = Server(
        app, bind=["127.0.0.1:0"], quic_bind=["127.0.0.1:0"], certfile=certfile, keyfile=keyfile
    )
    serving = asyncio.create_task(server.serve())
    async with asyncio.timeout(BOUND):
        await server.started
        url = f"https://127.0.0.1:{server.port}/x"  # the TCP port; h3 is on another one
        # max_requests=1: every request needs a new connection, so the advertisement is used.
        async with lc.Client(
            http2=True, alt_svc=True, verify=cafile, lifetime=lc.Lifetime(max_requests=1)
        ) as client:
            first = await client.get(url)
            assert first.http_version == "HTTP/2"
            assert first.headers["alt-svc"] == f'h3=":{server.quic_port}"; ma=86400'
            second = await client.get(url)
            assert (second.http_version, second.content) == ("HTTP/3", b"/x")
        server.drain(grace=BOUND)
        await serving
    assert app.versions == ["2", "3"]


# -- aioquic's own HTTP/3 server -----------------------------------------------------------


class AioquicH3Server(QuicConnectionProtocol):
    """aioquic's ``H3Connection`` serving: ``/slow`` waits for ``release``; the
    rest echo. ``reject_from``: a request on a stream at or above it gets a
    GOAWAY(that id) on the control stream plus RESET_STREAM/STOP_SENDING
    (H3_REQUEST_REJECTED). ``reset_first_with``: the first request is reset
    with that code and nothing else (no GOAWAY)."""

    def __init__(self, *args: Any, state: ServerState, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state = state
        self.index = len(state.connections)
        state.connections.append(self)
        self.h3 = H3Connection(self._quic)
        self.events: list[object] = []
        self.headers: dict[int, list[tuple[bytes, bytes]]] = {}
        self.bodies: dict[int, bytearray] = {}

    def quic_event_received(self, event: qe.QuicEvent) -> None:
        self.events.append(event)
        for h3_event in self.h3.handle_event(event):
            self.events.append(h3_event)
            if isinstance(h3_event, h3e.HeadersReceived):
                self.headers[h3_event.stream_id] = h3_event.headers
                self.bodies[h3_event.stream_id] = bytearray()
                if h3_event.stream_ended:
                    self.on_request(h3_event.stream_id)
            elif isinstance(h3_event, h3e.DataReceived) and h3_event.stream_id in self.bodies:
                self.bodies[h3_event.stream_id] += h3_event.data
                if h3_event.stream_ended:
                    self.on_request(h3_event.stream_id)
        self.state.changed.set()

    def on_request(self, stream_id: int) -> None:
        headers = dict(self.headers[stream_id])
        path = headers[b":path"]
        self.state.seen.append((self.index, path, bytes(self.bodies[stream_id])))
        reject_from = self.state.reject_from
        if reject_from is not None and self.index == 0 and stream_id >= reject_from:
            control = self.h3._local_control_stream_id
            assert control is not None and reject_from < 64  # a one-byte varint
            self._quic.send_stream_data(control, bytes([0x07, 0x01, reject_from]))
            self._quic.reset_stream(stream_id, ErrorCode.H3_REQUEST_REJECTED)
            self._quic.stop_stream(stream_id, ErrorCode.H3_REQUEST_REJECTED)
            self.transmit()
            return
        if self.state.reset_first_with is not None:
            code, self.state.reset_first_with = self.state.reset_first_with, None
            self._quic.reset_stream(stream_id, code)
            self.transmit()
            return
        if path.startswith(b"/slow"):
            asyncio.get_running_loop().create_task(self.respond_later(stream_id))
            return
        self.respond(stream_id, f"{self.index}:".encode() + path + b":" + self.bodies[stream_id])

    async def respond_later(self, stream_id: int) -> None:
        await self.state.release.wait()
        self.respond(stream_id, b"slow body " * 1000)

    def respond(self, stream_id: int, body: bytes) -> None:
        self.h3.send_headers(stream_id, [(b":status", b"200"), (b"server", b"aioquic")])
        self.h3.send_data(stream_id, body, end_stream=True)
        self.transmit()

    def close_codes(self) -> list[int]:
        return [e.error_code for e in self.events if isinstance(e, qe.ConnectionTerminated)]


class ServerState:
    def __init__(self) -> None:
        self.connections: list[AioquicH3Server] = []
        self.seen: list[tuple[int, bytes, bytes]] = []
        self.release = asyncio.Event()
        self.changed = asyncio.Event()
        self.reject_from: int | None = None
        self.reset_first_with: int | None = None

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        while True:
            self.changed.clear()
            if predicate():
                return
            await self.changed.wait()


@pytest.fixture
async def aioquic_server(
    cert: SelfSignedCertificate,
) -> AsyncIterator[tuple[ServerState, str]]:
    state = ServerState()

    def create_protocol(*args: Any, **kwargs: Any) -> AioquicH3Server:
        return AioquicH3Server(*args, state=state, **kwargs)

    server: QuicServer = await serve(
        "127.0.0.1",
        0,
        configuration=server_configuration(cert),
        create_protocol=create_protocol,
    )
    port = server._transport.get_extra_info("sockname")[1]
    try:
        yield state, f"https://127.0.0.1:{port}"
    finally:
        state.release.set()
        server.close()


async def test_requests_against_aioquic(
    aioquic_server: tuple[ServerState, str], cafile: str
) -> None:
    _state, url = aioquic_server
    async with asyncio.timeout(BOUND), lc.Client(http3=True, verify=cafile) as client:
        r = await client.get(url + "/a")
        assert (r.status_code, r.http_version, r.headers["server"]) == (200, "HTTP/3", "aioquic")
        assert r.content == b"0:/a:"
        body = b"x" * 150_000
        r = await client.post(url + "/b", content=body)
        assert r.content == b"0:/b:" + body
        rs = await asyncio.gather(*(client.get(f"{url}/c{i}") for i in range(20)))
        assert [x.content for x in rs] == [f"0:/c{i}:".encode() for i in range(20)]
    assert client.stats.connections_opened == 1


async def test_aioquic_goaway_finishes_below_and_replays_at_or_above(
    aioquic_server: tuple[ServerState, str],
) -> None:
    """The server says GOAWAY(4) and rejects stream 4 with H3_REQUEST_REJECTED
    while stream 0 is in flight: stream 0 completes on the old connection; the
    POST on stream 4 is replayed once on a new connection; the notice fires;
    the old connection closes with H3_NO_ERROR once stream 0 is done."""
    state, url = aioquic_server
    state.reject_from = 4
    async with asyncio.timeout(BOUND), lc.Client(http3=True, verify=False) as client:
        slow = asyncio.create_task(client.get(url + "/slow"))
        await state.wait_for(lambda: (0, b"/slow", b"") in state.seen)
        late = await client.post(url + "/late", content=b"post body")
        assert late.content == b"1:/late:post body"  # served by connection 1
        notice = late.closing.notice
        assert notice is None  # the new connection is not closing
        state.release.set()
        slow_response = await slow
        assert slow_response.content == b"slow body " * 1000
        notice = slow_response.closing.notice
        assert notice is not None
        assert (notice.reason, notice.first_rejected_id) == ("goaway", 4)
        first = state.connections[0]
        await state.wait_for(lambda: bool(first.close_codes()))
        assert first.close_codes() == [ErrorCode.H3_NO_ERROR]
        assert client.stats.replays == 1
        assert client.stats.connections_opened == 2
    assert state.seen.count((0, b"/late", b"post body")) == 1  # rejected there, not processed
    assert state.seen.count((1, b"/late", b"post body")) == 1


async def test_aioquic_request_rejected_reset_is_replayed(
    aioquic_server: tuple[ServerState, str],
) -> None:
    state, url = aioquic_server
    state.reset_first_with = ErrorCode.H3_REQUEST_REJECTED
    async with asyncio.timeout(BOUND), lc.Client(http3=True, verify=False) as client:
        r = await client.post(url + "/once", content=b"x")
        assert r.content.endswith(b"/once:x")
        assert client.stats.replays == 1


async def test_aioquic_other_reset_is_not_replayed(
    aioquic_server: tuple[ServerState, str],
) -> None:
    state, url = aioquic_server
    state.reset_first_with = ErrorCode.H3_INTERNAL_ERROR
    async with asyncio.timeout(BOUND), lc.Client(http3=True, verify=False) as client:
        with pytest.raises(StreamReset) as raised:
            await client.post(url + "/once", content=b"x")
        assert raised.value.error_code == ErrorCode.H3_INTERNAL_ERROR
        assert not raised.value.is_safe_to_retry
        assert client.stats.replays == 0
