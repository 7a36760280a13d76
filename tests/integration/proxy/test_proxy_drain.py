"""The proxy's own drain: downstream first, exchanges in flight finish, upstream pools last."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import websockets
from proxy_harness import TEST_DEADLINE, Stack

from lastcall import Client
from lastcall.observe import events as oe
from lastcall.proxy import simple_proxy_config


class Gate:
    """A backend app whose streaming response goes on only when the test says so."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.go = asyncio.Event()
        self.ws_closed: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.ws_version: str | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            await receive()
            self.ws_version = scope["http_version"]
            await send({"type": "websocket.accept"})
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    self.ws_closed.set_result(message["code"])
                    return
                await send({"type": "websocket.send", "text": "echo:" + message["text"]})
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first,", "more_body": True})
        self.started.set()
        await self.go.wait()
        await send({"type": "http.response.body", "body": b"last"})


async def test_in_flight_stream_finishes_then_pools_close(stack: Stack) -> None:
    gate = Gate()
    backend = await stack.backend(gate)
    proxy, app = await stack.proxy(
        simple_proxy_config([f"h2c://127.0.0.1:{backend.port}"]), graceful_timeout=TEST_DEADLINE
    )
    async with Client(http2=True, http1=False) as client:
        async with client.stream("GET", f"http://127.0.0.1:{proxy.port}/s") as response:
            chunks = response.aiter_bytes()
            assert await anext(chunks) == b"first,"
            proxy.server.drain(reason="test")
            await proxy.events.wait_for("goaway_sent", 2)  # first and final GOAWAY downstream
            await response.closing  # the downstream client heard of it
            # The upstream side is untouched while the downstream drains.
            upstream = app.state.groups["default"].backends[0].client
            assert not upstream.is_closed
            gate.go.set()
            rest = [chunk async for chunk in chunks]
        assert b"".join(rest) == b"last"
    assert await proxy.exit_code() == 0
    assert upstream.is_closed
    names = proxy.recorder.names()
    assert names.index("drained") < names.index("lifespan_shutdown")
    assert not proxy.recorder.of_type(oe.GraceExpired)


@pytest.mark.parametrize(("scheme", "upstream_version"), [("http", "1.1"), ("h2c", "2")])
async def test_websocket_gets_the_drain_notice_both_ways(
    stack: Stack, scheme: str, upstream_version: str
) -> None:
    """Over an HTTP/1.1 Upgrade upstream and over an RFC 8441 CONNECT stream alike;
    the upstream pool closes after."""
    gate = Gate()
    backend = await stack.backend(gate)
    proxy, app = await stack.proxy(
        simple_proxy_config([f"{scheme}://127.0.0.1:{backend.port}"]),
        graceful_timeout=TEST_DEADLINE,
    )
    async with websockets.connect(f"ws://127.0.0.1:{proxy.port}/ws") as ws:
        await ws.send("hi")
        assert await ws.recv() == "echo:hi"
        proxy.server.drain(reason="test")
        async with asyncio.timeout(TEST_DEADLINE):
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    async with asyncio.timeout(TEST_DEADLINE):
        assert await gate.ws_closed == 1001  # the backend got the notice from us
    assert await proxy.exit_code() == 0
    assert gate.ws_version == upstream_version
    assert app.state.groups["default"].backends[0].client.is_closed


async def test_backend_close_codes_reach_the_client(stack: Stack) -> None:
    backend = await stack.backend()
    proxy, _ = await stack.proxy(simple_proxy_config([f"http://127.0.0.1:{backend.port}"]))
    async with websockets.connect(f"ws://127.0.0.1:{proxy.port}/ws", subprotocols=None) as ws:
        await ws.send(b"\x00bytes")
        assert await ws.recv() == b"\x00bytes"
        await ws.send("close")  # echo_app closes with 4000
        async with asyncio.timeout(TEST_DEADLINE):
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000


async def test_rfc8441_websocket_downstream_is_relayed(stack: Stack) -> None:
    """An HTTP/2 extended CONNECT WebSocket (RFC 8441) reaches an HTTP/1.1 backend's."""
    from lastcall.testing.h2_raw_client import DATA, HEADERS, RawH2Client

    backend = await stack.backend()
    proxy, _ = await stack.proxy(simple_proxy_config([f"http://127.0.0.1:{backend.port}"]))
    client = await RawH2Client.connect("127.0.0.1", proxy.port)
    try:
        sid = client.request(
            "/ws",
            "CONNECT",
            extra=[(":protocol", "websocket"), ("sec-websocket-version", "13")],
            open_ended=True,
        )
        await client.read_until(HEADERS, stream_id=sid)
        assert client.status(sid) == b"200"
        payload = b"over h2"
        mask = b"\x01\x02\x03\x04"
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        client.send_frame(DATA, 0, sid, bytes([0x81, 0x80 | len(payload)]) + mask + masked)
        async with asyncio.timeout(TEST_DEADLINE):
            while client.body(sid)[2:] != payload:
                await client.read_until(DATA, stream_id=sid)
        assert client.body(sid)[:2] == bytes([0x81, len(payload)])  # a text frame, unmasked
    finally:
        await client.aclose()


async def test_a_message_right_behind_the_backends_101_is_relayed(stack: Stack) -> None:
    backend = await stack.backend()
    proxy, _ = await stack.proxy(simple_proxy_config([f"http://127.0.0.1:{backend.port}"]))
    async with websockets.connect(f"ws://127.0.0.1:{proxy.port}/greet") as ws:
        async with asyncio.timeout(TEST_DEADLINE):
            assert await ws.recv() == "hello"
