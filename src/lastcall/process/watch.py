"""``--reload``: a file changed under the working directory, so reload (development only).

The change goes through the same path as SIGHUP (``Supervisor.reload``): the
new workers start with the edited code, and only once they serve do the old
ones drain -- so a developer's edit never drops a request that was open,
and a syntax error leaves the last good code serving (the log says why).
Watching is ``watchfiles`` (Rust ``notify``; what uvicorn uses), which
batches a burst of writes -- an editor's save, a ``git checkout`` -- into
one change set, so one edit is one reload.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from lastcall.errors import ConfigError

from .interface import RunningSupervisor

__all__ = ["WATCHED_SUFFIXES", "watch_and_reload"]

logger = logging.getLogger("lastcall.process")

#: Files whose change reloads: Python code and the configuration next to it.
WATCHED_SUFFIXES = (".py", ".toml", ".json", ".yaml", ".yml", ".ini", ".env")


def _is_watched(path: str) -> bool:
    name = Path(path).name
    return name.endswith(WATCHED_SUFFIXES) and not name.startswith(".")


async def watch_and_reload(supervisor: RunningSupervisor, directory: str | None = None) -> None:
    """Reload ``supervisor`` whenever a watched file under ``directory`` (cwd) changes."""
    try:
        import watchfiles
    except ImportError:
        raise ConfigError("--reload needs watchfiles: pip install 'lastcall[reload]'") from None
    root = directory or os.getcwd()

    def watch_filter(_change: object, path: str) -> bool:
        return _is_watched(path) and "__pycache__" not in path

    changes_seen = watchfiles.awatch(root, watch_filter=watch_filter)
    next_changes = asyncio.ensure_future(anext(changes_seen))
    # One loop turn runs the generator up to its first wait, by which time
    # its watches are registered: from now on, no edit is missed.
    await asyncio.sleep(0)
    logger.info("watching %s for changes (%s)", root, " ".join(WATCHED_SUFFIXES))
    try:
        while True:
            changes = await next_changes
            names = sorted({path.removeprefix(root).lstrip(os.sep) for _, path in changes})
            logger.info("files changed (%s): reloading", ", ".join(names[:5]))
            await supervisor.reload("files changed")
            next_changes = asyncio.ensure_future(anext(changes_seen))
    finally:
        next_changes.cancel()
        await changes_seen.aclose()
