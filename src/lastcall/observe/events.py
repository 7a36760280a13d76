"""One structured event type per drain step.

Every step of a drain is reported exactly once, as one of these, through
``Observer.emit`` (``observer.py``). Logging, Prometheus metrics and tests all
read the same objects, so what a person reads in the log, what a dashboard
counts and what a test asserts can never disagree.

``at`` is the monotonic time (``loop.time()``) the step happened. ``connection``
is a short id (``"h2#12 127.0.0.1:53412"``) when the step belongs to one
connection.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = [
    "BackendEjected",
    "BackendHealthChanged",
    "BackendRestored",
    "ConnectionClosed",
    "ConnectionDraining",
    "ConnectionGraceExpired",
    "DrainEvent",
    "DrainStarted",
    "Drained",
    "GoAwaySent",
    "GraceExpired",
    "GradualDrainScheduled",
    "Http3GoAwaySent",
    "LifespanShutdown",
    "ListenerClosed",
    "MetricsListening",
    "PreStopElapsed",
    "QuicConnectionTerminated",
    "QuicEndpointClosed",
    "ReloadFailed",
    "ReloadFinished",
    "ReloadStarted",
    "RequestCancelled",
    "RequestCompleted",
    "RequestRejected",
    "RetryBudgetExhausted",
    "SendStalled",
    "ServerStarted",
    "StreamRefused",
    "UpgradeHandedOff",
    "UpgradeReceived",
    "UpstreamGoAway",
    "UpstreamRequest",
    "UpstreamRetry",
    "WebSocketClosing",
    "WorkerExited",
    "WorkerKilled",
    "WorkerReady",
    "WorkerRestarting",
    "WorkerStarted",
]


@dataclass(frozen=True, slots=True)
class DrainEvent:
    """Base of every drain step event."""

    at: float

    #: Short name used in logs and as the metrics label.
    name = "event"

    def message(self) -> str:
        """A line a person can read (the logging sink uses it)."""
        parts = [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.name != "at"]
        return f"{self.name} " + " ".join(parts)


@dataclass(frozen=True, slots=True)
class ServerStarted(DrainEvent):
    """Listeners are open and lifespan startup is done."""

    listeners: tuple[str, ...]
    name = "server_started"

    def message(self) -> str:
        return "serving on " + ", ".join(self.listeners)


@dataclass(frozen=True, slots=True)
class DrainStarted(DrainEvent):
    """Readiness now fails; the shutdown sequence has begun."""

    reason: str
    graceful_timeout: float
    pre_stop_delay: float
    connections: int
    name = "drain_started"

    def message(self) -> str:
        return (
            f"drain started ({self.reason}): {self.connections} connection(s), "
            f"graceful timeout {self.graceful_timeout:g} s, pre-stop delay {self.pre_stop_delay:g} s"
        )


@dataclass(frozen=True, slots=True)
class PreStopElapsed(DrainEvent):
    """The pre-stop delay is over; listeners close next."""

    delay: float
    name = "pre_stop_elapsed"


@dataclass(frozen=True, slots=True)
class ListenerClosed(DrainEvent):
    """A listener stopped accepting; accepted connections are kept."""

    listener: str
    name = "listener_closed"

    def message(self) -> str:
        return f"listener closed: {self.listener}"


@dataclass(frozen=True, slots=True)
class GradualDrainScheduled(DrainEvent):
    """``drain_strategy`` gradual: ``connections`` connections will be told to
    drain one after the other, oldest first, the last at ``last_at``."""

    connections: int
    last_at: float
    name = "gradual_drain_scheduled"

    def message(self) -> str:
        return (
            f"gradual drain: telling {self.connections} connection(s) one by one, "
            f"the last in {self.last_at - self.at:.3f} s"
        )


@dataclass(frozen=True, slots=True)
class ConnectionDraining(DrainEvent):
    """A connection was told to drain (HTTP/1.1: ``Connection: close`` or an idle close)."""

    connection: str
    protocol: str
    active_streams: int
    #: Why: the server's drain reason, or this connection's own (``max_age``,
    #: ``max_requests``, ``idle``, ``application``, ``peer_goaway``...).
    reason: str = ""
    name = "connection_draining"


@dataclass(frozen=True, slots=True)
class ConnectionGraceExpired(DrainEvent):
    """A connection draining by itself (``reason``: ``max_age``, ``max_requests``,
    ``idle``, ``application``...) used up its own grace with ``streams`` still
    open: they are cancelled as at the server's grace expiry."""

    connection: str
    reason: str
    streams: int
    name = "connection_grace_expired"


