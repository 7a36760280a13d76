"""HTTP/3 for the attack suite: ``lastcall serve --quic-bind``, a bystander on its
own QUIC connection, and the attackers, all on aioquic's QUIC client (a peer we
did not write; the HTTP/3 bytes the attacks need are written here by hand).

Every wait is for a datagram or an event from the server, bounded by
``WAIT_TIMEOUT``; the attackers go as fast as QUIC's flow control and stream
credit (MAX_STREAMS) let them, and stop when the server closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3 import events as h3e
from aioquic.h3.connection import H3Connection
from aioquic.quic import events as qe
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import NetworkAddress
from attack_kit import WAIT_TIMEOUT, Bystander, Served, served

from lastcall.engines.http3 import ErrorCode
from lastcall.engines.http3.frames import encode_frame, encode_varint
from lastcall.testing.quic_certs import write_self_signed

UDP_PORT = re.compile(r"127\.0\.0\.1:(\d+)/udp")
CANCELLED = int(ErrorCode.H3_REQUEST_CANCELLED)
EXCESSIVE_LOAD = int(ErrorCode.H3_EXCESSIVE_LOAD)
#: QUIC's STREAM_LIMIT_ERROR (RFC 9000 §20.1): a stream past MAX_STREAMS.
STREAM_LIMIT_ERROR = 0x4
#: A reserved frame and stream type (0x1f * N + 0x21, RFC 9114 §7.2.8, §6.2.3):
#: the peer must ignore it.
RESERVED_TYPE = 0x21
#: Streams an attacker opens between two looks at what the server sent.
CHURN_BATCH = 50


def request(path: bytes = b"/", extra: list[tuple[bytes, bytes]] | None = None) -> list[Any]:
    return [
        (b":method", b"GET"),
        (b":scheme", b"https"),
        (b":authority", b"localhost"),
        (b":path", path),
        *(extra or []),
    ]


@dataclass
class H3Server:
    """A ``lastcall serve`` with a QUIC listener, and what a client needs to reach it."""

    served: Served
    port: int
    certfile: Path

    def configuration(self) -> QuicConfiguration:
        return QuicConfiguration(
            is_client=True,
            alpn_protocols=["h3"],
            cafile=str(self.certfile),
            server_name="localhost",
        )

    def connect(self) -> Any:
        """``async with server.connect() as peer``: an ``H3Peer`` on a new QUIC connection."""
        return connect(
            "127.0.0.1",
            self.port,
            configuration=self.configuration(),
            create_protocol=H3Peer,
            wait_connected=True,
        )


@contextlib.asynccontextmanager
async def served_h3(*args: str) -> AsyncIterator[H3Server]:
    """``lastcall serve --quic-bind 127.0.0.1:0`` with a fresh self-signed certificate."""
    with tempfile.TemporaryDirectory() as tmp:
        certfile, keyfile = write_self_signed(Path(tmp))
        quic = [
            "--quic-bind",
            "127.0.0.1:0",
            "--certfile",
            str(certfile),
            "--keyfile",
            str(keyfile),
        ]
        async with served(*quic, *args) as server:
            match = UDP_PORT.search(await server.wait_for_log("/udp"))
            assert match is not None
            yield H3Server(server, int(match.group(1)), certfile)


class H3Peer(QuicConnectionProtocol):
    """aioquic's QUIC client with its H3 layer (SETTINGS, QPACK); wakes its waiters
    on every datagram, so an attacker learns of new stream credit (MAX_STREAMS
    carries no event) and of the server's close as soon as they arrive."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.h3 = H3Connection(self._quic)
        self.changed = asyncio.Event()
        self.status: dict[int, bytes] = {}
        self.ended: set[int] = set()
        self.resets: dict[int, int] = {}
        #: Streams (or frames) an attacker on this connection sent so far.
        self.sent = 0

    def datagram_received(self, data: bytes, addr: NetworkAddress) -> None:
        super().datagram_received(data, addr)
        self.changed.set()

    def quic_event_received(self, event: qe.QuicEvent) -> None:
        if isinstance(event, qe.StreamReset):
            self.resets[event.stream_id] = event.error_code
        for h3_event in self.h3.handle_event(event):
            if isinstance(h3_event, h3e.HeadersReceived):
                self.status.setdefault(h3_event.stream_id, dict(h3_event.headers)[b":status"])
            if isinstance(h3_event, h3e.HeadersReceived | h3e.DataReceived) and (
                h3_event.stream_ended
            ):
                self.ended.add(h3_event.stream_id)
        self.changed.set()

    @property
    def closed_by(self) -> qe.ConnectionTerminated | None:
        """The CONNECTION_CLOSE received (or sent), as soon as it is known: aioquic
        reports ``ConnectionTerminated`` only when its draining period ends."""
        event: qe.ConnectionTerminated | None = self._quic._close_event
        return event

    def bidi_credit(self) -> int:
        """Request streams the server's MAX_STREAMS lets us open now."""
        quic = self._quic
        return int(quic._remote_max_streams_bidi) - quic._local_next_stream_id_bidi // 4

    def uni_credit(self) -> int:
        quic = self._quic
        return int(quic._remote_max_streams_uni) - quic._local_next_stream_id_uni // 4

    async def next_datagram(self) -> None:
        """Wait for the next datagram (or event) from the server."""
        self.changed.clear()
        async with asyncio.timeout(WAIT_TIMEOUT):
            await self.changed.wait()


