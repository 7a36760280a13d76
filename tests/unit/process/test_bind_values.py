"""``fd://N`` binds and the process settings, checked before anything starts."""

from __future__ import annotations

import pytest

from lastcall.cli import build_parser
from lastcall.errors import ConfigError
from lastcall.server.config import ServerConfig
from lastcall.server.listeners import BindAddress, parse_bind


def test_fd_bind_parses() -> None:
    assert parse_bind("fd://3") == BindAddress(None, None, fd=3)
    assert str(parse_bind("fd://7")) == "fd://7"


@pytest.mark.parametrize("value", ["fd://", "fd://x", "fd://-1"])
def test_bad_fd_bind_is_a_usage_error(value: str) -> None:
    with pytest.raises(ConfigError, match="fd://"):
        parse_bind(value)


def test_fd_option_is_a_bind() -> None:
    args = build_parser().parse_args(["serve", "--fd", "3", "--bind", "unix:/tmp/x", "--fd", "4"])
    assert args.bind == ["fd://3", "unix:/tmp/x", "fd://4"]


def test_process_settings() -> None:
    assert not ServerConfig().is_supervised
    assert ServerConfig(workers=2).is_supervised
    assert ServerConfig(upgrade_socket="/tmp/u.sock").is_supervised
    assert ServerConfig(reload=True).is_supervised
    with pytest.raises(ConfigError, match="workers"):
        ServerConfig(workers=0)
    with pytest.raises(ConfigError, match="--upgrade-socket"):
        ServerConfig(upgrade=True)


def test_programmatic_serve_with_workers_needs_an_importable_app() -> None:
    import lastcall
    import lastcall.server

    async def local_app(scope: object, receive: object, send: object) -> None:
        pass  # defined here: no worker could import it

    with pytest.raises(ConfigError, match="module:attribute"):
        lastcall.serve(local_app, workers=2)
    with pytest.raises(ConfigError, match="need a supervisor"):
        lastcall.server.serve(None, workers=2)
