"""The HTTP/3 drain sub-phase table (engines/http3/drain.py), pair by pair and
under random drives of two real engines over a fake wire.

``IMPOSSIBLE`` is every pair the table leaves out; the engine drive shows
they never occur (``advance`` raises ``KeyError`` on one): random
interleavings of requests, responses, both sides' ``start_drain``,
``cancel_remaining`` and ``close``, the wire pumped or not, and the fake
clock jumped to the next timer. After every step what each engine exposes
must agree with the table: the connection phase matches the drain phase, the
settle timer runs exactly while the final GOAWAY is due, ``DrainCompleted``
comes at most once and only with the drain complete, and
``ConnectionTerminated`` exactly when the connection is terminated.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lastcall.engines.http3 import DrainInitiator, Http3Config, Phase
from lastcall.engines.http3 import events as ev
from lastcall.engines.http3.drain import (
    IMPOSSIBLE,
    INITIATED_BY,
    TRANSITIONS,
    DrainInput,
    DrainPhase,
    Http3Drain,
)
from lastcall.testing.quic_certs import SelfSignedCertificate, make_self_signed

from .helpers import EngineSide, Wire, our_client, our_server, request_headers, server_has

ORDER = list(DrainPhase)
SCALE = float(os.environ.get("LASTCALL_HYPOTHESIS_SCALE", "1"))
_D = DrainPhase
CONNECTION_PHASES = {
    _D.NOT_STARTED: {Phase.OPEN},
    _D.PEER_GOAWAY_RECEIVED: {Phase.DRAINING},
    _D.AWAITING_PING_ACK: {Phase.DRAINING},
    _D.PING_ACKNOWLEDGED: {Phase.DRAINING},
    _D.FINAL_GOAWAY_SENT: {Phase.DRAINING},
    _D.COMPLETE: {Phase.CLOSING},
    _D.CLOSE_PENDING: {Phase.CLOSING, Phase.CLOSED},
    _D.CLOSE_SENT: {Phase.CLOSING, Phase.CLOSED},
    _D.LOST: {Phase.CLOSING, Phase.CLOSED},
}
TERMINATED = {_D.CLOSE_PENDING, _D.CLOSE_SENT, _D.LOST}
_CERT: list[SelfSignedCertificate] = []


def test_every_pair_is_a_transition_or_impossible() -> None:
    for phase in DrainPhase:
        for event in DrainInput:
            assert ((phase, event) in TRANSITIONS) != ((phase, event) in IMPOSSIBLE)


def test_terminated_phases_take_no_input_but_the_close_going_out() -> None:
    for (phase, event), after in TRANSITIONS.items():
        if phase in TERMINATED:
            assert (phase, event, after) == (_D.CLOSE_PENDING, DrainInput.CLOSE_SENT, _D.CLOSE_SENT)


@given(st.lists(st.sampled_from(list(DrainInput)), max_size=30))
def test_any_possible_sequence_moves_forward_only(inputs: list[DrainInput]) -> None:
    drain = Http3Drain()
    for event in inputs:
        if (drain.phase, event) in IMPOSSIBLE:
            continue
        before = drain.phase
        drain.settle_at = 1.0 if before in (_D.AWAITING_PING_ACK, _D.PING_ACKNOWLEDGED) else None
        initiator = drain.initiator
        after = drain.advance(event)
        # Who started it is decided by the step out of NOT_STARTED, and only then.
        if before is _D.NOT_STARTED:
            assert drain.initiator is INITIATED_BY.get(event)
        else:
            assert drain.initiator is initiator
        assert ORDER.index(after) >= ORDER.index(before)
        assert drain.is_terminated == (after in TERMINATED)
        assert drain.settle_at is None or after in (_D.AWAITING_PING_ACK, _D.PING_ACKNOWLEDGED)


def _connected(config: Http3Config) -> tuple[EngineSide, EngineSide, Wire]:
    if not _CERT:
        _CERT.append(make_self_signed())
    client = our_client(_CERT[0], config)
    wire = Wire(client, our_server(_CERT[0], config))
    wire.run_until(
        lambda: bool(client.of(ev.SettingsReceived)) and server_has(wire, ev.SettingsReceived)
    )
    assert isinstance(wire.server, EngineSide)
    return client, wire.server, wire


def _check(side: EngineSide, initiators: dict[int, DrainInitiator | None]) -> None:
    engine = side.engine
    side.events += engine.pop_events()
    phase = engine.drain_phase
    # Set once, by the first GOAWAY either way, and kept.
    key = id(side)
    if initiators.get(key) is None:
        initiators[key] = engine.drain_initiator
    assert engine.drain_initiator is initiators[key]
    if phase in (_D.PEER_GOAWAY_RECEIVED, _D.AWAITING_PING_ACK, _D.PING_ACKNOWLEDGED):
        assert engine.drain_initiator is not None
    assert engine.phase in CONNECTION_PHASES[phase], (engine.phase, phase)
    assert (engine._drain.settle_at is not None) == engine._drain.is_settling
    completed = side.of(ev.DrainCompleted)
    assert len(completed) <= 1
    if completed:
        assert phase in {_D.COMPLETE, *TERMINATED}
    assert bool(side.of(ev.ConnectionTerminated)) == (phase in TERMINATED)


ACTIONS = ["open", "open", "respond", "pump", "pump", "timer", "drain", "cancel", "close"]


@settings(
    max_examples=int(60 * SCALE),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    st.lists(
        st.tuples(st.sampled_from(["client", "server"]), st.sampled_from(ACTIONS)),
        max_size=30,
    ),
    st.sampled_from([0.0, 0.5]),
)
def test_the_engines_follow_their_drain_table(
    actions: list[tuple[str, str]], settle_timeout: float
) -> None:
    client, server, wire = _connected(Http3Config(goaway_settle_timeout=settle_timeout))
    sides = {"client": client, "server": server}
    initiators: dict[int, DrainInitiator | None] = {}
    for who, action in actions:
        side = sides[who]
        engine = side.engine
        if action == "open":
            if engine.available_stream_capacity:
                client.engine.open_stream(request_headers(), end_stream=True)
        elif action == "respond":
            for request in server.of(ev.RequestReceived):
                if server.engine.is_stream_open(request.stream_id):
                    server.engine.send_headers(
                        request.stream_id, [(b":status", b"200")], end_stream=True
                    )
        elif action == "pump":
            wire.pump()
        elif action == "timer":
            wire.advance()
        elif action == "drain":
            engine.start_drain(wire.now)
        elif action == "cancel":
            engine.cancel_remaining()
        elif action == "close":
            engine.close()
        for checked in sides.values():
            _check(checked, initiators)
    # Whatever happened, pumping and the clock bring both ends to rest.
    for _ in range(50):
        wire.pump()
        for checked in sides.values():
            _check(checked, initiators)
        if not wire.advance():
            break
