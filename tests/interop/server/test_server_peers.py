"""``lastcall serve`` against peers we did not write: curl, nghttp, h2load, httpx,
Starlette/FastAPI, websockets. Each skips cleanly when its peer is missing."""

import asyncio
import shutil
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request
from server_apps import Gate
from server_harness import Running, start_in_process, stop
from starlette.responses import StreamingResponse

from lastcall.observe import events as oe

DEADLINE = 20.0


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed (apt-get install nghttp2-client curl)")
    return path


async def run_peer(*argv: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    async with asyncio.timeout(DEADLINE):
        out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode("utf-8", "replace")


@pytest.fixture
async def demo() -> AsyncIterator[Running]:
    run = await start_in_process(None)
    yield run
    await stop(run)


@pytest.mark.peer("curl")
@pytest.mark.parametrize("flag", ["--http1.1", "--http2-prior-knowledge", "--http2"])
async def test_curl(demo: Running, flag: str) -> None:
    curl = need("curl")
    code, out = await run_peer(
        curl, "-sS", flag, "-d", "hello", f"http://127.0.0.1:{demo.port}/echo"
    )
    assert code == 0 and out == "hello"


@pytest.mark.peer("nghttp")
async def test_nghttp_trace_shows_both_goaways() -> None:
    nghttp = need("nghttp")
    gate = Gate()
    run = await start_in_process(gate)
    try:
        final_goaway = asyncio.Event()
        run.server.observer.add_sink(
            lambda e: final_goaway.set() if isinstance(e, oe.GoAwaySent) and e.final else None
        )
        peer = asyncio.ensure_future(run_peer(nghttp, "-v", f"http://127.0.0.1:{run.port}/"))
        await gate.entered.wait()
        run.server.drain()
        # Hold the response until the final GOAWAY is out: a client whose only
        # request is complete may close first, and then there is nothing to see.
        async with asyncio.timeout(DEADLINE):
            await final_goaway.wait()
        gate.release.set()
        code, out = await peer
        assert code == 0, out
        assert await run.exit_code() == 0
    finally:
        await stop(run)
    goaways = [line for line in out.splitlines() if "last_stream_id=" in line]
    assert "last_stream_id=2147483647" in goaways[0]
    assert "last_stream_id=2147483647" not in goaways[1]
    assert out.index("recv GOAWAY") < out.index("recv PING")
    assert out.index("recv PING") < out.index("recv DATA")  # the response still came
    assert "done" in out


@pytest.mark.peer("h2load")
async def test_h2load_short_load(demo: Running) -> None:
    h2load = need("h2load")
    code, out = await run_peer(
        h2load, "-n", "2000", "-c", "4", "-m", "10", f"http://127.0.0.1:{demo.port}/"
    )
    assert code == 0, out
    assert "2000 succeeded, 0 failed, 0 errored" in out


@pytest.mark.peer("h2load")
async def test_h2load_http1(demo: Running) -> None:
    h2load = need("h2load")
    code, out = await run_peer(
        h2load, "--h1", "-n", "2000", "-c", "4", f"http://127.0.0.1:{demo.port}/"
    )
    assert code == 0, out
    assert "2000 succeeded, 0 failed, 0 errored" in out


@pytest.mark.peer("httpx")
async def test_httpx_in_flight_request_survives_drain() -> None:
    gate = Gate()
    run = await start_in_process(gate)
    try:
        async with httpx.AsyncClient() as client:
            request = asyncio.ensure_future(client.get(f"http://127.0.0.1:{run.port}/"))
            await gate.entered.wait()
            run.server.drain()
            gate.release.set()
            response = await request
            assert response.status_code == 200 and response.text == "done"
            assert response.headers["connection"] == "close"
        assert await run.exit_code() == 0
    finally:
        await stop(run)


@pytest.mark.peer("httpx")
async def test_httpx_http2(demo: Running) -> None:
    # httpx's HTTP/2 (python-hyper h2) cannot finish a stream after a GOAWAY
    # (h2 issue 1181, DESIGN.md), so it is exercised here without a drain.
    async with httpx.AsyncClient(http1=False, http2=True) as client:
        for _ in range(3):
            response = await client.post(
                f"http://127.0.0.1:{demo.port}/echo", content=b"x" * 100_000
            )
            assert response.http_version == "HTTP/2" and response.content == b"x" * 100_000


@pytest.mark.peer("starlette")
async def test_starlette_and_fastapi_apps() -> None:
    events: list[str] = []

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: object) -> AsyncIterator[dict[str, str]]:
        events.append("startup")
        yield {"db": "connected"}
        events.append("shutdown")

    app = FastAPI(lifespan=lifespan)

    @app.get("/items/{item_id}")
    async def item(item_id: int, request: Request) -> dict[str, object]:
        return {"id": item_id, "db": request.state.db, "path": request.url.path}

    @app.get("/events")
    async def sse(request: Request) -> StreamingResponse:
        drain = request.scope["extensions"]["lastcall.drain"]

        async def gen() -> AsyncIterator[bytes]:
            yield b"data: hello\n\n"
            reason = await drain.wait()
            yield f"event: close\ndata: {reason}\n\n".encode()

        return StreamingResponse(gen(), media_type="text/event-stream")

    run = await start_in_process(app)  # type: ignore[arg-type]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{run.port}") as client:
            response = await client.get("/items/7")
            assert response.json() == {"id": 7, "db": "connected", "path": "/items/7"}
            async with client.stream("GET", "/events") as stream:
                lines = stream.aiter_lines()
                assert await anext(lines) == "data: hello"
                run.server.drain(reason="deploy")
                rest = [line async for line in lines]
            assert "event: close" in rest and "data: deploy" in rest
        assert await run.exit_code() == 0
        assert events == ["startup", "shutdown"]
    finally:
        await stop(run)


