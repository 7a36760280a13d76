"""The HTTP/2 drain sub-phase table (engines/http2/drain.py), pair by pair and
under random drives of two real engines.

The table tests say every (phase, input) pair is either a transition or
listed as impossible, and that the drain only moves forward. The engine test
drives a client and a server engine through random interleavings of every
action that touches the drain (both sides' ``start_drain``, PING ACKs held
back or delivered, the clock, ``cancel_remaining``, ``close`` with and
without an error code, a malformed frame, requests and responses) and checks
after every step that what the engine exposes agrees with the table: each
observed step is one the table allows, the connection phase matches the
drain phase, the timer exists exactly while the PING ACK is awaited, and
``DrainCompleted`` is reported exactly once, when the drain completes.
"""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from lastcall.engines.http2 import DrainInitiator, ErrorCode, Http2Engine, Phase, Role
from lastcall.engines.http2 import events as ev
from lastcall.engines.http2.drain import (
    IMPOSSIBLE,
    INITIATED_BY,
    TRANSITIONS,
    DrainInput,
    DrainPhase,
    Http2Drain,
)
from lastcall.testing.frames import DEFAULT_REQUEST

ORDER = list(DrainPhase)
RESPONSE = [(b":status", b"200")]
ACTIONS = ["open", "open", "deliver", "deliver", "deliver", "drain", "tick", "cancel", "close"]
ACTIONS.append("garbage")
SCALE = float(os.environ.get("LASTCALL_HYPOTHESIS_SCALE", "1"))
#: The connection phases each drain phase may coexist with.
CONNECTION_PHASES = {
    DrainPhase.NOT_STARTED: {Phase.OPEN},
    DrainPhase.PEER_GOAWAY_RECEIVED: {Phase.DRAINING},
    DrainPhase.AWAITING_PING_ACK: {Phase.DRAINING},
    DrainPhase.FINAL_GOAWAY_SENT: {Phase.DRAINING},
    DrainPhase.COMPLETE: {Phase.CLOSING},
    DrainPhase.ABORTED: {Phase.CLOSING},
}


def test_every_pair_is_a_transition_or_impossible() -> None:
    for phase in DrainPhase:
        for event in DrainInput:
            pair = (phase, event)
            assert (pair in TRANSITIONS) != (pair in IMPOSSIBLE), pair


def test_aborted_is_absorbing() -> None:
    for event in DrainInput:
        assert TRANSITIONS.get((DrainPhase.ABORTED, event), DrainPhase.ABORTED) is (
            DrainPhase.ABORTED
        )


def test_an_impossible_pair_fails_loudly() -> None:
    drain = Http2Drain()
    drain.advance(DrainInput.CLOSED)
    try:
        drain.advance(DrainInput.FIRST_GOAWAY_SENT)
    except KeyError:
        return
    raise AssertionError("an impossible pair was accepted")


@given(st.lists(st.sampled_from(list(DrainInput)), max_size=30), st.integers(-1, 9))
def test_any_possible_sequence_moves_forward_only(inputs: list[DrainInput], peer_id: int) -> None:
    drain = Http2Drain()
    for event in inputs:
        if (drain.phase, event) in IMPOSSIBLE:
            continue
        before = drain.phase
        initiator = drain.initiator
        if event is DrainInput.GOAWAY_RECEIVED:
            drain.goaway_received(max(peer_id, 0))
        after = drain.advance(event)
        # Who started it is decided by the step out of NOT_STARTED, and only then.
        if before is DrainPhase.NOT_STARTED:
            assert drain.initiator is INITIATED_BY.get(event)
        else:
            assert drain.initiator is initiator
        assert ORDER.index(after) >= ORDER.index(before)
        assert drain.deadline is None or after is DrainPhase.AWAITING_PING_ACK
        assert drain.refuses_new_streams == (
            after in (DrainPhase.FINAL_GOAWAY_SENT, DrainPhase.COMPLETE, DrainPhase.ABORTED)
            or drain.peer_last_processed_id >= 0
        )


