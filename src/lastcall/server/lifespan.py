"""ASGI lifespan: startup before the first connection, shutdown after the last.

Modes (``--lifespan``): ``on`` requires the app to support it; ``auto`` (the
default) tolerates apps that do not, recognised by raising *before* they ask
for the startup message (uvicorn treats any error as "unsupported", which hides
real startup failures -- we do not); ``off`` skips it.

A startup failure (``lifespan.startup.failed``, or an exception after the app
received ``lifespan.startup``) stops the server before it listens, with the
app's message, and a nonzero exit code.

Every wait here has a deadline (DESIGN.md, "Timing rules"): an app whose
startup never answers would otherwise hold the process before it listens,
deaf to SIGTERM, and one whose shutdown never answers would hold it after
the drain is over. ``lifespan_startup_timeout`` and
``lifespan_shutdown_timeout`` (config.py) bound the two waits, and the
server can cut either one short (``stop``: a signal). When we give up, the
lifespan task is cancelled, so the app's startup or shutdown code unwinds
rather than running on behind a server that has moved on.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from .asgi import ASGI_VERSION, ASGIApp, Message

if TYPE_CHECKING:
    from lastcall.io.driver import Clock

__all__ = ["LIFESPAN_CANCEL_TIMEOUT", "Lifespan", "LifespanFailure"]

logger = logging.getLogger("lastcall.server")

#: Once we give up on the app's lifespan (timeout or signal), how long its
#: cancelled task gets to unwind before the server goes on without it. A task
#: that honours cancellation ends within a loop turn; this only bounds one
#: that does not (the same role as ``QUIC_ENDPOINT_CLOSE_TIMEOUT``).
LIFESPAN_CANCEL_TIMEOUT = 1.0


class LifespanFailure(Exception):
    """Lifespan startup failed, timed out or was interrupted; the message says
    why (it is shown to the user)."""


class Lifespan:
    """Runs the app's lifespan protocol in one task."""

    def __init__(
        self,
        app: ASGIApp,
        mode: str,
        state: dict[str, Any],
        *,
        startup_timeout: float,
        shutdown_timeout: float,
        clock: Clock | None = None,
    ) -> None:
        self.app = app
        self.mode = mode
        self.state = state
        #: ``lifespan_startup_timeout`` / ``lifespan_shutdown_timeout`` (config.py).
        self.startup_timeout = startup_timeout
        self.shutdown_timeout = shutdown_timeout
        #: What the deadlines run on: the running loop, or a test's ``FakeClock``.
        self._clock = clock
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._startup_done: asyncio.Future[str | None] | None = None
        self._shutdown_done: asyncio.Future[str | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._received_startup = False
        self._supported = True

    async def startup(self, stop: asyncio.Future[str] | None = None) -> None:
        """Run startup; raise ``LifespanFailure`` if the app reports a failure,
        does not answer within ``startup_timeout``, or ``stop`` resolves first
        (with the reason, e.g. ``"SIGTERM"``)."""
        if self.mode == "off":
            self._supported = False
            return
        loop = asyncio.get_running_loop()
        self._startup_done = loop.create_future()
        self._shutdown_done = loop.create_future()
        self._task = loop.create_task(self._main())
        await self._inbox.put({"type": "lifespan.startup"})
        outcome = await self._wait(self._startup_done, self.startup_timeout, stop)
        if isinstance(outcome, _GaveUp):
            if outcome.reason is None:
                raise LifespanFailure(
                    f"lifespan startup did not complete within {self.startup_timeout:g} s"
                    " (lifespan_startup_timeout)"
                )
            raise LifespanFailure(
                f"{outcome.reason} before lifespan startup completed; stopping without serving"
            )
        if outcome is not None:
            raise LifespanFailure(outcome)

    async def shutdown(self, stop: asyncio.Future[str] | None = None) -> bool:
        """Run shutdown; return False if the app reported a failure, did not
        answer within ``shutdown_timeout``, or ``stop`` resolved first."""
        if not self._supported or self._task is None or self._shutdown_done is None:
            return True
        if self._task.done():
            return True
        await self._inbox.put({"type": "lifespan.shutdown"})
        outcome = await self._wait(self._shutdown_done, self.shutdown_timeout, stop)
        if isinstance(outcome, _GaveUp):
            if outcome.reason is None:
                logger.error(
                    "lifespan shutdown did not complete within %g s (lifespan_shutdown_timeout);"
                    " exiting without it",
                    self.shutdown_timeout,
                )
            else:
                logger.warning("%s during lifespan shutdown: exiting without it", outcome.reason)
            return False
        if outcome is not None:
            logger.error("lifespan shutdown failed: %s", outcome)
            return False
        return True

    async def _wait(
        self, done: asyncio.Future[str | None], within: float, stop: asyncio.Future[str] | None
    ) -> str | _GaveUp | None:
        """The app's answer (``None`` or a failure message), or ``_GaveUp``
        after cancelling its task, ``within`` seconds or when ``stop`` resolves."""
        waits: set[asyncio.Future[Any]] = {done}
        if stop is not None:
            waits.add(stop)
        await self._wait_first(waits, within)
        if done.done():
            return done.result()
        reason = stop.result() if stop is not None and stop.done() else None
        await self._cancel_task()
        return _GaveUp(reason)

    async def _wait_first(self, waits: set[asyncio.Future[Any]], within: float) -> None:
        """Return when one of ``waits`` is done or ``within`` seconds have passed
        on the clock (``asyncio.wait``'s timeout would follow the loop's time
        only, and a test's fake clock could not end the wait)."""
        loop = asyncio.get_running_loop()
        clock: Clock = self._clock if self._clock is not None else loop
        expired: asyncio.Future[None] = loop.create_future()

        def expire() -> None:
            if not expired.done():
                expired.set_result(None)

        timer = clock.call_at(clock.time() + within, expire)
        try:
            await asyncio.wait({*waits, expired}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            expired.cancel()

    async def _cancel_task(self) -> None:
        task = self._task
        if task is None or task.done():
            return
        task.cancel()
        await self._wait_first({task}, LIFESPAN_CANCEL_TIMEOUT)
        if not task.done():
            logger.error(
                "the lifespan task ignored cancellation for %g s; leaving it behind",
                LIFESPAN_CANCEL_TIMEOUT,
            )

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


class _GaveUp:
    """We stopped waiting: at the deadline (``reason`` None) or for ``reason``."""

    __slots__ = ("reason",)

    def __init__(self, reason: str | None) -> None:
        self.reason = reason


def _resolve(future: asyncio.Future[str | None], value: str | None) -> None:
    if not future.done():
        future.set_result(value)
