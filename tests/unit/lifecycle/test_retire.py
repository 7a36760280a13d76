"""Retiring one connection (age, count) and spreading a whole drain, with no clock.

The controller is fed ``now`` by the test: this is the fake clock of the
gradual drain, so every step of its schedule is checked exactly.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_phases import FakeConnection as PhaseTestConnection

from lastcall.errors import ConfigError
from lastcall.lifecycle import (
    CancelConnections,
    ConnectionLifetime,
    ConnectionRegistry,
    DrainConnections,
    DrainController,
    DrainSettings,
    GradualDrainScheduled,
    ServerPhase,
    ShutdownApplication,
    StopAccepting,
    drain_schedule,
    jittered,
)


class FakeConnection(PhaseTestConnection):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def __repr__(self) -> str:
        return self.name


# -- one connection's lifetime -------------------------------------------------------


def test_age_is_jittered_ten_percent_either_way() -> None:
    lifetime = ConnectionLifetime(max_age=100.0)
    assert lifetime.retire_at(5.0, 0.0) == pytest.approx(95.0)
    assert lifetime.retire_at(5.0, 0.5) == pytest.approx(105.0)
    assert lifetime.retire_at(5.0, 0.999999) == pytest.approx(115.0, rel=1e-6)
    assert ConnectionLifetime().retire_at(5.0, 0.5) is None  # off by default


@given(st.floats(0.001, 1e6), st.floats(0.0, 0.999999))
def test_jitter_never_leaves_its_band(age: float, unit: float) -> None:
    value = jittered(age, 0.1, unit)
    assert 0.9 * age * (1 - 1e-12) <= value <= 1.1 * age * (1 + 1e-12)


def test_requests_limit_counts_the_last_one() -> None:
    lifetime = ConnectionLifetime(max_requests=3)
    assert [lifetime.is_spent(n) for n in (1, 2, 3, 4)] == [False, False, True, True]
    assert not ConnectionLifetime().is_spent(10**9)


@pytest.mark.parametrize(
    "settings",
    [
        {"max_age": 0.0},
        {"max_age": -1.0},
        {"max_age": float("nan")},
        {"grace": -0.1},
        {"max_requests": 0},
        {"jitter": 1.0},
    ],
)
def test_lifetime_rejects_nonsense(settings: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        ConnectionLifetime(**settings)  # type: ignore[arg-type]


# -- the schedule of a gradual drain --------------------------------------------------


def test_schedule_spreads_evenly_and_ends_inside_the_window() -> None:
    assert drain_schedule(4, 10.0, 2.0) == [10.0, 10.5, 11.0, 11.5]
    assert drain_schedule(3, 1.0, 0.0) == [1.0, 1.0, 1.0]  # immediate
    assert drain_schedule(0, 1.0, 5.0) == []


@given(st.integers(1, 5000), st.floats(0.0, 1e4), st.floats(0.0, 600.0))
def test_schedule_is_ordered_and_bounded(count: int, start: float, window: float) -> None:
    times = drain_schedule(count, start, window)
    assert len(times) == count and times[0] == start
    assert times == sorted(times)
    assert times[-1] <= start + window


def test_settings_reject_an_unknown_strategy_or_fraction() -> None:
    with pytest.raises(ConfigError):
        DrainSettings(drain_strategy="slow")
    with pytest.raises(ConfigError):
        DrainSettings(drain_strategy="gradual", drain_spread_fraction=1.5)


# -- the controller, gradual ----------------------------------------------------------


def gradual(
    count: int, grace: float = 10.0, fraction: float = 0.5
) -> tuple[DrainController, ConnectionRegistry, list[FakeConnection]]:
    registry = ConnectionRegistry()
    controller = DrainController(
        registry, DrainSettings(grace, drain_strategy="gradual", drain_spread_fraction=fraction)
    )
    controller.started(0.0)
    connections = [FakeConnection(f"c{i}") for i in range(count)]
    for connection in connections:
        registry.add(connection)
    return controller, registry, connections


def told(actions: list[object]) -> list[str]:
    return [
        repr(c)
        for a in actions
        if isinstance(a, DrainConnections) and a.connections is not None
        for c in a.connections
    ]


def test_gradual_drain_tells_one_connection_per_step_oldest_first() -> None:
    controller, _, _ = gradual(4, grace=10.0, fraction=0.5)  # window 5 s: every 1.25 s
    actions = controller.drain(100.0, "shutdown")
    assert StopAccepting() in actions
    assert GradualDrainScheduled(4, 103.75) in actions
    assert told(actions) == ["c0"]
    assert controller.get_timer() == 101.25
    assert controller.handle_timer(101.2) == []  # not yet
    assert told(controller.handle_timer(101.25)) == ["c1"]
    assert controller.get_timer() == 102.5
    # A late wake-up catches up in one batch, in order.
    assert told(controller.handle_timer(104.0)) == ["c2", "c3"]
    assert controller.get_timer() == 110.0  # then only the grace deadline is left
    (draining,) = [a for a in controller.handle_timer(110.0) if isinstance(a, CancelConnections)]
    assert draining.remaining_connections == 4


def test_every_notice_carries_the_servers_grace_deadline() -> None:
    controller, _, _ = gradual(2, grace=8.0, fraction=0.25)
    first = [a for a in controller.drain(0.0, "shutdown") if isinstance(a, DrainConnections)]
    second = [a for a in controller.handle_timer(1.0) if isinstance(a, DrainConnections)]
    assert [a.deadline_at for a in first + second] == [8.0, 8.0]


def test_a_connection_gone_before_its_turn_is_skipped() -> None:
    controller, registry, connections = gradual(3, grace=6.0, fraction=0.5)
    controller.drain(0.0, "shutdown")  # c0 now, c1 at 1.0, c2 at 2.0
    registry.discard(connections[1])
    assert controller.handle_timer(1.0) == []
    assert told(controller.handle_timer(2.0)) == ["c2"]


def test_second_signal_tells_the_rest_before_cancelling() -> None:
    controller, _, _ = gradual(3, grace=30.0)
    controller.drain(0.0, "SIGTERM")
    actions = controller.force(1.0, "second SIGTERM")
    assert told(actions) == ["c1", "c2"]
    kinds = [type(a) for a in actions]
    assert kinds.index(DrainConnections) < kinds.index(CancelConnections)


def test_tightened_grace_compresses_what_is_left_of_the_schedule() -> None:
    controller, _, _ = gradual(3, grace=30.0, fraction=0.5)  # c1 at 5, c2 at 10
    controller.drain(0.0, "shutdown")
    # Deadline now 5: c1 and c2 over half of the 4 s left, the first at once.
    assert told(controller.drain(1.0, "again", grace=4.0)) == ["c1"]
    assert controller.get_timer() == 2.0
    assert told(controller.handle_timer(2.0)) == ["c2"]
    assert controller.get_timer() == 5.0


def test_one_connection_or_immediate_strategy_tells_everyone_at_once() -> None:
    controller, _, _ = gradual(1)
    actions = controller.drain(0.0, "shutdown")
    assert DrainConnections(10.0, "shutdown") in actions
    assert not any(isinstance(a, GradualDrainScheduled) for a in actions)


def test_last_connection_gone_ends_a_gradual_drain_early() -> None:
    controller, registry, connections = gradual(3)
    controller.drain(0.0, "shutdown")
    for connection in connections:
        registry.discard(connection)
    assert controller.connections_gone(0.5) == [ShutdownApplication()]
    assert controller.phase is ServerPhase.STOPPING and controller.get_timer() is None


@given(
    st.integers(2, 40),
    st.floats(0.1, 60.0),
    st.floats(0.0, 1.0),
    st.lists(st.floats(0.0, 100.0), max_size=30),
)
def test_gradual_tells_each_connection_exactly_once_by_its_deadline(
    count: int, grace: float, fraction: float, wakeups: list[float]
) -> None:
    controller, _, connections = gradual(count, grace=grace, fraction=fraction)
    seen = told(controller.drain(0.0, "shutdown"))
    for now in sorted(wakeups):
        timer = controller.get_timer()
        if timer is None or controller.phase is not ServerPhase.DRAINING:
            break
        seen += told(controller.handle_timer(now))
    while controller.phase is ServerPhase.DRAINING:
        timer = controller.get_timer()
        assert timer is not None and timer <= grace
        seen += told(controller.handle_timer(timer))
    assert seen == [repr(c) for c in connections]  # each once, oldest first
