"""An invalid HTTP/2 connection preface on the shared HTTP/1.1 + h2c port
(issue #13, conformance class 1; RFC 9113 §3.4): once the bytes begin
``PRI * HTTP/2`` the peer has clearly started HTTP/2, so a wrong preface gets
GOAWAY(PROTOCOL_ERROR) and a close -- never an HTTP/1.1 400 -- however the
bytes are split into writes."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest
from server_apps import hello
from server_harness import TEST_DEADLINE, StartServer

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
GOAWAY, PROTOCOL_ERROR = 0x7, 0x1

BAD_PREFACES = {
    "wrong_after_the_request_line": b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n",
    "garbage_after_a_correct_start": b"PRI * HTTP/2.0\r\n\r\nSM\r\nGARBAGE-GARBAGE",
    "wrong_minor_version": b"PRI * HTTP/2.1\r\n\r\nSM\r\n\r\n",
    "not_settings_after_the_preface": PREFACE + b"\x00\x00\x04\x08\x00\x00\x00\x00\x00GARBAGE!",
}


def frames(data: bytes) -> list[tuple[int, bytes]]:
    """(type, payload) of each whole HTTP/2 frame in ``data``; stops at anything else."""
    found = []
    while len(data) >= 9:
        length = int.from_bytes(data[:3], "big")
        if len(data) < 9 + length:
            break
        found.append((data[3], data[9 : 9 + length]))
        data = data[9 + length :]
    return found


async def send_and_read_all(port: int, data: bytes, split: int) -> bytes:
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    received = b""
    try:
        async with asyncio.timeout(TEST_DEADLINE):
            await loop.sock_connect(sock, ("127.0.0.1", port))
            for i in range(0, len(data), split):
                try:
                    await loop.sock_sendall(sock, data[i : i + split])
                except OSError:
                    break  # closed by the server: what it answered is what counts
            while chunk := await loop.sock_recv(sock, 65536):
                received += chunk
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    return received


@pytest.mark.parametrize("split", [1, 3, 7, 1 << 16])
@pytest.mark.parametrize("name", sorted(BAD_PREFACES))
async def test_invalid_preface_gets_goaway_protocol_error(
    start_server: StartServer, name: str, split: int
) -> None:
    run = await start_server(hello)
    received = await send_and_read_all(run.port, BAD_PREFACES[name], split)
    assert not received.startswith(b"HTTP/1.1"), received[:80]
    goaways = [payload for kind, payload in frames(received) if kind == GOAWAY]
    assert goaways, received[:80]
    _, code = struct.unpack(">II", goaways[0][:8])
    assert code == PROTOCOL_ERROR


async def test_a_request_with_another_method_stays_http1(start_server: StartServer) -> None:
    """Only ``PRI * HTTP/2`` switches: other bytes are HTTP/1.1 (a 400 for garbage)."""
    run = await start_server(hello)
    received = await send_and_read_all(run.port, b"PRX * HTTP/2.0\r\n\r\n", 1)
    assert received.startswith(b"HTTP/1.1 400")
