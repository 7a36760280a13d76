"""Per-route deadlines, grpc-timeout, upstream resets mid-response, hooks and health checks."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest
from proxy_harness import Stack

from lastcall import Client
from lastcall.errors import ConfigError, LastcallError
from lastcall.observe import events as oe
from lastcall.proxy import (
    HealthCheckSettings,
    HookResponse,
    ProxyConfig,
    ProxyHooks,
    ProxyRequest,
    ProxyResponse,
    RouteConfig,
    UpstreamConfig,
)
from lastcall.proxy.hooks import load_hooks


class Stall:
    """Backend: ``/head`` never answers; ``/body`` sends a head and one chunk, then stalls;
    ``/reset`` sends a head and one chunk, then fails (the server resets the stream)."""

    def __init__(self) -> None:
        self.forever = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/head":
            await self.forever.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        if path == "/reset":
            raise RuntimeError("backend fails mid-response (expected by the test)")
        await self.forever.wait()


def _one_route(port: int, scheme: str = "h2c", **route: Any) -> ProxyConfig:
    group = UpstreamConfig("g", (f"{scheme}://127.0.0.1:{port}",))
    return ProxyConfig({"g": group}, (RouteConfig("g", **route),))


async def test_first_byte_timeout_is_504(stack: Stack) -> None:
    backend = await stack.backend(Stall())
    proxy, _ = await stack.proxy(_one_route(backend.port, first_byte_timeout=0.2))
    async with Client() as client:
        response = await client.get(f"http://127.0.0.1:{proxy.port}/head")
    assert response.status_code == 504
    assert proxy.recorder.of_type(oe.UpstreamRequest)[-1].status == 504


async def test_grpc_timeout_answers_deadline_exceeded(stack: Stack) -> None:
    backend = await stack.backend(Stall())
    proxy, _ = await stack.proxy(_one_route(backend.port))
    async with Client(http2=True, http1=False) as client:
        response = await client.post(
            f"http://127.0.0.1:{proxy.port}/head",
            headers={"content-type": "application/grpc", "te": "trailers", "grpc-timeout": "150m"},
            content=b"\x00\x00\x00\x00\x00",
        )
    assert response.status_code == 200
    assert response.headers["grpc-status"] == "4"  # DEADLINE_EXCEEDED


@pytest.mark.parametrize("path", ["/body", "/reset"])
async def test_a_response_cut_upstream_is_cut_downstream(stack: Stack, path: str) -> None:
    backend = await stack.backend(Stall())
    proxy, _ = await stack.proxy(_one_route(backend.port, idle_timeout=0.2))
    async with (
        Client(http2=True, http1=False) as client,
        client.stream("GET", f"http://127.0.0.1:{proxy.port}{path}") as response,
    ):
        chunks = response.aiter_bytes()
        assert await anext(chunks) == b"part"
        with pytest.raises(LastcallError) as cut:  # reset, never a clean end
            await anext(chunks)
    assert type(cut.value).__name__ == "StreamReset"  # not the client's own read timeout


class Hooks(ProxyHooks):
    async def request_filter(self, request: ProxyRequest) -> HookResponse | None:
        if request.path.startswith(b"/deny"):
            return HookResponse(403, [(b"content-type", b"text/plain")], b"no\n")
        request.headers.append((b"x-hooked", b"1"))
        return None

    def choose_upstream(self, request: ProxyRequest) -> str | None:
        return "b" if request.header(b"x-canary") == b"1" else None

    def response_filter(
        self, request: ProxyRequest, response: ProxyResponse
    ) -> HookResponse | None:
        response.headers.append((b"x-backend", response.backend.encode()))
        return None


async def test_hooks_short_circuit_choose_and_add_headers(stack: Stack) -> None:
    a, b = await stack.backend(), await stack.backend()
    groups = {
        "a": UpstreamConfig("a", (f"http://127.0.0.1:{a.port}",)),
        "b": UpstreamConfig("b", (f"h2c://127.0.0.1:{b.port}",)),
    }
    proxy, _ = await stack.proxy(ProxyConfig(groups, (RouteConfig("a"),)), hooks=Hooks())
    url = f"http://127.0.0.1:{proxy.port}"
    async with Client() as client:
        denied = await client.get(url + "/deny")
        plain = await client.get(url + "/x")
        canary = await client.get(url + "/x", headers={"x-canary": "1"})
    assert (denied.status_code, denied.content) == (403, b"no\n")
    assert plain.headers["x-backend"] == f"http://127.0.0.1:{a.port}"
    assert canary.headers["x-backend"] == f"h2c://127.0.0.1:{b.port}"
    assert dict(plain.json()["headers"])["x-hooked"] == "1"


def test_hooks_load_from_module_object(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_hooks.py").write_text(
        "from lastcall.proxy import ProxyHooks\n"
        "class Mine(ProxyHooks):\n    pass\n"
        "hooks = Mine()\nnot_hooks = 3\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert type(load_hooks("my_hooks:hooks")).__name__ == "Mine"
        assert type(load_hooks("my_hooks:Mine")).__name__ == "Mine"
        with pytest.raises(ConfigError, match=r"not a lastcall\.proxy\.ProxyHooks"):
            load_hooks("my_hooks:not_hooks")
        with pytest.raises(ConfigError, match="has no attribute"):
            load_hooks("my_hooks:nope")
    finally:
        sys.modules.pop("my_hooks", None)


async def test_active_health_checks_mark_backends(stack: Stack) -> None:
    healthy = True

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        status = 200 if healthy or scope["path"] != "/healthz" else 503
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    backend = await stack.backend(app)
    check = HealthCheckSettings(
        path="/healthz", interval=0.01, unhealthy_threshold=2, healthy_threshold=1
    )
    group = UpstreamConfig("g", (f"http://127.0.0.1:{backend.port}",), health_check=check)
    proxy, _ = await stack.proxy(ProxyConfig({"g": group}, (RouteConfig("g"),)))
    healthy = False
    await proxy.events.wait_for("backend_health_changed", 1)
    healthy = True
    await proxy.events.wait_for("backend_health_changed", 2)
    changes = proxy.recorder.of_type(oe.BackendHealthChanged)
    assert [c.healthy for c in changes] == [False, True]
