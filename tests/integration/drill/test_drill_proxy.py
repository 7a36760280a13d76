"""The drill through a proxy: lastcall proxy in front of backends that restart in turn.

Short runs (2 s of load, 2 rolling restarts of 2 backends). lastcall serve
and hypercorn backends, h2c and HTTP/1.1 upstream: 0 lost, every backend
exits 0. And the drill can tell when requests are lost: with one backend,
nothing listens while it restarts.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest

from lastcall.drill.proxy_target import ProxyDrillConfig, run_proxy_drill

PY = sys.executable
LASTCALL_BACKEND = f"{PY} -m lastcall serve --bind 127.0.0.1:{{port}} --log-level warning"
HYPERCORN_BACKEND = f"{PY} -m hypercorn lastcall.server.demo:demo_app --bind 127.0.0.1:{{port}}"
PROXY = f"{PY} -m lastcall proxy --bind 127.0.0.1:{{port}} {{upstreams}} --log-level warning"


def _config(backend: str, scheme: str, protocol: str, proxy: str = PROXY) -> ProxyDrillConfig:
    return ProxyDrillConfig(
        backend=backend,
        proxy=proxy,
        backends=2,
        backend_scheme=scheme,
        protocol=protocol,
        concurrency=8,
        duration=2.0,
        restarts=2,
        path="/slow?ms=20",
        exit_timeout=20.0,
    )


async def test_lastcall_backends_lose_nothing() -> None:
    """HTTP/2 downstream, h2c upstream."""
    report = await run_proxy_drill(_config(LASTCALL_BACKEND, "h2c", "h2"))
    assert report.passed, report.render()
    assert report.lost == 0 and report.succeeded == report.sent > 0
    assert [code for _, code, _ in report.backend_exits] == [0, 0]


async def test_the_report_has_the_proxys_retries_with_metrics() -> None:
    """``{metrics}``: the proxy serves Prometheus metrics (under its default event
    loop, uvloop where installed) and the report reads its retries by reason.
    While a backend restarts nothing listens on its port: what the balancer
    sends there is refused and retried on the other one (``connect_failed``)."""
    proxy = PROXY.replace("{upstreams}", "{upstreams} {metrics}")
    report = await run_proxy_drill(_config(LASTCALL_BACKEND, "h2c", "h2", proxy))
    assert report.passed, report.render()
    assert report.proxy_retries is not None and report.proxy_retries["connect_failed"] > 0
    assert "the proxy retried" in report.render()


@pytest.mark.skipif(importlib.util.find_spec("hypercorn") is None, reason="needs hypercorn")
async def test_hypercorn_backends_lose_nothing() -> None:
    """HTTP/1.1 downstream and upstream; hypercorn cuts what is in flight when
    it stops, and the proxy retries those GETs on the other backend."""
    report = await run_proxy_drill(_config(HYPERCORN_BACKEND, "http", "h1"))
    assert report.passed, report.render()


async def test_the_drill_sees_a_proxy_that_loses() -> None:
    """One backend only: while it restarts nothing listens, so the proxy's
    retries have nowhere to go and it answers 502, which the drill counts."""
    config = _config(LASTCALL_BACKEND, "h2c", "h2")
    config.backends = 1
    config.restarts = 1
    report = await run_proxy_drill(config)
    assert report.lost > 0, report.render()
    assert set(report.errors) == {"lost:HTTP 502"}, report.render()
    assert not report.passed
