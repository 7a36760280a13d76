"""The drain controller: one shutdown sequence, decided without I/O or clocks.

Theory of operation
-------------------
The asyncio shell (``lastcall.server.server``) feeds the controller what
happened -- startup finished, a signal arrived, ``drain()`` was called, a
deadline passed, the last connection went away, the application shut down --
together with ``now`` (monotonic seconds). The controller answers with
*actions* for the shell to carry out, in order, and exposes ``get_timer()``:
the one absolute deadline the shell must wake up at (aioquic's ``get_timer`` /
``handle_timer`` pattern). The shell never sleeps for a fixed time; it waits
for either the next event or that deadline.

The sequence (docs/server/draining.md, "The server sequence")::

    SERVING --drain--> [PRE_STOP: readiness fails, the application is told
                        (reason "pre_stop"), still accepting, pre_stop_delay]
            --> DRAINING: stop accepting, every connection begin_drain(deadline)
                (``gradual``: one after the other, over the first
                ``drain_spread_fraction`` of the grace period)
            --grace expired / second signal--> CANCELLING: cancel every connection,
                then abort what is still there after close_timeout
            --last connection gone--> STOPPING: lifespan shutdown --> STOPPED

The application learns of the drain at the moment the load balancer does
(``AnnouncePreStop`` follows ``FailReadiness``): a long-lived handler can tell
its client to go elsewhere while the balancer stops routing here. Only the
application is told; on the wire nothing changes until ``DrainConnections``.

``drain()`` records intent and is idempotent; a shorter grace given to a
later call shortens the deadline (a longer one never extends it), as a second
``kill -TERM`` with a smaller budget would expect.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from lastcall.errors import ConfigError

from .phases import ServerInput, ServerPhase, next_server_phase
from .registry import ConnectionRegistry, Drainable
from .retire import DRAIN_STRATEGIES, drain_schedule

__all__ = [
    "PRE_STOP_REASON",
    "AbortConnections",
    "Action",
    "AnnouncePreStop",
    "CancelConnections",
    "DrainConnections",
    "DrainController",
    "DrainSettings",
    "FailReadiness",
    "GradualDrainScheduled",
    "PreStopElapsed",
    "ShutdownApplication",
    "StopAccepting",
]

#: Default whole-drain budget. 30 s matches Kubernetes' default
#: ``terminationGracePeriodSeconds`` (keep pre_stop_delay + graceful_timeout
#: below it); gunicorn 30 s, Armeria 40 s, hypercorn 3 s, Pingora 300 s.
DEFAULT_GRACEFUL_TIMEOUT = 30.0
#: Default pre-stop delay: 0 (Kubernetes users typically set 5-10 s so that
#: endpoints controllers and load balancers stop routing first).
DEFAULT_PRE_STOP_DELAY = 0.0
#: After the cancel step, how long connections get to write their last bytes
#: (503, RST_STREAM(CANCEL), final GOAWAY) and finish their lingering close
#: before their transports are aborted. 2 s = the 1 s lingering close plus
#: margin for a slow writer.
DEFAULT_CLOSE_TIMEOUT = 2.0
#: The drain reason the application sees during the pre-stop delay (readiness
#: already fails; its connection is not draining yet).
PRE_STOP_REASON = ServerPhase.PRE_STOP.value
#: Default drain strategy: every connection is told at once (Envoy's default).
DEFAULT_DRAIN_STRATEGY = "immediate"
#: With the ``gradual`` strategy, the part of the grace period over which the
#: connections are told, one after the other. Half: every client has been told
#: by mid-grace, and the last one told still has half of it to finish.
DEFAULT_DRAIN_SPREAD_FRACTION = 0.5


@dataclass(frozen=True, slots=True)
class DrainSettings:
    """The deadlines of the shutdown sequence (durations in seconds)."""

    #: Whole drain: from "listeners closed" until what is left is cancelled.
    graceful_timeout: float = DEFAULT_GRACEFUL_TIMEOUT
    #: Keep accepting this long after readiness fails, so load balancers notice.
    pre_stop_delay: float = DEFAULT_PRE_STOP_DELAY
    #: After cancelling, how long before transports are aborted outright.
    close_timeout: float = DEFAULT_CLOSE_TIMEOUT
    #: ``immediate``: every connection is told at once; ``gradual``: oldest first,
    #: spread over ``drain_spread_fraction`` of the grace period.
    drain_strategy: str = DEFAULT_DRAIN_STRATEGY
    #: The part of the grace period a ``gradual`` drain spreads its notices over.
    drain_spread_fraction: float = DEFAULT_DRAIN_SPREAD_FRACTION

    def __post_init__(self) -> None:
        for name in ("graceful_timeout", "pre_stop_delay", "close_timeout"):
            value = getattr(self, name)
            if not value >= 0.0:  # also rejects NaN
                raise ConfigError(f"{name} must be >= 0 seconds, got {value!r}")
        if self.drain_strategy not in DRAIN_STRATEGIES:
            raise ConfigError(f"drain_strategy must be one of {', '.join(DRAIN_STRATEGIES)}")
        if not 0.0 <= self.drain_spread_fraction <= 1.0:
            raise ConfigError("drain_spread_fraction must be within [0, 1]")


# -- actions the shell carries out, in order ------------------------------------


@dataclass(frozen=True, slots=True)
class Action:
    """Base class of what the controller asks the shell to do."""


@dataclass(frozen=True, slots=True)
class FailReadiness(Action):
    """Readiness answers 503 with ``reason`` from now on."""

    reason: str


@dataclass(frozen=True, slots=True)
class AnnouncePreStop(Action):
    """Tell the application a drain is coming (reason ``PRE_STOP_REASON``); change
    nothing on the wire. Repeated with an earlier ``deadline_at`` if the grace is
    tightened before the pre-stop delay ends."""

    #: When what is left will be cancelled if nothing tightens it: the end of the
    #: pre-stop delay plus the graceful timeout.
    deadline_at: float


@dataclass(frozen=True, slots=True)
class PreStopElapsed(Action):
    """The pre-stop delay is over (reported, then listeners close)."""

    delay: float


@dataclass(frozen=True, slots=True)
class StopAccepting(Action):
    """Close every listener; accepted connections are kept."""


@dataclass(frozen=True, slots=True)
class DrainConnections(Action):
    """Tell live connections to drain, finishing by ``deadline_at``: every one
    (``connections`` None), or, in a gradual drain, those whose turn it is."""

    deadline_at: float
    reason: str
    connections: tuple[Drainable, ...] | None = None


@dataclass(frozen=True, slots=True)
class GradualDrainScheduled(Action):
    """A gradual drain will tell ``connections`` connections, oldest first,
    the last of them by ``last_at`` (reported; ``DrainConnections`` follow)."""

    connections: int
    last_at: float


@dataclass(frozen=True, slots=True)
class CancelConnections(Action):
    """Cut what is left, cleanly by protocol. ``forced`` is a second signal."""

    reason: str
    forced: bool
    remaining_connections: int
    remaining_streams: int


@dataclass(frozen=True, slots=True)
class AbortConnections(Action):
    """The close timeout after cancelling ran out: abort the transports."""

    remaining_connections: int


@dataclass(frozen=True, slots=True)
class ShutdownApplication(Action):
    """No connection is left: run ASGI lifespan shutdown, then report ``shutdown_done``."""


class DrainController:
    """Decides the shutdown sequence of one server; see the module docstring."""

    def __init__(self, registry: ConnectionRegistry, settings: DrainSettings | None = None) -> None:
        self.registry = registry
        self.settings = settings or DrainSettings()
        self.phase = ServerPhase.STARTING
        self.reason = ""
        #: When the drain was first asked for (``None`` while serving).
        self.drain_requested_at: float | None = None
        self._pending: tuple[str, float | None] | None = None
        self._pending_force = False
        self._pre_stop_until: float | None = None
        self._grace: float = self.settings.graceful_timeout
        self._grace_deadline_at: float | None = None
        self._abort_at: float | None = None
        #: Gradual drain: the connections not told yet, with when each is due.
        self._spread: deque[tuple[float, Drainable]] = deque()

    # -- queries ------------------------------------------------------------------

    @property
    def is_draining(self) -> bool:
        """True from the first drain request on (readiness fails)."""
        return self.drain_requested_at is not None

    @property
    def grace_deadline_at(self) -> float | None:
        """When what is left will be cancelled (``None`` until listeners close)."""
        return self._grace_deadline_at

    def get_timer(self) -> float | None:
        """The next absolute deadline the shell must wake up at, if any."""
        if self.phase is ServerPhase.PRE_STOP:
            return self._pre_stop_until
        if self.phase is ServerPhase.DRAINING:
            if self._spread and self._grace_deadline_at is not None:
                return min(self._spread[0][0], self._grace_deadline_at)
            return self._grace_deadline_at
        if self.phase is ServerPhase.CANCELLING:
            return self._abort_at
        return None

    # -- inputs -------------------------------------------------------------------

    def _go(self, event: ServerInput) -> None:
        self.phase = next_server_phase(self.phase, event)

    def started(self, now: float) -> list[Action]:
        """Lifespan startup is done and listeners are open."""
        self._go(ServerInput.STARTED)
        actions: list[Action] = []
        if self._pending is not None:
            reason, grace = self._pending
            actions += self.drain(now, reason, grace)
        if self._pending_force:
            actions += self.force(now, self.reason or "signal")
        return actions

    def startup_failed(self) -> None:
        """Lifespan startup failed: the server stops without serving."""
        self._go(ServerInput.STARTUP_FAILED)

    def drain(self, now: float, reason: str, grace: float | None = None) -> list[Action]:
        """Start (or tighten) the shutdown sequence. Idempotent."""
        if grace is not None and not grace >= 0.0:
            raise ConfigError(f"grace must be >= 0 seconds, got {grace!r}")
        if self.phase is ServerPhase.STARTING:
            self._pending = (reason, grace)
            return []
        if self.phase is not ServerPhase.SERVING:
            return self._tighten(now, grace)
        self.reason = reason
        self.drain_requested_at = now
        if grace is not None:
            self._grace = grace
        actions: list[Action] = [FailReadiness(reason)]
        if self.settings.pre_stop_delay > 0.0:
            self._go(ServerInput.PRE_STOP_REQUESTED)
            self._pre_stop_until = now + self.settings.pre_stop_delay
            return [*actions, AnnouncePreStop(self._pre_stop_until + self._grace)]
        self._go(ServerInput.DRAIN_REQUESTED)
        return actions + self._enter_draining(now)

    def _tighten(self, now: float, grace: float | None) -> list[Action]:
        self._go(ServerInput.DRAIN_REQUESTED)
        if grace is None:
            return []
        if self.phase is ServerPhase.PRE_STOP and grace < self._grace:
            self._grace = grace
            assert self._pre_stop_until is not None
            return [AnnouncePreStop(self._pre_stop_until + grace)]
        if self.phase is ServerPhase.DRAINING and self._grace_deadline_at is not None:
            self._grace_deadline_at = min(self._grace_deadline_at, now + grace)
            if self._spread:
                # The rest of a gradual drain fits the shorter grace, in the same order.
                window = (self._grace_deadline_at - now) * self.settings.drain_spread_fraction
                waiting = [connection for _, connection in self._spread]
                times = drain_schedule(len(waiting), now, window)
                self._spread = deque(zip(times, waiting, strict=True))
                return self._due(now)
        return []

    def _enter_draining(self, now: float) -> list[Action]:
        self._grace_deadline_at = now + self._grace
        actions: list[Action] = [StopAccepting()]
        settings = self.settings
        if settings.drain_strategy == "gradual" and len(self.registry) > 1:
            connections = list(self.registry)  # oldest first
            window = self._grace * settings.drain_spread_fraction
            times = drain_schedule(len(connections), now, window)
            self._spread = deque(zip(times, connections, strict=True))
            actions.append(GradualDrainScheduled(len(connections), times[-1]))
            actions += self._due(now)
        else:
            actions.append(DrainConnections(self._grace_deadline_at, self.reason))
        if not self.registry:
            self._go(ServerInput.CONNECTIONS_GONE)
            actions.append(ShutdownApplication())
        return actions

    def force(self, now: float, reason: str) -> list[Action]:
        """A second signal: skip to the cancel step at once."""
        if self.phase is ServerPhase.STARTING:
            self._pending_force = True
            self.reason = self.reason or reason
            return []
        actions: list[Action] = []
        if self.phase is ServerPhase.SERVING:
            actions += self.drain(now, reason)
        if self.phase is ServerPhase.PRE_STOP:
            # Still accepting: stop now, and tell connections to drain before cutting.
            actions += [StopAccepting(), DrainConnections(now, self.reason)]
            self._grace_deadline_at = now
        if self.phase in (ServerPhase.PRE_STOP, ServerPhase.DRAINING):
            actions += self._enter_cancelling(now, forced=True)
        return actions

    def _due(self, now: float) -> list[Action]:
        """Gradual drain: the connections whose turn has come (still open) are told."""
        spread = self._spread
        batch: list[Drainable] = []
        while spread and spread[0][0] <= now:
            connection = spread.popleft()[1]
            if connection in self.registry:
                batch.append(connection)
        if not batch:
            return []
        assert self._grace_deadline_at is not None
        return [DrainConnections(self._grace_deadline_at, self.reason, tuple(batch))]

    def _tell_the_rest(self, now: float) -> list[Action]:
        """A gradual drain cut short (grace over, second signal): tell the rest now."""
        if not self._spread:
            return []
        self._spread = deque((now, connection) for _, connection in self._spread)
        return self._due(now)

    def _enter_cancelling(self, now: float, *, forced: bool) -> list[Action]:
        self._go(ServerInput.FORCED if forced else ServerInput.GRACE_EXPIRED)
        self._abort_at = now + self.settings.close_timeout
        actions: list[Action] = [
            *self._tell_the_rest(now),
            CancelConnections(
                self.reason,
                forced,
                len(self.registry),
                self.registry.active_stream_count,
            ),
        ]
        if not self.registry:
            self._go(ServerInput.CONNECTIONS_GONE)
            actions.append(ShutdownApplication())
        return actions

    def handle_timer(self, now: float) -> list[Action]:
        """The deadline from ``get_timer()`` passed (or may have: checked here)."""
        deadline = self.get_timer()
        if deadline is None or now < deadline:
            return []
        if self.phase is ServerPhase.PRE_STOP:
            self._go(ServerInput.PRE_STOP_ELAPSED)
            return [PreStopElapsed(self.settings.pre_stop_delay), *self._enter_draining(now)]
        if self.phase is ServerPhase.DRAINING:
            assert self._grace_deadline_at is not None
            if now < self._grace_deadline_at:
                return self._due(now)
            return self._enter_cancelling(now, forced=False)
        if self.phase is ServerPhase.CANCELLING:
            self._abort_at = None
            return [AbortConnections(len(self.registry))]
        return []

    def connections_gone(self, now: float) -> list[Action]:
        """The registry became empty."""
        before = self.phase
        self._spread.clear()
        self._go(ServerInput.CONNECTIONS_GONE)
        if before is not self.phase and self.phase is ServerPhase.STOPPING:
            return [ShutdownApplication()]
        return []

    def shutdown_done(self) -> None:
        """ASGI lifespan shutdown finished (or there was none)."""
        self._go(ServerInput.SHUTDOWN_DONE)
