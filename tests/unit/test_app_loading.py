"""``server/app_loading.py``: ``--app-dir``, ``--factory`` and the dotenv files of ``--env-file``."""

from __future__ import annotations

import os
import pathlib
import sys
from collections.abc import Iterator

import pytest

from lastcall.errors import ConfigError
from lastcall.server.app_loading import import_app, load_env_file, parse_env_file


@pytest.fixture
def project(tmp_path: pathlib.Path) -> Iterator[pathlib.Path]:
    """A module outside the working directory, forgotten again afterwards."""
    (tmp_path / "ops_factory_app.py").write_text(
        "calls = []\n"
        "async def app(scope, receive, send):\n    pass\n"
        "def create():\n    calls.append(1)\n    return app\n"
        "def not_a_factory():\n    return 42\n"
    )
    yield tmp_path
    sys.modules.pop("ops_factory_app", None)
    if str(tmp_path) in sys.path:
        sys.path.remove(str(tmp_path))


def test_app_dir_and_factory(project: pathlib.Path) -> None:
    with pytest.raises(ConfigError, match="cannot import"):
        import_app("ops_factory_app:app")  # not on sys.path without --app-dir
    app = import_app("ops_factory_app:create", factory=True, app_dir=str(project))
    module = sys.modules["ops_factory_app"]
    assert app is module.app and module.calls == [1]
    assert import_app("ops_factory_app:app", app_dir=str(project)) is module.app


def test_factory_that_returns_no_app_is_a_usage_error(project: pathlib.Path) -> None:
    with pytest.raises(ConfigError, match=r"not_a_factory\(\) \(--factory\).*int"):
        import_app("ops_factory_app:not_a_factory", factory=True, app_dir=str(project))


def test_env_file_syntax() -> None:
    text = """
# a comment
PLAIN=value # trailing comment
export EXPORTED=1
SPACED = two words
SINGLE='no $escapes \\n here'
DOUBLE="line\\nnext \\"quoted\\" back\\\\slash"
EMPTY=
HASH="a # not a comment"
"""
    assert parse_env_file(text) == {
        "PLAIN": "value",
        "EXPORTED": "1",
        "SPACED": "two words",
        "SINGLE": "no $escapes \\n here",
        "DOUBLE": 'line\nnext "quoted" back\\slash',
        "EMPTY": "",
        "HASH": "a # not a comment",
    }


@pytest.mark.parametrize(
    "line", ["NOEQUALS", "BAD-NAME=1", "1ST=x", 'OPEN="never closed', "Q='a' trailing"]
)
def test_env_file_bad_line_names_it(line: str) -> None:
    with pytest.raises(ConfigError, match=r"f\.env:2"):
        parse_env_file(f"OK=1\n{line}\n", "f.env")


def test_env_file_does_not_override(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / ".env"
    path.write_text("OPS_TEST_SET=from-file\nOPS_TEST_NEW=from-file\n")
    monkeypatch.setenv("OPS_TEST_SET", "from-env")
    monkeypatch.delenv("OPS_TEST_NEW", raising=False)
    load_env_file(str(path))
    assert os.environ["OPS_TEST_SET"] == "from-env"
    assert os.environ.pop("OPS_TEST_NEW") == "from-file"
    with pytest.raises(ConfigError, match="--env-file"):
        load_env_file(str(tmp_path / "missing"))
