"""Fixtures for the HTTP/2 engine suite: an engine in either role, past the
preface and SETTINGS exchange, with a scripted raw peer on the other side
(``lastcall.testing.frames``)."""

from __future__ import annotations

import pytest

from lastcall.testing.frames import ScriptedPeer, client_peer, server_peer


@pytest.fixture
def server() -> ScriptedPeer:
    return server_peer()


@pytest.fixture
def client() -> ScriptedPeer:
    return client_peer()


@pytest.fixture(params=["server", "client"])
def either(request: pytest.FixtureRequest) -> ScriptedPeer:
    """The same connection-level case, run against both roles."""
    return server_peer() if request.param == "server" else client_peer()
