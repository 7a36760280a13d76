"""The HTTP/3 drain probe: one QUIC connection that watches a server shut down.

Why it does not use our client engine: ``Http3Engine`` in the client role
honours a GOAWAY itself (RFC 9114 §5.2). It closes the streams at or above
the id locally and refuses to open new ones (``ConnectionDraining``), so
through it the probe could never send a request after the final GOAWAY, nor
see whether the server then rejects it with H3_REQUEST_REJECTED, answers it,
or ignores it. A probe has to see what the server really puts on the wire
and do what a careful client never would.

So the probe speaks HTTP/3 by hand over aioquic's QUIC transport
(``aioquic.quic.connection.QuicConnection``, which knows nothing of HTTP/3),
borrowing only our engine's lower-level pieces: the frame codec
(``engines.http3.frames``), QPACK through ``pylsqpack`` as the engine does,
and the engine's reader of acknowledged stream bytes (``_aioquic``). It
advertises a QPACK dynamic table of size 0, so the server's header sections
use only the static table and literals (RFC 9204 §3.2.3): nothing can block,
and no QPACK encoder or decoder stream is needed (RFC 9204 §4.2 allows
leaving them out then). It opens only its control stream, with SETTINGS
(RFC 9114 §6.2.1).

Sequence (RFC 9114 §5.2, DESIGN.md "HTTP/3"), mirroring ``probe_h2``:

1. handshake; send request A (the in-flight one, usually slow) on stream 0;
   once the server has *acknowledged* every byte of it, the server has it;
2. ``signal()`` is called (the drill sends SIGTERM);
3. on the first GOAWAY: record its id; if it is 2^62-4 (nothing rejected
   yet), send request B at once: it races the final GOAWAY;
4. on a GOAWAY below 2^62-4 (the final one), send request C: it is at or
   above the id, so it must be reset with H3_REQUEST_REJECTED (0x10B);
5. read until the server's CONNECTION_CLOSE (its code and whether it is an
   application close), the server's UDP port vanishing (ICMP unreachable),
   or the observation deadline.

What it records feeds the report card (``report.grade_h3``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import cast

import pylsqpack
from aioquic.quic import events as qe
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import NetworkAddress, QuicConnection

from lastcall.engines.http3 import _aioquic as seam
from lastcall.engines.http3.config import H3_ALPN, MAX_CLIENT_BIDI_STREAM_ID
from lastcall.engines.http3.frames import (
    FrameType,
    SettingCode,
    StreamType,
    encode_settings,
    encode_varint,
    frame_header,
    parse_single_varint,
    read_varint,
)

#: The first GOAWAY of a graceful drain carries the largest client bidi id.
MAX_ID = MAX_CLIENT_BIDI_STREAM_ID

#: Longest wait for the QUIC handshake, and then for the server to acknowledge
#: request A, before the probe gives up (and still signals the server).
CONNECT_TIMEOUT = 5.0

#: While observing, the probe sends a QUIC PING this often. A server that went
#: away without a word (no CONNECTION_CLOSE) is then seen at once, by the ICMP
#: unreachable that answers it, instead of at the observation deadline: over
#: UDP a silent peer cannot be told from a dead one without sending something.
KEEPALIVE_INTERVAL = 0.1


@dataclass
class H3StreamOutcome:
    """What became of one probe request."""

    stream_id: int
    sent_at: float
    status: int | None = None
    body_bytes: int = 0
    completed: bool = False
    reset_code: int | None = None
    #: When the RESET_STREAM arrived.
    reset_at: float | None = None
    stop_sending_code: int | None = None


@dataclass
class H3ProbeResult:
    """Everything the probe saw, in wire order where it matters."""

    connected: bool = False
    #: (monotonic time, GOAWAY id) in the order received.
    goaways: list[tuple[float, int]] = field(default_factory=list)
    streams: dict[int, H3StreamOutcome] = field(default_factory=dict)
    signalled_at: float | None = None
    #: When the connection ended for the probe, however it ended.
    closed_at: float | None = None
    #: The server's CONNECTION_CLOSE: code, and True for an application close
    #: (frame 0x1d, an HTTP/3 code) vs False for a transport close (0x1c).
    close_code: int | None = None
    close_is_application: bool = False
    close_reason: str = ""
    #: The server's UDP port answered with ICMP unreachable: it went away
    #: without a CONNECTION_CLOSE.
    vanished: bool = False
    #: When the server had acknowledged every byte of request C (it had it).
    late_acknowledged_at: float | None = None
    #: The server went on serving other streams after it had request C: a
    #: silence about C was then its choice, not a race with its close.
    served_after_late: bool = False
    error: str | None = None
    #: Stream id of request C (sent after the final GOAWAY), if it was sent.
    late_stream_id: int | None = None
    #: Stream id of request B (sent right after the first GOAWAY), if it was sent.
    racing_stream_id: int | None = None


class _Uni:
    """A unidirectional stream from the server: its type, then its bytes."""

    __slots__ = ("buffer", "stream_type")

    def __init__(self) -> None:
        self.stream_type: int | None = None
        self.buffer = bytearray()


class H3Probe(asyncio.DatagramProtocol):
    """Drive one probe connection; see the module docstring for the sequence."""

    def __init__(
        self,
        host: str,
        port: int,
        path: str,
        *,
        authority: str | None = None,
        observe_timeout: float = 60.0,
    ) -> None:
        self.host = host
        self.port = port
        self.path = path.encode()
        self.authority = (authority or f"{host}:{port}").encode()
        #: Longest the probe waits for the server to close after the signal.
        self.observe_timeout = observe_timeout
        self.result = H3ProbeResult()
        configuration = QuicConfiguration(
            is_client=True, alpn_protocols=[H3_ALPN], server_name=host, idle_timeout=120.0
        )
        # The drill grades drain behaviour, not PKI: test servers use self-signed certificates.
        configuration.verify_mode = ssl.CERT_NONE
        self._quic = QuicConnection(configuration=configuration)
        self._encoder = pylsqpack.Encoder()  # never told of a table: static and literals only
        self._decoder = pylsqpack.Decoder(0, 0)
        self._transport: asyncio.DatagramTransport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._keepalive_handle: asyncio.TimerHandle | None = None
        self._changed = asyncio.Event()
        self._uni: dict[int, _Uni] = {}
        self._bidi: dict[int, bytearray] = {}
        self._handshake_done = False
        self._ended = False

    # -- the run -----------------------------------------------------------------------

    async def run(self, signal: Callable[[], Awaitable[None]]) -> H3ProbeResult:
        """Connect, call ``signal`` once request A is in, observe the drain."""
        result = self.result
        signalled = False
        loop = asyncio.get_running_loop()
        try:
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    await loop.create_datagram_endpoint(
                        lambda: self, remote_addr=(self.host, self.port)
                    )
                    assert self._transport is not None
                    peer: NetworkAddress = self._transport.get_extra_info("peername")
                    self._quic.connect(peer, loop.time())
                    self._flush()
                    await self._until(lambda: self._handshake_done or self._ended)
                    if not self._handshake_done:
                        raise ConnectionError(result.error or "handshake failed")
                    result.connected = True
                    self._open_control_stream()
                    first = self._request()
                    await self._until(
                        lambda: self._ended or seam.is_send_side_finished(self._quic, first)
                    )
            except (OSError, TimeoutError) as exc:
                result.error = result.error or f"probe could not connect: {exc!r}"
                return result
            if self._ended:
                return result
            # The server has acknowledged all of request A: now shut it down.
            signalled = True
            result.signalled_at = time.monotonic()
            await signal()
            self._keepalive_handle = loop.call_later(KEEPALIVE_INTERVAL, self._keepalive)
            try:
                async with asyncio.timeout(self.observe_timeout):
                    await self._until(lambda: self._ended)
            except TimeoutError:
                result.error = result.error or "observation deadline reached"
        finally:
            if not signalled:
                await signal()
            self._shutdown()
        return result

    async def _until(self, predicate: Callable[[], bool]) -> None:
        while True:
            self._changed.clear()
            if predicate():
                return
            await self._changed.wait()

    def _shutdown(self) -> None:
        for handle in (self._timer, self._keepalive_handle):
            if handle is not None:
                handle.cancel()
        self._timer = self._keepalive_handle = None
        if self._transport is not None and not self._transport.is_closing():
            if not self._ended:
                self._quic.close(reason_phrase="probe done")
                self._flush()
            self._transport.close()

    # -- requests ------------------------------------------------------------------------

    def _open_control_stream(self) -> None:
        """RFC 9114 §6.2.1: a control stream opening with SETTINGS; dynamic table 0."""
        control = self._quic.get_next_available_stream_id(is_unidirectional=True)
        settings: dict[int, int] = {
            SettingCode.QPACK_MAX_TABLE_CAPACITY: 0,
            SettingCode.QPACK_BLOCKED_STREAMS: 0,
        }
        self._quic.send_stream_data(
            control, encode_varint(StreamType.CONTROL) + encode_settings(settings)
        )

    def _request(self) -> int:
        sid = self._quic.get_next_available_stream_id()
        _, block = self._encoder.encode(
            sid,
            [
                (b":method", b"GET"),
                (b":scheme", b"https"),
                (b":authority", self.authority),
                (b":path", self.path),
                (b"user-agent", b"lastcall-drill-probe"),
            ],
        )
        self._quic.send_stream_data(sid, frame_header(FrameType.HEADERS, len(block)) + block, True)
        self._bidi[sid] = bytearray()
        self.result.streams[sid] = H3StreamOutcome(sid, time.monotonic())
        self._flush()
        return sid

    # -- datagrams and QUIC events ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Python 3.11's selector transport does not subclass DatagramTransport.
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: NetworkAddress) -> None:
        if self._ended:
            return
        self._quic.receive_datagram(data, addr, asyncio.get_running_loop().time())
        self._process()

    def error_received(self, exc: Exception) -> None:
        if isinstance(exc, ConnectionRefusedError) and not self._ended:
            self.result.vanished = True
            self.result.error = self.result.error or "server's UDP port vanished (ICMP unreachable)"
            self._end()

    def _keepalive(self) -> None:
        if self._ended:
            return
        self._quic.send_ping(0)
        self._flush()
        self._keepalive_handle = asyncio.get_running_loop().call_later(
            KEEPALIVE_INTERVAL, self._keepalive
        )

    def _on_timer(self) -> None:
        self._timer = None
        if self._ended:
            return
        self._quic.handle_timer(asyncio.get_running_loop().time())
        self._process()

    def _process(self) -> None:
        while (event := self._quic.next_event()) is not None:
            self._on_event(event)
        result = self.result
        late = result.late_stream_id
        if (
            late is not None
            and result.late_acknowledged_at is None
            and seam.is_send_side_finished(self._quic, late)
        ):
            result.late_acknowledged_at = time.monotonic()
        self._flush()
        self._changed.set()

    def _note_activity(self, stream_id: int) -> None:
        result = self.result
        if result.late_acknowledged_at is not None and stream_id != result.late_stream_id:
            result.served_after_late = True

    def _flush(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        loop = asyncio.get_running_loop()
        for data, _addr in self._quic.datagrams_to_send(loop.time()):
            with contextlib.suppress(OSError):
                transport.sendto(data)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        when = self._quic.get_timer()
        if when is not None and not self._ended:
            self._timer = loop.call_at(when, self._on_timer)

    def _on_event(self, event: qe.QuicEvent) -> None:
        result = self.result
        if isinstance(event, qe.HandshakeCompleted):
            self._handshake_done = True
        elif isinstance(event, qe.StreamDataReceived):
            if event.stream_id & 2:
                self._on_uni(event.stream_id, event.data)
            else:
                self._on_bidi(event.stream_id, event.data, event.end_stream)
        elif isinstance(event, qe.StreamReset):
            stream = result.streams.get(event.stream_id)
            if stream is not None:
                stream.reset_code = event.error_code
                stream.reset_at = time.monotonic()
                self._note_activity(event.stream_id)
        elif isinstance(event, qe.StopSendingReceived):
            stream = result.streams.get(event.stream_id)
            if stream is not None:
                stream.stop_sending_code = event.error_code
        elif isinstance(event, qe.ConnectionTerminated):
            result.close_code = event.error_code
            result.close_is_application = event.frame_type is None
            result.close_reason = event.reason_phrase
            if not self._handshake_done:
                result.error = f"handshake failed: {event.reason_phrase or event.error_code}"
            self._end()

    def _end(self) -> None:
        if self._ended:
            return
        self._ended = True
        self.result.closed_at = time.monotonic()
        self._changed.set()

    def _on_uni(self, stream_id: int, data: bytes) -> None:
        uni = self._uni.setdefault(stream_id, _Uni())
        uni.buffer += data
        if uni.stream_type is None:
            parsed = read_varint(uni.buffer, 0)
            if parsed is None:
                return
            uni.stream_type = parsed[0]
            del uni.buffer[: parsed[1]]
        if uni.stream_type != StreamType.CONTROL:
            uni.buffer.clear()  # QPACK streams: nothing for a zero-size table
            return
        for frame_type, payload in _frames(uni.buffer):
            if frame_type == FrameType.GOAWAY:
                self._on_goaway(parse_single_varint(payload))

    def _on_goaway(self, identifier: int) -> None:
        result = self.result
        first = not result.goaways
        result.goaways.append((time.monotonic(), identifier))
        if first and identifier == MAX_ID:
            result.racing_stream_id = self._request()
        elif identifier < MAX_ID and result.late_stream_id is None:
            result.late_stream_id = self._request()

    def _on_bidi(self, stream_id: int, data: bytes, fin: bool) -> None:
        stream = self.result.streams.get(stream_id)
        buffer = self._bidi.get(stream_id)
        if stream is None or buffer is None:
            return
        buffer += data
        if data or fin:
            self._note_activity(stream_id)
        for frame_type, payload in _frames(buffer):
            if frame_type == FrameType.HEADERS:
                try:
                    _, headers = self._decoder.feed_header(stream_id, payload)
                except (pylsqpack.DecompressionFailed, pylsqpack.StreamBlocked):
                    self.result.error = f"undecodable header section on stream {stream_id}"
                    continue
                for name, value in headers:
                    if name == b":status" and not value.startswith(b"1"):
                        stream.status = int(value)
            elif frame_type == FrameType.DATA:
                stream.body_bytes += len(payload)
        if fin:
            stream.completed = stream.status is not None and not buffer


def _frames(buffer: bytearray) -> list[tuple[int, bytes]]:
    """Take every complete frame (RFC 9114 §7.1) off the front of ``buffer``."""
    frames: list[tuple[int, bytes]] = []
    pos = 0
    while True:
        type_field = read_varint(buffer, pos)
        if type_field is None:
            break
        length_field = read_varint(buffer, type_field[1])
        if length_field is None:
            break
        start = length_field[1]
        end = start + length_field[0]
        if end > len(buffer):
            break
        frames.append((type_field[0], bytes(buffer[start:end])))
        pos = end
    del buffer[:pos]
    return frames
