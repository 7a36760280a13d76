"""The bare HTTP/2 engine against real peers we did not write: nghttp, curl, h2load.

A minimal asyncio loop (``lastcall.testing.engine_server``) puts the engine on
a socket; the peers talk h2c with prior knowledge. Every subprocess has a
timeout and every wait is for an event, never a guessed sleep. A test is
skipped only when its binary is not installed.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import pytest

from lastcall.engines.http2 import events as ev
from lastcall.testing.engine_server import HELLO, EngineServer

MAX_ID = 2**31 - 1


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed (Debian: apt-get install nghttp2-client / curl)")
    return path


PEER_TIMEOUT = 30.0  # seconds any one peer process may take
WAIT_TIMEOUT = 10.0  # seconds to wait for one server-side event


async def run(*argv: str) -> tuple[int, str, str]:
    """Run a peer to completion, killed if it outlives ``PEER_TIMEOUT``."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with asyncio.timeout(PEER_TIMEOUT):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


# -- nghttp ------------------------------------------------------------------------------------


@pytest.mark.peer("nghttp")
async def test_nghttp_get() -> None:
    nghttp = need("nghttp")
    async with EngineServer() as server:
        code, out, err = await run(nghttp, "-v", server.url + "/")
    assert code == 0, err
    assert HELLO.decode() in out
    assert "recv SETTINGS frame" in out
    assert re.search(r"recv \(stream_id=\d+\) :status: 200", out), out
    assert re.search(r"recv DATA frame <length=20, flags=0x01, stream_id=\d+>", out), out
    assert "recv GOAWAY" not in out
    assert any(isinstance(e, ev.RequestReceived) for e in server.events)


@pytest.mark.peer("nghttp")
async def test_nghttp_many_requests_and_a_large_body() -> None:
    nghttp = need("nghttp")
    async with EngineServer() as server:
        urls = [server.url + "/size/300000", *(server.url + f"/n{i}" for i in range(20))]
        code, out, err = await run(nghttp, "-n", "-s", *urls)
    assert code == 0, err
    # -s prints one line per response with its size; all 21 completed with status 200.
    rows = re.findall(r"^\s*id\s+responseEnd", out, re.M)
    assert rows, out
    assert len(re.findall(r"\s200\s", out)) == 21, out


@pytest.mark.peer("nghttp")
async def test_nghttp_sees_both_goaways_while_a_slow_stream_completes() -> None:
    """The drain: GOAWAY(2^31-1) and PING while /slow is in flight, the PING ACK,
    GOAWAY(real id), then the slow response completes and the connection closes."""
    nghttp = need("nghttp")
    async with EngineServer() as server:
        proc = await asyncio.create_subprocess_exec(
            nghttp,
            "-v",
            server.url + "/slow",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(WAIT_TIMEOUT):
                await server.slow_request_received.wait()
            request = next(e for e in server.events if isinstance(e, ev.RequestReceived))
            server.drain(b"drain")
            async with asyncio.timeout(WAIT_TIMEOUT):
                final = await server.wait_for(lambda e: isinstance(e, ev.GoAwaySent) and e.final)
            assert isinstance(final, ev.GoAwaySent)
            assert final.last_processed_id == request.stream_id
            # The final GOAWAY came from nghttp's PING ACK, well before the 1 s allowance.
            assert any(isinstance(e, ev.PingAcknowledged) for e in server.events)
            assert not any(isinstance(e, ev.DrainCompleted) for e in server.events)
            server.release()
            async with asyncio.timeout(WAIT_TIMEOUT):
                await server.wait_for(lambda e: isinstance(e, ev.DrainCompleted))
            async with asyncio.timeout(PEER_TIMEOUT):
                out_b, err_b = await proc.communicate()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    out, err = out_b.decode(), err_b.decode()
    assert proc.returncode == 0, out + err
    goaways = re.findall(r"recv GOAWAY frame.*\n\s*\(last_stream_id=(\d+), error_code=(\w+)\(", out)
    assert goaways == [(str(MAX_ID), "NO_ERROR"), (str(request.stream_id), "NO_ERROR")], out
    first = out.index("recv GOAWAY")
    assert out.index("recv PING frame", first) < out.index("recv GOAWAY", first + 1)
    assert "opaque_data(5)=[drain]" in out
    # The response to the slow request arrived after both GOAWAYs, complete.
    second = out.index("recv GOAWAY", first + 1)
    assert re.search(r"recv \(stream_id=\d+\) :status: 200", out[second:]), out
    assert HELLO.decode() in out[second:]
    assert re.search(
        rf"recv DATA frame <length=20, flags=0x01, stream_id={request.stream_id}>", out
    )


# -- curl ---------------------------------------------------------------------------------------


@pytest.mark.peer("curl")
async def test_curl_prior_knowledge() -> None:
    curl = need("curl")
    async with EngineServer() as server:
        code, out, err = await run(
            curl,
            "-sS",
            "--http2-prior-knowledge",
            "-w",
            "\n%{http_version} %{http_code}",
            server.url + "/",
        )
    assert code == 0, err
    assert out == HELLO.decode() + "\n2 200"


@pytest.mark.peer("curl")
async def test_curl_post_echo_with_flow_control(tmp_path: Path) -> None:
    """A 1 MiB upload and its echo: both directions need WINDOW_UPDATEs."""
    curl = need("curl")
    payload = bytes(range(256)) * 4096
    upload = tmp_path / "upload.bin"
    upload.write_bytes(payload)
    download = tmp_path / "download.bin"
    async with EngineServer() as server:
        code, out, err = await run(
            curl,
            "-sS",
            "--http2-prior-knowledge",
            "--data-binary",
            f"@{upload}",
            "-o",
            str(download),
            "-w",
            "%{http_code} %{size_download}",
            server.url + "/echo",
        )
    assert code == 0, err
    assert out == f"200 {len(payload)}"
    assert download.read_bytes() == payload


# -- h2load ---------------------------------------------------------------------------------------


@pytest.mark.peer("h2load")
async def test_h2load_200_requests() -> None:
    h2load = need("h2load")
    async with EngineServer() as server:
        code, out, err = await run(h2load, "-n", "200", "-c", "2", "-m", "10", server.url + "/")
    assert code == 0, out + err
    assert re.search(
        r"requests: 200 total, 200 started, 200 done, 200 succeeded, 0 failed, 0 errored", out
    ), out
    assert re.search(r"status codes: 200 2xx, 0 3xx, 0 4xx, 0 5xx", out), out
    assert sum(isinstance(e, ev.RequestReceived) for e in server.events) == 200
