"""``server/ws_keepalive.py``: the Ping timer of a WebSocket, with a fake loop (no clock)."""

from __future__ import annotations

from collections.abc import Callable

from lastcall.server.ws_keepalive import KeepAlive


class FakeHandle:
    def __init__(self, delay: float, callback: Callable[[], object]) -> None:
        self.delay, self.callback, self.cancelled = delay, callback, False

    def cancel(self) -> None:
        self.cancelled = True


class FakeLoop:
    """``call_later`` recorded, fired by hand."""

    def __init__(self) -> None:
        self.timers: list[FakeHandle] = []

    def call_later(self, delay: float, callback: Callable[[], object]) -> FakeHandle:
        handle = FakeHandle(delay, callback)
        self.timers.append(handle)
        return handle

    def live(self) -> list[FakeHandle]:
        return [h for h in self.timers if not h.cancelled]

    def fire(self) -> float:
        """Run the one live timer; return its delay."""
        (handle,) = self.live()
        self.timers.remove(handle)
        handle.callback()
        return handle.delay


def test_keepalive_timer_sequence() -> None:
    loop = FakeLoop()
    pings: list[bytes] = []
    expired: list[bool] = []
    keepalive = KeepAlive(loop, 20.0, 5.0, pings.append, lambda: expired.append(True))
    keepalive.start()
    keepalive.start()  # idempotent
    assert loop.fire() == 20.0 and pings == [b"1"]  # the Ping; its deadline is armed
    keepalive.pong(b"not ours")  # an unsolicited Pong (RFC 6455 §5.5.3) answers nothing
    assert [h.delay for h in loop.live()] == [5.0]
    keepalive.pong(b"1")
    assert loop.fire() == 20.0 and pings == [b"1", b"2"]  # the next, interval after the Pong
    assert loop.fire() == 5.0 and expired == [True]  # no Pong for "2"
    keepalive.stop()
    assert loop.live() == []


def test_without_a_timeout_pings_go_on_unanswered() -> None:
    loop = FakeLoop()
    pings: list[bytes] = []
    KeepAlive(loop, 20.0, 0.0, pings.append, lambda: None).start()
    loop.fire()
    loop.fire()
    assert pings == [b"1", b"2"]


def test_zero_interval_never_pings() -> None:
    loop = FakeLoop()
    KeepAlive(loop, 0.0, 5.0, lambda _: None, lambda: None).start()
    assert loop.timers == []
