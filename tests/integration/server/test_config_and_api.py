"""Configuration sources and the server's Python API (the reference docs: tests/unit/test_docs.py)."""

from __future__ import annotations

import pathlib

import pytest

from lastcall.errors import ConfigError
from lastcall.server.asgi import Receive, Scope, Send
from lastcall.server.config import ServerConfig, load_config
from lastcall.server.listeners import parse_bind


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


def test_connection_retiring_settings_from_every_source(tmp_path: pathlib.Path) -> None:
    toml = tmp_path / "lastcall.toml"
    toml.write_text('max-connection-age = 300\ndrain-strategy = "gradual"\n')
    env = {"LASTCALL_MAX_REQUESTS_PER_CONNECTION": "1000", "LASTCALL_DRAIN_SPREAD_FRACTION": "0.2"}
    config = load_config({"max_connection_age_grace": "5"}, config_file=str(toml), environ=env)
    assert (config.max_connection_age, config.max_connection_age_grace) == (300.0, 5.0)
    assert config.max_requests_per_connection == 1000
    assert config.drain_settings().drain_strategy == "gradual"
    assert config.drain_settings().drain_spread_fraction == 0.2
    assert config.connection_lifetime().grace == 5.0
    # "off" turns a setting the file set off again; no grace means the graceful timeout.
    config = load_config(config_file=str(toml), environ={"LASTCALL_MAX_CONNECTION_AGE": "off"})
    assert config.max_connection_age is None
    assert config.connection_lifetime().grace == config.graceful_timeout
    for bad in (
        {"max_connection_age": 0},
        {"max_connection_age_grace": -1},
        {"max_requests_per_connection": 0},
        {"drain_strategy": "slowly"},
        {"drain_spread_fraction": 2},
        {"max_connection_age": "soon"},
    ):
        with pytest.raises(ConfigError):
            load_config(bad, environ={})


def test_bind_forms() -> None:
    assert str(parse_bind("[::1]:8000")) == "[::1]:8000"
    assert parse_bind(":80").host == "0.0.0.0"
    assert parse_bind("unix:/tmp/x.sock").path == "/tmp/x.sock"


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


def test_bad_binds_are_config_errors_at_construction() -> None:
    with pytest.raises(ConfigError, match="port out of range"):
        ServerConfig(bind=["127.0.0.1:99999"])
    with pytest.raises(ConfigError, match="expected HOST:PORT"):
        load_config({"bind": ["localhost"]}, environ={})
    with pytest.raises(ConfigError, match="in brackets"):
        ServerConfig(bind=["::1"])
    with pytest.raises(ConfigError, match="port out of range"):
        load_config(environ={"LASTCALL_BIND": "127.0.0.1:8000 127.0.0.1:70000"})


def test_toml_top_level_keys_merge_with_the_serve_table(tmp_path: pathlib.Path) -> None:
    toml = tmp_path / "lastcall.toml"
    toml.write_text(
        'bind = ["127.0.0.1:9000"]\ngraceful-timeout = 5\n'
        "[serve]\ngraceful_timeout = 7\naccess-log = true\n"
    )
    config = load_config(config_file=str(toml), environ={})
    assert config.bind == ["127.0.0.1:9000"]  # top level: was silently ignored
    assert config.graceful_timeout == 7.0  # the table wins
    assert config.access_log
    toml.write_text("[serve]\nbind = [':8000']\n[server]\nbind = [':9000']\n")
    with pytest.raises(ConfigError, match=r"unknown table \[server\]"):
        load_config(config_file=str(toml), environ={})


def test_an_app_that_is_not_callable_is_refused_at_load() -> None:
    from lastcall.cli import import_app
    from lastcall.server import Server

    with pytest.raises(ConfigError, match="'json:decoder' is not an ASGI app: it is a module"):
        import_app("json:decoder")
    assert callable(import_app("json:dumps"))
    with pytest.raises(TypeError, match="ASGI callable"):
        Server(42)  # type: ignore[arg-type]


class StartupProbe:
    """An app that records whether its lifespan startup ever ran."""

    def __init__(self) -> None:
        self.started = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            self.started = True
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})


async def test_certificate_problems_are_found_before_lifespan_startup(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    from lastcall.server import EXIT_STARTUP_FAILED, Server

    app = StartupProbe()
    missing = str(tmp_path / "missing.pem")
    server = Server(app, bind=["127.0.0.1:0"], certfile=missing, keyfile=missing)
    with pytest.raises(ConfigError, match=f"cannot read --certfile {missing}"):
        await server.serve()
    with pytest.raises(RuntimeError, match="server failed to start"):
        await server.started
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    server = Server(app, bind=["127.0.0.1:0"], certfile=str(garbage), keyfile=str(garbage))
    assert await server.serve() == EXIT_STARTUP_FAILED
    assert not app.started
    assert any(
        f"cannot load the TLS certificate (--certfile {garbage}" in r.getMessage()
        for r in caplog.records
    )
