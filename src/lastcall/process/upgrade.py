"""Pingora-style upgrade: hand every listening socket to a new process, then drain.

The running supervisor serves ``--upgrade-socket PATH`` (``UpgradeListener``).
A new ``lastcall serve --upgrade --upgrade-socket PATH`` -- a new lastcall, new
app code, new settings -- connects, receives every listening socket
(SCM_RIGHTS; ``handoff.py`` has the wire format), starts its own workers on
them and, once they are ready, asks the old one to drain. Both accept on the
same sockets meanwhile, and the sockets never close, so no client sees a
refused connection or a reset. If the new process fails to start, it says
``abort`` (or just dies): the old one notices and keeps serving.

The same socket takes ``lastcall reload`` (``request_reload``): a SIGHUP that
needs no pid and reports whether the new generation started.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import os
import socket
import stat
from dataclasses import dataclass
from typing import Any

from lastcall.errors import ConfigError
from lastcall.observe import events as oe

from .handoff import HandoffError, recv_message, send_message
from .interface import RunningSupervisor
from .sockets import ListenSocket

__all__ = ["HANDSHAKE_TIMEOUT", "Handoff", "UpgradeListener", "receive_sockets", "request_reload"]

logger = logging.getLogger("lastcall.process")


def _version() -> str:
    """This lastcall's version, as the installed distribution says (told to the peer)."""
    try:
        return importlib.metadata.version("lastcall")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


#: Longest wait for one step of the conversation that is not the new
#: generation's startup (a peer that connects and says nothing). 10 s.
HANDSHAKE_TIMEOUT = 10.0


def _unlink_socket(path: str) -> None:
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)
    except FileNotFoundError:
        pass


# -- the running (old) side -------------------------------------------------------


