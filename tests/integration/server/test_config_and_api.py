"""Configuration sources, the documented reference, and the public API."""

from __future__ import annotations

import dataclasses
import pathlib

import pytest

import lastcall.server
from lastcall.errors import ConfigError
from lastcall.server.config import ServerConfig, load_config
from lastcall.server.listeners import parse_bind

DOCS = pathlib.Path(__file__).resolve().parents[3] / "docs" / "server" / "reference.md"


def test_every_setting_is_documented_in_the_reference() -> None:
    text = DOCS.read_text()
    for field in dataclasses.fields(ServerConfig):
        assert f"`{field.name}`" in text or f"`{field.name}` (" in text, field.name


def test_precedence_defaults_toml_env_cli(tmp_path: pathlib.Path) -> None:
    toml = tmp_path / "lastcall.toml"
    toml.write_text('[serve]\ngraceful-timeout = 5\nbind = ["127.0.0.1:9000"]\naccess_log = true\n')
    env = {"LASTCALL_GRACEFUL_TIMEOUT": "7", "LASTCALL_KEEP_ALIVE_TIMEOUT": "2"}
    config = load_config({"keep_alive_timeout": 3.0}, config_file=str(toml), environ=env)
    assert config.graceful_timeout == 7.0  # env beats TOML
    assert config.keep_alive_timeout == 3.0  # CLI beats env
    assert config.bind == ["127.0.0.1:9000"] and config.access_log


def test_bad_settings_are_clear_errors(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ConfigError, match="unknown setting"):
        load_config({"graceful_timeuot": 1}, environ={})
    with pytest.raises(ConfigError, match="graceful_timeout"):
        ServerConfig(graceful_timeout=-1)
    with pytest.raises(ConfigError, match="port"):
        parse_bind("localhost:http")


def test_bind_forms() -> None:
    assert str(parse_bind("[::1]:8000")) == "[::1]:8000"
    assert parse_bind(":80").host == "0.0.0.0"
    assert parse_bind("unix:/tmp/x.sock").path == "/tmp/x.sock"


def test_public_api_is_pinned() -> None:
    assert sorted(lastcall.server.__all__) == sorted(
        [
            "DRAIN_EXTENSION",
            "EXIT_OK",
            "EXIT_STARTUP_FAILED",
            "DrainExtension",
            "Server",
            "ServerConfig",
            "load_config",
            "serve",
        ]
    )


def test_lifespan_timeouts_from_every_source(tmp_path: pathlib.Path) -> None:
    defaults = ServerConfig()
    assert (defaults.lifespan_startup_timeout, defaults.lifespan_shutdown_timeout) == (60.0, 60.0)
    toml = tmp_path / "lastcall.toml"
    toml.write_text("lifespan-shutdown-timeout = 4\n")
    env = {"LASTCALL_LIFESPAN_STARTUP_TIMEOUT": "5"}
    config = load_config(config_file=str(toml), environ=env)
    assert (config.lifespan_startup_timeout, config.lifespan_shutdown_timeout) == (5.0, 4.0)
    from lastcall.cli import build_parser

    args = build_parser().parse_args(["serve", "--lifespan-startup-timeout", "2.5"])
    assert args.lifespan_startup_timeout == 2.5
    with pytest.raises(ConfigError, match="lifespan_shutdown_timeout must be > 0"):
        ServerConfig(lifespan_shutdown_timeout=0)
