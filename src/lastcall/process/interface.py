"""What the upgrade socket and the file watcher need of a running supervisor.

A Protocol, so that ``upgrade.py`` and ``watch.py`` depend on this small
surface rather than on ``supervisor.py``, which uses them (no import cycle).
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from lastcall.observe import Observer

from .sockets import ListenSocket

__all__ = ["RunningSupervisor"]


class RunningSupervisor(Protocol):
    """The supervisor as its helpers see it (``supervisor.Supervisor``)."""

    observer: Observer
    sockets: list[ListenSocket]
    current_generation: int
    is_draining: bool

    @property
    def start_timeout(self) -> float: ...

    def reload(self, reason: str = ...) -> asyncio.Task[bool]: ...

    def drain(self, reason: str = ...) -> None: ...