class UpgradeListener:
    """Serves the upgrade socket of a running supervisor."""

    def __init__(self, supervisor: RunningSupervisor, path: str) -> None:
        self.supervisor = supervisor
        self.path = path
        self._sock: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._is_upgrading = False

    def start(self) -> None:
        _unlink_socket(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(self.path)
            os.chmod(self.path, 0o600)  # whoever may upgrade may take over the service
            sock.listen(8)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._accepting = asyncio.get_running_loop().create_task(self._accept())

    def close(self) -> None:
        """Let go of the path (a new process binds it next); idempotent."""
        if self._accepting is not None:
            self._accepting.cancel()
            self._accepting = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            _unlink_socket(self.path)

    async def _accept(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._sock is not None
        tasks: set[asyncio.Task[None]] = set()
        while True:
            conn, _ = await loop.sock_accept(self._sock)
            task = loop.create_task(self._serve(conn))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async def _serve(self, conn: socket.socket) -> None:
        conn.setblocking(True)
        conn.settimeout(HANDSHAKE_TIMEOUT)
        try:
            message, fds = await asyncio.to_thread(recv_message, conn)
            for fd in fds:
                os.close(fd)
            kind = message["type"]
            if kind == "reload":
                ok = await self.supervisor.reload("lastcall reload")
                reply = {
                    "type": "reloaded",
                    "ok": ok,
                    "generation": self.supervisor.current_generation,
                }
                await asyncio.to_thread(send_message, conn, reply)
            elif kind == "hello":
                await self._hand_off(conn, message)
            else:
                await asyncio.to_thread(
                    send_message, conn, {"type": "error", "reason": f"unknown type {kind!r}"}
                )
        except (HandoffError, OSError) as exc:
            logger.warning("upgrade socket: %s", exc)
        finally:
            conn.close()

    async def _hand_off(self, conn: socket.socket, hello: dict[str, Any]) -> None:
        supervisor = self.supervisor
        if self._is_upgrading or supervisor.is_draining:
            why = "an upgrade is in progress" if self._is_upgrading else "this server is stopping"
            await asyncio.to_thread(send_message, conn, {"type": "error", "reason": why})
            return
        self._is_upgrading = True
        try:
            sockets = supervisor.sockets
            reply = {
                "type": "sockets",
                "version": _version(),
                "pid": os.getpid(),
                "sockets": [listen.describe() for listen in sockets],
            }
            fds = [listen.sock.fileno() for listen in sockets]
            await asyncio.to_thread(send_message, conn, reply, fds)
            peer = str(hello.get("version", "?"))
            loop = asyncio.get_running_loop()
            supervisor.observer.emit(oe.UpgradeHandedOff(loop.time(), len(sockets), peer))
            # The new process now starts its workers: as long as its startup may take.
            conn.settimeout(supervisor.start_timeout + HANDSHAKE_TIMEOUT)
            try:
                answer, _ = await asyncio.to_thread(recv_message, conn)
            except HandoffError as exc:
                logger.error("upgrade: the new process went away (%s); this one keeps serving", exc)
                return
            if answer["type"] != "drain":
                logger.error(
                    "upgrade aborted by the new process (%s); this one keeps serving",
                    answer.get("reason", answer["type"]),
                )
                return
            self.close()
            for listen in sockets:
                listen.owned_path = None  # the new process unlinks unix paths when it stops
            await asyncio.to_thread(send_message, conn, {"type": "draining"})
            supervisor.drain("upgrade: a new process serves")
        finally:
            self._is_upgrading = False


# -- the new side -----------------------------------------------------------------


@dataclass
class Handoff:
    """The sockets received from the running server, and the conversation to finish."""

    conn: socket.socket
    sockets: list[ListenSocket]
    peer_version: str
    peer_pid: int

    def finish(self) -> None:
        """Our workers serve: ask the old server to drain (it lets go of the path first)."""
        try:
            send_message(self.conn, {"type": "drain"})
            answer, _ = recv_message(self.conn)
            if answer["type"] != "draining":
                logger.error("upgrade: the old server answered %r to drain", answer)
        except (HandoffError, OSError) as exc:
            logger.error("upgrade: could not tell the old server to drain: %s", exc)
        finally:
            self.conn.close()

    def abort(self, reason: str) -> None:
        """We failed to start: the old server keeps serving."""
        with contextlib.suppress(OSError):
            send_message(self.conn, {"type": "abort", "reason": reason})
        self.conn.close()


def _connect(path: str) -> socket.socket:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(HANDSHAKE_TIMEOUT)
    try:
        conn.connect(path)
    except OSError as exc:
        conn.close()
        raise ConfigError(
            f"no running lastcall on --upgrade-socket {path} ({exc.strerror or exc})"
        ) from None
    return conn


def receive_sockets(path: str) -> Handoff:
    """Connect to the running server on ``path`` and receive its listening sockets."""
    conn = _connect(path)
    try:
        send_message(conn, {"type": "hello", "version": _version(), "pid": os.getpid()})
        message, fds = recv_message(conn)
        if message["type"] != "sockets":
            for fd in fds:
                os.close(fd)
            raise HandoffError(str(message.get("reason", message["type"])))
        descriptions = message.get("sockets", [])
        if len(descriptions) != len(fds):
            for fd in fds:
                os.close(fd)
            raise HandoffError(f"{len(fds)} descriptors for {len(descriptions)} sockets")
        sockets = []
        for fd, description in zip(fds, descriptions, strict=True):
            sock = socket.socket(fileno=fd)
            sock.setblocking(False)
            sockets.append(
                ListenSocket(
                    sock,
                    bool(description.get("quic")),
                    str(description.get("bind", "")),
                    owned_path=description.get("path"),
                )
            )
    except HandoffError as exc:
        conn.close()
        raise ConfigError(f"upgrade refused by the running server: {exc}") from None
    conn.settimeout(None)  # our startup may take as long as it is allowed to
    return Handoff(conn, sockets, str(message.get("version", "?")), int(message.get("pid", 0)))


def request_reload(path: str, reload_timeout: float) -> tuple[bool, int]:
    """Ask the server on ``path`` to reload; (whether it did, the serving generation)."""
    conn = _connect(path)
    try:
        conn.settimeout(reload_timeout)
        send_message(conn, {"type": "reload"})
        answer, _ = recv_message(conn)
    finally:
        conn.close()
    if answer["type"] != "reloaded":
        raise ConfigError(f"reload refused: {answer.get('reason', answer['type'])}")
    return bool(answer.get("ok")), int(answer.get("generation", 0))