@pytest.mark.peer("websockets")
async def test_websockets_client_gets_1001_on_drain(demo: Running) -> None:
    websockets = pytest.importorskip("websockets")
    async with websockets.connect(f"ws://127.0.0.1:{demo.port}/ws") as ws:
        await ws.send("hi")
        assert await ws.recv() == "hi"
        await ws.send(b"\x00\x01")
        assert await ws.recv() == b"\x00\x01"
        demo.server.drain()
        with pytest.raises(websockets.ConnectionClosed) as closed:
            async with asyncio.timeout(DEADLINE):
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert await demo.exit_code() == 0


@pytest.mark.peer("curl")
@pytest.mark.parametrize(("flag", "version"), [("--http2", "2"), ("--http1.1", "1.1")])
async def test_tls_alpn(tmp_path, flag: str, version: str) -> None:  # type: ignore[no-untyped-def]
    curl, openssl = need("curl"), need("openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    code, out = await run_peer(
        openssl,
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-keyout",
        str(key),
        "-out",
        str(cert),
    )
    assert code == 0, out
    run = await start_in_process(None, certfile=str(cert), keyfile=str(key))
    try:
        code, out = await run_peer(
            curl,
            "-sS",
            "-k",
            flag,
            "-w",
            "|%{http_version}|%{scheme}",
            f"https://127.0.0.1:{run.port}/",
        )
        assert code == 0, out
        assert out.lower() == f"hello from lastcall\n|{version}|https"
        run.server.drain()
        assert await run.exit_code() == 0
    finally:
        await stop(run)


@pytest.mark.peer("curl")
@pytest.mark.parametrize("flag", ["--http1.1", "--http2-prior-knowledge"])
async def test_every_response_carries_a_date(demo: Running, flag: str) -> None:
    # RFC 9110 §6.6.1: an origin server with a clock sends Date, whatever the protocol.
    curl = need("curl")
    code, out = await run_peer(
        curl, "-sS", "-D", "-", "-o", "/dev/null", flag, f"http://127.0.0.1:{demo.port}/"
    )
    assert code == 0
    assert any(line.lower().startswith("date: ") for line in out.splitlines()), out
