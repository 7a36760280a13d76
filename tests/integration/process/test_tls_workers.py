"""TLS behind the supervisor: workers serve the inherited sockets with the same TLS
settings as a lone server -- certificates, ALPN, the handshake timeout -- and worker 0
serves HTTP/3 on the supervisor's UDP socket."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

from process_harness import STEP_TIMEOUT, start_supervised

from lastcall import Client
from lastcall.testing.quic_certs import write_self_signed


async def test_workers_serve_tls_and_bound_idle_handshakes(tmp_path: Path) -> None:
    cert, key = write_self_signed(tmp_path)
    server = await start_supervised(
        "--workers", "2", "--certfile", str(cert), "--keyfile", str(key),
        "--tls-handshake-timeout", "0.5", "--graceful-timeout", "2",
        "--quic-bind", "127.0.0.1:0",
    )  # fmt: skip
    try:
        # HTTP/3: worker 0 serves the supervisor's UDP socket.
        quic_port = int(server.matching(r"INFO lastcall.drain: serving on .*:(\d+)/udp")[0][1])
        async with Client(http1=False, http3=True, verify=False) as client:
            response = await client.get(f"https://127.0.0.1:{quic_port}/")
            assert (response.status_code, response.http_version) == (200, "HTTP/3")
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.set_alpn_protocols(["h2", "http/1.1"])
        _, writer = await asyncio.open_connection("127.0.0.1", server.port, ssl=context)
        assert writer.get_extra_info("ssl_object").selected_alpn_protocol() == "h2"
        writer.close()
        # A peer that never sends a ClientHello is closed after the handshake timeout
        # (not asyncio's 60 s default), by whichever worker accepted it.
        idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", server.port)
        async with asyncio.timeout(STEP_TIMEOUT):
            assert await idle_reader.read() == b""
        idle_writer.close()
    finally:
        assert await server.stop() == 0
