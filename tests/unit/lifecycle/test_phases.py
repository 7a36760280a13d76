"""Every (phase, input) pair of the lifecycle tables, and the drain controller's sequence."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lastcall.errors import ConfigError
from lastcall.lifecycle import (
    AbortConnections,
    AnnouncePreStop,
    CancelConnections,
    ConnectionInput,
    ConnectionPhase,
    ConnectionRegistry,
    DrainConnections,
    DrainController,
    DrainSettings,
    FailReadiness,
    PreStopElapsed,
    ServerInput,
    ServerPhase,
    ShutdownApplication,
    StopAccepting,
    next_connection_phase,
    next_server_phase,
)
from lastcall.lifecycle.phases import CONNECTION_TRANSITIONS, SERVER_TRANSITIONS


def test_connection_table_is_total() -> None:
    for phase, event in itertools.product(ConnectionPhase, ConnectionInput):
        assert (phase, event) in CONNECTION_TRANSITIONS


@given(st.lists(st.sampled_from(list(ConnectionInput)), max_size=20))
def test_connection_phase_never_goes_back(inputs: list[ConnectionInput]) -> None:
    order = list(ConnectionPhase)
    phase = ConnectionPhase.OPEN
    for event in inputs:
        nxt = next_connection_phase(phase, event)
        assert order.index(nxt) >= order.index(phase)
        if event is ConnectionInput.TRANSPORT_CLOSED:
            assert nxt is ConnectionPhase.CLOSED
        phase = nxt


def test_server_table_rejects_impossible_pairs_loudly() -> None:
    with pytest.raises(KeyError):
        next_server_phase(ServerPhase.STARTING, ServerInput.GRACE_EXPIRED)


@given(st.sampled_from(list(ServerPhase)), st.sampled_from(list(ServerInput)))
def test_server_table_pairs_are_in_table_or_raise(phase: ServerPhase, event: ServerInput) -> None:
    if (phase, event) in SERVER_TRANSITIONS:
        assert isinstance(next_server_phase(phase, event), ServerPhase)
    else:
        with pytest.raises(KeyError):
            next_server_phase(phase, event)


class FakeConnection:
    def __init__(self) -> None:
        self.phase = ConnectionPhase.OPEN
        self.active_stream_count = 1

    def begin_drain(self, deadline_at: float, reason: str) -> None:
        self.phase = ConnectionPhase.DRAINING

    def cancel(self, reason: str) -> None:
        self.phase = ConnectionPhase.CLOSING

    def abort(self) -> None:
        self.phase = ConnectionPhase.CLOSED


def started(settings_: DrainSettings | None = None) -> tuple[DrainController, ConnectionRegistry]:
    registry = ConnectionRegistry()
    controller = DrainController(registry, settings_)
    assert controller.started(0.0) == []
    return controller, registry


def test_idle_server_goes_straight_to_shutdown() -> None:
    controller, _ = started()
    actions = controller.drain(10.0, "shutdown")
    assert [type(a) for a in actions] == [
        FailReadiness,
        StopAccepting,
        DrainConnections,
        ShutdownApplication,
    ]
    assert controller.phase is ServerPhase.STOPPING
    assert controller.get_timer() is None


def test_busy_server_waits_for_the_last_connection() -> None:
    controller, registry = started(DrainSettings(graceful_timeout=30.0))
    conn = FakeConnection()
    registry.add(conn)
    actions = controller.drain(1.0, "shutdown")
    assert isinstance(actions[-1], DrainConnections) and actions[-1].deadline_at == 31.0
    assert controller.get_timer() == 31.0
    assert controller.handle_timer(30.9) == []
    registry.discard(conn)
    assert controller.connections_gone(5.0) == [ShutdownApplication()]
    controller.shutdown_done()
    assert controller.phase is ServerPhase.STOPPED


def test_grace_expiry_cancels_then_aborts() -> None:
    controller, registry = started(DrainSettings(graceful_timeout=5.0, close_timeout=2.0))
    registry.add(FakeConnection())
    controller.drain(0.0, "shutdown")
    actions = controller.handle_timer(5.0)
    assert actions == [CancelConnections("shutdown", False, 1, 1)]
    assert controller.get_timer() == 7.0
    assert controller.handle_timer(7.0) == [AbortConnections(1)]


def test_second_signal_skips_to_cancel() -> None:
    controller, registry = started()
    registry.add(FakeConnection())
    controller.drain(0.0, "SIGTERM")
    actions = controller.force(0.5, "second SIGTERM")
    assert isinstance(actions[0], CancelConnections) and actions[0].forced


def test_pre_stop_delay_keeps_accepting_first() -> None:
    controller, _ = started(DrainSettings(pre_stop_delay=5.0, graceful_timeout=30.0))
    assert controller.drain(0.0, "shutdown") == [FailReadiness("shutdown"), AnnouncePreStop(35.0)]
    assert controller.phase is ServerPhase.PRE_STOP and controller.get_timer() == 5.0
    actions = controller.handle_timer(5.0)
    assert [type(a) for a in actions] == [
        PreStopElapsed,
        StopAccepting,
        DrainConnections,
        ShutdownApplication,
    ]


def test_pre_stop_announcement_follows_a_tightened_grace() -> None:
    """The application is told the deadline it can expect, and an earlier one if a
    later drain() shortens the grace before the pre-stop delay ends."""
    controller, registry = started(DrainSettings(graceful_timeout=30.0, pre_stop_delay=5.0))
    registry.add(FakeConnection())
    assert controller.drain(1.0, "deploy") == [FailReadiness("deploy"), AnnouncePreStop(36.0)]
    assert controller.drain(2.0, "again", grace=10.0) == [AnnouncePreStop(16.0)]
    assert controller.drain(3.0, "longer", grace=20.0) == []
    actions = controller.handle_timer(6.0)
    assert DrainConnections(16.0, "deploy") in actions


def test_shorter_grace_tightens_longer_never_extends() -> None:
    controller, registry = started(DrainSettings(graceful_timeout=30.0))
    registry.add(FakeConnection())
    controller.drain(0.0, "a")
    controller.drain(1.0, "b", grace=2.0)
    assert controller.get_timer() == 3.0
    controller.drain(1.5, "c", grace=100.0)
    assert controller.get_timer() == 3.0


def test_drain_during_startup_is_honoured_after() -> None:
    registry = ConnectionRegistry()
    controller = DrainController(registry)
    assert controller.drain(0.0, "early") == []
    actions = controller.started(1.0)
    assert isinstance(actions[0], FailReadiness)
    assert controller.phase is ServerPhase.STOPPING


def test_settings_reject_negative() -> None:
    with pytest.raises(ConfigError):
        DrainSettings(graceful_timeout=-1.0)
    controller, _ = started()
    with pytest.raises(ConfigError):
        controller.drain(0.0, "x", grace=float("nan"))


class Op:
    DRAIN, FORCE, TIMER, ADD, REMOVE = range(5)


@settings(max_examples=300)
@given(
    st.lists(st.tuples(st.integers(0, 4), st.floats(0, 5)), max_size=30),
    st.floats(0, 3),
    st.floats(0, 3),
)
def test_any_sequence_ends_stopped_and_never_raises(
    ops: list[tuple[int, float]], grace: float, pre_stop: float
) -> None:
    """Whatever happens in whatever order, the sequence keeps its invariants."""
    registry = ConnectionRegistry()
    controller = DrainController(registry, DrainSettings(grace, pre_stop, 1.0))
    controller.started(0.0)
    now = 0.0
    live: list[FakeConnection] = []
    accepting = True
    shutdowns = 0

    def apply(actions: list[object]) -> None:
        nonlocal accepting, shutdowns
        for action in actions:
            if isinstance(action, StopAccepting):
                accepting = False
            if isinstance(action, AnnouncePreStop):
                assert accepting  # told while listeners still accept, never after
            if isinstance(action, ShutdownApplication):
                shutdowns += 1
                assert not registry or controller.phase is ServerPhase.STOPPING

    for op, dt in ops:
        now += dt
        if op == Op.DRAIN:
            apply(list(controller.drain(now, "drain")))
        elif op == Op.FORCE:
            apply(list(controller.force(now, "force")))
        elif op == Op.TIMER:
            timer = controller.get_timer()
            if timer is not None:
                now = max(now, timer)
                apply(list(controller.handle_timer(now)))
        elif op == Op.ADD and accepting:
            conn = FakeConnection()
            live.append(conn)
            registry.add(conn)
        elif op == Op.REMOVE and live:
            registry.discard(live.pop())
            if not registry:
                apply(list(controller.connections_gone(now)))
    # Finish: drain, then let every deadline pass and every connection go.
    apply(list(controller.drain(now, "end")))
    for _ in range(4):
        timer = controller.get_timer()
        if timer is None:
            break
        apply(list(controller.handle_timer(timer)))
    while live:
        registry.discard(live.pop())
        if not registry:
            apply(list(controller.connections_gone(now)))
    assert controller.phase is ServerPhase.STOPPING
    assert shutdowns == 1
    controller.shutdown_done()
    assert controller.phase is ServerPhase.STOPPED