class _Pair:
    """A client and a server engine, bytes held back each way."""

    def __init__(self, ping_timeout: float) -> None:
        from lastcall.engines.http2 import Http2Config

        self.engines = {
            "client": Http2Engine(Role.CLIENT),
            "server": Http2Engine(Role.SERVER, Http2Config(goaway_ping_timeout=ping_timeout)),
        }
        self.wire = {"client": bytearray(), "server": bytearray()}  # bytes *to* that side
        self.completed = {"client": 0, "server": 0}
        self.now = 0.0
        for engine in self.engines.values():
            engine.initiate()

    def other(self, side: str) -> str:
        return "server" if side == "client" else "client"

    def take(self, side: str, events: list[ev.Event]) -> None:
        engine = self.engines[side]
        for e in events:
            if isinstance(e, ev.DrainCompleted):
                self.completed[side] += 1
            elif isinstance(e, ev.RequestReceived) and e.end_stream:
                if engine.is_stream_open(e.stream_id):
                    engine.send_headers(e.stream_id, RESPONSE, end_stream=True)
            elif isinstance(e, ev.DataReceived):
                engine.acknowledge_received_data(e.stream_id, e.flow_controlled_length)

    def act(self, side: str, action: str, n: int) -> None:
        engine = self.engines[side]
        if action == "open":
            if side == "client" and engine.phase is Phase.OPEN and engine.available_stream_capacity:
                engine.open_stream(DEFAULT_REQUEST, end_stream=True)
        elif action == "deliver":
            buf = self.wire[side]
            piece = bytes(buf[: n * 23 + 1])
            del buf[: len(piece)]
            self.take(side, engine.receive_data(piece, self.now))
        elif action == "drain":
            engine.start_drain(self.now)
        elif action == "tick":
            self.now += n * 0.05
            self.take(side, engine.handle_timer(self.now))
        elif action == "cancel":
            engine.cancel_remaining()
        elif action == "close":
            engine.close(ErrorCode.NO_ERROR if n % 2 else ErrorCode.INTERNAL_ERROR)
        elif action == "garbage":
            # A WINDOW_UPDATE of 0 on the connection: a connection error (§6.9).
            self.wire[side] += b"\x00\x00\x04\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00"
        self.take(side, engine.pop_events())
        for who, e in self.engines.items():
            self.wire[self.other(who)] += e.data_to_send()


@settings(max_examples=int(200 * SCALE), deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["client", "server"]),
            st.sampled_from(ACTIONS),
            st.integers(0, 40),
        ),
        max_size=50,
    ),
    st.sampled_from([0.0, 1.0]),
)
def test_the_engine_follows_its_drain_table(
    actions: list[tuple[str, str, int]], ping_timeout: float
) -> None:
    pair = _Pair(ping_timeout)
    reachable = {(before, after) for (before, _), after in TRANSITIONS.items()}
    seen = {side: [DrainPhase.NOT_STARTED] for side in pair.engines}
    initiators: dict[str, DrainInitiator | None] = dict.fromkeys(pair.engines)
    for side, action, n in actions:
        pair.act(side, action, n)
        for who, engine in pair.engines.items():
            phase = engine.drain_phase
            before = seen[who][-1]
            if phase is not before:
                # One call may take several steps (first then final GOAWAY, then
                # complete): each must be a pair of the table, in order.
                path = [before, phase]
                assert (
                    any(
                        (before, mid) in reachable and (mid, phase) in reachable
                        for mid in DrainPhase
                    )
                    or tuple(path) in reachable
                ), (who, before, phase)
                seen[who].append(phase)
            assert engine.phase in CONNECTION_PHASES[phase], (who, engine.phase, phase)
            # Set once, by the first GOAWAY either way, and kept.
            if initiators[who] is None:
                initiators[who] = engine.drain_initiator
            assert engine.drain_initiator is initiators[who], who
            if phase in (DrainPhase.PEER_GOAWAY_RECEIVED, DrainPhase.AWAITING_PING_ACK):
                assert engine.drain_initiator is not None
            assert (engine.get_timer() is not None) == (phase is DrainPhase.AWAITING_PING_ACK)
            assert pair.completed[who] <= 1
            if pair.completed[who]:
                assert phase in (DrainPhase.COMPLETE, DrainPhase.ABORTED)
