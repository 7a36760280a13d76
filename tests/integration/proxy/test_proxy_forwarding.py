"""Forwarding over real sockets: HTTP/1.1 and HTTP/2 downstream, http:// and h2c:// upstream."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from proxy_harness import Stack

from lastcall import Client
from lastcall.proxy import simple_proxy_config

UPSTREAMS = ["http", "h2c"]
DOWNSTREAMS = ["h1", "h2"]


def _client(downstream: str) -> Client:
    return Client(http1=downstream == "h1", http2=downstream == "h2")


@pytest.mark.parametrize("upstream", UPSTREAMS)
@pytest.mark.parametrize("downstream", DOWNSTREAMS)
async def test_request_and_headers_are_forwarded(
    stack: Stack, upstream: str, downstream: str
) -> None:
    backend = await stack.backend()
    proxy, _ = await stack.proxy(simple_proxy_config([f"{upstream}://127.0.0.1:{backend.port}"]))
    async with _client(downstream) as client:
        response = await client.get(
            f"http://127.0.0.1:{proxy.port}/a%20b?x=1",
            headers={
                "x-app": "yes",
                "x-forwarded-for": "192.0.2.1",
                "connection": "x-hop" if downstream == "h1" else "",
                "x-hop": "secret",
                "te": "trailers",
            },
        )
    assert response.status_code == 200
    assert response.headers["via"] == ("1.1" if upstream == "http" else "2") + " lastcall"
    if upstream == "http":  # the backend named x-drop in Connection (HTTP/2 drops Connection)
        assert "x-drop" not in response.headers
    seen = response.json()
    headers = dict(seen["headers"])
    assert seen["target"] == "/a%20b?x=1"
    assert seen["http_version"] == ("1.1" if upstream == "http" else "2")
    assert headers["host"] == f"127.0.0.1:{proxy.port}"
    assert headers["x-app"] == "yes"
    assert headers["x-forwarded-for"] == "192.0.2.1, 127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["via"] == ("1.1" if downstream == "h1" else "2") + " lastcall"
    assert headers["te"] == "trailers"
    if downstream == "h1":
        assert "x-hop" not in headers
    assert "connection" not in headers and "transfer-encoding" not in headers


@pytest.mark.parametrize("upstream", UPSTREAMS)
@pytest.mark.parametrize("downstream", DOWNSTREAMS)
async def test_bodies_stream_both_ways(stack: Stack, upstream: str, downstream: str) -> None:
    """2.6 MB up and 2.6 MB down, far beyond every window: backpressure, nothing lost.

    (Each direction on its own: a body that streams both ways at once needs a
    client that reads the response while it still sends, which the lastcall
    client does not do yet.)"""
    backend = await stack.backend()
    proxy, _ = await stack.proxy(
        simple_proxy_config([f"{upstream}://127.0.0.1:{backend.port}"], retry_buffer_size=1024)
    )
    chunks = [bytes([i]) * 65536 for i in range(40)]
    url = f"http://127.0.0.1:{proxy.port}"
    async with _client(downstream) as client:
        up = await client.post(url + "/json", stream=list(chunks))
        async with client.stream("GET", url + "/download?40") as response:
            got = b"".join([chunk async for chunk in response.aiter_bytes()])
        small = await client.post(url + "/json", content=b"abc")
    assert up.json()["body_sha256"] == hashlib.sha256(b"".join(chunks)).hexdigest()
    assert response.status_code == 200
    assert got == b"".join(chunks)
    seen = small.json()
    assert seen["body_length"] == 3
    assert dict(seen["headers"])["content-length"] == "3"


async def test_no_route_is_404_and_status_passes_through(stack: Stack) -> None:
    from lastcall.proxy import ProxyConfig, RouteConfig, UpstreamConfig

    backend = await stack.backend()
    group = UpstreamConfig("a", (f"http://127.0.0.1:{backend.port}",))
    config = ProxyConfig({"a": group}, (RouteConfig("a", path_prefix="/api"),))
    proxy, _ = await stack.proxy(config)
    async with Client() as client:
        assert (await client.get(f"http://127.0.0.1:{proxy.port}/other")).status_code == 404
        response = await client.get(f"http://127.0.0.1:{proxy.port}/api/x")
        assert json.loads(response.content)["target"] == "/api/x"


async def test_http3_and_tls_downstream(stack: Stack, tmp_path: Path) -> None:
    """The server's options work on the proxy: TLS (ALPN h2) and --quic-bind (HTTP/3)."""
    pytest.importorskip("aioquic")
    from lastcall.testing.quic_certs import write_self_signed

    certfile, keyfile = write_self_signed(tmp_path)
    backend = await stack.backend()
    proxy, _ = await stack.proxy(
        simple_proxy_config([f"h2c://127.0.0.1:{backend.port}"]),
        certfile=str(certfile),
        keyfile=str(keyfile),
        quic_bind=["127.0.0.1:0"],
    )
    async with Client(http3=True, verify=str(certfile)) as client:
        h3 = await client.post(f"https://127.0.0.1:{proxy.server.quic_port}/x", content=b"abc")
    async with Client(http2=True, verify=str(certfile)) as client:
        h2 = await client.get(f"https://127.0.0.1:{proxy.port}/y")
    assert h3.http_version == "HTTP/3" and h2.http_version == "HTTP/2"
    assert h3.json()["body_length"] == 3
    assert dict(h3.json()["headers"])["via"] == "3 lastcall"
    assert dict(h2.json()["headers"])["x-forwarded-proto"] == "https"


@pytest.mark.parametrize("alpn", ["h2", "http/1.1"])
async def test_https_upstream_with_alpn(stack: Stack, tmp_path: Path, alpn: str) -> None:
    """``https://`` backends: TLS verified against the group's CA bundle, ALPN picks the protocol."""
    from lastcall.proxy import ProxyConfig, RouteConfig, UpstreamConfig
    from lastcall.testing.quic_certs import write_self_signed

    certfile, keyfile = write_self_signed(tmp_path)
    backend = await stack.backend(certfile=str(certfile), keyfile=str(keyfile), http2=alpn == "h2")
    group = UpstreamConfig("g", (f"https://127.0.0.1:{backend.port}",), verify=str(certfile))
    proxy, _ = await stack.proxy(ProxyConfig({"g": group}, (RouteConfig("g"),)))
    async with Client() as client:
        response = await client.get(f"http://127.0.0.1:{proxy.port}/tls")
    assert response.status_code == 200
    assert response.json()["http_version"] == ("2" if alpn == "h2" else "1.1")
    assert response.headers["via"] == ("2" if alpn == "h2" else "1.1") + " lastcall"
