"""Processes: a supervisor, generations of workers, reload and upgrade without a lost request.

``lastcall serve --workers N`` (or ``--upgrade-socket``, ``--reload``) runs
``supervise``: the supervisor binds every listening socket once and keeps it
open for the life of the service, while worker processes that serve it come
and go -- crashed ones replaced, whole generations reloaded on SIGHUP, the
supervisor itself replaced by ``--upgrade`` (the sockets passed over a Unix
socket). docs/server/processes.md draws the timelines.

Modules: ``sockets`` (bind, adopt, systemd), ``worker`` (the worker process),
``spawn`` (a worker as the supervisor sees it), ``backoff`` (crash restarts),
``supervisor`` (generations, signals, reload), ``handoff`` (the upgrade
socket's messages) and ``upgrade`` (both sides of the hand-off), ``notify``
(sd_notify).

Programmatic reload: ``Supervisor.reload()`` inside the supervisor's loop, or
``request_reload(upgrade_socket, timeout)`` from anywhere (what ``lastcall
reload`` runs).
"""

from __future__ import annotations

import asyncio
import os

from lastcall.errors import ConfigError
from lastcall.observe import Observer
from lastcall.server.config import ServerConfig

from .supervisor import EXIT_STARTUP_FAILED, Supervisor
from .upgrade import receive_sockets, request_reload

__all__ = ["DEMO_APP", "Supervisor", "request_reload", "supervise"]

#: What a worker imports when no app is named.
DEMO_APP = "lastcall.server.demo:demo_app"


def supervise(config: ServerConfig, *, observer: Observer | None = None) -> int:
    """Run a supervisor for ``config`` until drained; return the exit code.

    The application is named by ``config.app`` (``module:attribute``): each
    worker imports it itself, which is what lets a reload load new code.
    """
    if config.app is None:
        config.app = DEMO_APP
    if ":" not in config.app:
        raise ConfigError(f"app must look like 'module:attribute', got {config.app!r}")
    if config.daemon:
        return _daemonized(config, observer)
    return _supervise(config, observer, None)


def _supervise(config: ServerConfig, observer: Observer | None, ready_fd: int | None) -> int:
    handoff = None
    if config.upgrade:
        assert config.upgrade_socket is not None  # ServerConfig.validate
        handoff = receive_sockets(config.upgrade_socket)
    supervisor = Supervisor(config, observer=observer, handoff=handoff)
    if ready_fd is not None:

        def tell_parent() -> None:
            os.write(ready_fd, b"1")
            os.close(ready_fd)

        supervisor.on_serving.append(tell_parent)
    return asyncio.run(supervisor.run())


def _daemonized(config: ServerConfig, observer: Observer | None) -> int:
    """Fork; the parent returns 0 once the child serves, 3 if it failed to start.

    So ``ExecReload=lastcall serve ... --upgrade --daemon`` returns when the
    hand-off is done, and the child names itself systemd's main process
    (``MAINPID=``, sd_notify) once it serves.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: serves, in a session of its own
        os.close(read_end)
        os.setsid()
        code = _supervise(config, observer, write_end)
        os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        ready = pipe.read(1) == b"1"
    return 0 if ready else EXIT_STARTUP_FAILED
