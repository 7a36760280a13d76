"""Run a real nginx (Debian ``nginx-light``) with an h2c listener on 127.0.0.1, for tests and the bench."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator

CONFIG = """
daemon off;
master_process off;
worker_processes 1;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  keepalive_requests {keepalive_requests};
  server {{
    listen 127.0.0.1:{port} http2;
    location / {{ return 200 "ok"; }}
  }}
}}
"""


def nginx_skip_reason() -> str | None:
    """Why the nginx tests cannot run here, or None."""
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if pathlib.Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None:
        return "nginx is not installed (Debian package nginx-light)"
    version = subprocess.run([nginx, "-V"], capture_output=True, text=True, check=False).stderr
    if "http_v2_module" not in version:
        return "this nginx lacks http_v2_module"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def run_nginx(directory: pathlib.Path, keepalive_requests: int) -> AsyncIterator[str]:
    """Start nginx in the foreground; yield its base URL once it accepts connections."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    port = _free_port()
    conf = directory / "nginx.conf"
    conf.write_text(CONFIG.format(dir=directory, port=port, keepalive_requests=keepalive_requests))
    proc = await asyncio.create_subprocess_exec(
        nginx, "-c", str(conf), "-p", str(directory), stderr=asyncio.subprocess.PIPE
    )
    try:
        async with asyncio.timeout(10):
            while True:  # bounded by the timeout; each try waits for the kernel's answer
                if proc.returncode is not None:
                    raise RuntimeError(f"nginx exited: {(directory / 'error.log').read_text()}")
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(0.02)
                    continue
                writer.close()
                break
        yield f"http://127.0.0.1:{port}"
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()
