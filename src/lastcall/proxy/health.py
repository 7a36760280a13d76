"""Active health checks: GET a path on each backend now and then; 2xx is healthy.

A backend turns unhealthy after ``unhealthy_threshold`` failed checks in a
row and healthy again after ``healthy_threshold`` passed ones (Envoy's and
nginx plus's two thresholds, so one lost packet does not flap it). Every
passed check also ends a passive ejection at once (``ejection.py``).
Backends start healthy: a proxy that starts next to its backends routes at
once, and passive ejection covers the ones that are not there.

The counting is pure (``HealthCounter``); ``HealthChecker`` is the asyncio
shell: one task per backend, sleeping ``interval`` between checks (a
periodic timer is what a health check is), cancelled when the proxy stops.
A check uses the group's own upstream client, so it goes over the same
protocol and TLS settings as the traffic it vouches for.
"""

from __future__ import annotations

import asyncio
import logging

from lastcall.errors import LastcallError

from .config import HealthCheckSettings
from .upstream import Backend, UpstreamGroup

__all__ = ["HealthChecker", "HealthCounter"]

logger = logging.getLogger("lastcall.proxy")


class HealthCounter:
    """One backend's streak of passed or failed checks, and the verdict it gives."""

    __slots__ = ("_healthy_after", "_streak", "_unhealthy_after", "healthy")

    def __init__(self, settings: HealthCheckSettings) -> None:
        self._healthy_after = settings.healthy_threshold
        self._unhealthy_after = settings.unhealthy_threshold
        #: Passed (> 0) or failed (< 0) checks in a row.
        self._streak = 0
        self.healthy = True

    def record(self, passed: bool) -> bool:
        """Count one check; return the verdict (changed only at a threshold)."""
        if passed:
            self._streak = self._streak + 1 if self._streak > 0 else 1
            if not self.healthy and self._streak >= self._healthy_after:
                self.healthy = True
        else:
            self._streak = self._streak - 1 if self._streak < 0 else -1
            if self.healthy and -self._streak >= self._unhealthy_after:
                self.healthy = False
        return self.healthy


class HealthChecker:
    """Checks every backend of one group until ``aclose``."""

    def __init__(self, group: UpstreamGroup, settings: HealthCheckSettings) -> None:
        assert settings.path is not None
        self._group = group
        self._settings = settings
        self._path = settings.path
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for backend in self._group.backends:
            self._tasks.append(loop.create_task(self._run(backend)))

    async def check(self, backend: Backend) -> bool:
        """One check: a 2xx within ``timeout``."""
        try:
            async with asyncio.timeout(self._settings.timeout):
                response = await backend.client.get(backend.base + self._path)
        except (LastcallError, TimeoutError, OSError) as exc:
            logger.debug("health check of %s failed: %s", backend.url, exc)
            return False
        return 200 <= response.status_code < 300

    async def _run(self, backend: Backend) -> None:
        counter = HealthCounter(self._settings)
        loop = asyncio.get_running_loop()
        while True:
            healthy = counter.record(await self.check(backend))
            self._group.health_checked(backend, loop.time(), healthy)
            await asyncio.sleep(self._settings.interval)

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        self._tasks.clear()
