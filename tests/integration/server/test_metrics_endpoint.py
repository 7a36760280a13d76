"""``metrics_bind``: Prometheus metrics over 127.0.0.1, scraped by httpx (a client we did
not write) and parsed with prometheus-client's own text parser.

The endpoint is not one of the app's listeners: it must still answer while
the app's listener is closed and the drain runs, and report the drain that
it watched (its duration, what was cancelled) before the process goes.
"""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from server_harness import TEST_DEADLINE, StartServer

from lastcall.server.asgi import Receive, Scope, Send
from lastcall.testing import RawH2Client
from lastcall.testing.h2_raw_client import CONTINUATION, DATA, END_STREAM, GOAWAY, HEADERS

pytest.importorskip("prometheus_client")

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class App:
    """``/hold`` waits until the client goes away; anything else says hello.
    Lifespan shutdown waits for ``shutdown_gate``, so a test can scrape after the drain."""

    def __init__(self) -> None:
        self.held = asyncio.Event()
        self.shutdown_began = asyncio.Event()
        self.shutdown_gate = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    self.shutdown_began.set()
                    await self.shutdown_gate.wait()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["path"] == "/hold":
            self.held.set()
            while (await receive())["type"] != "http.disconnect":
                pass
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"hello"})


async def scrape(address: str) -> Samples:
    async with httpx.AsyncClient(timeout=TEST_DEADLINE) as client:
        response = await client.get(f"http://{address}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((f"lastcall_{name}", tuple(sorted(labels.items()))), 0.0)


async def http1_get(port: int, path: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".encode())
    async with asyncio.timeout(TEST_DEADLINE):
        data = await reader.read()
    writer.close()
    return data


async def test_requests_connections_and_the_drain_are_scraped(start_server: StartServer) -> None:
    app = App()
    run = await start_server(
        app, metrics_bind="127.0.0.1:0", lifespan="on", lingering_close_timeout=0.0
    )
    port = run.port
    endpoint = run.server.metrics_endpoint
    assert endpoint is not None and endpoint.name != f"127.0.0.1:{run.port}"
    assert (await http1_get(run.port, "/a")).startswith(b"HTTP/1.1 200")
    h2 = await RawH2Client.connect("127.0.0.1", run.port)
    sid = h2.request("/b")
    assert (await h2.read_until(DATA, stream_id=sid)).flags & END_STREAM
    h2_closed = run.events.wait_for("connection_closed", 2)  # with the one of http1_get

    held = await run.open()
    held.send(b"GET /hold HTTP/1.1\r\nhost: x\r\n\r\n")
    async with asyncio.timeout(TEST_DEADLINE):
        await app.held.wait()
    samples = await scrape(endpoint.name)
    assert value(samples, "requests_total", http_version="1.1", status="200") == 1
    assert value(samples, "requests_total", http_version="2", status="200") == 1
    assert value(samples, "request_duration_seconds_count", http_version="2") == 1
    assert value(samples, "request_duration_seconds_bucket", http_version="1.1", le="+Inf") == 1
    assert value(samples, "connections", protocol="h2", phase="open") == 1
    assert value(samples, "connections", protocol="http/1.1", phase="open") == 1
    assert value(samples, "streams", protocol="http/1.1") == 1
    assert value(samples, "drains_started_total") == 0
    assert ("process_cpu_seconds_total", ()) in samples or ("python_info", ()) in samples

    await h2.aclose()
    await h2_closed
    # The drain: the app's listener closes, the held request is cut at once
    # (grace 0), and the endpoint keeps answering until the process would exit.
    run.server.drain(grace=0.0)
    async with asyncio.timeout(TEST_DEADLINE):
        await app.shutdown_began.wait()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=TEST_DEADLINE).close()
    samples = await scrape(endpoint.name)
    assert value(samples, "drains_started_total") == 1
    assert value(samples, "drains_completed_total") == 1
    assert value(samples, "drain_duration_seconds_count") == 1
    assert value(samples, "grace_expired_total") == 1
    assert sum(v for (n, _), v in samples.items() if n == "lastcall_requests_cancelled_total") == 1
    assert value(samples, "connections", protocol="http/1.1", phase="open") == 0
    assert value(samples, "connections_closed_total", protocol="h2", clean="true") == 1

    app.shutdown_gate.set()
    assert await run.exit_code() == 0
    with pytest.raises(OSError):  # closed with the server, after the drain
        host, port = endpoint.name.rsplit(":", 1)
        socket.create_connection((host, int(port)), timeout=TEST_DEADLINE).close()


async def test_anything_but_get_metrics_is_refused(start_server: StartServer) -> None:
    run = await start_server(None, metrics_bind="127.0.0.1:0")
    assert run.server.metrics_endpoint is not None
    base = f"http://{run.server.metrics_endpoint.name}"
    async with httpx.AsyncClient(timeout=TEST_DEADLINE) as client:
        assert (await client.get(base + "/")).status_code == 404
        assert (await client.post(base + "/metrics")).status_code == 405
        head = await client.head(base + "/metrics")
    assert head.status_code == 200 and head.content == b""
    # Not counted as app requests: the endpoint is not the app.
    samples = await scrape(run.server.metrics_endpoint.name)
    assert not [k for k in samples if k[0] == "lastcall_requests_total"]


@pytest.mark.parametrize("bad", ["unix:/tmp/m.sock", "nohost"])
def test_metrics_bind_must_be_host_port(bad: str) -> None:
    from lastcall.errors import ConfigError
    from lastcall.server import ServerConfig

    with pytest.raises(ConfigError, match="bind"):
        ServerConfig(metrics_bind=bad)


async def test_rejected_requests_and_tripped_budgets_are_counted(
    start_server: StartServer,
) -> None:
    run = await start_server(None, metrics_bind="127.0.0.1:0")
    assert run.server.metrics_endpoint is not None
    # HTTP/1.1: a smuggling attempt (two Content-Length) and an oversize head.
    smuggler = await run.open()
    smuggler.send(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n")
    assert (await smuggler.response())[0].startswith(b"HTTP/1.1 400")
    big = await run.open()
    big.send(b"GET / HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 70_000 + b"\r\n\r\n")
    assert (await big.response())[0].startswith(b"HTTP/1.1 431")
    # HTTP/2: a CONTINUATION flood trips its budget: GOAWAY(ENHANCE_YOUR_CALM).
    h2 = await RawH2Client.connect("127.0.0.1", run.port)
    h2.send_frame(HEADERS, 0, 1, b"\x82")  # :method GET, no END_HEADERS
    for _ in range(64):
        h2.send_frame(CONTINUATION, 0, 1, b"\x84")
    goaway = await h2.read_until(GOAWAY)
    await h2.aclose()
    assert goaway.goaway[1] == 0xB  # ENHANCE_YOUR_CALM

    samples = await scrape(run.server.metrics_endpoint.name)
    assert value(samples, "requests_rejected_total", protocol="http/1.1", status="400") == 1
    assert value(samples, "requests_rejected_total", protocol="http/1.1", status="431") == 1
    tripped = {k[1]: v for k, v in samples.items() if k[0] == "lastcall_budgets_tripped_total"}
    assert list(tripped.values()) == [1], tripped
