"""Opening an HTTP/3 connection: address, UDP socket, QUIC and TLS settings, handshake.

The QUIC counterpart of ``net.py``. ``open_http3_connection`` resolves the
host (IP literals skip the resolver), makes an ``Http3Connection`` on a
connected UDP socket per address, runs the QUIC handshake (RFC 9001 §4.1)
under the connect timeout, and returns it READY. Failures become
``ConnectError`` / ``ConnectTimeout`` here, once: nothing was sent, so both
are safe to retry.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl

from aioquic.quic.configuration import QuicConfiguration

from lastcall.engines.http3 import H3_ALPN, Http3Config
from lastcall.errors import ConnectError, ConnectTimeout

from .config import ClientConfig
from .conn import ConnectionLimits, ConnectionOwner
from .http3 import Http3Connection
from .models import URL


def make_quic_configuration(verify: bool | str, server_name: str) -> QuicConfiguration:
    """aioquic's client TLS settings: ALPN "h3" (RFC 9114 §3.1), SNI and verification.

    ``verify`` True checks the certificate against the system's (certifi's)
    CAs, a string names a CA bundle file, False checks nothing (tests only).
    """
    configuration = QuicConfiguration(
        is_client=True, alpn_protocols=[H3_ALPN], server_name=server_name
    )
    if isinstance(verify, str):
        configuration.load_verify_locations(cafile=verify)
    elif not verify:
        configuration.verify_mode = ssl.CERT_NONE
    return configuration


async def open_http3_connection(
    url: URL,
    owner: ConnectionOwner,
    *,
    connection_id: int,
    limits: ConnectionLimits,
    config: ClientConfig,
    connect_timeout: float | None,
    engine_config: Http3Config | None = None,
    port: int | None = None,
) -> Http3Connection:
    """Resolve ``url``'s host, run the QUIC handshake, return a READY connection.

    ``port`` is the UDP port when it is not the URL's (an ``Alt-Svc``
    alternative); the connection still belongs to ``url``'s origin, and the
    certificate is still checked against ``url``'s host (RFC 7838 §2.1).

    Addresses are tried in resolver order; one that answers with ICMP "port
    unreachable" is skipped at once. ``connect_timeout`` bounds the whole
    attempt. Raises ``ConnectError`` / ``ConnectTimeout`` (nothing was sent:
    safe to retry).
    """
    loop = asyncio.get_running_loop()
    conn: Http3Connection | None = None
    target_port = port or url.port
    try:
        async with asyncio.timeout(connect_timeout):
            targets = _literal_address(url.host, target_port)
            if not targets:
                try:
                    infos = await loop.getaddrinfo(url.host, target_port, type=socket.SOCK_DGRAM)
                except OSError as exc:
                    raise ConnectError(f"cannot resolve {url.host}: {exc}") from exc
                targets = [(info[0], (str(info[4][0]), int(info[4][1]))) for info in infos]
            failure: ConnectError | None = None
            for family, addr in targets:
                conn = Http3Connection(
                    url.origin,
                    owner,
                    connection_id=connection_id,
                    limits=limits,
                    config=config,
                    quic_configuration=make_quic_configuration(config.verify, url.host),
                    engine_config=engine_config,
                )
                try:
                    await conn.connect(family, addr)
                    return conn
                except ConnectError as exc:
                    failure = exc
                    conn.abort(exc)
                    conn = None
            raise failure or ConnectError(f"no address for {url.host}")
    except TimeoutError:
        if conn is not None:
            conn.abort(ConnectTimeout("QUIC handshake timed out"))
        raise ConnectTimeout(
            f"QUIC handshake with {url.host}:{target_port} took longer than {connect_timeout} s"
        ) from None
    except BaseException:
        if conn is not None:
            conn.abort(ConnectError("connection set-up failed"))
        raise


def _literal_address(host: str, port: int) -> list[tuple[int, tuple[str, int]]]:
    """``host`` as (family, address) if it is an IP literal: no resolver round trip."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return []
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    return [(family, (str(address), port))]
