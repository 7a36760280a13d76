"""Engine bugs found by the HTTP/3 client adapter, kept as regression tests."""

from __future__ import annotations

from lastcall.engines.http3 import Http3Engine, Role


def test_client_timer_before_connect_is_none() -> None:
    engine = Http3Engine(Role.CLIENT)
    assert engine.get_timer() is None
    assert engine.handle_timer(1.0) == []
    engine.close()  # e.g. a connect attempt abandoned before it started
    assert engine.get_timer() is None
