"""The HTTP/2 drain probe: one raw connection that watches a server shut down.

It deliberately does not use our engine's state machine: a probe has to see
what the server really puts on the wire (a NO_ERROR reset, a silent drop, a
GOAWAY that lies about its last id) and to do what a careful engine never
would, such as opening a stream right after the final GOAWAY. It only borrows
our HPACK codec.

Sequence (RFC 9113 §6.8, DESIGN.md "Drain semantics"):

1. open the connection, send request A (the in-flight one, usually slow) and a
   PING; the PING ACK proves the server has read A's HEADERS;
2. ``signal()`` is called (the drill sends SIGTERM);
3. on the first GOAWAY: record its id; if it is 2^31-1, send request B at
   once (it races the final GOAWAY);
4. answer the server's PING; on a GOAWAY below 2^31-1 (the final one), send
   request C, which is above it and must be refused with REFUSED_STREAM;
5. read until the server closes the connection or the observation deadline.

What it records feeds the report card (``report.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from lastcall.engines.http2.hpack import HeaderDecoder, HeaderEncoder

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_ID = 2**31 - 1
_HDR = struct.Struct(">HBBBL")
_PROBE_PING = b"lcprobe1"


def _frame(ftype: int, flags: int, sid: int, payload: bytes = b"") -> bytes:
    n = len(payload)
    return _HDR.pack(n >> 8, n & 0xFF, ftype, flags, sid) + payload


@dataclass
class StreamOutcome:
    """What became of one probe request."""

    stream_id: int
    sent_at: float
    status: int | None = None
    body_bytes: int = 0
    completed: bool = False
    reset_code: int | None = None
    #: When the RST_STREAM arrived.
    reset_at: float | None = None


@dataclass
class H2ProbeResult:
    """Everything the probe saw, in wire order where it matters."""

    connected: bool = False
    goaways: list[tuple[float, int, int, bytes]] = field(default_factory=list)
    ping_after_first_goaway: bool = False
    streams: dict[int, StreamOutcome] = field(default_factory=dict)
    closed_at: float | None = None
    close_was_reset: bool = False
    signalled_at: float | None = None
    error: str | None = None
    #: Stream id of request C (sent after the final GOAWAY), if it was sent.
    late_stream_id: int | None = None
    #: Stream id of request B (sent right after the first GOAWAY), if it was sent.
    racing_stream_id: int | None = None


class H2Probe:
    """Drive one probe connection; see the module docstring for the sequence."""

    def __init__(
        self,
        host: str,
        port: int,
        path: str,
        *,
        authority: str | None = None,
        observe_timeout: float = 60.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.path = path.encode()
        self.authority = (authority or f"{host}:{port}").encode()
        #: TLS (with ALPN "h2") for an https:// target; None for h2c prior knowledge.
        self.tls = tls
        self._scheme = b"https" if tls is not None else b"http"
        #: Longest the probe waits for the server to close after the signal.
        self.observe_timeout = observe_timeout
        self.result = H2ProbeResult()
        self._encoder = HeaderEncoder()
        self._decoder = HeaderDecoder()
        self._next_id = 1
        self._writer: asyncio.StreamWriter | None = None

    def _request(self, path: bytes | None = None) -> int:
        sid = self._next_id
        self._next_id += 2
        block = self._encoder.encode(
            [
                (b":method", b"GET"),
                (b":scheme", self._scheme),
                (b":authority", self.authority),
                (b":path", path or self.path),
                (b"user-agent", b"lastcall-drill-probe"),
            ]
        )
        assert self._writer is not None
        self._writer.write(_frame(0x1, 0x5, sid, block))
        self.result.streams[sid] = StreamOutcome(sid, time.monotonic())
        return sid

    async def run(self, signal: Callable[[], Awaitable[None]]) -> H2ProbeResult:
        """Open the connection, call ``signal`` once request A is in, observe the drain."""
        result = self.result
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, ssl=self.tls), timeout=5.0
            )
        except (OSError, TimeoutError) as exc:
            result.error = f"probe could not connect: {exc}"
            await signal()
            return result
        self._writer = writer
        result.connected = True
        writer.write(
            PREFACE
            + _frame(0x4, 0, 0, struct.pack(">HL", 0x4, 2**30))
            + _frame(0x8, 0, 0, struct.pack(">L", 2**30))
        )
        self._request()
        writer.write(_frame(0x6, 0, 0, _PROBE_PING))
        signalled = False
        deadline = time.monotonic() + 10.0
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    result.error = result.error or "observation deadline reached"
                    break
                try:
                    header = await asyncio.wait_for(reader.readexactly(9), remaining)
                    hi, lo, ftype, flags, sid = _HDR.unpack(header)
                    payload = await asyncio.wait_for(reader.readexactly((hi << 8) | lo), remaining)
                except asyncio.IncompleteReadError:
                    result.closed_at = time.monotonic()
                    break
                except ConnectionResetError:
                    result.closed_at = time.monotonic()
                    result.close_was_reset = True
                    break
                except TimeoutError:
                    continue
                sid &= 0x7FFFFFFF
                if ftype == 0x6 and flags & 0x1 and payload == _PROBE_PING and not signalled:
                    # The server has read request A: now shut it down.
                    signalled = True
                    result.signalled_at = time.monotonic()
                    deadline = result.signalled_at + self.observe_timeout
                    await signal()
                    continue
                self._on_frame(ftype, flags, sid, payload, writer)
                await writer.drain()
        except OSError as exc:
            result.closed_at = time.monotonic()
            result.close_was_reset = True
            result.error = result.error or f"connection error: {exc}"
        finally:
            if not signalled:
                await signal()
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        return result

    def _on_frame(
        self, ftype: int, flags: int, sid: int, payload: bytes, writer: asyncio.StreamWriter
    ) -> None:
        result = self.result
        now = time.monotonic()
        stream = result.streams.get(sid)
        if ftype == 0x1:  # HEADERS (probe requests are small: no CONTINUATION expected)
            block = payload
            if flags & 0x8:
                block = block[1 : len(block) - block[0]]
            if flags & 0x20:
                block = block[5:]
            headers = self._decoder.decode(block)
            if stream is not None:
                for name, value in headers:
                    if name == b":status" and not value.startswith(b"1"):
                        stream.status = int(value)
                if flags & 0x1:
                    stream.completed = stream.status is not None
        elif ftype == 0x0:  # DATA
            if stream is not None:
                stream.body_bytes += len(payload)
                if flags & 0x1:
                    stream.completed = stream.status is not None
            if payload:
                writer.write(_frame(0x8, 0, 0, struct.pack(">L", len(payload))))
        elif ftype == 0x3 and stream is not None:  # RST_STREAM
            stream.reset_code = struct.unpack(">L", payload[:4])[0]
            stream.reset_at = now
        elif ftype == 0x4 and not flags & 0x1:  # SETTINGS
            writer.write(_frame(0x4, 0x1, 0))
        elif ftype == 0x6 and not flags & 0x1:  # PING from the server
            if result.goaways:
                result.ping_after_first_goaway = True
            writer.write(_frame(0x6, 0x1, 0, payload))
        elif ftype == 0x7:  # GOAWAY
            last_id, code = struct.unpack(">LL", payload[:8])
            last_id &= 0x7FFFFFFF
            first = not result.goaways
            result.goaways.append((now, last_id, code, payload[8:]))
            if first and last_id == MAX_ID:
                result.racing_stream_id = self._request()
            elif last_id < MAX_ID and result.late_stream_id is None:
                result.late_stream_id = self._request()
