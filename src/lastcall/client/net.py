"""Opening the socket: TCP, TLS with ALPN, the connect timeout, and error translation.

OSError and ssl errors become ``ConnectError`` / ``ConnectTimeout`` here, once
(STYLE.md: library exceptions are translated at the adapter boundary). Both
are safe to retry: nothing was sent.
"""

from __future__ import annotations

import asyncio
import socket
import ssl

from lastcall.errors import ConnectError, ConnectTimeout

#: Bytes the StreamReader buffers before it stops reading from the socket
#: (TCP backpressure to the server). 256 KiB: four HTTP/2 default windows.
READ_BUFFER_LIMIT = 262_144

#: One ``read()`` takes at most this many bytes: large enough that a busy
#: HTTP/2 connection is parsed in few, big batches.
READ_CHUNK_SIZE = 262_144


def make_ssl_context(verify: bool | str, alpn: list[str]) -> ssl.SSLContext:
    """A client TLS context offering ``alpn`` (RFC 7301), TLS >= 1.2 (RFC 9113 §9.2)."""
    if isinstance(verify, str):
        ctx = ssl.create_default_context(cafile=verify)
    else:
        ctx = ssl.create_default_context()
        if not verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(alpn)
    return ctx


async def open_stream(
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None,
    connect_timeout: float | None,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, str | None]:
    """Connect; return reader, writer and the ALPN protocol chosen (None without TLS)."""
    try:
        async with asyncio.timeout(connect_timeout):
            reader, writer = await asyncio.open_connection(
                host,
                port,
                ssl=ssl_context,
                server_hostname=host if ssl_context is not None else None,
                limit=READ_BUFFER_LIMIT,
            )
    except TimeoutError:
        raise ConnectTimeout(
            f"connect to {host}:{port} took longer than {connect_timeout} s"
        ) from None
    except (OSError, ssl.SSLError) as exc:
        raise ConnectError(f"cannot connect to {host}:{port}: {exc}") from exc
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # pragma: no cover - not a TCP socket
            pass
    alpn: str | None = None
    ssl_object = writer.get_extra_info("ssl_object")
    if ssl_object is not None:
        alpn = ssl_object.selected_alpn_protocol()
    return reader, writer, alpn


def abort_writer(writer: asyncio.StreamWriter) -> None:
    """Close the transport now, dropping anything unsent."""
    transport = writer.transport
    if not transport.is_closing():
        transport.abort()
