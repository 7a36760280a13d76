"""The options uvicorn, gunicorn and granian users type, each over 127.0.0.1.

``--factory``, ``--app-dir``, ``--env-file``, ``--header``, ``--server-header``
and ``--backlog`` through a real ``lastcall serve`` process (and through
``lastcall.run`` from a script); ``limit_concurrency`` in process, over
HTTP/1.1 and HTTP/2, with an app that holds its requests until told.
"""

from __future__ import annotations

import asyncio
import pathlib
import signal
import subprocess
import sys
import textwrap

import pytest
from server_apps import Gate, hello
from server_harness import TEST_DEADLINE, StartServer
from test_cli_signals import spawn

from lastcall.cli import build_parser
from lastcall.server import load_config
from lastcall.testing import RawH2Client
from lastcall.testing.h2_raw_client import DATA, HEADERS

APP = textwrap.dedent(
    """
    import os

    def create():
        greeting = os.environ["OPS_GREETING"].encode()  # read when the factory runs

        async def app(scope, receive, send):
            if scope["type"] != "http":
                return
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": greeting})

        return app
    """
)


@pytest.fixture
def project(tmp_path: pathlib.Path) -> pathlib.Path:
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "ops_cli_app.py").write_text(APP)
    (tmp_path / "prod.env").write_text("OPS_GREETING='hello from .env'\nLASTCALL_BACKLOG=7\n")
    return tmp_path


async def get(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    async with asyncio.timeout(TEST_DEADLINE):
        data = await reader.read()
    writer.close()
    return data


def listen_backlog(port: int) -> int:
    """The backlog the kernel holds for the listening socket (``ss``'s Send-Q)."""
    out = subprocess.run(
        ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout
    return int(out.split()[2])


async def test_factory_app_dir_env_file_headers_backlog(project: pathlib.Path) -> None:
    server = await spawn(
        "ops_cli_app:create",
        "--factory",
        "--app-dir",
        str(project / "project"),
        "--env-file",
        str(project / "prod.env"),
        "--header",
        "X-Frame-Options: DENY",
        "--header",
        "x-team:ops",
        "--server-header",
        cwd=project,  # the app is found through --app-dir, not the working directory
    )
    try:
        response = await get(server.port)
        head, _, body = response.partition(b"\r\n\r\n")
        assert body == b"hello from .env"
        lines = head.lower().split(b"\r\n")
        assert b"x-frame-options: deny" in lines and b"x-team: ops" in lines
        assert b"server: lastcall" in lines
        # LASTCALL_BACKLOG came from the env file too: it is read before the settings.
        assert listen_backlog(server.port) == 7
    finally:
        server.proc.send_signal(signal.SIGTERM)
        assert await server.wait() == 0


async def test_programmatic_run(project: pathlib.Path) -> None:
    script = textwrap.dedent(
        f"""
        import lastcall
        raise SystemExit(lastcall.run(
            "ops_cli_app:create", factory=True, app_dir={str(project / "project")!r},
            env_file={str(project / "prod.env")!r}, bind=["127.0.0.1:0"], backlog=5,
        ))
        """
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stderr=asyncio.subprocess.PIPE, cwd=project
    )
    assert proc.stderr is not None
    try:
        async with asyncio.timeout(TEST_DEADLINE):
            while b"serving on" not in (line := await proc.stderr.readline()):
                assert line, "the script ended before serving"
        port = int(line.decode().rsplit(":", 1)[1])
        assert (await get(port)).endswith(b"hello from .env")
        assert listen_backlog(port) == 5  # an option given wins over LASTCALL_BACKLOG
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(TEST_DEADLINE):
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_options_map_to_settings() -> None:
    args = build_parser().parse_args(
        ["serve", "--ws-max-size", "1024", "--limit-concurrency", "3", "--no-server-header"]
    )
    options = {k: v for k, v in vars(args).items() if k not in ("command", "config_file")}
    config = load_config(options, environ={})
    assert (config.ws_max_message_size, config.limit_concurrency) == (1024, 3)
    assert config.server_header is False and config.backlog == 2048


@pytest.mark.parametrize("bad", ["NoColon", "Bad Name: x", "x-a: \r\nInjected: 1", ": empty"])
def test_bad_header_is_a_usage_error(bad: str) -> None:
    from lastcall.errors import ConfigError
    from lastcall.server import ServerConfig

    with pytest.raises(ConfigError, match="--header"):
        ServerConfig(headers=[bad])


async def test_headers_on_http2_too(start_server: StartServer) -> None:
    run = await start_server(hello, headers=["X-Team: ops"], server_header=True)
    client = await RawH2Client.connect("127.0.0.1", run.port)
    sid = client.request("/")
    await client.read_until(DATA, stream_id=sid)
    (head,) = [f for f in client.frames if f.type == HEADERS and f.stream_id == sid]
    fields = dict(head.headers)
    await client.aclose()
    assert fields[b"x-team"] == b"ops" and fields[b"server"] == b"lastcall"


async def test_limit_concurrency_answers_503_past_the_limit(start_server: StartServer) -> None:
    gate = Gate()
    run = await start_server(gate, limit_concurrency=1, readiness_path="/readyz")
    held = await run.open()
    held.send(b"GET /held HTTP/1.1\r\nhost: x\r\n\r\n")
    async with asyncio.timeout(TEST_DEADLINE):
        await gate.entered.wait()

    over = await run.open()
    over.send(b"GET /over HTTP/1.1\r\nhost: x\r\n\r\n")
    status, headers, body = await over.response()
    assert status == b"HTTP/1.1 503 Service Unavailable" and headers[b"retry-after"] == b"1"
    assert b"too many requests" in body
    h2 = await RawH2Client.connect("127.0.0.1", run.port)
    sid = h2.request("/over-h2")
    await h2.read_until(HEADERS, stream_id=sid)
    assert h2.status(sid) == b"503"
    await h2.aclose()
    over.send(b"GET /readyz HTTP/1.1\r\nhost: x\r\n\r\n")  # the server's own: never limited
    assert (await over.response())[0].startswith(b"HTTP/1.1 200")
    assert [s["path"] for s in gate.scopes] == ["/held"]  # the app never saw the others

    gate.release.set()
    assert (await held.response())[0].startswith(b"HTTP/1.1 200")
    held.send(b"GET /after HTTP/1.1\r\nhost: x\r\n\r\n")
    assert (await held.response())[0].startswith(b"HTTP/1.1 200")  # the slot is free again


def test_lastcall_proxy_takes_the_same_options() -> None:
    from lastcall.proxy.run import build

    args = build_parser().parse_args(
        [
            "proxy",
            "--upstream",
            "http://127.0.0.1:9",
            "--metrics-bind",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--limit-concurrency",
            "8",
            "--header",
            "x-via: edge",
            "--backlog",
            "64",
        ]
    )
    _, server_config = build(args)
    assert server_config.metrics_bind == "127.0.0.1:0" and server_config.log_format == "json"
    assert (server_config.limit_concurrency, server_config.backlog) == (8, 64)
    assert server_config.headers == ["x-via: edge"]