# -- the bystander ----------------------------------------------------------------------


@dataclass
class H3Bystander(Bystander):
    """``GET /`` every ``period`` seconds on its own QUIC connection; any failure
    (a reset, a close, a bad status, no answer within ``WAIT_TIMEOUT``) is kept.
    ``H3Bystander(server.port, server=server)``; the rest is ``Bystander``'s."""

    server: H3Server | None = None

    async def _run(self) -> None:
        assert self.server is not None
        async with self.server.connect() as peer:
            while True:
                started = time.monotonic()
                stream_id = peer._quic.get_next_available_stream_id()
                peer.h3.send_headers(stream_id, request(), end_stream=True)
                peer.transmit()
                try:
                    while not (
                        stream_id in peer.ended or stream_id in peer.resets or peer.closed_by
                    ):
                        await peer.next_datagram()
                except TimeoutError:
                    self.failures.append(f"no answer on stream {stream_id}")
                if peer.closed_by is not None:
                    self.failures.append(f"connection closed: {peer.closed_by}")
                    return
                if stream_id in peer.resets:
                    self.failures.append(f"stream {stream_id} reset: {peer.resets[stream_id]}")
                elif peer.status.get(stream_id) != b"200":
                    self.failures.append(f"stream {stream_id}: {peer.status.get(stream_id)!r}")
                self.latencies.append(time.monotonic() - started)
                self._progress.set()
                await asyncio.sleep(self.period)  # the bystander's pace, not a wait for state


# -- attackers: each returns how many streams (or frames) it got in before the close ----


@dataclass
class H3Outcome:
    """What one HTTP/3 attack achieved before the server cut it (or it gave up)."""

    #: Streams opened (or frames sent) in all.
    sent: int
    #: The server's CONNECTION_CLOSE, if it came.
    close: qe.ConnectionTerminated | None

    @property
    def closed_by_server(self) -> bool:
        return self.close is not None

    def describe(self) -> str:
        close = self.close
        sent = "?" if self.sent < 0 else str(self.sent)
        if close is None:
            return f"sent={sent} not closed"
        kind = "transport" if close.frame_type is not None else "application"
        return f"sent={sent} closed {kind} 0x{close.error_code:x} {close.reason_phrase!r}"


async def _churn(
    peer: H3Peer, limit: int, credit: Callable[[], int], open_streams: Callable[[int], None]
) -> H3Outcome:
    """Open streams ``open_streams(n)`` at a time as fast as ``credit()`` (what
    the server's MAX_STREAMS allows now) lets us, until ``limit`` or the close."""
    while peer.sent < limit and peer.closed_by is None:
        room = min(credit(), limit - peer.sent, CHURN_BATCH)
        if room <= 0:
            await peer.next_datagram()
            continue
        open_streams(room)
        peer.sent += room
        await asyncio.sleep(0)  # let the server's datagrams in
    return H3Outcome(peer.sent, peer.closed_by)


