"""ASGI lifespan: startup before the first connection, shutdown after the last.

Modes (``--lifespan``): ``on`` requires the app to support it; ``auto`` (the
default) tolerates apps that do not, recognised by raising *before* they ask
for the startup message (uvicorn treats any error as "unsupported", which hides
real startup failures -- we do not); ``off`` skips it.

A startup failure (``lifespan.startup.failed``, or an exception after the app
received ``lifespan.startup``) stops the server before it listens, with the
app's message, and a nonzero exit code.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from .asgi import ASGI_VERSION, ASGIApp, Message

__all__ = ["Lifespan", "LifespanFailure"]

logger = logging.getLogger("lastcall.server")


class LifespanFailure(Exception):
    """Lifespan startup failed; the message says why (it is shown to the user)."""


class Lifespan:
    """Runs the app's lifespan protocol in one task."""

    def __init__(self, app: ASGIApp, mode: str, state: dict[str, Any]) -> None:
        self.app = app
        self.mode = mode
        self.state = state
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._startup_done: asyncio.Future[str | None] | None = None
        self._shutdown_done: asyncio.Future[str | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._received_startup = False
        self._supported = True

    async def startup(self) -> None:
        """Run startup; raise ``LifespanFailure`` if the app reports a failure."""
        if self.mode == "off":
            self._supported = False
            return
        loop = asyncio.get_running_loop()
        self._startup_done = loop.create_future()
        self._shutdown_done = loop.create_future()
        self._task = loop.create_task(self._main())
        await self._inbox.put({"type": "lifespan.startup"})
        failure = await self._startup_done
        if failure is not None:
            raise LifespanFailure(failure)

    async def shutdown(self) -> bool:
        """Run shutdown; return False if the app reported a failure."""
        if not self._supported or self._task is None or self._shutdown_done is None:
            return True
        if self._task.done():
            return True
        await self._inbox.put({"type": "lifespan.shutdown"})
        failure = await self._shutdown_done
        if failure is not None:
            logger.error("lifespan shutdown failed: %s", failure)
            return False
        return True

    async def _receive(self) -> Message:
        message = await self._inbox.get()
        if message["type"] == "lifespan.startup":
            self._received_startup = True
        return message

    async def _send(self, message: Message) -> None:
        kind = message["type"]
        text = message.get("message", "") or ""
        assert self._startup_done is not None and self._shutdown_done is not None
        if kind == "lifespan.startup.complete":
            _resolve(self._startup_done, None)
        elif kind == "lifespan.startup.failed":
            _resolve(self._startup_done, text or "the app reported lifespan.startup.failed")
        elif kind == "lifespan.shutdown.complete":
            _resolve(self._shutdown_done, None)
        elif kind == "lifespan.shutdown.failed":
            _resolve(self._shutdown_done, text or "the app reported lifespan.shutdown.failed")
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} in lifespan")

    async def _main(self) -> None:
        assert self._startup_done is not None and self._shutdown_done is not None
        scope = {"type": "lifespan", "asgi": ASGI_VERSION, "state": self.state}
        try:
            await self.app(scope, self._receive, self._send)
        except Exception as exc:
            if self.mode == "auto" and not self._received_startup:
                self._supported = False
                logger.debug("the app does not support ASGI lifespan (%r)", exc)
                _resolve(self._startup_done, None)
            else:
                message = f"{type(exc).__name__}: {exc}"
                if not self._startup_done.done():
                    logger.error("lifespan startup raised", exc_info=exc)
                _resolve(self._startup_done, message)
                _resolve(self._shutdown_done, message)
        finally:
            # An app that returns without answering: startup counts as done
            # (auto) or failed (on); shutdown as done.
            if not self._startup_done.done():
                if self.mode == "on" and self._received_startup:
                    _resolve(self._startup_done, "the app returned during lifespan startup")
                else:
                    self._supported = self._received_startup
                    _resolve(self._startup_done, None)
            _resolve(self._shutdown_done, None)


def _resolve(future: asyncio.Future[str | None], value: str | None) -> None:
    if not future.done():
        future.set_result(value)
