"""The compiled build is used only while it matches its sources (lastcall/_extensions.py).

In an editable install every helper keeps editing the ``.py`` files the build
was made from; a compiled module that silently kept running the old code would
make those edits invisible. ``choose`` is the pure decision (which files to
load, or why not), tested here on a manifest made in a temporary directory;
the last tests look at the interpreter that runs the suite.
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import lastcall
from lastcall import _extensions
from lastcall._extensions import choose, dependency_closure, source_digest

SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def _build(tmp_path: Path, **overrides: object) -> tuple[Path, Path]:
    """A source tree with one module and an ``_ext`` directory whose manifest matches it."""
    src = tmp_path / "src"
    (src / "lastcall" / "engines").mkdir(parents=True)
    module = src / "lastcall" / "engines" / "fast.py"
    module.write_text("X = 1\n")
    ext = tmp_path / "ext"
    (ext / "lastcall" / "engines").mkdir(parents=True)
    compiled = f"lastcall/engines/fast{SUFFIX}"
    (ext / compiled).write_bytes(b"not really a shared object")
    manifest = {
        "ext_suffix": SUFFIX,
        "files": {"lastcall.engines.fast": compiled},
        "sources": {"lastcall/engines/fast.py": source_digest(module)},
        "built_at": "2026-12-03T00:00:00+00:00",
        **overrides,
    }
    (ext / "manifest.json").write_text(json.dumps(manifest))
    return ext, src


def test_a_build_that_matches_its_sources_is_used(tmp_path: Path) -> None:
    ext, src = _build(tmp_path)
    files, why, _manifest = choose(ext, src, {})
    assert files == {"lastcall.engines.fast": ext / f"lastcall/engines/fast{SUFFIX}"}
    assert why == "compiled (mypyc)"


def test_an_edited_source_means_pure_python(tmp_path: Path) -> None:
    ext, src = _build(tmp_path)
    (src / "lastcall" / "engines" / "fast.py").write_text("X = 2\n")
    files, why, manifest = choose(ext, src, {})
    assert files is None
    assert "sources changed since the build: lastcall/engines/fast.py" in why
    assert manifest["built_at"]


def test_a_deleted_source_means_pure_python(tmp_path: Path) -> None:
    ext, src = _build(tmp_path)
    (src / "lastcall" / "engines" / "fast.py").unlink()
    assert choose(ext, src, {})[0] is None


def test_the_switch_forces_pure_python(tmp_path: Path) -> None:
    ext, src = _build(tmp_path)
    files, why, _manifest = choose(ext, src, {"LASTCALL_NO_EXTENSIONS": "1"})
    assert files is None and "LASTCALL_NO_EXTENSIONS" in why
    assert choose(ext, src, {"LASTCALL_NO_EXTENSIONS": "0"})[0] is not None


def test_no_build_another_interpreter_or_a_missing_file(tmp_path: Path) -> None:
    assert choose(tmp_path / "nowhere", tmp_path, {})[1] == (
        "pure Python (no compiled build installed)"
    )
    ext, src = _build(tmp_path / "a", ext_suffix=".cpython-399-x.so")
    assert "built for .cpython-399-x.so" in choose(ext, src, {})[1]
    ext, src = _build(tmp_path / "b")
    (ext / f"lastcall/engines/fast{SUFFIX}").unlink()
    assert "compiled files missing" in choose(ext, src, {})[1]


def test_the_sources_recorded_include_what_the_compiled_modules_import(tmp_path: Path) -> None:
    """A compiled module checks the types it gets from the pure modules it imports,
    so those are part of what the build must match."""
    pkg = tmp_path / "lastcall"
    (pkg / "engines").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "errors.py").write_text("import json\n")
    (pkg / "engines" / "__init__.py").write_text("")
    (pkg / "engines" / "hot.py").write_text("from . import helper\nfrom ..errors import E\n")
    (pkg / "engines" / "helper.py").write_text("from lastcall.engines.deep import D\n")
    (pkg / "engines" / "deep.py").write_text("")
    (pkg / "engines" / "unrelated.py").write_text("")
    found = dependency_closure(tmp_path, ["lastcall.engines.hot"])
    assert sorted(found) == [
        "lastcall.engines",
        "lastcall.engines.deep",
        "lastcall.engines.helper",
        "lastcall.engines.hot",
        "lastcall.errors",
    ]


def test_build_info_says_which_path_runs() -> None:
    info = lastcall.build_info()
    assert isinstance(info["compiled"], bool) and info["reason"]
    if info["compiled"]:
        assert set(info["loaded"]) <= set(info["modules"])
        assert set(info["modules"]) <= set(_extensions.COMPILED_MODULES)
    else:
        assert info["loaded"] == []


def test_the_switch_at_import_and_the_version_line() -> None:
    env = {**os.environ, "LASTCALL_NO_EXTENSIONS": "1"}
    probe = (
        "import lastcall, lastcall.engines.http2.hpack.decoder as h, importlib.machinery as m;"
        "print(lastcall.build_info()['reason'], type(h.__loader__) is m.ExtensionFileLoader)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "pure Python (LASTCALL_NO_EXTENSIONS is set) False"
    version = subprocess.run(
        [sys.executable, "-m", "lastcall", "--version"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.strip() == (
        f"lastcall {lastcall.__version__} (pure Python (LASTCALL_NO_EXTENSIONS is set))"
    )


@pytest.mark.skipif(not lastcall.build_info()["compiled"], reason="no compiled build installed")
def test_compiled_modules_come_from_the_extension_directory() -> None:
    import lastcall.engines.http2.hpack.decoder as hpack

    assert isinstance(hpack.__loader__, importlib.machinery.ExtensionFileLoader)
    assert Path(hpack.__file__ or "").is_relative_to(_extensions.EXT_DIR)


def test_every_module_to_compile_exists() -> None:
    """A module renamed or moved without updating the list would make every install
    quietly pure Python (setup.py falls back rather than fail): fail here instead."""
    root = Path(lastcall.__file__).parent.parent
    missing = [m for m in _extensions.COMPILED_MODULES if _extensions._module_path(root, m) is None]
    assert missing == []


@pytest.mark.skipif(not lastcall.build_info()["compiled"], reason="no compiled build installed")
def test_the_multiplexed_adapter_is_compiled_and_http3_derives_from_it() -> None:
    """The HTTP/2 adapter and the stream adapter it shares with HTTP/3 run compiled;
    HTTP/3's connection stays pure Python and derives from the compiled base."""
    import lastcall.server.http2 as http2
    import lastcall.server.http3 as http3
    import lastcall.server.multiplexed as multiplexed

    for module in (http2, multiplexed):
        assert isinstance(module.__loader__, importlib.machinery.ExtensionFileLoader)
    assert not isinstance(http3.__loader__, importlib.machinery.ExtensionFileLoader)
    assert issubclass(http3.Http3Connection, multiplexed.MultiplexedConnection)


def test_the_multiplexed_connection_defines_every_engine_call_itself() -> None:
    """Compiled, a pure-Python subclass's override (Http3Connection's engine calls)
    is reached only for methods that ``MultiplexedConnection`` itself defines: a
    method it merely inherits from the ``StreamOwner`` Protocol would run the
    Protocol's empty stub, whatever the subclass says (mypyc 2.4)."""
    from lastcall.server.multiplexed import MultiplexedConnection, StreamOwner

    declared = {
        name
        for name, value in vars(StreamOwner).items()
        if callable(value) and not name.startswith("_")
    }
    assert declared  # the Protocol's methods were found
    assert sorted(declared - set(vars(MultiplexedConnection))) == []