@dataclass(frozen=True, slots=True)
class GoAwaySent(DrainEvent):
    """An HTTP/2 GOAWAY went out (``final`` False: the 2^31-1 one before the PING)."""

    connection: str
    last_processed_id: int
    error_code: int
    debug_data: str
    final: bool
    name = "goaway_sent"

    def message(self) -> str:
        kind = "final" if self.final else "first"
        return (
            f"{kind} GOAWAY on {self.connection}: last_processed_id={self.last_processed_id} "
            f"error_code={self.error_code} debug={self.debug_data!r}"
        )


@dataclass(frozen=True, slots=True)
class Http3GoAwaySent(DrainEvent):
    """An HTTP/3 GOAWAY went out on the control stream (RFC 9114 §5.2).

    Unlike HTTP/2's, its id is the *first rejected* request stream (exclusive):
    streams at or above it are refused. ``final`` is False for the first one
    of a drain (2^62-4: nothing rejected yet) and True for the real id.
    """

    connection: str
    first_rejected_id: int
    final: bool
    name = "h3_goaway_sent"

    def message(self) -> str:
        kind = "final" if self.final else "first"
        return (
            f"{kind} HTTP/3 GOAWAY on {self.connection}: first_rejected_id={self.first_rejected_id}"
        )


@dataclass(frozen=True, slots=True)
class QuicConnectionTerminated(DrainEvent):
    """A QUIC connection's CONNECTION_CLOSE was sent (``remote`` False) or
    received (True), RFC 9000 §10.2. ``error_code`` 0x100 (H3_NO_ERROR) is the
    clean end of a drain; with ``transport_error`` True the code is a QUIC
    transport one (e.g. an idle timeout or a failed handshake). The closing
    period still runs; ``connection_closed`` follows when it ends.
    """

    connection: str
    error_code: int
    reason: str
    remote: bool
    transport_error: bool
    name = "quic_connection_terminated"

    def message(self) -> str:
        who = "received" if self.remote else "sent"
        kind = "transport" if self.transport_error else "application"
        return (
            f"CONNECTION_CLOSE {who} on {self.connection}: {kind} error_code=0x{self.error_code:x}"
            + (f" reason={self.reason!r}" if self.reason else "")
        )


@dataclass(frozen=True, slots=True)
class QuicEndpointClosed(DrainEvent):
    """A UDP endpoint's socket closed: the last of its QUIC connections is gone."""

    endpoint: str
    connections_total: int
    name = "quic_endpoint_closed"

    def message(self) -> str:
        return (
            f"QUIC endpoint closed: {self.endpoint} "
            f"({self.connections_total} connection(s) served in total)"
        )


@dataclass(frozen=True, slots=True)
class StreamRefused(DrainEvent):
    """A stream was refused -- HTTP/2 RST_STREAM(REFUSED_STREAM), HTTP/3
    RESET_STREAM + STOP_SENDING(H3_REQUEST_REJECTED): never processed, safe to retry."""

    connection: str
    stream_id: int
    reason: str
    name = "stream_refused"


@dataclass(frozen=True, slots=True)
class WebSocketClosing(DrainEvent):
    """A WebSocket was sent Close(``code``) because the server is draining."""

    connection: str
    code: int
    name = "websocket_closing"


@dataclass(frozen=True, slots=True)
class RequestCancelled(DrainEvent):
    """At grace expiry a request was cut: 503 (not started) or close/RST_STREAM(CANCEL)."""

    connection: str
    how: str
    name = "request_cancelled"


@dataclass(frozen=True, slots=True)
class SendStalled(DrainEvent):
    """A peer took nothing of a response for ``send_timeout`` seconds (no
    flow-control window, or it stopped reading): the stream was reset, or the
    WebSocket connection closed (``stream_id`` 0 over HTTP/1.1)."""

    connection: str
    stream_id: int
    stalled_for: float
    name = "send_stalled"


@dataclass(frozen=True, slots=True)
class ConnectionClosed(DrainEvent):
    """A connection's transport is gone; ``clean`` is False when it was aborted or lost."""

    connection: str
    protocol: str
    requests: int
    clean: bool
    name = "connection_closed"


