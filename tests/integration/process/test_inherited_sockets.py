"""Sockets bound by someone else: ``--fd N`` and systemd socket activation (``LISTEN_FDS``).

The parent here plays circus or systemd: it binds and listens, then starts
``lastcall serve`` with the socket as descriptor 3. Connections made *before*
the server starts wait in the accept queue and are answered: that is the
point of a socket owned outside the server.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys

import pytest
from process_harness import HERE, STEP_TIMEOUT, Supervised


async def _serve_inherited(
    sock: socket.socket, *args: str, env: dict[str, str] | None = None, systemd: bool = False
) -> Supervised:
    """Start lastcall serve with ``sock`` as descriptor 3 (and LISTEN_* set for systemd)."""
    code = (
        "import os, sys, runpy;"
        f"os.dup2({sock.fileno()}, 3);"
        + ("os.environ['LISTEN_PID'] = str(os.getpid());" if systemd else "")
        + "sys.argv = ['lastcall', 'serve', *sys.argv[1:]];"
        "runpy.run_module('lastcall', run_name='__main__')"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, "process_apps:app", *args,
        stdin=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, cwd=HERE,
        pass_fds=[sock.fileno()],
        env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    return Supervised(proc)


async def _get_on(client: socket.socket) -> bytes:
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(client, b"GET /pid HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    data = b""
    async with asyncio.timeout(STEP_TIMEOUT):
        while chunk := await loop.sock_recv(client, 65536):
            data += chunk
    return data


@pytest.mark.parametrize(
    ("args", "systemd"),
    [
        (("--fd", "3"), False),
        (("--fd", "3", "--workers", "2"), False),
        ((), True),
    ],
    ids=["fd", "fd-workers", "systemd-listen-fds"],
)
async def test_inherited_socket_serves_what_queued_before_start(
    args: tuple[str, ...], systemd: bool
) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    early = socket.create_connection(("127.0.0.1", port))  # queued: nobody accepts yet
    early.setblocking(False)
    env = {"LISTEN_FDS": "1"} if systemd else None
    server = await _serve_inherited(listener, *args, "--graceful-timeout", "2", env=env,
                                    systemd=systemd)  # fmt: skip
    listener.close()  # the server's copy is the only one left
    try:
        await server.wait_line(rf"INFO lastcall.drain: serving on 127\.0\.0\.1:{port}")
        response = await _get_on(early)
        assert response.startswith(b"HTTP/1.1 200"), response
    finally:
        early.close()
        code = await server.stop()
    assert code == 0
