"""``lastcall serve --quic-bind``: HTTP/3 over real UDP on 127.0.0.1, drained by the book.

The client is aioquic's own (``aioquic.asyncio.connect`` + ``aioquic.h3``'s
``H3Connection``): a real peer we did not write. aioquic's H3 layer ignores a
GOAWAY it receives, which is exactly what we need to send a request that
races the drain. Every wait is for an event (the client's, or the server's
drain events through an observer sink), bounded by ``asyncio.timeout``; the
only durations are drain deadlines under test.

RFC 9114 §5.2 (GOAWAY, H3_REQUEST_REJECTED), §8.1 (codes), RFC 9000 §10.2
(CONNECTION_CLOSE and the closing period), DESIGN.md "HTTP/3".
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aioquic")

from aioquic.asyncio.client import connect
from aioquic.h3 import events as h3e
from aioquic.quic import events as qe
from h3_client import BOUND, H3Client, client_configuration, h3_connect
from server_harness import Running, StartServer

from lastcall.engines.http3 import MAX_CLIENT_BIDI_STREAM_ID, ErrorCode
from lastcall.errors import ConfigError
from lastcall.observe import events as oe
from lastcall.server import ServerConfig
from lastcall.server.asgi import Receive, Scope, Send
from lastcall.testing.clock import FakeClock
from lastcall.testing.quic_certs import write_self_signed

pytestmark = pytest.mark.peer("aioquic")

SLOW_BODY = b"x" * 300_000  # many packets: its delivery spans several round trips
BIG_CHUNK = bytes(range(256)) * 256  # 64 KiB
BIG_BODY_CHUNKS = 40  # 2.5 MiB
H3_NO_ERROR = int(ErrorCode.H3_NO_ERROR)
H3_REQUEST_REJECTED = int(ErrorCode.H3_REQUEST_REJECTED)
H3_REQUEST_CANCELLED = int(ErrorCode.H3_REQUEST_CANCELLED)


# -- the server side --------------------------------------------------------------------


class Watcher:
    """An observer sink that lets a test wait for drain events; it also notes, for
    each event, whether every UDP socket of the server was closed at that moment."""

    def __init__(self, run: Running) -> None:
        self.run = run
        self.events: list[tuple[oe.DrainEvent, bool]] = []
        self.changed = asyncio.Event()
        run.server.observer.add_sink(self)

    def __call__(self, event: oe.DrainEvent) -> None:
        endpoints = self.run.server.quic_endpoints
        self.events.append((event, all(e.is_closed for e in endpoints)))
        self.changed.set()

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e, _ in self.events if isinstance(e, kind)]

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(BOUND):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


class SlowApp:
    """``/slow`` waits for ``release``, then streams ``SLOW_BODY``; ``/echo`` echoes
    the body with a trailer; anything else answers ``ok``. Records each scope."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.entered = asyncio.Event()
        self.scopes: list[Scope] = []
        self.disconnects = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.scopes.append(scope)
        if scope["path"] == "/slow":
            self.entered.set()
            waiter = asyncio.ensure_future(self.release.wait())
            disconnect = asyncio.ensure_future(self._until_disconnect(receive))
            await asyncio.wait({waiter, disconnect}, return_when=asyncio.FIRST_COMPLETED)
            if disconnect.done():
                waiter.cancel()
                return
            disconnect.cancel()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for i in range(0, len(SLOW_BODY), 16_384):
                chunk = SLOW_BODY[i : i + 16_384]
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        elif scope["path"] == "/big":
            # Far above SEND_HIGH_WATER: send() must wait for ACKs and be woken.
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for _ in range(BIG_BODY_CHUNKS):
                await send({"type": "http.response.body", "body": BIG_CHUNK, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        elif scope["path"] == "/drain-me":
            scope["extensions"]["lastcall.drain"].drain_connection()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"bye"})
        elif scope["path"] == "/echo":
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body", False):
                    break
            await send(
                {"type": "http.response.start", "status": 201, "headers": [], "trailers": True}
            )
            await send({"type": "http.response.body", "body": body})
            await send(
                {"type": "http.response.trailers", "headers": [(b"x-checksum", b"%d" % len(body))]}
            )
        else:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

    async def _until_disconnect(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.disconnects += 1


@pytest.fixture(scope="module")
def cert_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_self_signed(tmp_path_factory.mktemp("certs"))


@pytest.fixture
async def h3_server(
    start_server: StartServer, cert_files: tuple[Path, Path]
) -> AsyncIterator[Callable[..., Any]]:
    certfile, keyfile = cert_files

    async def start(app: Any, **settings: Any) -> tuple[Running, Watcher]:
        run = await start_server(
            app,
            quic_bind=["127.0.0.1:0"],
            certfile=str(certfile),
            keyfile=str(keyfile),
            **settings,
        )
        return run, Watcher(run)

    yield start


# -- serving -------------------------------------------------------------------------------


async def test_http3_requests_reach_the_asgi_app(
    h3_server: Callable[..., Any], cert_files: tuple[Path, Path]
) -> None:
    app = SlowApp()
    run, _ = await h3_server(app)
    async with h3_connect(run, cert_files[0]) as client:
        assert isinstance(client, H3Client)
        get = client.request(b"/hello?x=1")
        echo = client.request(b"/echo", b"POST", b"ping" * 1000)
        await client.wait_for(lambda: client.is_complete(get) and client.is_complete(echo))
        assert client.body(get) == (b"ok", True)
        (head,) = client.headers(get)
        assert head[0] == (b":status", b"200") and any(n == b"date" for n, _ in head)
        head, trailers = client.headers(echo)
        assert head[0] == (b":status", b"201")
        assert client.body(echo)[0] == b"ping" * 1000
        assert trailers == [(b"x-checksum", b"4000")]
    scope = app.scopes[0]
    assert scope["http_version"] == "3" and scope["scheme"] == "https"
    assert scope["path"] == "/hello" and scope["query_string"] == b"x=1"
    assert (b"host", b"localhost") in scope["headers"]
    assert scope["server"] == ("127.0.0.1", run.server.quic_port)
    assert "lastcall.drain" in scope["extensions"]
    assert "http.response.trailers" in scope["extensions"]


async def test_large_response_waits_for_acknowledgements(
    h3_server: Callable[..., Any], cert_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from lastcall.server.http3 import Http3Connection

    waits: list[int] = []
    original = Http3Connection.writer_waiting

    def counting(self: Http3Connection, stream: Any) -> None:
        waits.append(stream.stream_id)
        original(self, stream)

    monkeypatch.setattr(Http3Connection, "writer_waiting", counting)
    run, _ = await h3_server(SlowApp())
    async with h3_connect(run, cert_files[0]) as client:
        assert isinstance(client, H3Client)
        big = client.request(b"/big")
        await client.wait_for(lambda: client.is_complete(big))
        assert client.body(big) == (BIG_CHUNK * BIG_BODY_CHUNKS, True)
    assert waits and set(waits) == {big}  # send() did wait for ACKs, and was woken


async def test_client_reset_is_http_disconnect(
    h3_server: Callable[..., Any], cert_files: tuple[Path, Path]
) -> None:
    app = SlowApp()
    run, _ = await h3_server(app)
    async with h3_connect(run, cert_files[0]) as client:
        assert isinstance(client, H3Client)
        slow = client.request(b"/slow")
        async with asyncio.timeout(BOUND):
            await app.entered.wait()
        client._quic.reset_stream(slow, H3_REQUEST_CANCELLED)
        client._quic.stop_stream(slow, H3_REQUEST_CANCELLED)
        client.transmit()
        await client.wait_for(lambda: app.disconnects == 1)
        ok = client.request(b"/")  # the connection lives on
        await client.wait_for(lambda: client.is_complete(ok))


async def test_application_drains_its_own_connection_server_keeps_serving(
    h3_server: Callable[..., Any], cert_files: tuple[Path, Path]
) -> None:
    run, watch = await h3_server(SlowApp())
    async with h3_connect(run, cert_files[0]) as client:
        assert isinstance(client, H3Client)
        bye = client.request(b"/drain-me")
        await client.wait_for(lambda: client.close_code() is not None)
        assert client.body(bye) == (b"bye", True)
        assert client.close_code() == H3_NO_ERROR
        assert client.goaway_ids() == [MAX_CLIENT_BIDI_STREAM_ID, bye + 4]
    async with h3_connect(run, cert_files[0]) as again:  # the endpoint still accepts
        assert isinstance(again, H3Client)
        ok = again.request(b"/")
        await again.wait_for(lambda: again.is_complete(ok))
    assert not run.server.quic_endpoints[0].is_closed
    (draining,) = watch.of(oe.ConnectionDraining)
    assert draining.connection.startswith("h3#") and draining.active_streams == 1


async def test_idle_server_with_quic_closes_the_socket_at_once(
    h3_server: Callable[..., Any],
) -> None:
    run, watch = await h3_server(SlowApp())
    run.server.drain()
    assert await run.exit_code() == 0
    names = [e.name for e, _ in watch.events]
    assert names.index("quic_endpoint_closed") < names.index("drained")
    assert run.server.quic_endpoints[0].is_closed


async def test_alt_svc_is_advertised_on_http1_when_quic_is_bound(
    h3_server: Callable[..., Any],
) -> None:
    run, _ = await h3_server(SlowApp())
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", run.port, ssl=_insecure_tls(), server_hostname="localhost"
    )
    writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    async with asyncio.timeout(BOUND):
        response = await reader.read()
    writer.close()
    head = response.split(b"\r\n\r\n")[0].lower()
    assert f'alt-svc: h3=":{run.server.quic_port}"; ma=86400'.encode() in head


async def test_alt_svc_is_advertised_on_http2_when_quic_is_bound(
    h3_server: Callable[..., Any],
) -> None:
    httpx = pytest.importorskip("httpx")
    run, _ = await h3_server(SlowApp())
    async with httpx.AsyncClient(http2=True, verify=False) as client:
        async with asyncio.timeout(BOUND):
            response = await client.get(f"https://127.0.0.1:{run.port}/")
    assert response.http_version == "HTTP/2"
    assert response.headers.get("alt-svc") == f'h3=":{run.server.quic_port}"; ma=86400'


async def test_alt_svc_off_with_zero_max_age(h3_server: Callable[..., Any]) -> None:
    run, _ = await h3_server(SlowApp(), alt_svc_max_age=0)
    assert run.server.state is not None and run.server.state.extra_response_headers == []


def _insecure_tls() -> Any:
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def test_quic_settings_from_toml_and_environment(tmp_path: Path) -> None:
    from lastcall.server import load_config
    from lastcall.server.http3 import http3_config

    toml = tmp_path / "lastcall.toml"
    toml.write_text("[serve]\nquic-max-data = 1048576\nquic_max_concurrent_streams = 10\n")
    env = {
        "LASTCALL_QUIC_BIND": "127.0.0.1:4433 [::1]:4433",
        "LASTCALL_QUIC_IDLE_TIMEOUT": "10",
        "LASTCALL_CERTFILE": "cert.pem",
        "LASTCALL_KEYFILE": "key.pem",
    }
    config = load_config({"quic_max_stream_data": 65536}, config_file=str(toml), environ=env)
    assert config.quic_bind == ["127.0.0.1:4433", "[::1]:4433"]
    engine = http3_config(config)
    assert (engine.idle_timeout, engine.max_concurrent_streams) == (10.0, 10)
    assert (engine.max_data, engine.max_stream_data) == (1_048_576, 65_536)
    assert engine.goaway_settle_timeout == config.goaway_ping_timeout


def test_quic_bind_needs_a_certificate() -> None:
    with pytest.raises(ConfigError, match="certfile"):
        ServerConfig(quic_bind=["127.0.0.1:4433"])
    with pytest.raises(ConfigError, match="UDP"):
        ServerConfig(quic_bind=["unix:/tmp/x"], certfile="c", keyfile="k")
    with pytest.raises(ConfigError, match="quic_idle_timeout"):
        ServerConfig(quic_idle_timeout=0)
    with pytest.raises(ConfigError, match="quic_max_data"):
        ServerConfig(quic_max_data=-1)


async def test_unloadable_certificate_is_a_startup_failure(
    start_server: StartServer, tmp_path: Path
) -> None:
    (tmp_path / "cert.pem").write_text("not a certificate")
    run = await start_server(
        None,
        quic_bind=["127.0.0.1:0"],
        certfile=str(tmp_path / "cert.pem"),
        keyfile=str(tmp_path / "cert.pem"),
    )
    assert await run.exit_code() == 3


# -- draining ------------------------------------------------------------------------------


async def test_drain_finishes_accepted_rejects_late_then_closes_in_layers(
    h3_server: Callable[..., Any], cert_files: tuple[Path, Path]
) -> None:
    app = SlowApp()
    run, watch = await h3_server(app)
    endpoint = run.server.quic_endpoints[0]
    async with h3_connect(run, cert_files[0]) as client:
        assert isinstance(client, H3Client)
        slow = client.request(b"/slow")  # in flight when the drain starts
        async with asyncio.timeout(BOUND):
            await app.entered.wait()
        run.server.drain(grace=BOUND)
        await watch.wait_for(lambda: any(g.final for g in watch.of(oe.Http3GoAwaySent)))

        late = client.request(b"/late")  # aioquic ignores GOAWAY: this one races it
        await client.wait_for(lambda: client.reset_code(late) is not None)
        assert client.reset_code(late) == H3_REQUEST_REJECTED
        assert [(r.stream_id, r.reason) for r in watch.of(oe.StreamRefused)] == [(late, "draining")]
        assert all(s["path"] != "/late" for s in app.scopes)  # never reached the app
        assert client.close_code() is None  # the accepted request still holds it open
        assert not endpoint.is_closed

        app.release.set()  # the accepted request runs to completion
        await client.wait_for(lambda: client.close_code() is not None)
        assert client.body(slow) == (SLOW_BODY, True)
        assert client.close_code() == H3_NO_ERROR
        # No CONNECTION_CLOSE before the accepted response was fully delivered.
        fin = client.index(
            lambda e: isinstance(e, h3e.DataReceived) and e.stream_id == slow and e.stream_ended
        )
        closed = client.index(lambda e: isinstance(e, qe.ConnectionTerminated))
        assert fin < closed
        assert client.goaway_ids() == [MAX_CLIENT_BIDI_STREAM_ID, slow + 4]
    assert await run.exit_code() == 0

    names = [e.name for e, _ in watch.events]
    goaways = [(g.first_rejected_id, g.final) for g in watch.of(oe.Http3GoAwaySent)]
    assert goaways == [(MAX_CLIENT_BIDI_STREAM_ID, False), (slow + 4, True)]
    (terminated,) = watch.of(oe.QuicConnectionTerminated)
    assert (terminated.error_code, terminated.remote) == (H3_NO_ERROR, False)
    # The layered close: CONNECTION_CLOSE, the QUIC connection gone, then the socket.
    order = [
        names.index("quic_connection_terminated"),
        names.index("connection_closed"),
        names.index("quic_endpoint_closed"),
        names.index("drained"),
    ]
    assert order == sorted(order)
    closed_flags = {e.name: udp_closed for e, udp_closed in watch.events}
    assert closed_flags["connection_closed"] is False  # socket still open as it went
    assert closed_flags["drained"] is True
    await endpoint.wait_closed()  # connection_lost: the socket itself is closed
    assert endpoint.is_closed


async def test_udp_socket_closes_only_after_every_quic_connection_is_gone(
    h3_server: Callable[..., Any], cert_files: tuple[Path, Path]
) -> None:
    app = SlowApp()
    run, watch = await h3_server(app)
    async with h3_connect(run, cert_files[0]) as idle, h3_connect(run, cert_files[0]) as busy:
        assert isinstance(idle, H3Client) and isinstance(busy, H3Client)
        ping = idle.request(b"/")
        await idle.wait_for(lambda: idle.is_complete(ping))
        slow = busy.request(b"/slow")
        async with asyncio.timeout(BOUND):
            await app.entered.wait()
        run.server.drain(grace=BOUND)
        # The idle connection closes first, completely (closing period included) ...
        await watch.wait_for(lambda: len(watch.of(oe.ConnectionClosed)) == 1)
        # (aioquic reports the close at the end of its own draining period.)
        await idle.wait_for(lambda: idle.close_code() is not None)
        assert idle.close_code() == H3_NO_ERROR and busy.close_code() is None
        # ... and the socket stays open for the other one.
        assert not run.server.quic_endpoints[0].is_closed
        assert not any(isinstance(e, oe.QuicEndpointClosed) for e, _ in watch.events)
        app.release.set()
        await busy.wait_for(lambda: busy.close_code() is not None)
        assert busy.body(slow) == (SLOW_BODY, True) and busy.close_code() == H3_NO_ERROR
    assert await run.exit_code() == 0
    udp_closed_at = [(e.name, closed) for e, closed in watch.events]
    closes = [i for i, (name, _) in enumerate(udp_closed_at) if name == "connection_closed"]
    endpoint_closed = [n for n, _ in udp_closed_at].index("quic_endpoint_closed")
    assert len(closes) == 2 and max(closes) < endpoint_closed
    assert all(not closed for name, closed in udp_closed_at if name == "connection_closed")


async def test_grace_expiry_cancels_with_h3_request_cancelled(
    h3_server: Callable[..., Any], cert_files: tuple[Path, Path]
) -> None:
    app = SlowApp()
    clock = FakeClock()
    run, watch = await h3_server(app, clock=clock)
    async with h3_connect(run, cert_files[0]) as client:
        assert isinstance(client, H3Client)
        slow = client.request(b"/slow")  # never released
        async with asyncio.timeout(BOUND):
            await app.entered.wait()
        run.server.drain(grace=30)  # the deadline under test, on virtual time
        await client.wait_for(lambda: len(client.goaway_ids()) == 2)
        assert not watch.of(oe.GraceExpired)
        clock.advance(30)
        await client.wait_for(lambda: client.close_code() is not None)
        assert client.reset_code(slow) == H3_REQUEST_CANCELLED
        assert client.close_code() == H3_REQUEST_CANCELLED
    assert await run.exit_code() == 0
    assert app.disconnects == 1  # the app saw http.disconnect
    (expired,) = watch.of(oe.GraceExpired)
    assert (expired.connections, expired.streams) == (1, 1)
    assert [c.how for c in watch.of(oe.RequestCancelled)] == ["h3_request_cancelled"]
    assert watch.of(oe.QuicEndpointClosed)


async def test_close_timeout_forgets_quic_connections_still_closing(
    h3_server: Callable[..., Any], cert_files: tuple[Path, Path]
) -> None:
    app = SlowApp()
    clock = FakeClock()
    run, watch = await h3_server(app, close_timeout=0.0, clock=clock)
    async with h3_connect(run, cert_files[0]) as client:
        assert isinstance(client, H3Client)
        client.request(b"/slow")  # never released
        async with asyncio.timeout(BOUND):
            await app.entered.wait()
        run.server.drain(grace=30)
        clock.advance(30)  # grace expiry, then the close timeout (0 s) at once
        assert await run.exit_code() == 0  # without waiting out QUIC's closing period
    (closed,) = watch.of(oe.ConnectionClosed)
    assert closed.protocol == "h3" and not closed.clean
    assert run.server.quic_endpoints[0].is_closed
    assert len(run.server.registry) == 0


async def test_idle_http3_connection_drains_without_waiting_for_grace(
    h3_server: Callable[..., Any], cert_files: tuple[Path, Path]
) -> None:
    run, watch = await h3_server(SlowApp(), graceful_timeout=BOUND)
    async with h3_connect(run, cert_files[0]) as client:
        assert isinstance(client, H3Client)
        ok = client.request(b"/")
        await client.wait_for(lambda: client.is_complete(ok))
        run.server.drain()
        await client.wait_for(lambda: client.close_code() is not None)
        assert client.close_code() == H3_NO_ERROR
        assert client.goaway_ids() == [MAX_CLIENT_BIDI_STREAM_ID, ok + 4]
    assert await run.exit_code() == 0
    (drained,) = watch.of(oe.Drained)
    assert drained.duration < BOUND / 2
    assert not watch.of(oe.GraceExpired)


# -- the command line --------------------------------------------------------------------


async def test_cli_serves_http3_and_exits_0_on_sigterm(cert_files: tuple[Path, Path]) -> None:
    certfile, keyfile = cert_files
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "lastcall",
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--quic-bind",
        "127.0.0.1:0",
        "--certfile",
        str(certfile),
        "--keyfile",
        str(keyfile),
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stderr is not None
    log: list[str] = []
    port = 0
    try:
        async with asyncio.timeout(BOUND):
            while not port:
                line = (await proc.stderr.readline()).decode()
                assert line, f"server exited early: {log}"
                log.append(line.rstrip())
                match = re.search(r"127\.0\.0\.1:(\d+)/udp", line)
                if match:
                    port = int(match.group(1))
        async with connect(
            "127.0.0.1",
            port,
            configuration=client_configuration(certfile),
            create_protocol=H3Client,
        ) as client:
            assert isinstance(client, H3Client)
            home = client.request(b"/")
            await client.wait_for(lambda: client.is_complete(home))
            assert client.headers(home)[0][0] == (b":status", b"200")
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            await client.wait_for(lambda: client.close_code() is not None)
            assert client.close_code() == H3_NO_ERROR
        async with asyncio.timeout(BOUND):
            code = await proc.wait()
        elapsed = time.monotonic() - t0
        log += (await proc.stderr.read()).decode().splitlines()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert code == 0, log
    assert any("QUIC endpoint closed" in line for line in log), log
    assert elapsed < BOUND / 2, elapsed


async def test_cli_quic_bind_without_certificate_is_a_usage_error() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "lastcall",
        "serve",
        "--quic-bind",
        "127.0.0.1:0",
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(BOUND):
        _, err = await proc.communicate()
    assert proc.returncode == 2
    assert b"--quic-bind needs --certfile and --keyfile" in err


async def test_an_idle_http3_connection_is_drained_with_goaway(
    h3_server: Callable[..., Any], cert_files: tuple[Path, Path]
) -> None:
    """``http3_idle_timeout``: no request for that long, on virtual time, and the
    connection drains as HTTP/2's does -- both GOAWAYs, then H3_NO_ERROR."""
    clock = FakeClock()
    run, watch = await h3_server(SlowApp(), http3_idle_timeout=30, clock=clock)
    async with h3_connect(run, cert_files[0]) as client:
        assert isinstance(client, H3Client)
        ok = client.request(b"/")
        # Idle from here: the stream's task ended (and armed the idle deadline)
        # in the loop turn that queued its last DATA, before the flush sent it.
        await client.wait_for(lambda: client.is_complete(ok))
        clock.advance(29)
        assert not watch.of(oe.ConnectionDraining)
        clock.advance(1)  # no request for 30 s: drained politely
        await client.wait_for(lambda: client.close_code() is not None)
        assert client.close_code() == H3_NO_ERROR
        assert client.goaway_ids() == [MAX_CLIENT_BIDI_STREAM_ID, ok + 4]
    (draining,) = watch.of(oe.ConnectionDraining)
    assert (draining.protocol, draining.reason) == ("h3", "idle")
    assert client.body(ok)[1]


async def test_a_busy_http3_connection_outlives_its_idle_timeout(
    h3_server: Callable[..., Any], cert_files: tuple[Path, Path]
) -> None:
    """Requests a third of the idle timeout apart, across three idle periods of
    virtual time: a connection in use is never idle; once unused, it goes."""
    clock = FakeClock()
    run, watch = await h3_server(SlowApp(), http3_idle_timeout=30, clock=clock)
    async with h3_connect(run, cert_files[0]) as client:
        assert isinstance(client, H3Client)
        for _ in range(9):
            stream_id = client.request(b"/")
            await client.wait_for(lambda sid=stream_id: client.is_complete(sid))
            clock.advance(10)
        assert not watch.of(oe.ConnectionDraining)
        clock.advance(30)
        await client.wait_for(lambda: client.close_code() is not None)
    (draining,) = watch.of(oe.ConnectionDraining)
    assert draining.reason == "idle"


async def test_the_idle_drain_ends_streams_whose_headers_never_finish(
    h3_server: Callable[..., Any], cert_files: tuple[Path, Path]
) -> None:
    """A request stream whose HEADERS frame never ends starts no handler, so the
    connection is idle: ``http3_idle_timeout`` drains it, and the grace cancels
    the stream -- what such streams hold is bounded in time, not only in size."""
    clock = FakeClock()
    run, watch = await h3_server(SlowApp(), http3_idle_timeout=30, graceful_timeout=10, clock=clock)
    async with h3_connect(run, cert_files[0]) as client:
        assert isinstance(client, H3Client)
        quic = client._quic
        stuck = quic.get_next_available_stream_id()
        quic.send_stream_data(stuck, b"\x01\x40\x64" + b"x" * 10)  # HEADERS of 100 bytes: 10 come
        ok = client.request(b"/")  # the same datagram: answered once both arrived
        await client.wait_for(lambda: client.is_complete(ok))
        clock.advance(30)  # no handler for 30 s: idle, although a stream is open
        await client.wait_for(lambda: len(client.goaway_ids()) == 2)
        assert client.goaway_ids()[1] == ok + 4  # the stuck stream was accepted
        clock.advance(10)  # the connection's own grace ends: the stuck stream is cancelled
        await client.wait_for(lambda: client.close_code() is not None)
        assert client.reset_code(stuck) == H3_REQUEST_CANCELLED
    (draining,) = watch.of(oe.ConnectionDraining)
    assert draining.reason == "idle"
    assert watch.of(oe.ConnectionGraceExpired)
