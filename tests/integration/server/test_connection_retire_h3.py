"""HTTP/3 connections drain by themselves too (max age, max requests), with aioquic's client.

The same contract as a server drain on that one connection (RFC 9114 §5.2):
GOAWAY with the maximum id, the final id after a round trip, accepted
requests answered, CONNECTION_CLOSE(H3_NO_ERROR); the reason is in the
``connection_draining`` event and the app's ``lastcall.drain`` (HTTP/3's
GOAWAY has no debug data).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("aioquic")

from h3_client import H3Client, h3_connect
from server_apps import ReasonApp
from server_harness import Running, StartServer

from lastcall.engines.http3 import MAX_CLIENT_BIDI_STREAM_ID, ErrorCode
from lastcall.observe import events as oe
from lastcall.testing.quic_certs import write_self_signed

pytestmark = pytest.mark.peer("aioquic")


@pytest.fixture(scope="module")
def cert_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_self_signed(tmp_path_factory.mktemp("certs"))


async def h3_server(
    start_server: StartServer, cert_files: tuple[Path, Path], **settings: object
) -> Running:
    certfile, keyfile = cert_files
    return await start_server(
        ReasonApp(),
        quic_bind=["127.0.0.1:0"],
        certfile=str(certfile),
        keyfile=str(keyfile),
        **settings,
    )


async def test_h3_max_requests_drains_after_the_last_one(
    start_server: StartServer, cert_files: tuple[Path, Path]
) -> None:
    run = await h3_server(start_server, cert_files, max_requests_per_connection=2)
    async with h3_connect(run, cert_files[0]) as client:
        assert isinstance(client, H3Client)
        first = client.request(b"/")
        await client.wait_for(lambda: client.is_complete(first))
        assert client.goaway_ids() == []
        last = client.request(b"/")
        await client.wait_for(lambda: client.close_code() is not None)
        assert client.body(last) == (b"ok", True)
        assert client.close_code() == int(ErrorCode.H3_NO_ERROR)
        assert client.goaway_ids() == [MAX_CLIENT_BIDI_STREAM_ID, last + 4]
    assert [e.reason for e in run.recorder.of_type(oe.ConnectionDraining)] == ["max_requests"]


async def test_h3_max_age_tells_the_app_and_drains(
    start_server: StartServer, cert_files: tuple[Path, Path]
) -> None:
    run = await h3_server(start_server, cert_files, max_connection_age=0.2)
    async with h3_connect(run, cert_files[0]) as client:
        assert isinstance(client, H3Client)
        waiting = client.request(b"/wait-drain")
        await client.wait_for(lambda: client.close_code() is not None)
        assert client.body(waiting) == (b"max_age", True)
        assert client.goaway_ids() == [MAX_CLIENT_BIDI_STREAM_ID, waiting + 4]
    assert [e.reason for e in run.recorder.of_type(oe.ConnectionDraining)] == ["max_age"]
    assert not run.server.controller.is_draining
