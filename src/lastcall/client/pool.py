"""The pool's decisions, as one pure function (after httpcore's ``_assign_requests_to_connections``).

``decide(entries, ...)`` looks at the connections of one origin and says what a
request that wants a connection should do: reuse one, open one, or wait; and
which idle connections to close on the way. It does no I/O, reads no clock
(``now`` is passed in) and changes nothing, so every rule below has a unit
test without sockets. ``manager.py`` carries the decision out.

Rules, in order:

1. Connections that are not READY for new requests (CONNECTING, DRAINING,
   CLOSED) are never reused. DRAINING and CLOSED ones do not count against
   ``max_connections``: a connection that received GOAWAY leaves the pool at
   once (RFC 9113 §6.8) and must not hold back its replacement.
2. Idle HTTP/1.1 connections past ``keepalive_expiry`` are closed, and so are
   the oldest idle ones beyond ``max_keepalive_connections``.
3. Reuse, best first: an HTTP/2 connection with a free stream slot (the one
   with the most streams in use, to keep traffic on few connections as RFC
   9113 §9.1 asks); else the most recently used idle HTTP/1.1 connection (LIFO,
   so the rest age out and close).
4. Else, if a connection that will be (or may be) multiplexed is still
   CONNECTING, wait for it rather than open a second one: one HTTP/2 connection
   serves everybody once its SETTINGS arrive.
5. Else open a connection if the origin is below ``max_connections``.
6. Else wait until a connection frees a slot, closes or starts draining.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar


class ConnState(enum.Enum):
    """A pooled connection's phase, as the pool sees it."""

    CONNECTING = "connecting"
    READY = "ready"
    DRAINING = "draining"
    CLOSED = "closed"


class PoolEntry(Protocol):
    """What ``decide`` reads of a connection (read-only)."""

    @property
    def state(self) -> ConnState: ...

    @property
    def is_multiplexed(self) -> bool | None:
        """True for HTTP/2, False for HTTP/1.1, None while ALPN has not said yet."""
        ...

    @property
    def free_slots(self) -> int:
        """Requests it would take now: HTTP/1.1 1 or 0; HTTP/2 free stream slots."""
        ...

    @property
    def used_slots(self) -> int:
        """Requests in flight on it."""
        ...

    @property
    def idle_since(self) -> float | None:
        """Monotonic time it became idle, None while a request uses it."""
        ...


E = TypeVar("E", bound=PoolEntry)


@dataclass(frozen=True, slots=True)
class Plan(Generic[E]):
    """What to do: ``reuse`` one entry, or ``open`` one, or neither (wait); close ``close``."""

    reuse: E | None = None
    open: bool = False
    close: tuple[E, ...] = ()

    @property
    def must_wait(self) -> bool:
        """Nothing to use and nothing to open: wait for the pool to change."""
        return self.reuse is None and not self.open


def decide(
    entries: Sequence[E],
    *,
    max_connections: int,
    max_keepalive: int,
    keepalive_expiry: float,
    now: float,
) -> Plan[E]:
    """Decide for one request of one origin; see the module docstring for the rules."""
    best_h2: E | None = None
    best_h1: E | None = None
    idle_h1: list[E] = []
    close: list[E] = []
    live = 0
    multiplex_pending = False
    for entry in entries:
        state = entry.state
        if state is ConnState.DRAINING or state is ConnState.CLOSED:
            continue
        live += 1
        if state is ConnState.CONNECTING:
            if entry.is_multiplexed is not False:
                multiplex_pending = True
            continue
        if entry.is_multiplexed:
            if entry.free_slots > 0 and (best_h2 is None or entry.used_slots > best_h2.used_slots):
                best_h2 = entry
            continue
        idle_since = entry.idle_since
        if idle_since is None:
            continue
        if now - idle_since >= keepalive_expiry:
            close.append(entry)
            live -= 1
            continue
        idle_h1.append(entry)
    if len(idle_h1) > max_keepalive:
        idle_h1.sort(key=_idle_key)
        extra = len(idle_h1) - max_keepalive
        close.extend(idle_h1[:extra])
        live -= extra
        idle_h1 = idle_h1[extra:]
    if best_h2 is not None:
        return Plan(reuse=best_h2, close=tuple(close))
    for entry in idle_h1:
        if best_h1 is None or _idle_key(entry) > _idle_key(best_h1):
            best_h1 = entry
    if best_h1 is not None:
        return Plan(reuse=best_h1, close=tuple(close))
    if multiplex_pending:
        return Plan(close=tuple(close))
    return Plan(open=live < max_connections, close=tuple(close))


def _idle_key(entry: PoolEntry) -> float:
    since = entry.idle_since
    return since if since is not None else float("inf")
