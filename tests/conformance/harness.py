"""The HTTP/2 conformance suite's harness (fixtures in ``conftest.py``): two real ``lastcall serve`` processes
(the demo app), one on cleartext h2c (the shared HTTP/1.1 + h2c port, prior
knowledge) and one on TLS with ALPN h2, shared by every module of the suite;
and a raw client (``lastcall.testing.h2_raw_client``, struct-packed frames and
python-hyper ``hpack``: no code shared with the engine under test).

Every case runs over both transports (the ``conn`` fixture). A case that
sends misbehaving bytes sends them through ``Case.send``, which writes them
whole, one frame per write or one byte per write (``split``): the answer must
not depend on how the server's reads cut them (issue 13). Connection errors
are asserted as a GOAWAY with the code followed by the server closing;
stream errors as an RST_STREAM with the code, seen before the ACK of a PING
sent after the bad bytes (the server handles a connection's frames in order,
so nothing is left to arrive), with the connection still usable.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import ssl
import struct
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest

from lastcall.testing.h2_raw_client import GOAWAY, HEADERS, RST_STREAM, Frame, RawH2Client

ERROR_CODES = {
    "NO_ERROR": 0x0,
    "PROTOCOL_ERROR": 0x1,
    "INTERNAL_ERROR": 0x2,
    "FLOW_CONTROL_ERROR": 0x3,
    "SETTINGS_TIMEOUT": 0x4,
    "STREAM_CLOSED": 0x5,
    "FRAME_SIZE_ERROR": 0x6,
    "REFUSED_STREAM": 0x7,
    "CANCEL": 0x8,
    "COMPRESSION_ERROR": 0x9,
    "CONNECT_ERROR": 0xA,
    "ENHANCE_YOUR_CALM": 0xB,
    "INADEQUATE_SECURITY": 0xC,
    "HTTP_1_1_REQUIRED": 0xD,
}
CODE_NAMES = {v: k for k, v in ERROR_CODES.items()}
#: Bound on every wait of the suite (a wedged server fails, never hangs).
WITHIN = 10.0
SPLITS = ["whole", "frames", "bytes"]
SERVE = [sys.executable, "-m", "lastcall", "serve", "--bind", "127.0.0.1:0"]
REQUEST = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"localhost")]


def frame(frame_type: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    """Any frame, exactly as given (lengths, flags, reserved bits)."""
    return (
        struct.pack(">I", len(payload))[1:]
        + struct.pack(">BBI", frame_type, flags, stream_id)
        + (payload)
    )


@dataclass
class Server:
    """One ``lastcall serve`` child process and the port it serves on."""

    proc: subprocess.Popen[bytes]
    port: int
    log: list[str] = field(default_factory=list)


def spawn_server(args: list[str]) -> Iterator[Server]:
    proc = subprocess.Popen(
        # A short grace: the suite ends with /slow handlers still asleep, and
        # nothing here is about the drain.
        [*SERVE, "--graceful-timeout", "0.5", *args],
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stderr is not None
    log: list[str] = []
    ready = threading.Event()
    port: list[int] = []

    def drain_stderr() -> None:
        # Read stderr for the life of the process, so its pipe never fills.
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            log.append(line)
            match = re.search(r"serving on [a-z]*:?/*127\.0\.0\.1:(\d+)", line)
            if match and not port:
                port.append(int(match.group(1)))
                ready.set()
        ready.set()

    reader = threading.Thread(target=drain_stderr, daemon=True)
    reader.start()
    try:
        assert ready.wait(WITHIN * 3) and port, f"lastcall serve did not start: {log}"
        yield Server(proc, port[0], log)
    finally:
        proc.terminate()
        try:
            proc.wait(WITHIN)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(WITHIN)
        proc.stderr.close()


def client_tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the server's self-signed test certificate
    context.set_alpn_protocols(["h2"])
    return context


class Case:
    """One connection to the server under test, and the assertions of the suite."""

    def __init__(self, client: RawH2Client) -> None:
        self.client = client

    # -- sending ------------------------------------------------------------------------

    def block(self, headers: list[tuple[bytes, bytes]]) -> bytes:
        """An HPACK block from the connection's one encoder (its table stays in step)."""
        return bytes(self.client.encoder.encode(headers))

    def headers(
        self,
        stream_id: int,
        headers: list[tuple[bytes, bytes]],
        *,
        end_stream: bool = True,
        end_headers: bool = True,
    ) -> bytes:
        flags = (0x1 if end_stream else 0) | (0x4 if end_headers else 0)
        return frame(HEADERS, flags, stream_id, self.block(headers))

    def request(self, stream_id: int, path: bytes = b"/", **kwargs: bool) -> bytes:
        """A GET request's HEADERS frame (``end_stream`` True unless given)."""
        return self.headers(stream_id, [*REQUEST, (b":path", path)], **kwargs)

    async def send(self, data: bytes, split: str = "whole") -> None:
        await self.client.write_split(data, split)

    async def ready(self) -> None:
        """Wait until the handshake is done (the server's SETTINGS seen and ACKed)."""
        await self.client.barrier(WITHIN)

    # -- expecting ------------------------------------------------------------------------

    async def expect_connection_error(self, code: str) -> Frame:
        """The server sends GOAWAY(code) and closes the connection (§5.4.1)."""
        frames = await self.client.read_to_eof(WITHIN)
        goaways = [f for f in frames if f.type == GOAWAY]
        assert goaways, f"no GOAWAY before the close: {frames}"
        got = CODE_NAMES.get(goaways[-1].goaway[1], hex(goaways[-1].goaway[1]))
        assert got == code, f"GOAWAY {got}, wanted {code}: {frames}"
        return goaways[-1]

    async def expect_stream_error(self, stream_id: int, code: str) -> None:
        """RST_STREAM(stream_id, code), and the connection lives on (§5.4.2)."""
        frames = await self.client.barrier(WITHIN)
        resets = [
            f for f in self.client.frames if f.type == RST_STREAM and f.stream_id == stream_id
        ]
        names = [CODE_NAMES.get(f.error_code, hex(f.error_code)) for f in resets]
        assert code in names, f"RST_STREAM[{stream_id}] {names}, wanted {code}: {frames}"
        assert not [f for f in self.client.frames if f.type == GOAWAY], self.client.frames

    async def expect_no_error(self) -> list[Frame]:
        """Nothing wrong: no GOAWAY and no RST_STREAM other than NO_ERROR."""
        await self.client.barrier(WITHIN)
        bad = [
            f
            for f in self.client.frames
            if f.type == GOAWAY or (f.type == RST_STREAM and f.error_code != 0)
        ]
        assert not bad, self.client.frames
        return self.client.frames

    async def response_end(self, stream_id: int) -> None:
        """Read until the server's response on ``stream_id`` has ended (END_STREAM)."""
        async with asyncio.timeout(WITHIN):
            while True:
                f = await self.client.read_frame()
                assert f is not None, f"closed before the response ended: {self.client.frames}"
                if f.stream_id == stream_id and f.type in (0x0, 0x1) and f.flags & 0x1:
                    return


@contextlib.asynccontextmanager
async def open_case(
    request: pytest.FixtureRequest, transport: str, *, preface: bool = True
) -> AsyncIterator[Case]:
    """A ``Case`` on a fresh connection over ``transport``, closed at the end."""
    if transport == "tls":
        server = request.getfixturevalue("tls_server")
        client = await RawH2Client.connect(
            "127.0.0.1", server.port, ssl=client_tls_context(), preface=preface
        )
    else:
        server = request.getfixturevalue("h2c_server")
        client = await RawH2Client.connect("127.0.0.1", server.port, preface=preface)
    try:
        yield Case(client)
    finally:
        await client.aclose()
