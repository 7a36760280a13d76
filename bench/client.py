"""Client benchmark: the same N HTTP/2 requests through three clients, one run.

    python bench/client.py [--requests 20000] [--concurrency 50] [--url URL]

Every client uses one HTTP/2 connection (h2c, prior knowledge) to the same
local server, with ``concurrency`` requests in flight:

1. ``lastcall.Client(http1=False, http2=True)``
2. ``httpx.AsyncClient(transport=lastcall.httpx.AsyncTransport(...))``
3. plain ``httpx.AsyncClient(http1=False, http2=True)`` (httpcore + python-hyper h2)

The server is a real nginx (Debian ``nginx-light``) started here with an h2c
listener, ``return 200 "ok"``, and ``keepalive_requests`` high enough that it
never sends GOAWAY during the run (so httpx is measured at its best); or any
h2c server given with ``--url``. Prints req/s per client and the ratios to
plain httpx (target: lastcall's client >= 3x).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx

import lastcall.client as lc
import lastcall.httpx

NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  keepalive_requests 100000000;
  http2_max_concurrent_streams 128;
  server {{
    listen 127.0.0.1:{port} http2;
    location / {{ return 200 "ok"; }}
  }}
}}
"""


@contextlib.contextmanager
def nginx_server() -> Iterator[str]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        sys.exit("nginx not found: install nginx-light, or pass --url of an h2c server")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=tmp, port=port))
        proc = subprocess.Popen([nginx, "-c", str(conf), "-p", tmp])
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        sys.exit("nginx did not start")
                    time.sleep(0.02)
            yield f"http://127.0.0.1:{port}/"
        finally:
            proc.terminate()
            proc.wait()


async def _run(get: Callable[[], Awaitable[bytes]], n: int, concurrency: int) -> float:
    """Run ``n`` requests with ``concurrency`` workers; return requests per second."""
    for _ in range(concurrency):  # warm up: connection, SETTINGS, HPACK tables
        assert await get() == b"ok"
    remaining = n

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            body = await get()
            assert body == b"ok", body

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - started)


async def bench(url: str, n: int, concurrency: int) -> dict[str, float]:
    results: dict[str, float] = {}

    async with lc.Client(http1=False, http2=True) as client:

        async def ours() -> bytes:
            return (await client.get(url)).content

        results["lastcall.Client"] = await _run(ours, n, concurrency)
        assert client.stats.connections_opened == 1

    transport = lastcall.httpx.AsyncTransport(http1=False, http2=True)
    async with httpx.AsyncClient(transport=transport) as hx:

        async def via_transport() -> bytes:
            return (await hx.get(url)).content

        results["httpx + lastcall.httpx.AsyncTransport"] = await _run(via_transport, n, concurrency)

    async with httpx.AsyncClient(http1=False, http2=True) as plain:

        async def theirs() -> bytes:
            return (await plain.get(url)).content

        results["httpx (http2=True)"] = await _run(theirs, n, concurrency)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--url", help="an h2c server to use instead of a local nginx")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        uvloop.install()

    def go(url: str) -> dict[str, float]:
        return asyncio.run(bench(url, args.requests, args.concurrency))

    if args.url:
        results = go(args.url)
    else:
        with nginx_server() as url:
            results = go(url)
    baseline = results["httpx (http2=True)"]
    print(
        f"{args.requests} requests, HTTP/2 h2c, one connection, concurrency {args.concurrency}"
        f"{' (uvloop)' if args.uvloop else ''}"
    )
    for name, rate in results.items():
        print(f"  {name:<42} {rate:>9,.0f} req/s   {rate / baseline:5.2f}x httpx")


if __name__ == "__main__":
    main()
