"""What happened when, during one drill: the data behind ``--html``'s picture.

The report (``report.py``) says *how much* was lost; the timeline says *when*
and next to what. Everything is stamped with ``time.monotonic()`` as it
happens and stored relative to the start of the load, so a request that
failed can be seen next to the restart that caused it, the GOAWAY the server
sent for it, and the connections the client had open at the time.

What goes in:

- every request attempt the load made (``RequestRecord``): when it started,
  how long it took, and its outcome: ``ok`` (a complete response),
  ``retried`` (failed in a way that proves the server never processed it, and
  sent again) or ``lost`` (failed after the server may have accepted it);
- restart markers (``Marker``): for a server the drill starts, the signal and
  the old process's exit; for a ``--url`` target, the restart command's start
  and end;
- wire signals (``WireSignal``) the probes and the load's client saw: GOAWAYs
  with their ids (HTTP/2 last processed id, HTTP/3 first rejected id),
  RST_STREAM / RESET_STREAM codes such as REFUSED_STREAM, ``Connection:
  close``, and how each probe connection ended (FIN, reset, CONNECTION_CLOSE);
- connection counts of the load's client (``ConnectionSample``), sampled every
  ``CONNECTION_SAMPLE_INTERVAL``.

Nothing here does I/O; ``load.py`` and the runners fill it in, and
``html_report.py`` draws it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # probe_h3 imports aioquic, an optional dependency
    from .probe_h1 import H1ProbeResult
    from .probe_h2 import H2ProbeResult
    from .probe_h3 import H3ProbeResult

#: How often the load's client's connections are counted for the picture. A
#: sample is a measurement, not a wait: 50 ms resolves a restart (hundreds of
#: milliseconds) and costs nothing next to the load itself.
CONNECTION_SAMPLE_INTERVAL = 0.05

#: Request outcomes, in the order the picture stacks them.
OUTCOMES = ("ok", "retried", "lost")

#: RST_STREAM / RESET_STREAM codes worth naming (RFC 9113 §7, RFC 9114 §8.1).
_H2_CODES = {0x0: "NO_ERROR", 0x1: "PROTOCOL_ERROR", 0x2: "INTERNAL_ERROR", 0x7: "REFUSED_STREAM", 0x8: "CANCEL", 0xB: "ENHANCE_YOUR_CALM"}  # fmt: skip
_H3_CODES = {0x100: "H3_NO_ERROR", 0x102: "H3_INTERNAL_ERROR", 0x10B: "H3_REQUEST_REJECTED", 0x10C: "H3_REQUEST_CANCELLED"}  # fmt: skip


def h2_code_name(code: int) -> str:
    """``7`` -> ``REFUSED_STREAM``; unknown codes as hex."""
    return _H2_CODES.get(code, f"0x{code:x}")


def h3_code_name(code: int) -> str:
    """``0x10b`` -> ``H3_REQUEST_REJECTED``; unknown codes as hex."""
    return _H3_CODES.get(code, f"0x{code:x}")


@dataclass(slots=True)
class RequestRecord:
    """One request attempt: start and duration in seconds since the load began."""

    start: float
    duration: float
    outcome: str
    #: The exception's class name for a failed attempt, "" for ``ok``.
    error: str = ""


@dataclass(slots=True)
class Marker:
    """A moment or a span the drill caused: a signal, a restart command, an exit."""

    start: float
    end: float | None
    #: ``restart`` (the k-th restart: from the signal, or the restart command's
    #: start, to the command's end), ``ready`` (the replacement answers),
    #: ``exit`` (the old server exited).
    kind: str
    label: str
    #: Which restart (0-based) it belongs to.
    restart: int = 0
    #: False when it went wrong (a restart command failed, a server was killed).
    ok: bool = True


@dataclass(slots=True)
class WireSignal:
    """Something a server put on the wire that says it is draining or refusing."""

    at: float
    #: ``probe`` (the drill's raw probe connection) or ``load`` (its client's connections).
    source: str
    #: ``goaway``, ``refused``, ``reset``, ``connection_close``, ``closed``.
    kind: str
    detail: str
    #: The GOAWAY's id (HTTP/2 last processed, HTTP/3 first rejected) or the stream id.
    ident: int | None = None
    #: Which connection: 0 for the probe, the client's connection id for the load.
    connection: int = 0


@dataclass(slots=True)
class ConnectionSample:
    """The load's client connections at one moment: usable and draining ones."""

    at: float
    open: int
    draining: int


