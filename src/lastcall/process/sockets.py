"""The listening sockets of a supervised service: bound once, never closed while it lives.

The supervisor binds every ``--bind`` (TCP or unix) and ``--quic-bind`` (UDP)
address itself, before any worker exists, and keeps each socket open until
the service stops. Workers receive duplicates as inherited descriptors and
serve them as ``fd://N`` binds (``server/listeners.py``); a worker that drains
closes only its own descriptor. That is the whole trick of a zero-loss reload:
Linux resets the connections waiting in a listening socket's accept queue
only when the *socket* closes, and with the supervisor's copy open it never
does. (SO_REUSEPORT start-then-stop opens a second socket and closes the
first, and the first's queue is reset: see docs/server/processes.md.)

Sockets may also come from elsewhere: ``fd://N`` binds (a supervisor such as
circus), systemd socket activation (``LISTEN_FDS``, ``systemd_sockets``), or
the running server during an upgrade (``upgrade.py``).
"""

from __future__ import annotations

import dataclasses
import os
import socket
import stat
from dataclasses import dataclass

from lastcall.errors import ConfigError
from lastcall.server.config import ServerConfig
from lastcall.server.listeners import adopt_socket, parse_bind, socket_names

__all__ = [
    "DEFAULT_BIND",
    "ListenSocket",
    "bind_sockets",
    "close_sockets",
    "systemd_sockets",
    "worker_config",
]

#: ``ServerConfig.bind``'s default; socket activation replaces it (an explicit
#: ``--bind`` is served beside the activated sockets).
DEFAULT_BIND = ["127.0.0.1:8000"]

#: systemd passes activated sockets from descriptor 3 on (sd_listen_fds(3)).
SD_LISTEN_FDS_START = 3


@dataclass(slots=True)
class ListenSocket:
    """One listening socket the supervisor owns."""

    sock: socket.socket
    #: For HTTP/3: a UDP socket (``--quic-bind``); else TCP or unix (``--bind``).
    is_quic: bool
    #: The bind value that asked for it (``127.0.0.1:8000``, ``fd://3``...).
    bind: str
    #: A unix socket path we bound (and unlink when the service stops).
    owned_path: str | None = None

    @property
    def names(self) -> list[str]:
        names = socket_names(self.sock)
        return [name + "/udp" for name in names] if self.is_quic else names

    def describe(self) -> dict[str, object]:
        """What an upgrade hand-off says about it beside the descriptor (``upgrade.py``)."""
        return {"quic": self.is_quic, "bind": self.bind, "path": self.owned_path}

    def close(self) -> None:
        self.sock.close()
        if self.owned_path is not None:
            try:
                if stat.S_ISSOCK(os.stat(self.owned_path).st_mode):
                    os.unlink(self.owned_path)
            except OSError:
                pass


def _bind_tcp(host: str, port: int, backlog: int) -> list[socket.socket]:
    """Bind ``host:port`` on every address it resolves to, as asyncio's create_server does."""
    infos = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )  # fmt: skip
    sockets: list[socket.socket] = []
    seen: set[tuple[int, object]] = set()
    try:
        for family, kind, proto, _, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(backlog)
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _bind_unix(path: str, backlog: int) -> socket.socket:
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)  # left by a previous run: bind() would fail
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _bind_udp(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind((host, port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def bind_sockets(config: ServerConfig) -> list[ListenSocket]:
    """Bind (or adopt) every listening socket ``config`` asks for.

    ``OSError`` (address in use...) and ``ConfigError`` (a bad ``fd://N``)
    propagate; what was bound before the failure is closed.
    """
    out: list[ListenSocket] = []
    try:
        for value in config.bind:
            bind = parse_bind(value)
            if bind.fd is not None:
                out.append(ListenSocket(adopt_socket(bind.fd, socket.SOCK_STREAM), False, value))
            elif bind.path is not None:
                sock = _bind_unix(bind.path, config.backlog)
                out.append(ListenSocket(sock, False, value, owned_path=bind.path))
            else:
                assert bind.host is not None and bind.port is not None
                out.extend(
                    ListenSocket(sock, False, value)
                    for sock in _bind_tcp(bind.host, bind.port, config.backlog)
                )
        for value in config.quic_bind:
            bind = parse_bind(value)
            if bind.fd is not None:
                out.append(ListenSocket(adopt_socket(bind.fd, socket.SOCK_DGRAM), True, value))
            else:
                assert bind.host is not None and bind.port is not None
                out.append(ListenSocket(_bind_udp(bind.host, bind.port), True, value))
    except BaseException:
        close_sockets(out)
        raise
    return out


def close_sockets(sockets: list[ListenSocket]) -> None:
    for listen in sockets:
        listen.close()


def systemd_sockets(environ: dict[str, str] | None = None) -> tuple[list[str], list[str]]:
    """The sockets systemd activated for this process, as ``fd://N`` binds:
    (stream ones for ``bind``, datagram ones for ``quic_bind``).

    Honoured only when ``LISTEN_PID`` is this process (sd_listen_fds(3)); the
    variables are then removed so that no child takes them for its own.
    """
    env = os.environ if environ is None else environ
    try:
        pid = int(env.get("LISTEN_PID", ""))
        count = int(env.get("LISTEN_FDS", ""))
    except ValueError:
        return [], []
    if pid != os.getpid() or count <= 0:
        return [], []
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        env.pop(name, None)
    streams: list[str] = []
    datagrams: list[str] = []
    for fd in range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + count):
        os.set_inheritable(fd, False)  # ours; workers get what they need by pass_fds
        try:
            kind = socket.socket(fileno=fd)
        except OSError as exc:
            raise ConfigError(f"LISTEN_FDS: descriptor {fd} is not a socket ({exc})") from None
        (datagrams if kind.type == socket.SOCK_DGRAM else streams).append(f"fd://{fd}")
        kind.detach()
    return streams, datagrams


def apply_systemd_sockets(config: ServerConfig, environ: dict[str, str] | None = None) -> None:
    """Serve the sockets systemd activated: they replace the default ``bind``."""
    streams, datagrams = systemd_sockets(environ)
    if not streams and not datagrams:
        return
    if config.bind == DEFAULT_BIND:
        config.bind = []
    config.bind = [*config.bind, *streams]
    config.quic_bind = [*config.quic_bind, *datagrams]
    config.validate()


def worker_config(
    config: ServerConfig, sockets: list[ListenSocket], *, serve_quic: bool
) -> ServerConfig:
    """The configuration one worker serves: the supervisor's sockets as ``fd://N``.

    ``serve_quic`` False leaves HTTP/3 out: a UDP socket read by several
    processes would scatter one QUIC connection's datagrams among them, so
    only one worker per generation serves it (docs/server/processes.md).
    """
    streams = [f"fd://{s.sock.fileno()}" for s in sockets if not s.is_quic]
    datagrams = [f"fd://{s.sock.fileno()}" for s in sockets if s.is_quic]
    return dataclasses.replace(
        config,
        bind=streams,
        quic_bind=datagrams if serve_quic else [],
        workers=1,
        # One metrics port cannot be bound by every worker, nor by two
        # generations at once during a reload: not served under a supervisor yet.
        metrics_bind=None,
        upgrade_socket=None,
        upgrade=False,
        reload=False,
        daemon=False,
        handle_signals=True,
    )
