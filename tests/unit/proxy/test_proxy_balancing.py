"""Balancer, passive ejection, retry rule and retry budget: pure decisions."""

from __future__ import annotations

from lastcall.client.http1 import StaleConnection
from lastcall.errors import ConnectError, ReadTimeout, StreamReset, UnprocessedRequest
from lastcall.proxy.balancer import Balancer, choose
from lastcall.proxy.config import BudgetSettings, EjectionSettings, HealthCheckSettings
from lastcall.proxy.ejection import MAX_EJECTION_TIME, EjectionState, record_failure, record_success
from lastcall.proxy.health import HealthCounter
from lastcall.proxy.retry import (
    CONNECT_FAILED,
    REFUSED,
    RESET,
    STALE_CONNECTION,
    failure_reason,
    should_retry,
)
from lastcall.proxy.retry_budget import RetryBudget


class B:
    def __init__(self, name: str, outstanding: int = 0, up: bool = True) -> None:
        self.name = name
        self.outstanding = outstanding
        self.up = up

    def is_available(self, now: float) -> bool:
        return self.up

    def __repr__(self) -> str:
        return self.name


def test_round_robin_skips_unavailable_and_panics() -> None:
    a, b, c = B("a"), B("b", up=False), B("c")
    bal = Balancer("round_robin", lambda: 0.0)
    assert [bal.choose([a, b, c], 0.0) for _ in range(4)] == [a, c, a, c]
    b.up = a.up = c.up = False
    assert choose("round_robin", [a, b, c], now=0, turn=1, random=lambda: 0.0) is b


def test_tried_backends_are_avoided_while_others_remain() -> None:
    a, b = B("a"), B("b")
    assert choose("round_robin", [a, b], now=0, turn=0, random=lambda: 0.0, tried=[a]) is b
    assert choose("round_robin", [a, b], now=0, turn=1, random=lambda: 0.0, tried=[a, b]) is b
    assert choose("round_robin", [], now=0, turn=0, random=lambda: 0.0) is None


def test_least_outstanding_and_p2c() -> None:
    a, b, c = B("a", 3), B("b", 1), B("c", 1)
    assert choose("least_outstanding", [a, b, c], now=0, turn=0, random=lambda: 0.0) is b
    assert choose("least_outstanding", [a, b, c], now=0, turn=2, random=lambda: 0.0) is c
    draws = iter([0.0, 0.99])  # first a (index 0), then c (second draw over the other two)
    assert choose("p2c", [a, b, c], now=0, turn=0, random=lambda: next(draws)) is c
    draws = iter([0.5, 0.0])  # b, then a
    assert choose("p2c", [a, b, c], now=0, turn=0, random=lambda: next(draws)) is b


def test_ejection_streak_percentage_and_growth() -> None:
    settings = EjectionSettings(
        consecutive_failures=2, base_ejection_time=10.0, max_ejection_percent=10.0
    )
    group = [EjectionState() for _ in range(4)]
    first = group[0]
    assert record_failure(first, group, settings, now=0.0, refused=False) is None
    assert record_failure(first, group, settings, now=1.0, refused=False) == 11.0
    assert first.is_ejected(5.0) and not first.is_ejected(11.0)
    # One of four may be out (10 % of 4 rounds down to 0, and at least one always may).
    assert record_failure(group[1], group, settings, now=2.0, refused=True) is None
    first.uneject()
    assert record_failure(group[1], group, settings, now=2.0, refused=True) == 12.0
    # The n-th ejection lasts n times as long, capped.
    group[1].uneject()
    assert record_failure(group[1], group, settings, now=20.0, refused=True) == 40.0
    group[1].times_ejected = 1000
    group[1].uneject()
    assert record_failure(group[1], group, settings, now=0.0, refused=True) == MAX_EJECTION_TIME
    record_success(group[2])
    assert group[2].consecutive_failures == 0


def test_failure_reasons_and_the_retry_rule() -> None:
    assert failure_reason(UnprocessedRequest("goaway")) == REFUSED
    assert failure_reason(ConnectError("refused")) == CONNECT_FAILED
    assert failure_reason(StaleConnection("stale")) == STALE_CONNECTION
    assert failure_reason(StreamReset("rst", error_code=2)) == RESET
    assert failure_reason(ReadTimeout("slow")) is None
    base = {"retries_done": 0, "max_retries": 5, "body_replayable": True}
    # Never processed: any method, whatever the route says.
    assert should_retry(REFUSED, is_idempotent=False, route_allows_idempotent=False, **base)
    assert should_retry(CONNECT_FAILED, is_idempotent=False, route_allows_idempotent=False, **base)
    # Maybe processed: idempotent and allowed only.
    assert not should_retry(RESET, is_idempotent=False, route_allows_idempotent=True, **base)
    assert not should_retry(RESET, is_idempotent=True, route_allows_idempotent=False, **base)
    assert should_retry(STALE_CONNECTION, is_idempotent=True, route_allows_idempotent=True, **base)
    assert not should_retry(None, is_idempotent=True, route_allows_idempotent=True, **base)
    assert not should_retry(
        REFUSED,
        is_idempotent=True,
        route_allows_idempotent=True,
        retries_done=5,
        max_retries=5,
        body_replayable=True,
    )
    assert not should_retry(
        REFUSED,
        is_idempotent=True,
        route_allows_idempotent=True,
        retries_done=0,
        max_retries=5,
        body_replayable=False,
    )


def test_retry_budget_is_a_share_of_active_requests() -> None:
    budget = RetryBudget(BudgetSettings(budget_percent=20.0, min_retry_concurrency=2))
    budget.active_requests = 5
    assert budget.limit == 2
    assert budget.try_acquire() and budget.try_acquire()
    assert not budget.try_acquire()
    budget.active_requests = 20
    assert budget.limit == 4 and budget.try_acquire()
    budget.release()
    assert budget.active_retries == 2


def test_health_thresholds() -> None:
    counter = HealthCounter(
        HealthCheckSettings(path="/h", unhealthy_threshold=2, healthy_threshold=2)
    )
    assert [counter.record(ok) for ok in (False, True, False, False, True, True)] == [
        True,
        True,
        True,
        False,
        False,
        True,
    ]