async def rapid_reset(peer: H3Peer, limit: int) -> H3Outcome:
    """HTTP/3 Rapid Reset: request streams opened (HEADERS out) then abandoned with
    RESET_STREAM and STOP_SENDING at once, as fast as stream credit comes back.

    The requests are for a slow answer, so each one's handler is started and is
    still running when its reset arrives (a request already answered when the
    reset comes is a request served, and spends nothing)."""
    quic = peer._quic

    def open_streams(count: int) -> None:
        ids = []
        for _ in range(count):  # an id is taken once something is written on it
            ids.append(quic.get_next_available_stream_id())
            peer.h3.send_headers(ids[-1], request(b"/slow?ms=1000"), end_stream=False)
        peer.transmit()
        for stream_id in ids:
            quic.reset_stream(stream_id, CANCELLED)
            quic.stop_stream(stream_id, CANCELLED)
        peer.transmit()

    return await _churn(peer, limit, peer.bidi_credit, open_streams)


async def malformed_requests(peer: H3Peer, limit: int) -> H3Outcome:
    """MadeYouReset: requests the server must reset itself (an uppercase field
    name is malformed, RFC 9114 §4.2: H3_MESSAGE_ERROR), as fast as credit comes."""
    quic = peer._quic
    bad = request(extra=[(b"Upper-Case", b"x")])

    def open_streams(count: int) -> None:
        for _ in range(count):
            peer.h3.send_headers(quic.get_next_available_stream_id(), bad, end_stream=True)
        peer.transmit()

    return await _churn(peer, limit, peer.bidi_credit, open_streams)


async def incomplete_streams(peer: H3Peer, *, held_bytes: int) -> H3Outcome:
    """Stream-open flood: request streams whose HEADERS frame never ends (the
    frame header claims ``held_bytes`` + 1, ``held_bytes`` come), as many as
    the server's stream limit allows; returns once every byte went out."""
    quic = peer._quic
    partial = encode_varint(0x1) + encode_varint(held_bytes + 1) + bytes(held_bytes)
    while (room := peer.bidi_credit()) > 0 and peer.closed_by is None:
        for _ in range(room):
            quic.send_stream_data(quic.get_next_available_stream_id(), partial)
            peer.sent += 1
        peer.transmit()
    while peer.closed_by is None and not all(
        s.sender.buffer_is_empty for s in quic._streams.values()
    ):
        await peer.next_datagram()  # flow control and the pacer let it out
    return H3Outcome(peer.sent, peer.closed_by)


async def beyond_the_limit(peer: H3Peer, count: int) -> H3Outcome:
    """``count`` request streams past the server's MAX_STREAMS (our client's credit
    raised by hand, as an attacker's own QUIC stack would)."""
    quic = peer._quic
    quic._remote_max_streams_bidi += count
    for _ in range(count):
        quic.send_stream_data(quic.get_next_available_stream_id(), b"\x01")
    peer.sent += count
    peer.transmit()
    await run_until_closed(peer)
    return H3Outcome(peer.sent, peer.closed_by)


async def unknown_streams(peer: H3Peer, limit: int) -> H3Outcome:
    """Unidirectional streams of a reserved type: the server must not read them
    (it sends STOP_SENDING, aioquic resets them, the credit comes back)."""
    quic = peer._quic

    def open_streams(count: int) -> None:
        for _ in range(count):
            stream_id = quic.get_next_available_stream_id(is_unidirectional=True)
            quic.send_stream_data(stream_id, encode_varint(RESERVED_TYPE) + b"noise")
        peer.transmit()

    return await _churn(peer, limit, peer.uni_credit, open_streams)


async def control_noise(peer: H3Peer, limit: int, *, chunk_frames: int = 8_192) -> H3Outcome:
    """Frames of a reserved type on the control stream (to be ignored, RFC 9114
    §9), empty, ``chunk_frames`` at a time, as fast as flow control allows."""
    quic = peer._quic
    control = peer.h3._local_control_stream_id
    assert control is not None
    chunk = encode_frame(RESERVED_TYPE, b"") * chunk_frames
    while peer.sent < limit and peer.closed_by is None:
        stream = quic._streams[control]
        if not stream.sender.buffer_is_empty:  # flow control holds what we wrote
            await peer.next_datagram()
            continue
        quic.send_stream_data(control, chunk)
        peer.transmit()
        peer.sent += chunk_frames
        await asyncio.sleep(0)
    return H3Outcome(peer.sent, peer.closed_by)


async def run_until_closed(peer: H3Peer) -> None:
    """Wait for the server's close after an attack ended on its own."""
    while peer.closed_by is None:
        await peer.next_datagram()
