"""``lastcall proxy --metrics-bind``: the proxy's retries, ejections and upstream answers,
and its pools' own retries, scraped over 127.0.0.1 and parsed with prometheus-client."""

from __future__ import annotations

import socket

import httpx
from prometheus_client.parser import text_string_to_metric_families
from proxy_harness import TEST_DEADLINE, Stack

from lastcall import Client
from lastcall.proxy import ProxyConfig, RouteConfig, UpstreamConfig


async def test_proxy_retries_by_reason_are_scraped(stack: Stack) -> None:
    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    live = await stack.backend()
    backends = (f"http://127.0.0.1:{dead}", f"http://127.0.0.1:{live.port}")
    group = UpstreamConfig("g", backends, balancer="round_robin")
    proxy, _ = await stack.proxy(
        ProxyConfig({"g": group}, (RouteConfig("g"),)), metrics_bind="127.0.0.1:0"
    )
    async with Client() as client:
        for _ in range(4):
            response = await client.post(f"http://127.0.0.1:{proxy.port}/x", content=b"body")
            assert response.status_code == 200
    assert proxy.server.metrics_endpoint is not None
    async with httpx.AsyncClient(timeout=TEST_DEADLINE) as scraper:
        text = (await scraper.get(f"http://{proxy.server.metrics_endpoint.name}/metrics")).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    live_url = f"http://127.0.0.1:{live.port}"
    dead_url = f"http://127.0.0.1:{dead}"
    assert (
        samples[
            "lastcall_proxy_upstream_retries_total",
            (("reason", "connect_failed"), ("upstream", "g")),
        ]
        == 1
    )
    assert (
        samples[
            "lastcall_proxy_backend_ejections_total", (("backend", dead_url), ("upstream", "g"))
        ]
        == 1
    )
    assert (
        samples[
            "lastcall_proxy_upstream_requests_total",
            (("backend", live_url), ("status", "200"), ("upstream", "g")),
        ]
        == 4
    )
    # The proxy's own server side counts the same four, as HTTP/1.1 200s.
    assert samples["lastcall_requests_total", (("http_version", "1.1"), ("status", "200"))] == 4
    # Its upstream pools' own retries (none here: the proxy retried, not the pool).
    assert samples["lastcall_client_retries_total", (("reason", "replay"),)] == 0
    assert samples["lastcall_client_retries_total", (("reason", "stale"),)] == 0
