"""The logging sink's levels: drain steps at INFO, connection churn at DEBUG."""

from __future__ import annotations

import logging

import pytest

from lastcall.observe import LoggingSink
from lastcall.observe import events as oe


def closed(label: str) -> oe.ConnectionClosed:
    return oe.ConnectionClosed(1.0, label, "http/1.1", 1, True)


def levels(caplog: pytest.LogCaptureFixture) -> list[tuple[str, int]]:
    return [(r.getMessage().split()[0], r.levelno) for r in caplog.records]


def test_connection_closed_is_debug_outside_a_drain_and_info_in_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="lastcall.drain")
    sink = LoggingSink()
    sink(oe.ServerStarted(0.0, ("127.0.0.1:8000",)))
    sink(closed("http/1.1#1 127.0.0.1:5000"))
    sink(oe.DrainStarted(2.0, "shutdown (SIGTERM)", 30.0, 0.0, 1))
    sink(closed("http/1.1#2 127.0.0.1:5001"))
    sink(oe.Drained(3.0, 1.0, 2))
    sink(closed("http/1.1#3 127.0.0.1:5002"))  # aborted after "drained": still that drain
    assert levels(caplog) == [
        ("serving", logging.INFO),
        ("connection_closed", logging.DEBUG),
        ("drain", logging.INFO),
        ("connection_closed", logging.INFO),
        ("drained", logging.INFO),
        ("connection_closed", logging.INFO),
    ]


@pytest.mark.parametrize(
    "step",
    [
        oe.ConnectionDraining(1.0, "h2#7 127.0.0.1:5000", "h2", 2),
        oe.GoAwaySent(1.0, "h2#7 127.0.0.1:5000", 3, 0, "drain", False),
        oe.Http3GoAwaySent(1.0, "h2#7 127.0.0.1:5000", 8, True),
        oe.WebSocketClosing(1.0, "h2#7 127.0.0.1:5000", 1001),
    ],
    ids=lambda event: event.name,
)
def test_a_connection_drained_on_its_own_closes_at_info(
    caplog: pytest.LogCaptureFixture, step: oe.DrainEvent
) -> None:
    caplog.set_level(logging.DEBUG, logger="lastcall.drain")
    sink = LoggingSink()
    sink(step)
    sink(closed("h2#7 127.0.0.1:5000"))
    sink(closed("h2#8 127.0.0.1:5001"))  # another connection: ordinary churn
    sink(closed("h2#7 127.0.0.1:5000"))  # forgotten once closed (a label is not reused)
    assert [r.levelno for r in caplog.records] == [
        logging.INFO,
        logging.INFO,
        logging.DEBUG,
        logging.DEBUG,
    ]


def test_a_new_run_starts_outside_a_drain(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="lastcall.drain")
    sink = LoggingSink()
    sink(oe.DrainStarted(1.0, "drain", 30.0, 0.0, 0))
    sink(oe.ServerStarted(2.0, ("127.0.0.1:8000",)))
    sink(closed("http/1.1#1 127.0.0.1:5000"))
    assert caplog.records[-1].levelno == logging.DEBUG


def test_at_info_level_the_churn_is_not_formatted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lastcall.drain")
    sink = LoggingSink()
    sink(closed("http/1.1#1 127.0.0.1:5000"))
    assert caplog.records == []
