"""Grading: from what the load and the probes saw to ``lost`` and a report card.

Every check maps to ``pass``, ``fail`` or ``n/a``, with a one-line reason, so
that a defect shows up as a named line and not as a vague total. A check is
``fail`` if it failed on any restart.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .load import LoadStats
from .probe_h1 import H1ProbeResult
from .probe_h2 import MAX_ID, H2ProbeResult
from .timeline import Timeline

if TYPE_CHECKING:  # probe_h3 imports aioquic, an optional dependency
    from .probe_h3 import H3ProbeResult

#: The first GOAWAY of an HTTP/3 drain: the largest client bidi stream id (RFC 9114 §5.2).
H3_MAX_ID = 2**62 - 4

#: H3_NO_ERROR, H3_REQUEST_REJECTED (RFC 9114 §8.1).
_H3_NO_ERROR, _H3_REQUEST_REJECTED = 0x100, 0x10B

PASS, FAIL, NA = "pass", "fail", "n/a"

#: The first GOAWAY ids of a graceful drain (RFC 9113 §6.8, RFC 9114 §5.2), by name.
GOAWAY_ID_NAMES = {MAX_ID: "2^31-1", H3_MAX_ID: "2^62-4"}


@dataclass
class Check:
    """One line of the report card."""

    verdict: str
    detail: str


def grade_h2(probe: H2ProbeResult) -> dict[str, Check]:
    """Grade one HTTP/2 probe run against RFC 9113 §6.8 and DESIGN.md."""
    if not probe.connected:
        reason = probe.error or "probe did not connect"
        return {name: Check(NA, reason) for name in H2_CHECKS}
    card: dict[str, Check] = {}
    goaways = probe.goaways
    ids = [g[1] for g in goaways]
    card["early_goaway"] = (
        Check(PASS, "first GOAWAY carried 2^31-1")
        if ids and ids[0] == MAX_ID
        else Check(FAIL, f"first GOAWAY id {ids[0]}" if ids else "no GOAWAY before close")
    )
    card["ping_after_goaway"] = (
        Check(PASS, "PING sent to time the final GOAWAY")
        if probe.ping_after_first_goaway
        else Check(FAIL, "no PING after the first GOAWAY")
    )
    final_ids = [i for i in ids if i != MAX_ID]
    answered = sorted(
        s.stream_id for s in probe.streams.values() if s.status is not None and s.reset_code is None
    )
    if not final_ids:
        card["final_last_stream_id"] = Check(FAIL, "no GOAWAY with a real last stream id")
    else:
        final = final_ids[-1]
        highest = answered[-1] if answered else 0
        unanswered_below = [
            s.stream_id
            for s in probe.streams.values()
            if s.stream_id <= final and (s.status is None or s.reset_code is not None)
        ]
        if final == highest and not unanswered_below:
            card["final_last_stream_id"] = Check(PASS, f"final id {final} = highest answered")
        else:
            card["final_last_stream_id"] = Check(
                FAIL,
                f"final id {final}, highest answered {highest}, "
                f"unanswered at or below it {unanswered_below}",
            )
    late = probe.streams.get(probe.late_stream_id) if probe.late_stream_id else None
    if late is None:
        card["late_stream_refused"] = Check(
            FAIL if not final_ids else NA, "no final GOAWAY, so no late stream could be tested"
        )
    elif late.reset_code == 0x7:
        card["late_stream_refused"] = Check(PASS, "RST_STREAM(REFUSED_STREAM)")
    elif late.reset_code is not None:
        card["late_stream_refused"] = Check(
            FAIL, f"reset with code {late.reset_code}, not REFUSED_STREAM"
        )
    elif late.status is not None:
        card["late_stream_refused"] = Check(FAIL, "answered although above the final id")
    else:
        card["late_stream_refused"] = Check(FAIL, "silently ignored (no reset, no answer)")
    first = probe.streams.get(1)
    if first is not None and first.completed:
        card["inflight_completed"] = Check(
            PASS, f"in-flight response complete ({first.body_bytes} bytes)"
        )
    else:
        card["inflight_completed"] = Check(FAIL, "in-flight response cut or never finished")
    if probe.closed_at is None:
        card["connection_closed"] = Check(FAIL, probe.error or "server never closed the connection")
    elif probe.close_was_reset:
        card["connection_closed"] = Check(FAIL, "closed with a TCP reset")
    else:
        card["connection_closed"] = Check(PASS, "closed with FIN after the last response")
    return card


H2_CHECKS = [
    "early_goaway",
    "ping_after_goaway",
    "final_last_stream_id",
    "late_stream_refused",
    "inflight_completed",
    "connection_closed",
]


def grade_h3(probe: H3ProbeResult) -> dict[str, Check]:
    """Grade one HTTP/3 probe run against RFC 9114 §5.2 and DESIGN.md.

    HTTP/3's GOAWAY carries the *first rejected* request stream id (streams at
    or above it were not processed), where HTTP/2's carries the last processed
    one: the final id must be the highest answered stream + 4.
    """
    if not probe.connected:
        reason = probe.error or "probe did not connect"
        return {name: Check(NA, reason) for name in H3_CHECKS}
    card: dict[str, Check] = {}
    ids = [identifier for _, identifier in probe.goaways]
    card["early_goaway"] = (
        Check(PASS, "first GOAWAY carried 2^62-4")
        if ids and ids[0] == H3_MAX_ID
        else Check(FAIL, f"first GOAWAY id {ids[0]}" if ids else "no GOAWAY before the end")
    )
    final_ids = [i for i in ids if i != H3_MAX_ID]
    answered = sorted(
        s.stream_id for s in probe.streams.values() if s.completed and s.reset_code is None
    )
    if not final_ids:
        card["final_first_rejected_id"] = Check(FAIL, "no GOAWAY with a real first rejected id")
    else:
        final = final_ids[-1]
        expected = answered[-1] + 4 if answered else 0
        unanswered_below = [
            s.stream_id
            for s in probe.streams.values()
            if s.stream_id < final and (not s.completed or s.reset_code is not None)
        ]
        if final == expected and not unanswered_below:
            card["final_first_rejected_id"] = Check(
                PASS, f"final id {final} = highest answered stream + 4"
            )
        else:
            card["final_first_rejected_id"] = Check(
                FAIL,
                f"final id {final}, highest answered {answered[-1] if answered else None}, "
                f"unanswered below it {unanswered_below}",
            )
    late = probe.streams.get(probe.late_stream_id) if probe.late_stream_id is not None else None
    if late is None:
        card["late_stream_rejected"] = Check(
            FAIL if not final_ids else NA, "no final GOAWAY, so no late request could be tested"
        )
    elif late.reset_code == _H3_REQUEST_REJECTED:
        card["late_stream_rejected"] = Check(PASS, "RESET_STREAM(H3_REQUEST_REJECTED)")
    elif late.reset_code is not None:
        card["late_stream_rejected"] = Check(
            FAIL, f"reset with code 0x{late.reset_code:x}, not H3_REQUEST_REJECTED"
        )
    elif late.status is not None:
        card["late_stream_rejected"] = Check(FAIL, "answered although at or above the final id")
    elif probe.closed_at is not None and not probe.served_after_late:
        # The close raced the late request (QUIC sends nothing but the
        # CONNECTION_CLOSE once one is pending); its GOAWAY id still tells the
        # client it was not processed. Silence while serving on is the defect.
        card["late_stream_rejected"] = Check(
            NA, "the connection closed as the late request arrived; the GOAWAY id covers it"
        )
    else:
        card["late_stream_rejected"] = Check(FAIL, "silently ignored (no reset, no answer)")
    first = probe.streams.get(0)
    if first is not None and first.completed:
        card["inflight_completed"] = Check(
            PASS, f"in-flight response complete ({first.body_bytes} bytes)"
        )
    elif first is not None and first.reset_code is not None:
        card["inflight_completed"] = Check(
            FAIL, f"in-flight request reset with code 0x{first.reset_code:x}"
        )
    else:
        card["inflight_completed"] = Check(FAIL, "in-flight response cut or never finished")
    if probe.close_code is None:
        card["connection_closed"] = Check(
            FAIL,
            "server went away without CONNECTION_CLOSE"
            if probe.vanished
            else probe.error or "server never closed the connection",
        )
    elif not probe.close_is_application:
        card["connection_closed"] = Check(
            FAIL, f"transport CONNECTION_CLOSE 0x{probe.close_code:x} {probe.close_reason!r}"
        )
    elif probe.close_code != _H3_NO_ERROR:
        card["connection_closed"] = Check(
            FAIL, f"CONNECTION_CLOSE with 0x{probe.close_code:x}, not H3_NO_ERROR"
        )
    else:
        card["connection_closed"] = Check(
            PASS, "CONNECTION_CLOSE(H3_NO_ERROR) after the last response"
        )
    return card


H3_CHECKS = [
    "early_goaway",
    "final_first_rejected_id",
    "late_stream_rejected",
    "inflight_completed",
    "connection_closed",
]


def grade_h1(probe: H1ProbeResult) -> dict[str, Check]:
    """Grade one HTTP/1.1 probe run against RFC 9112 §9.6 and DESIGN.md."""
    if not probe.connected:
        reason = probe.error or "probe did not connect"
        return {name: Check(NA, reason) for name in H1_CHECKS}
    card = {
        "inflight_completed": Check(PASS, f"status {probe.inflight_status}")
        if probe.inflight_completed
        else Check(FAIL, probe.error or "in-flight response cut or never finished"),
        "connection_close_header": Check(PASS, "in-flight response said Connection: close")
        if probe.inflight_connection_close
        else Check(FAIL, "no Connection: close on the in-flight response"),
        "idle_keepalive_closed": (
            Check(FAIL, "idle connection reset instead of closed")
            if probe.idle_close_was_reset
            else Check(PASS, "idle keep-alive connection closed by the server")
        )
        if probe.idle_closed_by_server
        else Check(FAIL, "idle keep-alive connection left open"),
    }
    return card


H1_CHECKS = ["inflight_completed", "connection_close_header", "idle_keepalive_closed"]


def merge_cards(cards: list[dict[str, Check]]) -> dict[str, Check]:
    """One card for all restarts: fail if any failed, pass if any passed, else n/a."""
    merged: dict[str, Check] = {}
    for card in cards:
        for name, check in card.items():
            prior = merged.get(name)
            if (
                prior is None
                or check.verdict == FAIL
                or (prior.verdict == NA and check.verdict == PASS)
            ):
                merged[name] = check
    return merged


def percentile(values: list[float], fraction: float) -> float | None:
    """The value at ``fraction`` (0..1) of the sorted values, nearest rank."""
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class DrillReport:
    """The drill's result: what was sent, what was lost, and how the server drained."""

    protocol: str
    command: str
    sent: int = 0
    succeeded: int = 0
    lost: int = 0
    safely_retried: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latency_ms: dict[str, float | None] = field(default_factory=dict)
    drain_latency_ms: dict[str, float | None] = field(default_factory=dict)
    exit_seconds: list[float | None] = field(default_factory=list)
    restarts: int = 0
    report_card: dict[str, Check] = field(default_factory=dict)
    #: ``--url`` targets: how long each restart command ran.
    restart_seconds: list[float | None] = field(default_factory=list)
    #: Everything stamped along the way, for ``--html`` (not part of the JSON).
    timeline: Timeline | None = field(default=None, repr=False, compare=False)

    def add_load(self, stats: LoadStats, drain_windows: list[tuple[float, float]]) -> None:
        """Counts and latency percentiles from the load; "during drains" means a
        request that started or ended inside one of ``drain_windows`` (monotonic)."""
        self.sent = stats.sent
        self.succeeded = stats.succeeded
        self.lost = stats.lost
        self.safely_retried = stats.safely_retried
        self.errors = dict(stats.errors)
        latencies = [lat * 1000 for _, lat in stats.samples]
        in_drain = [
            lat * 1000
            for start, lat in stats.samples
            if any(a <= start <= b or a <= start + lat <= b for a, b in drain_windows)
        ]
        self.latency_ms = _summary(latencies)
        self.drain_latency_ms = _summary(in_drain)

    def to_json(self) -> dict[str, Any]:
        """The JSON form: ``lost`` and ``report_card`` (name -> verdict) at the top level."""
        data = asdict(replace(self, timeline=None))
        del data["timeline"]
        data["report_card"] = {name: check.verdict for name, check in self.report_card.items()}
        data["report_card_detail"] = {
            name: check.detail for name, check in self.report_card.items()
        }
        # What the probes and the load's client saw on the wire, in time order
        # (seconds since the drill began): the drain as seen from outside.
        signals = self.timeline.signals if self.timeline is not None else []
        data["wire_signals"] = [
            {"at": round(s.at, 4), "source": s.source, "kind": s.kind, "detail": s.detail}
            for s in sorted(signals, key=lambda s: s.at)
        ]
        return data

    def wire_summary(self) -> str:
        """One line: how many of each wire signal were seen, and the GOAWAY ids."""
        if self.timeline is None or not self.timeline.signals:
            return "none"
        counts: dict[str, int] = {}
        ids: list[str] = []
        for signal in self.timeline.signals:
            counts[signal.kind] = counts.get(signal.kind, 0) + 1
            if signal.kind == "goaway" and signal.source == "probe":
                name = GOAWAY_ID_NAMES.get(signal.ident or 0, str(signal.ident))
                if name not in ids:
                    ids.append(name)
        names = {"goaway": "GOAWAY", "refused": "refused", "reset": "reset",
                 "connection_close": "Connection: close", "closed": "closed"}  # fmt: skip
        parts = [f"{names.get(kind, kind)} {n}" for kind, n in counts.items()]
        return ", ".join(parts) + (f"  (probe GOAWAY ids {', '.join(ids)})" if ids else "")

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=False)

    @property
    def passed(self) -> bool:
        """Zero lost and no failing line."""
        return self.lost == 0 and all(c.verdict != FAIL for c in self.report_card.values())

    def render(self) -> str:
        """A table a person can read."""

        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f}"

        exits = ", ".join("-" if e is None else f"{e * 1000:.0f} ms" for e in self.exit_seconds)
        restarts = ", ".join("-" if e is None else f"{e:.2f} s" for e in self.restart_seconds)
        lines = [
            f"drill: {self.command}  [{self.protocol}, {self.restarts} restart(s)]",
            "",
            f"  requests sent      {self.sent}",
            f"  succeeded          {self.succeeded}",
            f"  LOST               {self.lost}",
            f"  safely retried     {self.safely_retried}",
        ]
        for name, count in sorted(self.errors.items()):
            lines.append(f"    {name:<24} {count}")
        lines += [
            f"  latency ms         p50 {ms(self.latency_ms.get('p50'))}  p99 {ms(self.latency_ms.get('p99'))}"
            f"  max {ms(self.latency_ms.get('max'))}",
            f"  ... during drains  p50 {ms(self.drain_latency_ms.get('p50'))}  p99 {ms(self.drain_latency_ms.get('p99'))}"
            f"  max {ms(self.drain_latency_ms.get('max'))}",
            f"  restart commands   {restarts}"
            if self.restart_seconds
            else f"  SIGTERM -> exit    {exits}",
            f"  wire signals       {self.wire_summary()}",
            "",
            "  report card",
        ]
        for name, check in self.report_card.items():
            lines.append(f"    {check.verdict.upper():<5} {name:<24} {check.detail}")
        return "\n".join(lines)


def _summary(values: list[float]) -> dict[str, float | None]:
    return {
        "p50": percentile(values, 0.50),
        "p90": percentile(values, 0.90),
        "p99": percentile(values, 0.99),
        "max": max(values) if values else None,
    }
