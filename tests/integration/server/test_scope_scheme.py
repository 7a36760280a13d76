"""``scope["scheme"]`` over HTTP/2 says what the connection is, not what the client claims.

A plain-text h2c client may send ``:scheme https``. Believing it would let any
client tell the application (and ``lastcall proxy``'s X-Forwarded-Proto) that
the request came over TLS: secure-cookie and redirect logic would trust a
claim nobody checked. Only a trusted proxy (``--proxy-headers`` and
``--forwarded-allow-ips``), which terminates TLS in front of us and speaks h2c
onwards, may say the original scheme, as it may with X-Forwarded-Proto.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h2.config
import h2.connection
import h2.events
from server_harness import TEST_DEADLINE, StartServer

from lastcall.server.asgi import Receive, Scope, Send


async def scheme_echo(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    body = json.dumps({"scheme": scope["scheme"]}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def ask_h2c(port: int, claimed_scheme: bytes) -> dict[str, Any]:
    """One h2c request with ``:scheme`` = ``claimed_scheme``; the decoded JSON answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    conn.send_headers(
        1,
        [
            (b":method", b"GET"),
            (b":scheme", claimed_scheme),
            (b":authority", b"localhost"),
            (b":path", b"/"),
        ],
        end_stream=True,
    )
    writer.write(conn.data_to_send())
    body = b""
    try:
        async with asyncio.timeout(TEST_DEADLINE):
            while True:
                data = await reader.read(65536)
                assert data, "the server closed before answering"
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.DataReceived):
                        body += event.data
                        conn.acknowledge_received_data(len(event.data), 1)
                    elif isinstance(event, h2.events.StreamEnded):
                        result: dict[str, Any] = json.loads(body)
                        return result
                writer.write(conn.data_to_send())
    finally:
        writer.close()


async def test_a_plain_text_client_cannot_claim_https(start_server: StartServer) -> None:
    run = await start_server(scheme_echo)
    assert await ask_h2c(run.port, b"https") == {"scheme": "http"}


async def test_a_trusted_proxy_may_say_the_original_scheme(start_server: StartServer) -> None:
    run = await start_server(scheme_echo, proxy_headers=True, forwarded_allow_ips="127.0.0.1")
    assert await ask_h2c(run.port, b"https") == {"scheme": "https"}


async def test_an_untrusted_peer_with_proxy_headers_on_is_not_believed(
    start_server: StartServer,
) -> None:
    run = await start_server(scheme_echo, proxy_headers=True, forwarded_allow_ips="192.0.2.1")
    assert await ask_h2c(run.port, b"https") == {"scheme": "http"}
