"""The engine's public surface and its phase table (STYLE.md: pin the API;
state machines are tables, every pair tested)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

import lastcall.engines.http2 as http2
from lastcall.engines.http2 import Http2Engine, Phase, Role
from lastcall.engines.http2 import events as ev
from lastcall.engines.phases import TRANSITIONS, PhaseInput, next_phase
from lastcall.testing.frames import DEFAULT_REQUEST, ScriptedPeer, ping_frame


def test_exported_members() -> None:
    assert sorted(http2.__all__) == [
        "DRAIN_PING_PAYLOAD",
        "DrainInitiator",
        "DrainPhase",
        "ErrorCode",
        "FrameType",
        "Http2Config",
        "Http2Engine",
        "Phase",
        "Role",
        "SettingCode",
        "events",
    ]


def test_returned_event_lists_are_the_callers(server: ScriptedPeer) -> None:
    """Extending a list the engine returned must never write into the engine's queue."""
    events = server.send(b"")
    assert events == []
    events += server.send(ping_frame(b"aaaaaaaa"))
    events += server.send(ping_frame(b"bbbbbbbb"))
    assert events == [ev.PingReceived(b"aaaaaaaa"), ev.PingReceived(b"bbbbbbbb")]
    popped = server.engine.pop_events()
    popped.append(ev.DrainCompleted())
    assert server.engine.pop_events() == []
    assert server.engine.handle_timer(0.0) == []


def test_no_timer_unless_draining(server: ScriptedPeer) -> None:
    assert server.engine.get_timer() is None
    server.send(server.request(1))
    assert server.engine.get_timer() is None


def test_initial_properties() -> None:
    engine = Http2Engine(Role.CLIENT)
    assert engine.phase is Phase.OPEN
    assert engine.active_stream_count == 0
    assert engine.peer_last_processed_id is None
    assert engine.outbound_buffered(1) == 0
    assert not engine.is_stream_open(1) and not engine.is_drained
    engine.initiate()
    assert engine.open_stream(DEFAULT_REQUEST) == 1
    assert engine.is_stream_open(1) and engine.active_stream_count == 1


def test_phase_table_is_complete() -> None:
    for phase in Phase:
        for event in PhaseInput:
            assert (phase, event) in TRANSITIONS


def test_closed_is_absorbing_and_closing_never_reopens() -> None:
    for event in PhaseInput:
        assert next_phase(Phase.CLOSED, event) is Phase.CLOSED
        assert next_phase(Phase.CLOSING, event) in (Phase.CLOSING, Phase.CLOSED)


@given(st.lists(st.sampled_from(list(PhaseInput)), max_size=30))
def test_any_input_sequence_moves_forward_only(inputs: list[PhaseInput]) -> None:
    order = [Phase.OPEN, Phase.DRAINING, Phase.CLOSING, Phase.CLOSED]
    phase = Phase.OPEN
    for event in inputs:
        new = next_phase(phase, event)
        assert order.index(new) >= order.index(phase)
        phase = new
