"""HTTP/3 drain over real UDP on 127.0.0.1: aioquic's asyncio client (a peer we
did not write) against our server engine in the ``h3_loop`` test kit.

Every wait is for an event, bounded by ``asyncio.timeout``; nothing sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aioquic._buffer import Buffer  # aioquic.buffer re-exports it without __all__ (mypy)
from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3 import events as h3e
from aioquic.h3.connection import H3Connection
from aioquic.quic import events as qe
from aioquic.quic.configuration import QuicConfiguration

from lastcall.engines.http3 import MAX_CLIENT_BIDI_STREAM_ID, ErrorCode, Http3Config
from lastcall.engines.http3 import events as ev
from lastcall.testing.h3_loop import H3Request, H3Response, H3TestServer
from lastcall.testing.quic_certs import SelfSignedCertificate, make_self_signed

pytestmark = pytest.mark.peer("aioquic")

BOUND = 10.0  # no test step may take longer than this


class H3Client(QuicConnectionProtocol):
    """aioquic's asyncio protocol with aioquic's H3Connection; records every event."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.h3 = H3Connection(self._quic)
        self.events: list[object] = []
        self.control: dict[int, bytearray] = {}
        self.changed = asyncio.Event()

    def quic_event_received(self, event: qe.QuicEvent) -> None:
        self.events.append(event)
        if isinstance(event, qe.StreamDataReceived) and event.stream_id & 2:
            self.control.setdefault(event.stream_id, bytearray()).extend(event.data)
        self.events.extend(self.h3.handle_event(event))
        self.changed.set()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        while True:
            self.changed.clear()
            if predicate():
                return
            await self.changed.wait()

    def get(self, path: bytes) -> int:
        stream_id = self._quic.get_next_available_stream_id()
        self.h3.send_headers(
            stream_id,
            [
                (b":method", b"GET"),
                (b":scheme", b"https"),
                (b":authority", b"localhost"),
                (b":path", path),
            ],
            end_stream=True,
        )
        self.transmit()
        return stream_id

    def body(self, stream_id: int) -> tuple[bytes, bool]:
        data = [
            e for e in self.events if isinstance(e, h3e.DataReceived) and e.stream_id == stream_id
        ]
        return b"".join(e.data for e in data), any(e.stream_ended for e in data)

    def reset_code(self, stream_id: int) -> int | None:
        for e in self.events:
            if isinstance(e, qe.StreamReset) and e.stream_id == stream_id:
                return e.error_code
        return None

    def close_code(self) -> int | None:
        for e in self.events:
            if isinstance(e, qe.ConnectionTerminated):
                return e.error_code
        return None

    def goaway_ids(self) -> list[int]:
        for raw in self.control.values():
            buf = Buffer(data=bytes(raw))
            if buf.pull_uint_var() != 0:
                continue
            ids = []
            while not buf.eof():
                frame_type, length = buf.pull_uint_var(), buf.pull_uint_var()
                payload = buf.pull_bytes(length)
                if frame_type == 0x7:
                    ids.append(Buffer(data=payload).pull_uint_var())
            return ids
        return []


@pytest.fixture(scope="module")
def cert() -> SelfSignedCertificate:
    return make_self_signed()


@pytest.fixture
async def server(cert: SelfSignedCertificate) -> AsyncIterator[tuple[H3TestServer, asyncio.Event]]:
    release = asyncio.Event()

    async def handler(request: H3Request) -> H3Response:
        if request.path == b"/slow":
            await release.wait()
            return H3Response(200, [], b"slow body " * 1000)
        return H3Response(200, [], b"fast")

    configuration = QuicConfiguration(
        is_client=False,
        alpn_protocols=["h3"],
        certificate=cert.certificate,
        private_key=cert.private_key,
    )
    srv = H3TestServer(handler, quic_configuration=configuration, config=Http3Config())
    await srv.start()
    try:
        yield srv, release
    finally:
        await srv.aclose()


def client_configuration(cert: SelfSignedCertificate) -> QuicConfiguration:
    return QuicConfiguration(
        is_client=True, alpn_protocols=["h3"], cadata=cert.certificate_pem, server_name="localhost"
    )


async def test_drain_over_udp_with_aioquic_client(
    server: tuple[H3TestServer, asyncio.Event], cert: SelfSignedCertificate
) -> None:
    srv, release = server
    host, port = srv.address
    async with asyncio.timeout(BOUND):
        async with connect(
            host, port, configuration=client_configuration(cert), create_protocol=H3Client
        ) as client:
            assert isinstance(client, H3Client)
            fast = client.get(b"/fast")
            await client.wait_for(lambda: client.body(fast)[1])
            assert client.body(fast) == (b"fast", True)

            slow = client.get(b"/slow")  # in flight when the drain starts
            await srv.wait_for(lambda: len(srv.of(ev.RequestReceived)) == 2)
            drain = asyncio.create_task(srv.drain(grace_timeout=BOUND))
            await srv.wait_for(lambda: any(e.final for e in srv.of(ev.GoAwaySent)))  # type: ignore[attr-defined]

            late = client.get(b"/late")  # aioquic ignores GOAWAY: this one races it
            await client.wait_for(lambda: client.reset_code(late) is not None)
            assert client.reset_code(late) == ErrorCode.H3_REQUEST_REJECTED
            assert [e.stream_id for e in srv.of(ev.StreamRefused)] == [late]  # type: ignore[attr-defined]
            assert b"/late" not in str(srv.of(ev.RequestReceived)).encode()

            release.set()  # the accepted request runs to completion
            await client.wait_for(lambda: client.close_code() is not None)
            assert client.body(slow) == (b"slow body " * 1000, True)
            assert client.close_code() == ErrorCode.H3_NO_ERROR
            assert client.goaway_ids() == [MAX_CLIENT_BIDI_STREAM_ID, slow + 4]
            await drain
    # The layered close: the UDP socket went last, after the QUIC connection.
    assert [entry[0] for entry in srv.log] == [
        "drain_started",
        "connection_closed",
        "endpoint_closed",
    ]
    assert srv.connection_count == 0


async def test_grace_expiry_cancels_what_is_left(
    server: tuple[H3TestServer, asyncio.Event], cert: SelfSignedCertificate
) -> None:
    srv, _release = server
    host, port = srv.address
    async with asyncio.timeout(BOUND):
        async with connect(
            host, port, configuration=client_configuration(cert), create_protocol=H3Client
        ) as client:
            assert isinstance(client, H3Client)
            slow = client.get(b"/slow")  # never released
            await srv.wait_for(lambda: bool(srv.of(ev.RequestReceived)))
            await srv.drain(grace_timeout=0.2)
            await client.wait_for(lambda: client.close_code() is not None)
            assert client.close_code() == ErrorCode.H3_REQUEST_CANCELLED
            assert client.reset_code(slow) == ErrorCode.H3_REQUEST_CANCELLED
    assert srv.log[-1] == ("endpoint_closed",)
