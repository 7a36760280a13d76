"""A raw HTTP/2 client for tests: struct-packed frames and ``hpack``, not our engine.

It sends exactly the frames a test asks for and records every frame it
receives, in order, so a test can assert the wire sequence of a drain
(RFC 9113 §6.8): GOAWAY(2^31-1) before the PING, the final GOAWAY id,
REFUSED_STREAM for a late stream, DATA before the close, CANCEL at grace
expiry. Because it shares no code with ``lastcall.engines.http2``, a bug
there cannot hide itself in the test.
"""

from __future__ import annotations

import asyncio
import socket
import ssl as ssl_module
import struct
from dataclasses import dataclass, field

import hpack

__all__ = ["FRAME_NAMES", "Frame", "RawH2Client"]

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
(
    DATA,
    HEADERS,
    PRIORITY,
    RST_STREAM,
    SETTINGS,
    PUSH_PROMISE,
    PING,
    GOAWAY,
    WINDOW_UPDATE,
    CONTINUATION,
) = range(10)
FRAME_NAMES = {
    0: "DATA",
    1: "HEADERS",
    2: "PRIORITY",
    3: "RST_STREAM",
    4: "SETTINGS",
    5: "PUSH_PROMISE",
    6: "PING",
    7: "GOAWAY",
    8: "WINDOW_UPDATE",
    9: "CONTINUATION",
}
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
NO_ERROR, PROTOCOL_ERROR, CANCEL, REFUSED_STREAM = 0x0, 0x1, 0x8, 0x7


@dataclass(slots=True)
class Frame:
    """One received frame, with its decoded meaning where it has one."""

    type: int
    flags: int
    stream_id: int
    payload: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return FRAME_NAMES.get(self.type, f"UNKNOWN({self.type})")

    @property
    def goaway(self) -> tuple[int, int, bytes]:
        """(last_processed_id, error_code, debug_data) of a GOAWAY."""
        last, code = struct.unpack(">II", self.payload[:8])
        return last & 0x7FFFFFFF, code, self.payload[8:]

    @property
    def error_code(self) -> int:
        """The code of an RST_STREAM."""
        return int(struct.unpack(">I", self.payload[:4])[0])

    def __repr__(self) -> str:
        extra = ""
        if self.type == GOAWAY:
            last, code, debug = self.goaway
            extra = f" last={last} code={code} debug={debug!r}"
        elif self.type == RST_STREAM:
            extra = f" code={self.error_code}"
        elif self.type == DATA:
            extra = f" len={len(self.payload)}"
        return f"<{self.name} stream={self.stream_id} flags={self.flags:#x}{extra}>"


