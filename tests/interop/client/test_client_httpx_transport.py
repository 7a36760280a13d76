"""httpx's own API over ``lastcall.httpx.AsyncTransport`` (HTTP/1.1 scripted server, nginx h2c)."""

from __future__ import annotations

import pathlib
import sys

import httpx
import pytest
from nginx_h2c import nginx_skip_reason, run_nginx

import lastcall.client as lc
import lastcall.httpx

sys.path.insert(0, str(pathlib.Path(__file__).parents[2] / "integration" / "client"))
from scripted_h1 import H1Conn, ScriptedH1Server, echo_forever


async def test_request_response_and_streaming_api() -> None:
    async with (
        ScriptedH1Server([echo_forever]) as server,
        httpx.AsyncClient(transport=lastcall.httpx.AsyncTransport()) as client,
    ):
        r = await client.post(server.url + "/p", content=b"data", headers={"X-T": "1"})
        assert r.status_code == 200 and r.text == "0:POST /p:data"
        assert r.http_version == "HTTP/1.1"
        assert isinstance(r.extensions["lastcall.closing"], lc.ClosingSignal)

        async def gen():  # type: ignore[no-untyped-def]
            yield b"a"
            yield b"b"

        async with client.stream("PUT", server.url + "/s", content=gen()) as streamed:
            chunks = [c async for c in streamed.aiter_bytes()]
        assert b"".join(chunks) == b"0:PUT /s:ab"
        j = await client.get(server.url + "/j", params={"a": "1"})
        assert j.request.url.params["a"] == "1"
        assert j.text == "0:GET /j?a=1:"


async def test_errors_are_httpx_errors() -> None:
    async def silent(conn: H1Conn) -> None:
        await conn.read_request()
        await conn.reader.read()

    async with (
        ScriptedH1Server([silent]) as server,
        httpx.AsyncClient(transport=lastcall.httpx.AsyncTransport()) as client,
    ):
        with pytest.raises(httpx.ReadTimeout) as info:
            await client.get(server.url + "/", timeout=httpx.Timeout(5.0, read=0.05))
        assert type(info.value.__cause__).__name__ == "ReadTimeout"


@pytest.mark.peer("nginx")
@pytest.mark.skipif(nginx_skip_reason() is not None, reason=str(nginx_skip_reason()))
async def test_http2_through_httpx(tmp_path: pathlib.Path) -> None:
    async with run_nginx(tmp_path, keepalive_requests=1000) as url:
        transport = lastcall.httpx.AsyncTransport(http1=False, http2=True)
        async with httpx.AsyncClient(transport=transport) as client:
            r = await client.get(url + "/")
            assert r.http_version == "HTTP/2" and r.text == "ok"
