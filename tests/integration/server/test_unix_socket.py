"""Serving on ``unix:PATH``: what the ASGI scope says about the peer and ourselves."""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from server_harness import TEST_DEADLINE, RawClient, StartServer

from lastcall.server.asgi import Receive, Scope, Send


async def scope_echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with what the scope says about the two ends."""
    if scope["type"] != "http":
        return
    body = json.dumps(
        {"server": scope["server"], "client": scope["client"], "scheme": scope["scheme"]}
    ).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def socket_path() -> Iterator[str]:
    # Short on purpose: an AF_UNIX path is limited to 107 bytes, and pytest's
    # tmp_path can be longer than that.
    with tempfile.TemporaryDirectory(prefix="lc-") as directory:
        yield str(Path(directory) / "s.sock")


async def ask(path: str, headers: bytes = b"") -> dict[str, Any]:
    reader, writer = await asyncio.open_unix_connection(path)
    client = RawClient(reader, writer)
    try:
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n" + headers + b"Connection: close\r\n\r\n")
        status, _, body = await client.response()
        assert status.startswith(b"HTTP/1.1 200"), status
        result: dict[str, Any] = json.loads(body)
        return result
    finally:
        await client.aclose()


async def test_unix_socket_scope_server_is_path_and_none(
    start_server: StartServer, socket_path: str
) -> None:
    await start_server(scope_echo, bind=[f"unix:{socket_path}"])
    async with asyncio.timeout(TEST_DEADLINE):
        seen = await ask(socket_path)
    # ASGI: ``server`` is ``[path, None]`` on a unix socket; ``client`` is None.
    assert seen == {"server": [socket_path, None], "client": None, "scheme": "http"}


# -- --proxy-headers: the nginx -> unix socket setup -------------------------------------

FORWARDED = b"X-Forwarded-For: 203.0.113.7, 127.0.0.1\r\nX-Forwarded-Proto: https\r\n"


async def test_proxy_headers_are_trusted_from_a_unix_socket_peer(
    start_server: StartServer, socket_path: str
) -> None:
    await start_server(scope_echo, bind=[f"unix:{socket_path}"], proxy_headers=True)
    async with asyncio.timeout(TEST_DEADLINE):
        seen = await ask(socket_path, FORWARDED)
    assert seen["client"] == ["203.0.113.7", 0]
    assert seen["scheme"] == "https"


async def test_without_proxy_headers_a_unix_peer_is_not_believed(
    start_server: StartServer, socket_path: str
) -> None:
    await start_server(scope_echo, bind=[f"unix:{socket_path}"])
    async with asyncio.timeout(TEST_DEADLINE):
        seen = await ask(socket_path, FORWARDED)
    assert (seen["client"], seen["scheme"]) == (None, "http")


async def test_an_untrusted_tcp_peer_is_still_not_believed(start_server: StartServer) -> None:
    run = await start_server(
        scope_echo, proxy_headers=True, forwarded_allow_ips="192.0.2.1", lingering_close_timeout=0
    )
    client = await run.open()
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n" + FORWARDED + b"Connection: close\r\n\r\n")
    _, _, body = await client.response()
    seen = json.loads(body)
    assert seen["client"][0] == "127.0.0.1" and seen["scheme"] == "http"


class FakeTransport:
    """Just enough of a transport for ``attach``: fixed addresses, records close()."""

    def __init__(self, sockname: object, peername: object) -> None:
        self.extra = {"sockname": sockname, "peername": peername}
        self.closed = False

    def get_extra_info(self, name: str, default: object = None) -> object:
        return self.extra.get(name, default)

    def close(self) -> None:
        self.closed = True


async def test_tcp_connection_without_a_peer_address_is_closed_not_trusted() -> None:
    """getpeername() fails once a TCP peer has reset: such a connection must not
    pass for a unix-socket one, whose X-Forwarded-For would be believed."""
    from lastcall.lifecycle import ConnectionRegistry
    from lastcall.observe import EventRecorder, Observer
    from lastcall.server.config import ServerConfig
    from lastcall.server.connection import ConnectionBase
    from lastcall.server.state import ServerState

    loop = asyncio.get_running_loop()
    recorder = EventRecorder()
    state = ServerState(
        ServerConfig(proxy_headers=True),
        scope_echo,
        loop,
        Observer([recorder]),
        ConnectionRegistry(),
    )
    gone, unix = ConnectionBase(state), ConnectionBase(state)
    gone_transport = FakeTransport(("127.0.0.1", 8000), None)
    unix_transport = FakeTransport("/run/app.sock", "")
    gone.attach(gone_transport)  # type: ignore[arg-type]
    unix.attach(unix_transport)  # type: ignore[arg-type]
    assert gone_transport.closed and gone.label.endswith(" gone")
    assert not unix_transport.closed and unix.label.endswith(" unix")
    assert unix.server == ("/run/app.sock", None) and unix.client is None
