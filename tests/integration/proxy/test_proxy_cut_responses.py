"""A backend cuts a response it began: the downstream client sees a cut, never a clean end.

Backends are scripts that put exact bytes on the wire (``scripted_h2.py``,
``scripted_h1.py``): an HTTP/2 backend resets the stream after a head and a
chunk, an HTTP/1.1 backend closes its connection before the body it announced
is complete. Downstream, an HTTP/2 client reads frames (``RawH2Client``) and an
HTTP/1.1 client reads bytes off a socket, so what each sees is exactly what
the proxy wrote: RST_STREAM with its code, or a connection closed before the
body's end (no ``0\\r\\n\\r\\n``, fewer bytes than ``Content-Length``).

Mapping of a backend's mid-response reset to the downstream reset (HTTP/2):
CANCEL stays CANCEL (the backend gave up on it; nothing failed), every other
code becomes INTERNAL_ERROR (the proxy could not finish a response it began;
the downstream client did nothing wrong, so never PROTOCOL_ERROR and the
like). A lost HTTP/1.1 backend connection is INTERNAL_ERROR.
"""

from __future__ import annotations

import asyncio
import struct

import pytest
from proxy_harness import TEST_DEADLINE, Stack
from scripted_h1 import H1Conn, ScriptedH1Server
from scripted_h2 import CANCEL, DATA, END_HEADERS, HEADERS, ScriptedH2Server, ServerConn, frame

from lastcall.proxy import simple_proxy_config
from lastcall.testing.h2_raw_client import RST_STREAM, RawH2Client

INTERNAL_ERROR, PROTOCOL_ERROR, ENHANCE_YOUR_CALM = 0x2, 0x1, 0xB


class CutAfterPart:
    """Backend scripts: a head and ``part``, then (once ``go`` is set) the cut."""

    def __init__(self) -> None:
        self.go = asyncio.Event()

    def h2_reset(self, code: int):  # type: ignore[no-untyped-def]
        async def script(conn: ServerConn) -> None:
            req = await conn.next_request()
            block = conn.encoder.encode([(":status", "200"), ("content-type", "text/plain")])
            conn.send(frame(HEADERS, END_HEADERS, req.stream_id, block))
            conn.send(frame(DATA, 0, req.stream_id, b"part"))
            await self.go.wait()
            conn.reset(req.stream_id, code)
            await conn.closed.wait()

        return script

    def h1_close(self, framing: bytes, first: bytes):  # type: ignore[no-untyped-def]
        async def script(conn: H1Conn) -> None:
            await conn.read_request()
            conn.send(b"HTTP/1.1 200 OK\r\n" + framing + b"\r\n" + first)
            await self.go.wait()
            conn.writer.close()  # before the body's end

        return script


async def _h2_downstream_sees(proxy_port: int, cut: CutAfterPart) -> int:
    """GET over HTTP/2; wait for ``part``; let the backend cut; return the RST_STREAM code."""
    client = await RawH2Client.connect("127.0.0.1", proxy_port)
    try:
        sid = client.request("/cut")
        async with asyncio.timeout(TEST_DEADLINE):
            while client.body(sid) != b"part":
                frame_ = await client.read_frame()
                assert frame_ is not None, client.frames
                assert not (frame_.type == DATA and frame_.flags & 0x1), "a clean end"
        assert client.status(sid) == b"200"
        cut.go.set()
        reset = await client.read_until(RST_STREAM, stream_id=sid, within=TEST_DEADLINE)
        ended = [f for f in client.frames if f.stream_id == sid and f.flags & 0x1]
        assert not [f for f in ended if f.type in (DATA, HEADERS)], "a clean end"
        return struct.unpack(">L", reset.payload)[0]
    finally:
        await client.aclose()


async def _h1_downstream_reads(proxy_port: int, cut: CutAfterPart) -> bytes:
    """GET over HTTP/1.1; wait for ``part``; let the backend cut; every byte until EOF."""
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port)
    try:
        writer.write(b"GET /cut HTTP/1.1\r\nHost: test\r\n\r\n")
        got = b""
        async with asyncio.timeout(TEST_DEADLINE):
            while b"part" not in got.partition(b"\r\n\r\n")[2]:
                data = await reader.read(65536)
                assert data, got
                got += data
            cut.go.set()
            while data := await reader.read(65536):
                got += data
        return got
    finally:
        writer.close()


#: An HTTP/1.1 backend's head and first bytes, then its connection closes.
H1_CUTS = pytest.mark.parametrize(
    ("framing", "first"),
    [(b"Content-Length: 100\r\n", b"part"), (b"Transfer-Encoding: chunked\r\n", b"4\r\npart\r\n")],
    ids=["content-length", "chunked"],
)


def _h2c(server: ScriptedH2Server) -> str:
    return server.url.replace("http://", "h2c://")


@pytest.mark.parametrize(
    ("upstream_code", "downstream_code"),
    [
        (INTERNAL_ERROR, INTERNAL_ERROR),
        (CANCEL, CANCEL),
        (PROTOCOL_ERROR, INTERNAL_ERROR),
        (ENHANCE_YOUR_CALM, INTERNAL_ERROR),
    ],
)
async def test_h2_backend_reset_mid_response_resets_h2_downstream(
    stack: Stack, upstream_code: int, downstream_code: int
) -> None:
    cut = CutAfterPart()
    async with ScriptedH2Server([cut.h2_reset(upstream_code)]) as backend:
        proxy, _ = await stack.proxy(simple_proxy_config([_h2c(backend)]))
        assert await _h2_downstream_sees(proxy.port, cut) == downstream_code


async def test_h2_backend_reset_mid_response_cuts_h1_downstream(stack: Stack) -> None:
    cut = CutAfterPart()
    async with ScriptedH2Server([cut.h2_reset(INTERNAL_ERROR)]) as backend:
        proxy, _ = await stack.proxy(simple_proxy_config([_h2c(backend)]))
        got = await _h1_downstream_reads(proxy.port, cut)
    head, _, body = got.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    assert body.startswith(b"4\r\npart\r\n")
    assert not body.endswith(b"0\r\n\r\n")  # the connection closed, no last chunk


@H1_CUTS
@pytest.mark.parametrize("downstream", ["h2", "h1"])
async def test_h1_backend_cut_mid_body_is_cut_downstream(
    stack: Stack, framing: bytes, first: bytes, downstream: str
) -> None:
    cut = CutAfterPart()
    async with ScriptedH1Server([cut.h1_close(framing, first)]) as backend:
        proxy, _ = await stack.proxy(simple_proxy_config([backend.url]))
        if downstream == "h2":
            assert await _h2_downstream_sees(proxy.port, cut) == INTERNAL_ERROR
            return
        got = await _h1_downstream_reads(proxy.port, cut)
    head, _, body = got.partition(b"\r\n\r\n")
    if b"content-length: 100" in head.lower():
        assert body == b"part"  # 4 of 100 bytes, then the connection closed
    else:
        assert b"transfer-encoding: chunked" in head.lower()
        assert body.startswith(b"4\r\npart\r\n")
        assert not body.endswith(b"0\r\n\r\n")
