"""Listeners: ``--bind HOST:PORT`` (IPv4, ``[IPv6]:PORT``), ``unix:PATH`` and ``fd://N``.

``fd://N`` serves a socket that is already bound and listening, inherited as
file descriptor N: from the supervisor (``lastcall.process``), from systemd
socket activation (``LISTEN_FDS``) or from a supervisor such as circus. Such a
socket belongs to whoever passed it: closing our copy stops this process from
accepting while the socket itself (and its accept queue) lives on in the
owner, and a unix socket's path is never unlinked by us.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import stat
from collections.abc import Callable
from dataclasses import dataclass, field

from lastcall.errors import ConfigError

__all__ = ["BindAddress", "Listener", "adopt_socket", "open_listener", "parse_bind", "socket_names"]


@dataclass(frozen=True, slots=True)
class BindAddress:
    """One parsed ``--bind`` value."""

    host: str | None
    port: int | None
    path: str | None = None
    #: An inherited descriptor (``fd://N``): bound and listening already.
    fd: int | None = None

    def __str__(self) -> str:
        if self.fd is not None:
            return f"fd://{self.fd}"
        if self.path is not None:
            return f"unix:{self.path}"
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_bind(value: str) -> BindAddress:
    """Parse ``HOST:PORT``, ``[::1]:PORT``, ``:PORT`` (all interfaces), ``unix:PATH`` or ``fd://N``.

    Pure (no DNS, no socket), so ``ServerConfig.validate`` can reject a bad
    value before anything starts: a port is always required (``localhost``
    alone is an error, not a guess at 8000), and an IPv6 host needs brackets
    (``::1`` alone is ambiguous: host ``:`` port 1?).
    """
    if value.startswith("fd://"):
        try:
            fd = int(value[5:])
        except ValueError:
            raise ConfigError(f"bad --bind {value!r}: fd:// needs a descriptor number") from None
        if fd < 0:
            raise ConfigError(f"bad --bind {value!r}: a descriptor number is >= 0")
        return BindAddress(None, None, fd=fd)
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
    #: What accepted connections are served with (to take over the accept queue).
    factory: Callable[[], asyncio.Protocol] | None = None
    ssl_context: ssl.SSLContext | None = None
    tls_handshake_timeout: float | None = None
    #: The tasks adopting queued connections: held, or the loop may drop them.
    _adopting: set[asyncio.Task[object]] = field(default_factory=set)
    _closing: bool = False

    def close(self) -> None:
        """Stop accepting; accepted connections are kept (asyncio keeps them).

        Connections the kernel has completed but the loop has not accepted yet
        wait in the socket's accept queue, and Linux resets them when the socket
        closes: their clients believe they are connected and may already have
        sent a request (an HTTP/1.1 client cannot tell that reset from a lost
        response, so it does not retry). So a socket this process owns has its
        queue emptied first, and those connections are served like any other
        accepted during a drain (their first request answered with
        ``Connection: close``). An ``fd://`` socket belongs to its owner, whose
        queue lives on: it is left alone.

        The socket itself closes one loop turn later: asyncio's own accept may
        have taken connections in this turn whose transports are made in the
        next, and a closed ``asyncio.Server`` refuses them (they would be reset).
        A second call closes at once.
        """
        if self._closing:
            self.server.close()
        else:
            self._closing = True
            queued = self._take_accept_queue() if self.bind.fd is None else []
            if queued:
                self._serve_queued(queued)
            asyncio.get_running_loop().call_soon(self.server.close)
        if self.bind.path is not None:
            try:
                if stat.S_ISSOCK(os.stat(self.bind.path).st_mode):
                    os.unlink(self.bind.path)
            except OSError:
                pass

    def _take_accept_queue(self) -> list[socket.socket]:
        """Accept, without blocking, every connection already in the queue."""
        if self.factory is None:
            return []
        taken: list[socket.socket] = []
        for listening in self.server.sockets:
            # A duplicate descriptor: asyncio's socket wrapper does not accept.
            own = socket.socket(fileno=os.dup(listening.fileno()))
            try:
                own.setblocking(False)
                while True:
                    try:
                        conn, _ = own.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:  # a queued connection reset by its peer, or EMFILE
                        break
                    conn.setblocking(False)
                    taken.append(conn)
            finally:
                own.close()
        return taken

    def _serve_queued(self, queued: list[socket.socket]) -> None:
        """Hand each taken connection to the loop with a protocol made now, so it
        registers (and holds the drain open) before the drain looks."""
        assert self.factory is not None
        loop = asyncio.get_running_loop()
        timeout = None if self.ssl_context is None else self.tls_handshake_timeout
        for conn in queued:
            protocol = self.factory()
            coro = loop.connect_accepted_socket(
                lambda protocol=protocol: protocol,  # type: ignore[misc]
                conn,
                ssl=self.ssl_context,
                ssl_handshake_timeout=timeout,
            )
            task: asyncio.Task[object] = loop.create_task(coro)
            self._adopting.add(task)
            task.add_done_callback(self._adopted)

    def _adopted(self, task: asyncio.Task[object]) -> None:
        """One queued connection is served, or failed to start (its peer reset it
        meanwhile, which is its right: nothing to serve)."""
        self._adopting.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved

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


def adopt_socket(fd: int, kind: socket.SocketKind) -> socket.socket:
    """The socket behind inherited descriptor ``fd``, checked to be of ``kind``.

    A descriptor that is not open, or not a socket of that kind, is a
    ``ConfigError`` naming it (``socket.socket(fileno=...)`` alone would say
    ``[Errno 9] Bad file descriptor``).
    """
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise ConfigError(f"fd://{fd}: not an open socket ({exc.strerror or exc})") from None
    if sock.type != kind:
        sock.detach()  # not ours to close
        want = "stream (TCP or unix)" if kind == socket.SOCK_STREAM else "datagram (UDP)"
        raise ConfigError(f"fd://{fd}: not a {want} socket")
    sock.setblocking(False)
    return sock


def socket_names(sock: socket.socket) -> list[str]:
    """How a bound socket is named in logs: ``127.0.0.1:8000``, ``[::1]:8000``, ``unix:PATH``."""
    name = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return [f"unix:{name if isinstance(name, str) else name.decode(errors='replace')}"]
    host, port = name[:2]
    return [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]


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
    if bind.fd is not None:
        sock = adopt_socket(bind.fd, socket.SOCK_STREAM)
        if sock.family == socket.AF_UNIX:
            server = await loop.create_unix_server(
                factory,
                sock=sock,
                backlog=backlog,
                ssl=ssl_context,
                ssl_handshake_timeout=handshake_timeout,
            )
        else:
            server = await loop.create_server(
                factory,
                sock=sock,
                backlog=backlog,
                ssl=ssl_context,
                ssl_handshake_timeout=handshake_timeout,
            )
        return Listener(bind, server, socket_names(sock), factory, ssl_context, handshake_timeout)
    if bind.path is not None:
        _remove_stale_socket(bind.path)
        server = await loop.create_unix_server(
            factory,
            bind.path,
            backlog=backlog,
            ssl=ssl_context,
            ssl_handshake_timeout=handshake_timeout,
        )
        return Listener(bind, server, [str(bind)], factory, ssl_context, handshake_timeout)
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
    return Listener(bind, server, names, factory, ssl_context, handshake_timeout)
