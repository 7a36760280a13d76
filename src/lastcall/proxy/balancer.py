"""Which backend of a group takes the next attempt: pure choices, no I/O.

Three rules, picked per group (``balancer = ...``):

* ``round_robin``: each in turn (nginx's and Envoy's default);
* ``least_outstanding``: the one with the fewest requests in flight, ties
  taken in turn (nginx ``least_conn``, Envoy ``LEAST_REQUEST`` with all hosts);
* ``p2c``: two at random, the less busy of the two (Mitzenmacher's power of
  two choices; Envoy's ``LEAST_REQUEST`` default with ``choice_count`` 2): near
  least-outstanding balance without scanning, and no herd when many proxies
  share the same counts.

A backend already tried by this request is skipped while others remain
(then any may be tried again: a backend that refused a stream may well take
it on a new connection). A backend that is ejected (passive) or unhealthy
(active checks) is skipped; when that leaves none, the choice is made among
all of them anyway (Envoy's "panic" routing): sending to a backend that might
fail beats answering 503 for certain.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Protocol, TypeVar

__all__ = ["Balancer", "Candidate", "choose"]


class Candidate(Protocol):
    """What the balancer reads of a backend."""

    @property
    def outstanding(self) -> int:
        """Requests in flight to it now."""
        ...

    def is_available(self, now: float) -> bool:
        """Neither ejected nor failing its health checks at ``now``."""
        ...


C = TypeVar("C", bound=Candidate)


def _pick(rule: str, pool: Sequence[C], start: int, random: Callable[[], float]) -> C:
    if rule == "round_robin":
        return pool[start % len(pool)]
    if rule == "least_outstanding":
        n = len(pool)
        best = pool[start % n]
        for i in range(1, n):
            candidate = pool[(start + i) % n]
            if candidate.outstanding < best.outstanding:
                best = candidate
        return best
    # p2c
    n = len(pool)
    if n == 1:
        return pool[0]
    first = int(random() * n)
    second = int(random() * (n - 1))
    if second >= first:
        second += 1
    a, b = pool[first], pool[second]
    return b if b.outstanding < a.outstanding else a


def choose(
    rule: str,
    backends: Sequence[C],
    *,
    now: float,
    turn: int,
    random: Callable[[], float],
    tried: Collection[C] = (),
) -> C | None:
    """The backend for the next attempt; None only when there is no backend.

    ``turn`` is a counter the caller increments per choice (the round-robin
    position); ``random`` returns floats in [0, 1) (``p2c`` only).
    """
    if not backends:
        return None
    pool = backends
    if tried:
        pool = [b for b in backends if b not in tried] or backends
    available = [b for b in pool if b.is_available(now)]
    if len(available) != len(pool):
        pool = available or pool
    return _pick(rule, pool, turn, random)


class Balancer:
    """The per-group state of the choice: whose turn it is, and the random source."""

    __slots__ = ("_random", "_turn", "rule")

    def __init__(self, rule: str, random: Callable[[], float]) -> None:
        self.rule = rule
        self._random = random
        self._turn = 0

    def choose(self, backends: Sequence[C], now: float, tried: Collection[C] = ()) -> C | None:
        """See ``choose``; advances the turn."""
        turn = self._turn
        self._turn = turn + 1
        return choose(self.rule, backends, now=now, turn=turn, random=self._random, tried=tried)
