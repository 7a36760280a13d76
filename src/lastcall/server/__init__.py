"""``lastcall serve``: an ASGI server for HTTP/1.1, HTTP/2, HTTP/3 and WebSocket that drains by the book."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lastcall.io import loop_factory
from lastcall.observe import Observer

from .asgi import ASGIApp
from .config import ServerConfig, load_config
from .extension import DRAIN_EXTENSION, DrainExtension
from .server import EXIT_OK, EXIT_STARTUP_FAILED, Server

__all__ = [
    "DRAIN_EXTENSION",
    "EXIT_OK",
    "EXIT_STARTUP_FAILED",
    "DrainExtension",
    "Server",
    "ServerConfig",
    "load_config",
    "serve",
]


def serve(
    app: ASGIApp | None = None,
    config: ServerConfig | None = None,
    *,
    observer: Observer | None = None,
    **settings: Any,
) -> int:
    """Serve ``app`` (the demo app if ``None``) until drained; return the exit code.

    Runs its own event loop (uvloop when installed) and handles SIGTERM/SIGINT/SIGHUP:
    the first drains, a second skips to the cancel step. This serves in this
    process; ``lastcall.serve`` (``lastcall.process.serve``) also runs a
    supervisor and workers when ``workers > 1``, ``upgrade_socket`` or ``reload``
    asks for one. Keyword settings are
    the fields of ``ServerConfig`` (``bind=["0.0.0.0:8000"]``, ``graceful_timeout=10``...);
    ``observer`` receives the drain events (the proxy shares its own with the server).
    """
    if config is None:
        config = ServerConfig(**settings)
    elif settings:
        raise TypeError("pass either config= or keyword settings, not both")
    logging.getLogger("lastcall").setLevel(config.log_level.upper())
    if config.is_supervised:
        from lastcall.errors import ConfigError

        raise ConfigError(
            "workers, upgrade_socket and reload need a supervisor: call lastcall.serve"
            " (lastcall.process.serve), which runs one"
        )
    server = Server(app, config, observer=observer)
    with asyncio.Runner(loop_factory=loop_factory(config.loop)) as runner:
        return runner.run(server.serve())
