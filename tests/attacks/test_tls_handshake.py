"""Slowloris on the TLS handshake: peers that connect and never send a ClientHello.

Such a peer holds a socket and ~50 KiB of TLS buffers. Two limits bound them:
``tls_handshake_timeout`` in time (before it existed, asyncio's 60 s default
applied: 3,000 idle peers held 2,934 descriptors and 156 MB of the server for
a minute), and ``max_connections`` in number, since the server runs the
handshake itself and counts it from accept (``server/tls_handshakes.py``).
A real client is served meanwhile and afterwards, on uvloop and on asyncio.
"""

from __future__ import annotations

import asyncio
import pathlib
import ssl
import time

import pytest
from attack_kit import WAIT_TIMEOUT, Bystander, refused_at_accept, served

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


def _insecure() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def _https_get(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=_insecure())
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


#: ``--max-connections`` of the test below: the bystander and the idle handshakes.
CAP = 100
PAST_THE_CAP = 20


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
async def test_handshakes_in_progress_count_against_max_connections(
    tmp_path: pathlib.Path, loop: str
) -> None:
    """A TLS bystander holds one slot, peers that never send a ClientHello hold
    the rest, and every connection past the cap is closed at accept, not
    after the (here 60 s) handshake timeout. Before, a handshake was counted
    only once over, so these were all accepted and held. Once the idle peers
    leave, their slots come back."""
    cert, key = write_self_signed(tmp_path)
    args = ["--certfile", str(cert), "--keyfile", str(key), "--tls-handshake-timeout", "60"]
    args += ["--max-connections", str(CAP)]
    async with served(*args, loop=loop) as server:
        async with Bystander(server.port, tls=_insecure()) as bystander:
            await bystander.wait_answers(3)  # handshake done: it holds a slot
            peers = [
                await asyncio.open_connection("127.0.0.1", server.port) for _ in range(CAP - 1)
            ]
            answers = await asyncio.gather(
                *(refused_at_accept(server.port) for _ in range(PAST_THE_CAP))
            )
            assert answers == [b""] * PAST_THE_CAP  # closed at once, nothing sent
            await server.wait_for_log("connection limit reached")
            await bystander.wait_answers(5)
            for _, writer in peers:
                writer.close()
            # The slots come back as the server sees each peer go (one event each).
            async with asyncio.timeout(WAIT_TIMEOUT):
                while True:
                    try:
                        if await _https_get(server.port) == b"HTTP/1.1 200 OK":
                            break
                    except (ConnectionError, ssl.SSLError):
                        continue  # refused at accept: the server has not seen them all go yet
            await bystander.wait_answers(3)
        assert not bystander.failures, bystander.failures
