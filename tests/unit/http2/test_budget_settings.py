"""The HTTP/2 budgets as ``lastcall serve`` settings: each ``http2_*`` budget of
``ServerConfig`` has the engine's default and reaches ``Http2Config`` as given,
from the command line, the environment or a TOML file alike (``load_config``).
That a flag moves where a real flood is cut is in ``tests/attacks``."""

from __future__ import annotations

import dataclasses

import pytest

from lastcall.cli import build_parser
from lastcall.engines.http2 import Http2Config
from lastcall.errors import ConfigError
from lastcall.server import load_config
from lastcall.server.config import ServerConfig

#: ServerConfig field -> the Http2Config field it sets.
BUDGETS = {
    "http2_max_continuation_frames": "max_continuation_frames",
    "http2_reset_burst": "reset_burst",
    "http2_reset_refill_per_second": "reset_refill_per_second",
    "http2_control_frame_burst": "control_frame_burst",
    "http2_control_frame_refill_per_second": "control_frame_refill_per_second",
    "http2_empty_frame_burst": "empty_frame_burst",
    "http2_empty_frame_refill_per_second": "empty_frame_refill_per_second",
    "http2_tiny_data_frame_size": "tiny_data_frame_size",
    "http2_tiny_data_budget": "tiny_data_budget",
}


def test_every_engine_budget_is_a_server_setting() -> None:
    """No engine budget is left without a ``lastcall serve`` setting."""
    engine = {f.name for f in dataclasses.fields(Http2Config)}
    budgets = {n for n in engine if "burst" in n or "refill" in n or n.startswith("tiny_")}
    assert budgets | {"max_continuation_frames"} == set(BUDGETS.values())


@pytest.mark.parametrize("name", sorted(BUDGETS))
def test_the_server_default_is_the_engine_default(name: str) -> None:
    assert getattr(ServerConfig(), name) == getattr(Http2Config(), BUDGETS[name])


@pytest.mark.parametrize("name", sorted(BUDGETS))
def test_a_flag_reaches_the_engine_settings(name: str) -> None:
    value = getattr(ServerConfig(), name) * 2 + 1
    flag = "--" + name.replace("_", "-")
    args = build_parser().parse_args(["serve", flag, str(value)])
    options = {k: v for k, v in vars(args).items() if k not in ("command", "config_file")}
    config = load_config({k: v for k, v in options.items() if v is not None})
    assert getattr(config.http2_settings(), BUDGETS[name]) == value


def test_the_environment_sets_a_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LASTCALL_HTTP2_TINY_DATA_BUDGET", "4096")
    assert load_config({}).http2_settings().tiny_data_budget == 4096


@pytest.mark.parametrize(
    "options",
    [
        {"http2_reset_burst": 0},
        {"http2_control_frame_refill_per_second": -1.0},
        {"http2_tiny_data_frame_size": 512, "http2_tiny_data_budget": 256},
        {"http2_max_continuation_frames": 0},
    ],
)
def test_a_budget_out_of_range_is_a_config_error(options: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        ServerConfig(**options)  # type: ignore[arg-type]
