"""WebSockets to an HTTP/2 backend go as RFC 8441 extended CONNECT streams.

(Their drain, Close(1001) both ways, is in ``test_proxy_drain.py``.)

The backend is lastcall's own server over h2c (it advertises
SETTINGS_ENABLE_CONNECT_PROTOCOL and serves RFC 8441); downstream, the
``websockets`` library (a peer we did not write, HTTP/1.1 Upgrade) and an
HTTP/2 extended CONNECT from lastcall's client. The backend app records the
HTTP version each WebSocket arrived over, so a test can tell a CONNECT stream
("2") from an Upgrade ("1.1").
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import websockets
from proxy_harness import TEST_DEADLINE, Stack
from wsproto import ConnectionType
from wsproto.connection import Connection
from wsproto.events import CloseConnection, TextMessage

from lastcall import Client
from lastcall.client import Request
from lastcall.proxy import simple_proxy_config


class EchoBackend:
    """A WebSocket echo that notes each one's HTTP version and how it was closed."""

    def __init__(self) -> None:
        self.versions: list[str] = []
        self.closed: asyncio.Queue[int] = asyncio.Queue()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        self.versions.append(scope["http_version"])
        chosen = "chat" if "chat" in scope.get("subprotocols", []) else None
        await send({"type": "websocket.accept", "subprotocol": chosen})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                self.closed.put_nowait(message["code"])
                return
            await send({"type": "websocket.send", "text": "echo:" + message["text"]})


async def _h2c_stack(stack: Stack, **proxy_settings: Any) -> tuple[EchoBackend, Any, Any]:
    echo = EchoBackend()
    backend = await stack.backend(echo)
    proxy, app = await stack.proxy(
        simple_proxy_config([f"h2c://127.0.0.1:{backend.port}"]), **proxy_settings
    )
    return echo, proxy, app


async def test_websocket_client_over_upgrade_reaches_h2c_backend_by_connect(
    stack: Stack,
) -> None:
    echo, proxy, app = await _h2c_stack(stack)
    url = f"ws://127.0.0.1:{proxy.port}/ws"
    async with (
        websockets.connect(url, subprotocols=["chat"]) as first,
        websockets.connect(url, subprotocols=["chat"]) as second,
    ):
        assert first.subprotocol == "chat"
        await first.send("one")
        await second.send("two")
        async with asyncio.timeout(TEST_DEADLINE):
            assert await first.recv() == "echo:one"
            assert await second.recv() == "echo:two"
    assert echo.versions == ["2", "2"]
    async with asyncio.timeout(TEST_DEADLINE):
        assert [await echo.closed.get(), await echo.closed.get()] == [1000, 1000]
    # Both were streams of the group's one pooled HTTP/2 connection.
    assert app.state.groups["default"].backends[0].client.stats.connections_opened == 1


async def test_rfc8441_client_reaches_h2c_backend_by_connect(stack: Stack) -> None:
    echo, proxy, _ = await _h2c_stack(stack)
    frames = Connection(ConnectionType.CLIENT)
    outbound: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def body() -> Any:
        while (data := await outbound.get()) is not None:
            yield data

    request = Request(
        "CONNECT",
        f"http://127.0.0.1:{proxy.port}/ws",
        headers=[("sec-websocket-version", "13")],
        stream=body(),
        protocol="websocket",
    )
    async with Client(http2=True, http1=False) as client:
        response = await client.send(request, stream=True)
        try:
            assert response.status_code == 200
            outbound.put_nowait(frames.send(TextMessage("over h2")))
            got: list[Any] = []
            chunks = response.aiter_raw()
            async with asyncio.timeout(TEST_DEADLINE):
                while not got:
                    frames.receive_data(await anext(chunks))
                    got = list(frames.events())
            assert isinstance(got[0], TextMessage) and got[0].data == "echo:over h2"
            outbound.put_nowait(frames.send(CloseConnection(1000)))
            async with asyncio.timeout(TEST_DEADLINE):
                assert await echo.closed.get() == 1000
        finally:
            outbound.put_nowait(None)
            await response.aclose()
    assert echo.versions == ["2"]


async def test_client_extended_connect_needs_the_servers_setting(stack: Stack) -> None:
    """Over HTTP/1.1 (no extended CONNECT at all) the request is refused before a byte is sent."""
    echo = EchoBackend()
    backend = await stack.backend(echo)
    async with Client() as client:
        request = Request("CONNECT", f"http://127.0.0.1:{backend.port}/ws", protocol="websocket")
        with pytest.raises(Exception, match="extended CONNECT"):
            await client.send(request)
        ok = await client.get(f"http://127.0.0.1:{backend.port}/")  # the pool is still usable
        assert ok.status_code in (200, 404, 500)
    assert echo.versions == []
