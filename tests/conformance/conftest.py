"""Fixtures of the HTTP/2 conformance suite: the two servers, shared by every
module (started once per session: each start costs about a second), and a
connection per case over each transport. See ``harness.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from lastcall.testing.quic_certs import write_self_signed

from .harness import Case, Server, open_case, spawn_server


@pytest.fixture(scope="session")
def h2c_server() -> Iterator[Server]:
    yield from spawn_server([])


@pytest.fixture(scope="session")
def cert_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_self_signed(tmp_path_factory.mktemp("conformance-certs"))


@pytest.fixture(scope="session")
def tls_server(cert_files: tuple[Path, Path]) -> Iterator[Server]:
    certfile, keyfile = cert_files
    yield from spawn_server(["--certfile", str(certfile), "--keyfile", str(keyfile)])


@pytest.fixture(params=["h2c", "tls"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def conn(transport: str, request: pytest.FixtureRequest) -> AsyncIterator[Case]:
    """A connection past the preface and SETTINGS exchange, over ``transport``."""
    async with open_case(request, transport) as case:
        await case.ready()
        yield case