class RawH2Client:
    """One HTTP/2 connection over a socket, driven frame by frame."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.frames: list[Frame] = []
        self.next_stream_id = 1
        self._pings = 0

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        *,
        settings: bytes = b"",
        ssl: ssl_module.SSLContext | None = None,
        preface: bool = True,
    ) -> RawH2Client:
        """Connect, send the preface and our SETTINGS (ACKs are sent as they come).

        With ``ssl`` the connection is TLS and must negotiate ``h2`` by ALPN. With
        ``preface=False`` nothing is sent: the test writes its own first bytes.
        """
        if ssl is None:
            reader, writer = await asyncio.open_connection(host, port)
        else:
            reader, writer = await asyncio.open_connection(
                host, port, ssl=ssl, server_hostname="localhost"
            )
            tls = writer.get_extra_info("ssl_object")
            protocol = tls.selected_alpn_protocol() if tls is not None else None
            if protocol != "h2":
                writer.close()
                raise ConnectionError(f"ALPN chose {protocol!r}, not h2")
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # Each write its own segment where the kernel allows: the split tests
            # want the server to see reads as small as the writes.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = cls(reader, writer)
        if preface:
            writer.write(PREFACE)
            client.send_frame(SETTINGS, 0, 0, settings)
        return client

    async def write_split(self, data: bytes, split: str) -> None:
        """Write ``data`` whole, one frame per write (``frames``: ``data`` must be
        whole frames) or one byte per write (``bytes``), draining after each."""
        if split == "whole":
            pieces = [data]
        elif split == "bytes":
            pieces = [data[i : i + 1] for i in range(len(data))]
        else:
            assert split == "frames", split
            pieces = []
            pos = 0
            while pos < len(data):
                end = pos + 9 + int.from_bytes(data[pos : pos + 3], "big")
                pieces.append(data[pos:end])
                pos = end
        for piece in pieces:
            self.writer.write(piece)
            await self.writer.drain()

    async def barrier(self, within: float = 10.0) -> list[Frame]:
        """Send a PING and read until its ACK. The server handles a connection's
        frames in order, so everything sent before has been acted on; returns
        the frames read meanwhile. Raises ``EOFError`` if the server closed."""
        self._pings += 1
        payload = b"barrier" + bytes([self._pings % 256])
        start = len(self.frames)
        self.send_frame(PING, 0, 0, payload)
        async with asyncio.timeout(within):
            while True:
                frame = await self.read_frame()
                if frame is None:
                    raise EOFError(f"connection closed before the PING ACK: {self.frames}")
                if frame.type == PING and frame.flags & ACK and frame.payload == payload:
                    return self.frames[start:]

    def send_frame(self, frame_type: int, flags: int, stream_id: int, payload: bytes) -> None:
        header = struct.pack(">I", len(payload))[1:] + struct.pack(
            ">BBI", frame_type, flags, stream_id
        )
        self.writer.write(header + payload)

    def request(
        self,
        path: str = "/",
        method: str = "GET",
        *,
        body: bytes | None = None,
        authority: str = "localhost",
        extra: list[tuple[str, str]] | None = None,
        open_ended: bool = False,
    ) -> int:
        """Open the next stream with HEADERS (and DATA if ``body``); return its id.

        The stream ends with the request unless ``open_ended`` (CONNECT, streaming).
        """
        stream_id = self.next_stream_id
        self.next_stream_id += 2
        headers = [
            (":method", method),
            (":scheme", "http"),
            (":authority", authority),
            (":path", path),
        ]
        headers += extra or []
        block = self.encoder.encode(headers)
        flags = END_HEADERS | (END_STREAM if body is None and not open_ended else 0)
        self.send_frame(HEADERS, flags, stream_id, block)
        if body is not None:
            self.send_frame(DATA, 0 if open_ended else END_STREAM, stream_id, body)
        return stream_id

    async def read_frame(self) -> Frame | None:
        """The next frame (None at EOF); SETTINGS and PING are ACKed automatically."""
        try:
            header = await self.reader.readexactly(9)
        except asyncio.IncompleteReadError:
            return None
        length = int.from_bytes(header[:3], "big")
        frame_type, flags, stream_id = struct.unpack(">BBI", header[3:])
        stream_id &= 0x7FFFFFFF
        try:
            payload = await self.reader.readexactly(length)
        except asyncio.IncompleteReadError:
            return None
        frame = Frame(frame_type, flags, stream_id, payload)
        if frame_type == HEADERS:
            frame.headers = [
                (
                    n if isinstance(n, bytes) else n.encode(),
                    v if isinstance(v, bytes) else v.encode(),
                )
                for n, v in self.decoder.decode(payload, raw=True)
            ]
        elif frame_type == SETTINGS and not flags & ACK:
            self.send_frame(SETTINGS, ACK, 0, b"")
        elif frame_type == PING and not flags & ACK:
            self.send_frame(PING, ACK, 0, payload)
        self.frames.append(frame)
        return frame

    async def read_until(
        self, frame_type: int, *, stream_id: int | None = None, within: float = 10.0
    ) -> Frame:
        """Read frames until one of ``frame_type`` (on ``stream_id`` if given)."""
        async with asyncio.timeout(within):
            while True:
                frame = await self.read_frame()
                if frame is None:
                    raise EOFError(
                        f"connection closed before {FRAME_NAMES[frame_type]}: {self.frames}"
                    )
                if frame.type == frame_type and (stream_id is None or frame.stream_id == stream_id):
                    return frame

    async def read_to_eof(self, within: float = 10.0) -> list[Frame]:
        """Every frame until the server closes; then close our side too."""
        async with asyncio.timeout(within):
            while await self.read_frame() is not None:
                pass
        self.close()
        return self.frames

    def body(self, stream_id: int) -> bytes:
        """Concatenated DATA received on a stream so far."""
        return b"".join(
            f.payload for f in self.frames if f.type == DATA and f.stream_id == stream_id
        )

    def status(self, stream_id: int) -> bytes | None:
        for f in self.frames:
            if f.type == HEADERS and f.stream_id == stream_id:
                return dict(f.headers).get(b":status")
        return None

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()

    async def aclose(self) -> None:
        self.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass
