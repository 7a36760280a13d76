"""Slowloris on the TLS handshake: peers that connect and never send a ClientHello.

The loop runs a listener's TLS handshake before the server hears of the
connection, so such a peer holds a socket and ~50 KiB of TLS buffers where
``max_connections`` cannot see it; ``tls_handshake_timeout`` is what bounds
it. Before it existed, asyncio's 60 s default applied: 3,000 idle peers held
2,934 descriptors and 156 MB of the server for a minute. A real client is
served meanwhile and afterwards.
"""

from __future__ import annotations

import asyncio
import pathlib
import ssl
import time

from attack_kit import served

from lastcall.testing.quic_certs import write_self_signed

IDLE_PEERS = 60
HANDSHAKE_TIMEOUT = 1.0
#: Bound on waiting for the server to close a connection (generous: a loaded machine).
CLOSE_WITHIN = 20.0


async def _closed_by_server(reader: asyncio.StreamReader, started: float) -> float:
    """Seconds from ``started`` (just before the connect) until the server
    closed this never-speaking connection. From the connect, not from when we
    start waiting: opening 60 peers on a loaded machine took over half the
    timeout, and the first ones were then closed "early"."""
    async with asyncio.timeout(CLOSE_WITHIN):
        try:
            while await reader.read(1024):
                pass
        except ConnectionError:
            pass
    return time.monotonic() - started


async def _https_get(port: int) -> bytes:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    writer.write(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    async with asyncio.timeout(10):
        answer = await reader.read()
    writer.close()
    return answer.split(b"\r\n", 1)[0]


async def test_idle_handshakes_are_closed_after_the_handshake_timeout(
    tmp_path: pathlib.Path,
) -> None:
    cert, key = write_self_signed(tmp_path)
    args = ["--certfile", str(cert), "--keyfile", str(key)]
    args += ["--tls-handshake-timeout", str(HANDSHAKE_TIMEOUT)]
    async with served(*args) as server:
        peers = []
        waits = []
        for _ in range(IDLE_PEERS):
            started = time.monotonic()
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            peers.append((reader, writer))
            waits.append(asyncio.create_task(_closed_by_server(reader, started)))
        # Served while they wait.
        assert await _https_get(server.port) == b"HTTP/1.1 200 OK"
        closed = await asyncio.gather(*waits)
        # Not before the timeout, and not long after (asyncio's default was 60 s).
        assert min(closed) > HANDSHAKE_TIMEOUT * 0.5, sorted(closed)
        assert max(closed) < CLOSE_WITHIN, sorted(closed)
        for _, writer in peers:
            writer.close()
        assert await _https_get(server.port) == b"HTTP/1.1 200 OK"
