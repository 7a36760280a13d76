"""``lastcall.run(app, **options)``: what ``lastcall serve`` does, from Python.

``uvicorn.run`` and ``granian``'s ``Granian(...).serve()`` are how their users
start a server from a script; this is ours. It does what the command does
after reading its options: loads ``env_file``, sets up logging
(``log_level``, ``log_format``, ``log_config``), finds the app (a callable,
or ``"module:attribute"`` with ``factory`` and ``app_dir``), then serves it
until drained and returns the exit code. The options are ``ServerConfig``'s
fields; unlike the command, ``run`` reads no ``LASTCALL_*`` variable and no
config file, so a script means exactly what it says.

``serve()`` (``lastcall.server``) is the lower-level call: no logging setup,
no app loading, for programs that embed the server in their own setup.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from lastcall.observe.logs import configure_logging

from . import serve
from .app_loading import import_app, load_env_file
from .asgi import ASGIApp
from .config import ServerConfig

__all__ = ["run", "run_config"]


def run(app: ASGIApp | Callable[[], ASGIApp] | str | None = None, **options: Any) -> int:
    """Serve ``app`` (an ASGI callable, ``"module:attribute"``, or ``None`` for the
    demo app) with ``options`` (``ServerConfig`` fields) until drained; return
    the exit code (0 after a drain, 3 if startup failed).

    >>> import lastcall                                                   # doctest: +SKIP
    >>> lastcall.run("myproject.asgi:app", bind=["0.0.0.0:8000"], graceful_timeout=20)  # doctest: +SKIP

    A bad option is a ``ConfigError`` raised before anything starts.
    """
    if isinstance(app, str):
        options["app"] = app
    config = ServerConfig(**options)
    if app is None or isinstance(app, str):
        return run_config(config)
    if config.factory:
        app = cast("Callable[[], ASGIApp]", app)()  # a factory: called with no argument
    return run_config(config, cast("ASGIApp", app))


def run_config(config: ServerConfig, app: ASGIApp | None = None) -> int:
    """``run`` with a ``ServerConfig`` already built (the command builds its own)."""
    if config.env_file is not None:
        load_env_file(config.env_file)
    configure_logging(config.log_level, config.log_format, config.log_config)
    if config.is_supervised:
        # Workers behind a supervisor (lastcall.process): each imports the app
        # itself, so a reload loads new code and the supervisor runs none.
        from lastcall.process import app_spec, supervise

        if app is not None and config.app is None:
            config.app = app_spec(app)
        return supervise(config)
    if app is None and config.app is not None:
        app = import_app(config.app, factory=config.factory, app_dir=config.app_dir)
    return serve(app, config)
