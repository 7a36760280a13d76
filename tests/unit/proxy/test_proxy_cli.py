"""``lastcall proxy``'s command line: the server's options shared, errors exit 2 naming the key."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from lastcall.cli import build_parser, main
from lastcall.proxy.run import build


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["proxy", *argv])


def test_upstreams_and_server_options() -> None:
    proxy, server = build(
        _args(
            "--bind",
            "127.0.0.1:9000",
            "--upstream",
            "h2c://127.0.0.1:1",
            "--upstream",
            "http://127.0.0.1:2",
            "--graceful-timeout",
            "7",
            "--pre-stop-delay",
            "2",
            "--balancer",
            "p2c",
            "--health-check-path",
            "/healthz",
        )
    )
    assert proxy.upstreams["default"].backends == ("h2c://127.0.0.1:1", "http://127.0.0.1:2")
    assert proxy.upstreams["default"].balancer == "p2c"
    assert proxy.upstreams["default"].health_check.path == "/healthz"
    assert server.bind == ["127.0.0.1:9000"]
    assert (server.graceful_timeout, server.pre_stop_delay) == (7.0, 2.0)
    assert server.app is None


def test_serve_and_proxy_share_every_server_option() -> None:
    def options(command: str) -> set[str]:
        parser = build_parser()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        return {s for a in sub.choices[command]._actions for s in a.option_strings}

    proxy_only = {"--upstream", "--balancer", "--health-check-path", "--hooks"}
    serve_only = {"--factory", "--app-dir"}  # how to find an app: the proxy is the app
    assert options("serve") - serve_only == options("proxy") - proxy_only


def test_file_with_serve_table_and_command_line_wins(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        '[serve]\nbind = ["127.0.0.1:1"]\ngraceful-timeout = 3\n'
        '[upstreams.a]\nbackends = ["http://127.0.0.1:2"]\n[[routes]]\nupstream = "a"\n'
    )
    proxy, server = build(_args("--config", str(path), "--graceful-timeout", "9"))
    assert server.bind == ["127.0.0.1:1"] and server.graceful_timeout == 9.0
    assert proxy.routes[0].upstream == "a"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((), "needs --upstream URL or --config FILE"),
        (("--upstream", "127.0.0.1:1"), "must start with http://, https://, h2c://"),
        (("--upstream", "http://127.0.0.1:1", "--config", "x.toml"), "not both"),
    ],
)
def test_usage_errors_exit_2(
    argv: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["proxy", *argv]) == 2
    assert message in capsys.readouterr().err


def test_bad_file_key_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        '[upstreams.a]\nbackends = ["http://127.0.0.1:2"]\n[[routes]]\nupstream = "b"\n'
    )
    assert main(["proxy", "--config", str(path)]) == 2
    assert "routes[0].upstream: no upstream group named 'b'" in capsys.readouterr().err
