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
import sys
from typing import Any

from lastcall.errors import ConfigError
from lastcall.observe import Observer
from lastcall.server.asgi import ASGIApp
from lastcall.server.config import ServerConfig

from .supervisor import EXIT_STARTUP_FAILED, Supervisor
from .upgrade import receive_sockets, request_reload

__all__ = ["DEMO_APP", "Supervisor", "app_spec", "request_reload", "serve", "supervise"]

#: What a worker imports when no app is named.
DEMO_APP = "lastcall.server.demo:demo_app"


def serve(
    app: ASGIApp | None = None,
    config: ServerConfig | None = None,
    *,
    observer: Observer | None = None,
    **settings: Any,
) -> int:
    """Serve ``app`` until drained; return the exit code. This is ``lastcall.serve``.

    Keyword settings are the fields of ``ServerConfig``. With one worker (the
    default) it is ``lastcall.server.serve``: this process serves. With
    ``workers > 1``, ``upgrade_socket`` or ``reload`` it runs a supervisor
    (``supervise``): each worker imports the app itself, so ``app`` must be
    importable as ``module:attribute`` (or give ``config.app``), and SIGHUP reloads.
    """
    from lastcall.server import serve as serve_here

    if config is None:
        config = ServerConfig(**settings)
    elif settings:
        raise TypeError("pass either config= or keyword settings, not both")
    if not config.is_supervised:
        return serve_here(app, config, observer=observer)
    if app is not None and config.app is None:
        config.app = app_spec(app)
    return supervise(config, observer=observer)


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


def app_spec(app: ASGIApp) -> str:
    """``module:attribute`` under which ``app`` can be imported again (by a worker)."""
    module_name = getattr(app, "__module__", None)
    module = sys.modules.get(module_name or "")
    if module is not None and module_name != "__main__":
        for attribute, value in vars(module).items():
            if value is app:
                return f"{module_name}:{attribute}"
    raise ConfigError(
        "with workers, each worker imports the app itself: pass it as 'module:attribute'"
        " (ServerConfig.app) rather than as an object"
    )
