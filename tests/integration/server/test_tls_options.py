"""``ssl_ca_certs`` / ``ssl_cert_reqs`` (client certificates) and ``ssl_ciphers``, over 127.0.0.1.

Each handshake is a real one: Python's ``ssl`` as the client, and curl (a
peer we did not write) for the required-certificate case.
"""

from __future__ import annotations

import asyncio
import pathlib
import shutil
import ssl
from typing import Any

import httpx
import pytest
from server_apps import hello
from server_harness import TEST_DEADLINE, StartServer

from lastcall.errors import ConfigError
from lastcall.server import ServerConfig
from lastcall.testing.quic_certs import make_self_signed, write_self_signed


class Files:
    def __init__(self, directory: pathlib.Path) -> None:
        self.certfile, self.keyfile = write_self_signed(directory)
        client = make_self_signed("ops-client")
        self.client_cert = directory / "client.pem"
        self.client_key = directory / "client.key"
        self.client_cert.write_bytes(client.certificate_pem)
        self.client_key.write_bytes(client.private_key_pem)
        # A stranger: a certificate the server's CA list does not hold.
        stranger = make_self_signed("stranger")
        self.stranger_cert = directory / "stranger.pem"
        self.stranger_key = directory / "stranger.key"
        self.stranger_cert.write_bytes(stranger.certificate_pem)
        self.stranger_key.write_bytes(stranger.private_key_pem)

    def client_context(self, cert: pathlib.Path | None, key: pathlib.Path | None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.certfile))
        if cert is not None:
            context.load_cert_chain(str(cert), str(key))
        return context


@pytest.fixture
def files(tmp_path: pathlib.Path) -> Files:
    return Files(tmp_path)


