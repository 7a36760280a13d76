"""``access_log`` over HTTP/3: the same ``lastcall.access`` line as HTTP/1.1 and HTTP/2.

The peer is aioquic's client, through ``test_http3``'s ``H3Client``. The line
is logged before the response's last frame is sent, so waiting for the
client to see each stream end is enough: no wait is for time.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

pytest.importorskip("aioquic")

from server_harness import StartServer
from test_http3 import H3Client, SlowApp, h3_connect

from lastcall.testing.quic_certs import write_self_signed

pytestmark = pytest.mark.peer("aioquic")


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_self_signed(tmp_path_factory.mktemp("certs"))


async def test_http3_requests_write_access_lines(
    start_server: StartServer, certs: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lastcall.access")
    certfile, keyfile = certs
    app = SlowApp()
    run = await start_server(
        app,
        quic_bind=["127.0.0.1:0"],
        certfile=str(certfile),
        keyfile=str(keyfile),
        access_log=True,
    )
    async with h3_connect(run, certfile) as client:
        assert isinstance(client, H3Client)
        get = client.request(b"/hello?x=1")
        await client.wait_for(lambda: client.is_complete(get))
        echo = client.request(b"/echo", b"POST", b"ping")  # its response ends with trailers
        await client.wait_for(lambda: client.is_complete(echo))
    host, port = app.scopes[0]["client"]
    assert [r.getMessage() for r in caplog.records if r.name == "lastcall.access"] == [
        f'{host}:{port} - "GET /hello?x=1 HTTP/3" 200',
        f'{host}:{port} - "POST /echo HTTP/3" 201',
    ]
