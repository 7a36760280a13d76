"""Processes: a supervisor, generations of workers, reload and upgrade without a lost request.

``lastcall serve --workers N`` (or ``--upgrade-socket``, ``--reload``) runs
``supervise``: the supervisor binds every listening socket once and keeps it
open for the life of the service, while worker processes that serve it come
and go -- crashed ones replaced, whole generations reloaded on SIGHUP, the
supervisor itself replaced by ``--upgrade`` (the sockets passed over a Unix
socket). docs/server/processes.md draws the timelines.

Modules: ``sockets`` (bind, adopt, systemd), ``worker`` (the worker process),
``spawn`` (a worker as the supervisor sees it), ``backoff`` (crash restarts),
``supervisor`` (generations, signals, reload), ``notify`` (sd_notify).
"""

from __future__ import annotations

import asyncio

from lastcall.errors import ConfigError
from lastcall.observe import Observer
from lastcall.server.config import ServerConfig

from .supervisor import Supervisor

__all__ = ["DEMO_APP", "Supervisor", "supervise"]

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
    supervisor = Supervisor(config, observer=observer)
    return asyncio.run(supervisor.run())
