"""Response trailers on the client (RFC 9110 §6.5), against lastcall's own server:
HTTP/1.1 after a chunked body (RFC 9112 §7.1.2), HTTP/2 (RFC 9113 §8.1) and
HTTP/3 (RFC 9114 §4.1). gRPC's status travels there (``grpc-status``), so the
proxy cannot carry gRPC without them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from lastcall_server import answer_lifespan, serving

import lastcall.client as lc
from lastcall.testing.quic_certs import write_self_signed

BOUND = 10.0


@pytest.fixture(scope="module")
def cert_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_self_signed(tmp_path_factory.mktemp("certs"))


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        return await answer_lifespan(receive, send)
    with_trailers = scope["path"] != "/plain"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/grpc")],
            "trailers": with_trailers,
        }
    )
    await send({"type": "http.response.body", "body": b"part one, ", "more_body": True})
    await send({"type": "http.response.body", "body": b"part two", "more_body": with_trailers})
    if with_trailers:
        await send(
            {
                "type": "http.response.trailers",
                "headers": [(b"grpc-status", b"0"), (b"grpc-message", b"all good")],
            }
        )


@pytest.mark.parametrize("protocol", ["h1", "h2", "h3"])
async def test_response_trailers_after_the_body(
    protocol: str, cert_files: tuple[Path, Path]
) -> None:
    expected = lc.Headers([("grpc-status", "0"), ("grpc-message", "all good")])
    async with (
        asyncio.timeout(BOUND),
        serving(app, protocol, cert_files) as (_, client, base),
    ):
        whole = await client.get(base + "/rpc", headers={"te": "trailers"})
        assert whole.http_version == {"h1": "HTTP/1.1", "h2": "HTTP/2", "h3": "HTTP/3"}[protocol]
        assert whole.content == b"part one, part two"
        assert whole.trailers == expected

        async with client.stream("GET", base + "/rpc") as streamed:
            assert len(streamed.trailers) == 0  # not known before the end of the body
            assert await streamed.aread() == b"part one, part two"
            assert streamed.trailers["grpc-status"] == "0"

        plain = await client.get(base + "/plain")
        assert plain.content == b"part one, part two"
        assert len(plain.trailers) == 0


# -- request trailers ------------------------------------------------------------------------
# Servers that report what arrived after the body: the bare engines (HTTP/2, HTTP/3)
# and h11 in the server role (HTTP/1.1, a parser we did not write).

TRAILERS = {"x-checksum": "8a9f", "x-count": "2"}
RAW_TRAILERS = [(b"x-checksum", b"8a9f"), (b"x-count", b"2")]


async def test_request_trailers_over_http2() -> None:
    from lastcall.engines.http2 import events as h2e
    from lastcall.testing.engine_server import EngineServer

    async with (
        asyncio.timeout(BOUND),
        EngineServer() as server,
        lc.Client(http1=False, http2=True) as client,
    ):
        r = await client.request(
            "POST", server.url + "/echo", stream=[b"ab", b"cd"], trailers=TRAILERS
        )
        assert r.content == b"abcd"
        empty = await client.request("POST", server.url + "/echo", trailers=TRAILERS)
        assert empty.content == b""
    trailers = [e.headers for e in server.events if isinstance(e, h2e.TrailersReceived)]
    assert trailers == [RAW_TRAILERS, RAW_TRAILERS]


async def test_request_trailers_over_http3() -> None:
    from aioquic.quic.configuration import QuicConfiguration

    from lastcall.engines.http3 import events as h3e
    from lastcall.testing.h3_loop import H3Request, H3Response, H3TestServer
    from lastcall.testing.quic_certs import make_self_signed

    cert = make_self_signed()
    configuration = QuicConfiguration(
        is_client=False,
        alpn_protocols=["h3"],
        certificate=cert.certificate,
        private_key=cert.private_key,
    )

    async def echo(request: H3Request) -> H3Response:
        return H3Response(200, [], request.body)

    server = H3TestServer(echo, quic_configuration=configuration)
    host, port = await server.start()
    try:
        async with asyncio.timeout(BOUND), lc.Client(http3=True, verify=False) as client:
            r = await client.request(
                "POST", f"https://{host}:{port}/up", content=b"payload", trailers=TRAILERS
            )
            assert r.content == b"payload"
    finally:
        await server.aclose()
    trailers = [e.headers for e in server.of(h3e.TrailersReceived)]
    assert trailers == [RAW_TRAILERS]


async def test_request_trailers_over_http1_follow_a_chunked_body() -> None:
    import h11

    seen: list[tuple[list[tuple[bytes, bytes]], bytes, list[tuple[bytes, bytes]]]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        head: list[tuple[bytes, bytes]] = []
        body = b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Request):
                head = [(bytes(n), bytes(v)) for n, v in event.headers]
            elif isinstance(event, h11.Data):
                body += bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                seen.append((head, body, [(bytes(n), bytes(v)) for n, v in event.headers]))
                break
        writer.write(conn.send(h11.Response(status_code=200, headers=[("content-length", "2")])))
        writer.write(conn.send(h11.Data(data=b"ok")) + conn.send(h11.EndOfMessage()))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with asyncio.timeout(BOUND), lc.Client() as client:
            r = await client.request(
                "PUT", f"http://127.0.0.1:{port}/up", content=b"payload", trailers=TRAILERS
            )
            assert r.content == b"ok"
    finally:
        server.close()
        await server.wait_closed()
    ((head, body, trailers),) = seen
    assert (b"transfer-encoding", b"chunked") in head
    assert not any(name == b"content-length" for name, _ in head)
    assert body == b"payload"
    assert trailers == RAW_TRAILERS
