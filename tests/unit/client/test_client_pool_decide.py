"""The pool's pure decision function: every rule, no sockets, no clock."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lastcall.client.pool import ConnState, Plan, decide


@dataclass
class Entry:
    state: ConnState = ConnState.READY
    is_multiplexed: bool | None = False
    free_slots: int = 1
    used_slots: int = 0
    idle_since: float | None = 0.0


def run(
    entries: list[Entry],
    *,
    max_connections: int = 2,
    max_keepalive: int = 10,
    keepalive_expiry: float = 5.0,
    now: float = 1.0,
) -> Plan[Entry]:
    return decide(
        entries,
        max_connections=max_connections,
        max_keepalive=max_keepalive,
        keepalive_expiry=keepalive_expiry,
        now=now,
    )


def h1_busy() -> Entry:
    return Entry(free_slots=0, used_slots=1, idle_since=None)


def h2(free: int, used: int = 0, state: ConnState = ConnState.READY) -> Entry:
    return Entry(
        state=state, is_multiplexed=True, free_slots=free, used_slots=used, idle_since=None
    )


def test_empty_pool_opens() -> None:
    plan = run([])
    assert plan.open and plan.reuse is None and not plan.close


def test_idle_http1_is_reused_most_recent_first() -> None:
    old, recent = Entry(idle_since=0.2), Entry(idle_since=0.8)
    assert run([old, recent]).reuse is recent


def test_expired_idle_http1_is_closed_and_replaced() -> None:
    stale = Entry(idle_since=0.0)
    plan = run([stale], keepalive_expiry=0.5, now=1.0)
    assert plan.close == (stale,)
    assert plan.open


def test_busy_at_limit_waits() -> None:
    plan = run([h1_busy(), h1_busy()], max_connections=2)
    assert plan.must_wait and not plan.close


def test_keepalive_excess_is_closed_oldest_first() -> None:
    a, b, c = Entry(idle_since=0.1), Entry(idle_since=0.5), Entry(idle_since=0.9)
    plan = run([a, b, c], max_keepalive=1)
    assert set(map(id, plan.close)) == {id(a), id(b)}
    assert plan.reuse is c


def test_http2_with_capacity_is_preferred_and_the_fullest_wins() -> None:
    light, heavy = h2(free=99, used=1), h2(free=50, used=50)
    plan = run([Entry(idle_since=0.5), light, heavy])
    assert plan.reuse is heavy


def test_full_http2_at_limit_waits() -> None:
    assert run([h2(0, 100), h2(0, 100)], max_connections=2).must_wait


def test_draining_connections_do_not_count_against_the_limit() -> None:
    plan = run([h2(0, 5, ConnState.DRAINING), h2(0, 5, ConnState.CLOSED)], max_connections=1)
    assert plan.open


def test_a_connecting_multiplexed_connection_is_waited_for() -> None:
    pending = Entry(state=ConnState.CONNECTING, is_multiplexed=True, free_slots=0, idle_since=None)
    assert run([pending], max_connections=5).must_wait
    unknown = Entry(state=ConnState.CONNECTING, is_multiplexed=None, free_slots=0, idle_since=None)
    assert run([unknown], max_connections=5).must_wait


def test_a_connecting_http1_connection_does_not_block_opening() -> None:
    pending = Entry(state=ConnState.CONNECTING, is_multiplexed=False, free_slots=0, idle_since=None)
    assert run([pending], max_connections=2).open
    assert run([pending], max_connections=1).must_wait


entries_st = st.lists(
    st.builds(
        Entry,
        state=st.sampled_from(list(ConnState)),
        is_multiplexed=st.sampled_from([True, False, None]),
        free_slots=st.integers(0, 3),
        used_slots=st.integers(0, 3),
        idle_since=st.one_of(st.none(), st.floats(0, 10)),
    ),
    max_size=8,
)


@given(entries_st, st.integers(1, 4), st.integers(0, 4), st.floats(0.1, 5), st.floats(0, 20))
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # a pure function:
def test_invariants(  # its speed is no property, and a loaded CI host is slow to draw
    entries: list[Entry], max_conn: int, max_keep: int, expiry: float, now: float
) -> None:
    plan = run(
        entries, max_connections=max_conn, max_keepalive=max_keep, keepalive_expiry=expiry, now=now
    )
    assert not (plan.reuse is not None and plan.open)
    if plan.reuse is not None:
        assert plan.reuse.state is ConnState.READY
        assert all(plan.reuse is not c for c in plan.close)
        assert plan.reuse.free_slots > 0 or not plan.reuse.is_multiplexed
    for closed in plan.close:
        assert closed.state is ConnState.READY and not closed.is_multiplexed
    if plan.open:
        live = [
            e
            for e in entries
            if e.state in (ConnState.READY, ConnState.CONNECTING)
            and not any(e is c for c in plan.close)
        ]
        assert len(live) < max_conn