@dataclass(frozen=True, slots=True)
class GraceExpired(DrainEvent):
    """The graceful timeout ran out (or a second signal forced it) with work left."""

    forced: bool
    connections: int
    streams: int
    name = "grace_expired"

    def message(self) -> str:
        why = "second signal" if self.forced else "graceful timeout"
        return f"{why}: cancelling {self.streams} stream(s) on {self.connections} connection(s)"


@dataclass(frozen=True, slots=True)
class Drained(DrainEvent):
    """Every connection is gone; ``duration`` is seconds since the drain started."""

    duration: float
    connections_total: int
    name = "drained"

    def message(self) -> str:
        return (
            f"drained in {self.duration * 1000:.1f} ms "
            f"({self.connections_total} connection(s) served in total)"
        )


@dataclass(frozen=True, slots=True)
class LifespanShutdown(DrainEvent):
    """ASGI lifespan shutdown finished (``ok`` False if the app reported a failure)."""

    ok: bool
    name = "lifespan_shutdown"


@dataclass(frozen=True, slots=True)
class MetricsListening(DrainEvent):
    """The Prometheus endpoint (``--metrics-bind``) is open. It is no app
    listener: it keeps answering through the drain and closes after it."""

    address: str
    name = "metrics_listening"

    def message(self) -> str:
        return f"metrics on http://{self.address}/metrics"


@dataclass(frozen=True, slots=True)
class RequestCompleted(DrainEvent):
    """A response was answered in full (the access log's line, the request
    metrics). Not a drain step: one per request, so it is only built while
    something reads it (``--access-log`` or ``--metrics-bind``).

    ``target`` is the request target as the client sent it (raw path and
    query); ``duration`` runs from the request head's arrival to the last
    byte of the response handed to the transport, in seconds.
    """

    client: str
    method: str
    target: str
    http_version: str
    status: int
    duration: float
    name = "request_completed"

    def message(self) -> str:
        return (
            f'{self.client} - "{self.method} {self.target} HTTP/{self.http_version}" {self.status}'
        )


@dataclass(frozen=True, slots=True)
class RequestRejected(DrainEvent):
    """The server refused a request itself, before or instead of the app:
    malformed (400, 501), too big (413, 414, 431) or too slow (408). What
    smuggling attempts, oversize heads and slowloris show up as; the
    ``requests_rejected_total`` metric counts them by status."""

    connection: str
    protocol: str
    status: int
    reason: str
    name = "request_rejected"

    def message(self) -> str:
        return f"{self.connection}: {self.reason}"


# -- the reverse proxy (``lastcall.proxy``) -------------------------------------------
#
# ``upstream`` is the name of a group of backends; ``backend`` one backend's URL
# as configured (``h2c://10.0.0.1:50051``).


@dataclass(frozen=True, slots=True)
class UpstreamRequest(DrainEvent):
    """A proxied request got its answer: the backend's status, or the proxy's own
    (502, 503, 504) when no backend answered (``backend`` is then ""). One per
    request, so the logging sink writes it at DEBUG."""

    upstream: str
    backend: str
    status: int
    retries: int
    name = "upstream_request"


@dataclass(frozen=True, slots=True)
class UpstreamRetry(DrainEvent):
    """A proxied request is sent again; ``reason`` is ``refused``,
    ``connect_failed``, ``stale_connection`` or ``reset`` (``proxy/retry.py``),
    or ``grpc_cancelled``, ``grpc_unavailable``, ... (``proxy/grpc_retry.py``)."""

    upstream: str
    backend: str
    reason: str
    name = "upstream_retry"


@dataclass(frozen=True, slots=True)
class RetryBudgetExhausted(DrainEvent):
    """A retry was not made: the group's retry budget was used up."""

    upstream: str
    backend: str
    reason: str
    name = "retry_budget_exhausted"


@dataclass(frozen=True, slots=True)
class UpstreamGoAway(DrainEvent):
    """A backend connection began closing (HTTP/2 or HTTP/3 GOAWAY, HTTP/1.1
    ``Connection: close``): it takes no new request from now on."""

    backend: str
    http_version: str
    reason: str
    last_processed_id: int | None
    name = "upstream_goaway"


