"""``observe/logs.py``: the JSON formatter and ``--log-config`` files (json and ini)."""

from __future__ import annotations

import json
import logging
import pathlib
import sys
from collections.abc import Iterator

import pytest

from lastcall.errors import ConfigError
from lastcall.observe import LoggingSink
from lastcall.observe.events import GraceExpired
from lastcall.observe.logs import JsonFormatter, configure_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("lastcall.test").handlers.clear()
    logging.getLogger("lastcall.test").propagate = True


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_an_event_record_is_its_fields() -> None:
    target = logging.getLogger("lastcall.test.sink")
    target.addHandler(capture := Capture())
    target.setLevel(logging.INFO)
    LoggingSink(target)(GraceExpired(12.5, forced=True, connections=2, streams=3))
    target.removeHandler(capture)
    out = json.loads(JsonFormatter().format(capture.records[0]))
    assert out["event"] == "grace_expired" and out["level"] == "INFO"
    assert (out["at"], out["forced"], out["connections"], out["streams"]) == (12.5, True, 2, 3)
    assert out["message"] == "second signal: cancelling 3 stream(s) on 2 connection(s)"
    assert out["logger"] == "lastcall.test.sink" and out["time"].endswith("Z")


def test_a_plain_record_and_a_traceback() -> None:
    plain = logging.LogRecord("lastcall.server", logging.INFO, "f", 1, 'said "hi"\n', None, None)
    out = json.loads(JsonFormatter().format(plain))
    assert set(out) == {"time", "level", "logger", "message"}
    assert out["message"] == 'said "hi"\n'
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, "f", 1, "failed", None, sys.exc_info())
    out = json.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in out["exc_info"]


def test_log_config_json_is_a_dict_config(
    tmp_path: pathlib.Path, restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "lastcall.observe.logs.JsonFormatter"}},
        "handlers": {"err": {"class": "logging.StreamHandler", "formatter": "json"}},
        "loggers": {"lastcall.test": {"handlers": ["err"], "level": "INFO", "propagate": False}},
    }
    path = tmp_path / "log.json"
    path.write_text(json.dumps(config))
    configure_logging("info", "text", str(path))
    logging.getLogger("lastcall.test").info("configured")
    assert json.loads(capsys.readouterr().err)["message"] == "configured"


def test_log_config_ini_is_a_file_config(
    tmp_path: pathlib.Path, restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "log.ini"
    path.write_text(
        "[loggers]\nkeys=root,test\n[handlers]\nkeys=err\n[formatters]\nkeys=plain\n"
        "[logger_root]\nhandlers=\n"
        "[logger_test]\nqualname=lastcall.test\nhandlers=err\nlevel=INFO\npropagate=0\n"
        "[handler_err]\nclass=StreamHandler\nformatter=plain\nargs=(sys.stderr,)\n"
        "[formatter_plain]\nformat=INI %(name)s %(message)s\n"
    )
    configure_logging("info", "json", str(path))
    logging.getLogger("lastcall.test").info("configured")
    assert capsys.readouterr().err == "INI lastcall.test configured\n"


def test_unusable_log_config_is_a_usage_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ConfigError, match="--log-config"):
        configure_logging("info", "text", str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 99}')
    with pytest.raises(ConfigError, match="--log-config"):
        configure_logging("info", "text", str(bad))
