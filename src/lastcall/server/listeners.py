"""Listeners: ``--bind HOST:PORT`` (IPv4, ``[IPv6]:PORT``) and ``unix:PATH``."""

from __future__ import annotations

import asyncio
import os
import ssl
import stat
from collections.abc import Callable
from dataclasses import dataclass

from lastcall.errors import ConfigError

__all__ = ["BindAddress", "Listener", "open_listener", "parse_bind"]


@dataclass(frozen=True, slots=True)
class BindAddress:
    """One parsed ``--bind`` value."""

    host: str | None
    port: int | None
    path: str | None = None

    def __str__(self) -> str:
        if self.path is not None:
            return f"unix:{self.path}"
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_bind(value: str) -> BindAddress:
    """Parse ``HOST:PORT``, ``[::1]:PORT``, ``:PORT`` (all interfaces) or ``unix:PATH``.

    Pure (no DNS, no socket), so ``ServerConfig.validate`` can reject a bad
    value before anything starts: a port is always required (``localhost``
    alone is an error, not a guess at 8000), and an IPv6 host needs brackets
    (``::1`` alone is ambiguous: host ``:`` port 1?).
    """
    if value.startswith("unix:"):
        path = value[5:]
        if not path:
            raise ConfigError(f"bad --bind {value!r}: unix: needs a path")
        return BindAddress(None, None, path)
    host, sep, port = value.rpartition(":")
    if not sep:
        raise ConfigError(
            f"bad --bind {value!r}: expected HOST:PORT (e.g. {value}:8000),"
            " [IPv6]:PORT or unix:PATH"
        )
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ConfigError(f"bad --bind {value!r}: an IPv6 address goes in brackets, [::1]:PORT")
    try:
        number = int(port)
    except ValueError:
        raise ConfigError(f"bad --bind {value!r}: port must be a number") from None
    if not 0 <= number <= 65535:
        raise ConfigError(f"bad --bind {value!r}: port out of range")
    return BindAddress(host or "0.0.0.0", number)


@dataclass(slots=True)
class Listener:
    """An open listener: the asyncio server and the addresses it really got."""

    bind: BindAddress
    server: asyncio.Server
    #: Bound addresses, e.g. ``127.0.0.1:53121`` when port 0 was asked for.
    names: list[str]

    def close(self) -> None:
        """Stop accepting; accepted connections are kept (asyncio keeps them)."""
        self.server.close()
        if self.bind.path is not None:
            try:
                if stat.S_ISSOCK(os.stat(self.bind.path).st_mode):
                    os.unlink(self.bind.path)
            except OSError:
                pass

    @property
    def port(self) -> int | None:
        for sock in self.server.sockets:
            name = sock.getsockname()
            if isinstance(name, tuple):
                return int(name[1])
        return None


def _remove_stale_socket(path: str) -> None:
    """A socket file left by a previous run would make bind() fail."""
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)
    except FileNotFoundError:
        pass


async def open_listener(
    bind: BindAddress,
    factory: Callable[[], asyncio.Protocol],
    *,
    ssl_context: ssl.SSLContext | None,
    backlog: int,
    tls_handshake_timeout: float | None = None,
) -> Listener:
    """Open one listener; ``OSError`` (address in use, ...) propagates to the caller.

    ``tls_handshake_timeout`` (with ``ssl_context``) bounds each handshake
    from accept; the loop closes a connection that has not finished by then."""
    # asyncio refuses a handshake timeout without TLS.
    handshake_timeout = None if ssl_context is None else tls_handshake_timeout
    loop = asyncio.get_running_loop()
    if bind.path is not None:
        _remove_stale_socket(bind.path)
        server = await loop.create_unix_server(
            factory,
            bind.path,
            backlog=backlog,
            ssl=ssl_context,
            ssl_handshake_timeout=handshake_timeout,
        )
        return Listener(bind, server, [str(bind)])
    assert bind.port is not None
    server = await loop.create_server(
        factory,
        bind.host,
        bind.port,
        backlog=backlog,
        ssl=ssl_context,
        ssl_handshake_timeout=handshake_timeout,
        reuse_address=True,
    )
    names = []
    for sock in server.sockets:
        host, port = sock.getsockname()[:2]
        names.append(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    return Listener(bind, server, names)