@dataclass(frozen=True, slots=True)
class BackendEjected(DrainEvent):
    """Passive ejection: a backend is set aside until ``until`` (``loop.time()``)."""

    upstream: str
    backend: str
    reason: str
    until: float
    name = "backend_ejected"


@dataclass(frozen=True, slots=True)
class BackendRestored(DrainEvent):
    """An ejected backend is back (``reason``: ``health_check`` or ``ejection_ended``)."""

    upstream: str
    backend: str
    reason: str
    name = "backend_restored"


@dataclass(frozen=True, slots=True)
class BackendHealthChanged(DrainEvent):
    """An active health check moved a backend to healthy or unhealthy."""

    upstream: str
    backend: str
    healthy: bool
    name = "backend_health_changed"


# -- processes (``lastcall.process``): the supervisor and its workers --------------
#
# ``generation`` counts the sets of workers a supervisor has started (1 at
# start, +1 per reload); ``worker`` is the slot (0..workers-1) within it, kept
# by the replacement of a crashed worker; ``pid`` is the worker's process id.


@dataclass(frozen=True, slots=True)
class WorkerStarted(DrainEvent):
    """A worker process was spawned (it imports the app and runs lifespan startup next)."""

    pid: int
    generation: int
    worker: int
    name = "worker_started"


@dataclass(frozen=True, slots=True)
class WorkerReady(DrainEvent):
    """A worker's lifespan startup completed and it accepts on the shared sockets."""

    pid: int
    generation: int
    worker: int
    name = "worker_ready"


@dataclass(frozen=True, slots=True)
class WorkerExited(DrainEvent):
    """A worker process ended. ``expected`` is False for a crash (it was not
    told to drain): then ``worker_restarting`` follows unless the service stops."""

    pid: int
    generation: int
    worker: int
    returncode: int
    expected: bool
    name = "worker_exited"

    def message(self) -> str:
        how = "exited" if self.expected else "CRASHED"
        return (
            f"worker {self.worker} (generation {self.generation}, pid {self.pid}) {how} "
            f"with code {self.returncode}"
        )


@dataclass(frozen=True, slots=True)
class WorkerRestarting(DrainEvent):
    """A crashed worker's slot gets a new process after ``delay`` seconds (backoff)."""

    generation: int
    worker: int
    delay: float
    crashes: int
    name = "worker_restarting"


@dataclass(frozen=True, slots=True)
class WorkerKilled(DrainEvent):
    """A worker did not exit within its budget after being told to drain: SIGKILL."""

    pid: int
    generation: int
    worker: int
    budget: float
    name = "worker_killed"

    def message(self) -> str:
        return (
            f"worker {self.worker} (generation {self.generation}, pid {self.pid}) did not exit "
            f"within {self.budget:g} s of being told to drain: killed"
        )


@dataclass(frozen=True, slots=True)
class ReloadStarted(DrainEvent):
    """A new generation of workers is starting (``reason``: ``SIGHUP``,
    ``lastcall reload``, ``files changed``, ``upgrade``); the old one keeps serving."""

    generation: int
    reason: str
    name = "reload_started"


@dataclass(frozen=True, slots=True)
class ReloadFinished(DrainEvent):
    """Every worker of the new generation is ready; the old generation drains now."""

    generation: int
    old_generation: int
    duration: float
    name = "reload_finished"


@dataclass(frozen=True, slots=True)
class ReloadFailed(DrainEvent):
    """The new generation did not start (import error, lifespan failure, timeout);
    what of it started is drained, and the old generation keeps serving."""

    generation: int
    reason: str
    #: The generation that keeps serving (0: none, the service did not start).
    serving_generation: int
    name = "reload_failed"

    def message(self) -> str:
        kept = (
            f"generation {self.serving_generation} keeps serving"
            if self.serving_generation
            else "nothing serves"
        )
        return f"generation {self.generation} did NOT start ({self.reason}); {kept}"


@dataclass(frozen=True, slots=True)
class UpgradeHandedOff(DrainEvent):
    """This (old) supervisor handed its listening sockets to a new process
    (``peer_version`` is its lastcall version); it drains once asked to."""

    sockets: int
    peer_version: str
    name = "upgrade_handed_off"


@dataclass(frozen=True, slots=True)
class UpgradeReceived(DrainEvent):
    """This (new) supervisor received the listening sockets of the running one."""

    sockets: int
    peer_version: str
    name = "upgrade_received"