async def get(port: int, context: ssl.SSLContext) -> bytes:
    """One request over TLS; b"" when the server ended the connection instead."""
    async with asyncio.timeout(TEST_DEADLINE):
        try:  # TLS 1.2 fails in the handshake; TLS 1.3 after it (the alert comes late)
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=context, server_hostname="localhost"
            )
        except (ssl.SSLError, ConnectionError):
            return b""
        try:
            writer.write(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            return await reader.read()
        except (ssl.SSLError, ConnectionError):
            return b""
        finally:
            writer.close()


async def test_required_client_certificate(start_server: StartServer, files: Files) -> None:
    run = await start_server(
        hello,
        certfile=str(files.certfile),
        keyfile=str(files.keyfile),
        ssl_ca_certs=str(files.client_cert),
        ssl_cert_reqs="required",
    )
    ok = await get(run.port, files.client_context(files.client_cert, files.client_key))
    assert ok.startswith(b"HTTP/1.1 200")
    assert await get(run.port, files.client_context(None, None)) == b""
    assert await get(run.port, files.client_context(files.stranger_cert, files.stranger_key)) == b""


async def test_optional_client_certificate(start_server: StartServer, files: Files) -> None:
    run = await start_server(
        hello,
        certfile=str(files.certfile),
        keyfile=str(files.keyfile),
        ssl_ca_certs=str(files.client_cert),
        ssl_cert_reqs="optional",
    )
    assert (await get(run.port, files.client_context(None, None))).startswith(b"HTTP/1.1 200")
    ok = await get(run.port, files.client_context(files.client_cert, files.client_key))
    assert ok.startswith(b"HTTP/1.1 200")
    # Sent, then it must be valid.
    assert await get(run.port, files.client_context(files.stranger_cert, files.stranger_key)) == b""


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
async def test_curl_with_and_without_a_client_certificate(
    start_server: StartServer, files: Files
) -> None:
    run = await start_server(
        hello,
        certfile=str(files.certfile),
        keyfile=str(files.keyfile),
        ssl_ca_certs=str(files.client_cert),
        ssl_cert_reqs="required",
    )

    async def curl(*args: str) -> tuple[int, bytes]:
        proc = await asyncio.create_subprocess_exec(
            "curl", "-s", "--max-time", str(TEST_DEADLINE), "--cacert", str(files.certfile),
            *args, f"https://localhost:{run.port}/",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        out, _ = await proc.communicate()
        return proc.returncode or 0, out

    assert await curl("--cert", str(files.client_cert), "--key", str(files.client_key)) == (
        0,
        b"hello",
    )
    code, out = await curl()
    assert code != 0 and out == b""


async def test_ciphers_limit_tls12(start_server: StartServer, files: Files) -> None:
    suite = "ECDHE-ECDSA-AES256-GCM-SHA384"  # the test key is EC P-256
    run = await start_server(
        hello, certfile=str(files.certfile), keyfile=str(files.keyfile), ssl_ciphers=suite
    )
    context = files.client_context(None, None)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    async with asyncio.timeout(TEST_DEADLINE):
        _, writer = await asyncio.open_connection(
            "127.0.0.1", run.port, ssl=context, server_hostname="localhost"
        )
    cipher = writer.get_extra_info("cipher")
    writer.close()
    assert cipher[0] == suite
    context.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")  # not in the server's list
    assert await get(run.port, context) == b""


async def test_cipher_list_that_selects_nothing_is_a_usage_error(files: Files) -> None:
    from lastcall.server import Server

    server = Server(
        hello,
        bind=["127.0.0.1:0"],
        certfile=str(files.certfile),
        keyfile=str(files.keyfile),
        ssl_ciphers="NO-SUCH-CIPHER",
        handle_signals=False,
    )
    with pytest.raises(ConfigError, match="--ssl-ciphers"):
        await server.serve()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"ssl_cert_reqs": "required"}, "needs --ssl-ca-certs"),
        ({"ssl_ca_certs": "ca.pem"}, "needs --certfile"),
        ({"ssl_cert_reqs": "sometimes", "ssl_ca_certs": "ca.pem"}, "none, optional or required"),
        (
            {
                "ssl_cert_reqs": "required",
                "ssl_ca_certs": "ca.pem",
                "certfile": "c",
                "keyfile": "k",
                "quic_bind": ["127.0.0.1:0"],
            },
            "--quic-bind",
        ),
    ],
)
def test_tls_option_mistakes(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ServerConfig(**settings)  # type: ignore[arg-type]


class TlsScope:
    """Answers with what ``scope["extensions"]["tls"]`` said (or ``none``)."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.seen.append((scope["http_version"], scope["extensions"].get("tls")))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def test_asgi_tls_extension_names_the_client(start_server: StartServer, files: Files) -> None:
    app = TlsScope()
    run = await start_server(
        app,
        certfile=str(files.certfile),
        keyfile=str(files.keyfile),
        ssl_ca_certs=str(files.client_cert),
        ssl_cert_reqs="optional",
    )
    with_cert = files.client_context(files.client_cert, files.client_key)
    assert (await get(run.port, with_cert)).startswith(b"HTTP/1.1 200")
    async with httpx.AsyncClient(http2=True, verify=with_cert, timeout=TEST_DEADLINE) as client:
        response = await client.get(f"https://localhost:{run.port}/")  # ALPN h2
    assert response.http_version == "HTTP/2"
    assert (await get(run.port, files.client_context(None, None))).startswith(b"HTTP/1.1 200")
    (v1, tls1), (v2, tls2), (_, anonymous) = app.seen
    assert (v1, v2) == ("1.1", "2")
    pem = files.client_cert.read_text()
    for tls in (tls1, tls2):
        assert tls["client_cert_name"] == "CN=ops-client"
        assert tls["client_cert_chain"] == [pem] and tls["client_cert_error"] is None
        assert tls["tls_version"] == 0x0304
    assert anonymous["client_cert_chain"] == [] and anonymous["client_cert_name"] is None


async def test_no_tls_extension_in_cleartext(start_server: StartServer) -> None:
    app = TlsScope()
    run = await start_server(app)
    reader, writer = await asyncio.open_connection("127.0.0.1", run.port)
    writer.write(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    async with asyncio.timeout(TEST_DEADLINE):
        await reader.read()
    writer.close()
    assert app.seen == [("1.1", None)]


def test_rfc4514_name_order_and_escapes() -> None:
    from lastcall.server.tls_extension import rfc4514_name

    subject = (
        (("countryName", "NZ"),),
        (("organizationName", "Acme, Inc."),),
        (("commonName", " alice+bob"), ("userId", "7")),
    )
    assert rfc4514_name(subject) == "CN=\\ alice\\+bob+UID=7,O=Acme\\, Inc.,C=NZ"