@dataclass
class Timeline:
    """Everything stamped during one drill; times are seconds since ``started_at``."""

    started_at: float = field(default_factory=time.monotonic)
    requests: list[RequestRecord] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    signals: list[WireSignal] = field(default_factory=list)
    connections: list[ConnectionSample] = field(default_factory=list)
    #: Seconds since ``started_at`` when the load stopped.
    ended: float = 0.0

    def since(self, monotonic: float) -> float:
        """A ``time.monotonic()`` value as seconds since the start."""
        return monotonic - self.started_at

    def now(self) -> float:
        return self.since(time.monotonic())

    def request(self, started: float, ended: float, outcome: str, error: str = "") -> None:
        """Record one attempt (monotonic start and end). A ``retried`` attempt is
        stamped from its own start; ``ok`` and ``lost`` from the request's first
        attempt, so their duration is what the caller waited in all."""
        self.requests.append(RequestRecord(self.since(started), ended - started, outcome, error))

    def mark(
        self,
        kind: str,
        label: str,
        start: float,
        end: float | None = None,
        *,
        restart: int = 0,
        ok: bool = True,
    ) -> Marker:
        """Record a marker (monotonic times); returns it so its end can be filled in later."""
        marker = Marker(
            self.since(start), None if end is None else self.since(end), kind, label, restart, ok
        )
        self.markers.append(marker)
        return marker

    def wire(
        self,
        at: float,
        source: str,
        kind: str,
        detail: str,
        ident: int | None = None,
        connection: int = 0,
    ) -> None:
        """Record one wire signal (monotonic time)."""
        self.signals.append(WireSignal(self.since(at), source, kind, detail, ident, connection))

    def sample_connections(self, open_count: int, draining: int) -> None:
        self.connections.append(ConnectionSample(self.now(), open_count, draining))

    # -- what the probes saw ---------------------------------------------------------

    def add_h2_probe(self, probe: H2ProbeResult) -> None:
        """GOAWAYs, resets and the end of one HTTP/2 probe connection."""
        for at, last_id, code, debug in probe.goaways:
            reason = debug.decode("utf-8", "replace")
            detail = f"GOAWAY last_stream_id={last_id} {h2_code_name(code)}"
            self.wire(at, "probe", "goaway", detail + (f" {reason!r}" if reason else ""), last_id)
        self._resets(probe.streams.values(), probe.closed_at, 0x7, "RST_STREAM", h2_code_name)
        if probe.closed_at is not None:
            how = "TCP reset" if probe.close_was_reset else "FIN"
            self.wire(probe.closed_at, "probe", "closed", f"connection closed with {how}")

    def add_h3_probe(self, probe: H3ProbeResult) -> None:
        """GOAWAYs, stream resets and the CONNECTION_CLOSE of one HTTP/3 probe connection."""
        for at, identifier in probe.goaways:
            self.wire(at, "probe", "goaway", f"GOAWAY first_rejected_id={identifier}", identifier)
        self._resets(probe.streams.values(), probe.closed_at, 0x10B, "RESET_STREAM", h3_code_name)
        if probe.closed_at is not None:
            if probe.close_code is not None:
                frame = "application" if probe.close_is_application else "transport"
                name = h3_code_name(probe.close_code)
                detail = f"{frame} CONNECTION_CLOSE({name})"
            else:
                detail = "connection ended without CONNECTION_CLOSE"
            self.wire(probe.closed_at, "probe", "closed", detail)

    def _resets(
        self,
        streams: Iterable[Any],
        closed_at: float | None,
        refused_code: int,
        frame: str,
        name: Callable[[int], str],
    ) -> None:
        """The probe's streams the server reset; ``refused_code`` means "not processed"."""
        for stream in streams:
            if stream.reset_code is not None:
                kind = "refused" if stream.reset_code == refused_code else "reset"
                detail = f"{frame}({name(stream.reset_code)}) on stream {stream.stream_id}"
                at = stream.reset_at or closed_at or stream.sent_at
                self.wire(at, "probe", kind, detail, stream.stream_id)

    def add_h1_probe(self, probe: H1ProbeResult, at: float) -> None:
        """What one HTTP/1.1 probe saw; it keeps no times, so ``at`` is when it ended."""
        if probe.inflight_connection_close:
            self.wire(at, "probe", "connection_close", "in-flight response said Connection: close")
        if probe.idle_closed_by_server:
            how = "reset" if probe.idle_close_was_reset else "closed (FIN)"
            self.wire(at, "probe", "closed", f"idle keep-alive connection {how} by the server")

    # -- for the page ------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """Plain data, times in seconds since the start."""
        return {
            "ended": self.ended,
            "requests": [[r.start, r.duration, r.outcome, r.error] for r in self.requests],
            "markers": [
                {
                    "start": m.start,
                    "end": m.end,
                    "kind": m.kind,
                    "label": m.label,
                    "restart": m.restart,
                    "ok": m.ok,
                }
                for m in self.markers
            ],
            "signals": [
                {
                    "at": s.at,
                    "source": s.source,
                    "kind": s.kind,
                    "detail": s.detail,
                    "ident": s.ident,
                    "connection": s.connection,
                }
                for s in self.signals
            ],
            "connections": [[c.at, c.open, c.draining] for c in self.connections],
        }
