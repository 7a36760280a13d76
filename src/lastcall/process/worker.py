"""A worker process: ``python -m lastcall.process.worker``, started by the supervisor.

It is a plain ``Server`` serving the supervisor's sockets as ``fd://N``
binds, so a worker drains exactly as a lone ``lastcall serve`` does (the
supervisor sends SIGTERM; a second SIGTERM skips to the cancel step).
Being a fresh interpreter, it imports the application anew: that is what
makes a reload load new code.

It talks to the supervisor over one inherited Unix stream socket (the
*control* socket):

- it writes ``ready\\n`` once its lifespan startup has completed and it
  accepts, which is what lets a reload drain the old generation;
- it drains by itself when the control socket reaches end of file, i.e. the
  supervisor is gone (killed with SIGKILL, say), so no worker outlives it
  serving stale sockets for ever.

Its settings arrive as JSON in ``LASTCALL_WORKER`` (the ``ServerConfig``
fields, the control descriptor, its generation and slot).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sys
from typing import Any

from lastcall.errors import ConfigError
from lastcall.observe import Observer
from lastcall.observe.logs import TEXT_FORMAT, configure_logging
from lastcall.server.config import ServerConfig

from .spec import READY_LINE, WORKER_ENV

__all__ = ["main"]

EXIT_USAGE = 2
EXIT_STARTUP_FAILED = 3

logger = logging.getLogger("lastcall.worker")


async def _serve(config: ServerConfig, app: Any, control: socket.socket) -> int:
    from lastcall.server import Server

    # An app that reports through an observer of its own (the proxy's) shares it.
    observer = getattr(app, "observer", None)
    server = Server(app, config, observer=observer if isinstance(observer, Observer) else None)
    reader, writer = await asyncio.open_connection(sock=control)
    serving = asyncio.create_task(server.serve())
    started = server.started
    waits: set[asyncio.Future[Any]] = {serving, started}
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    if started.done() and started.exception() is None:
        writer.write(READY_LINE)
        try:
            await writer.drain()
        except OSError:
            pass  # the supervisor is gone; the EOF below drains us

    async def drain_when_orphaned() -> None:
        await reader.read()  # EOF: the supervisor exited or was killed
        server.drain(reason="supervisor gone")

    watch = asyncio.create_task(drain_when_orphaned())
    try:
        return await serving
    finally:
        watch.cancel()
        writer.close()


def main() -> int:
    """Entry point of a worker process; the exit code goes back to the supervisor."""
    raw = os.environ.pop(WORKER_ENV, None)
    if raw is None:
        print("lastcall.process.worker: started by the supervisor only", file=sys.stderr)
        return EXIT_USAGE
    spec = json.loads(raw)
    config = ServerConfig(**spec["config"])
    configure_logging(config.log_level, config.log_format, config.log_config)
    if config.log_config is None and config.log_format == "text":
        # Which worker said it: the pid beside the logger's name.
        for handler in logging.getLogger().handlers:
            handler.setFormatter(
                logging.Formatter(TEXT_FORMAT.replace("%(name)s", "%(name)s[%(process)d]"))
            )
    logging.getLogger("lastcall").setLevel(config.log_level.upper())
    control = socket.socket(fileno=spec["control_fd"])
    from lastcall.io import loop_factory
    from lastcall.server.app_loading import import_app

    try:
        app = (
            import_app(config.app, factory=config.factory, app_dir=config.app_dir)
            if config.app
            else None
        )
    except ConfigError as exc:
        logger.error("cannot load the app: %s", exc)
        return EXIT_USAGE
    except Exception:
        logger.exception("importing %s failed", config.app)
        return EXIT_STARTUP_FAILED
    with asyncio.Runner(loop_factory=loop_factory(config.loop)) as runner:
        return runner.run(_serve(config, app, control))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
