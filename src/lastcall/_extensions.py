"""Which path runs: the mypyc-compiled hot modules, or the pure-Python sources they came from.

The hot modules (``COMPILED_MODULES``) are compiled by mypyc from the same
``.py`` files at install time (``setup.py``). The compiled files are NOT put
next to the sources, where Python would prefer them over the ``.py`` files:
in an editable install every later edit of a source would then be silently
ignored. They go to a separate directory, ``lastcall/_ext/``, with a manifest
that records, for every source the build read, a SHA-256 of its text.

At import (``lastcall/__init__.py`` calls ``install()``) the manifest is
checked against the sources on disk. Only if every recorded source is
unchanged is a finder put in front of ``sys.meta_path`` that loads the
compiled modules from ``_ext/``; if any changed, nothing compiled is used
(a ``StaleBuildWarning`` names the files) and the ``.py`` files run as they
are. It is all or nothing because compiled modules call each other's native
code directly, under whatever module object is in ``sys.modules``: mixing an
edited pure module with its compiled callers would run the old code.

The recorded sources are the compiled modules *and* every lastcall module
they import, transitively: compiled code checks the types it gets from pure
modules at run time, so a changed signature in a dependency can change
behaviour too.

Switches: ``LASTCALL_NO_EXTENSIONS=1`` skips the build (``setup.py``) and,
at import, the compiled modules (pure Python runs). ``build_info()`` and
``lastcall --version`` say which path runs and why.

Nothing here imports asyncio, socket or ssl: it runs on ``import lastcall``
(tests/unit/test_import_weight.py).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = [
    "COMPILED_MODULES",
    "MANIFEST_NAME",
    "StaleBuildWarning",
    "build_info",
    "choose",
    "dependency_closure",
    "install",
    "source_digest",
]

#: The modules mypyc compiles, chosen by the profile (docs/dev/performance.md).
COMPILED_MODULES: tuple[str, ...] = (
    # the HTTP/2 engine: frame codec, HPACK and Huffman, streams, flow control
    "lastcall.engines.fields",
    "lastcall.engines.phases",
    "lastcall.engines.protocol_errors",
    "lastcall.engines.role",
    "lastcall.engines.token_bucket",
    "lastcall.engines.http2.budgets",
    "lastcall.engines.http2.config",
    "lastcall.engines.http2.control_frames",
    "lastcall.engines.http2.drain",
    "lastcall.engines.http2.engine",
    "lastcall.engines.http2.events",
    "lastcall.engines.http2.frames",
    "lastcall.engines.http2.hpack.decoder",
    "lastcall.engines.http2.hpack.encoder",
    "lastcall.engines.http2.hpack.primitives",
    "lastcall.engines.http2.huffman",
    "lastcall.engines.http2.sending",
    "lastcall.engines.http2.streams",
    # the HTTP/1.1 engine (httptools callbacks, response encoding) and the server's
    # per-request code that is plain functions and classes: the HTTP/1.1 request
    # cycle, the HTTP/2 and HTTP/3 request scope, the response field checks, the date
    "lastcall.engines.http1.limits",
    "lastcall.engines.http1.parser",
    "lastcall.engines.http1.response",
    "lastcall.server.date",
    "lastcall.server.http1_cycle",
    "lastcall.server.response_fields",
    "lastcall.server.stream_scope",
    # the multiplexed stream adapter (shared by HTTP/2 and HTTP/3, whose connection
    # class stays pure Python and derives from the compiled one) and the HTTP/2
    # connection that drives the engine
    "lastcall.server.multiplexed",
    "lastcall.server.http2",
    "lastcall.server.http2_stream",
    "lastcall.server.http3_stream",
    # the loop that drives the HTTP/2 engine: every read and every flush goes through it
    "lastcall.io.driver",
)

#: Environment switch: ``1`` forces pure Python, at build and at import.
NO_EXTENSIONS_ENV = "LASTCALL_NO_EXTENSIONS"
#: The manifest the build writes into the extension directory.
MANIFEST_NAME = "manifest.json"
#: Where the compiled files live, apart from the sources they were built from.
EXT_DIR = Path(__file__).parent / "_ext"
#: The package's own source root (``src/`` in a checkout, site-packages in a wheel).
SOURCE_ROOT = Path(__file__).parent.parent


class StaleBuildWarning(RuntimeWarning):
    """The compiled build does not match the sources any more; pure Python runs."""


_state: dict[str, Any] = {"compiled": False, "reason": "install() not called", "modules": []}


def source_digest(path: Path) -> str:
    """SHA-256 of a source file's bytes: what ties a compiled module to its source."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _module_path(root: Path, name: str) -> Path | None:
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_names(tree: ast.Module, module: str, is_package: bool) -> Iterable[str]:
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            yield target
            # ``from . import events`` imports a module, not a name
            yield from (f"{target}.{alias.name}" for alias in node.names)


def dependency_closure(root: Path, modules: Sequence[str]) -> dict[str, Path]:
    """``modules`` and every lastcall module they import, transitively, with their
    files under ``root``. A parent package counts only where it is imported from
    (``from lastcall.engines.http2 import X``), not for being a parent."""
    found: dict[str, Path] = {}
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name in found or not (name == "lastcall" or name.startswith("lastcall.")):
            continue
        path = _module_path(root, name)
        if path is None:  # ``from pkg import name`` where name is not a module
            continue
        found[name] = path
        tree = ast.parse(path.read_text(encoding="utf-8"))
        todo.extend(_imported_names(tree, name, path.name == "__init__.py"))
    return found


class _CompiledFinder:
    """Loads the listed modules from their compiled files (a ``sys.meta_path`` finder)."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        file = self.files.get(fullname)
        if file is None:
            return None
        loader = importlib.machinery.ExtensionFileLoader(fullname, str(file))
        return importlib.util.spec_from_file_location(fullname, file, loader=loader)

    def invalidate_caches(self) -> None:
        """Nothing cached (``importlib.invalidate_caches`` calls this)."""


def choose(
    ext_dir: Path, source_root: Path, environ: Mapping[str, str]
) -> tuple[dict[str, Path] | None, str, dict[str, Any]]:
    """Decide, without acting: the compiled files to load (or None), why, and the
    build's manifest (empty if there is none). ``install()`` carries it out."""
    if environ.get(NO_EXTENSIONS_ENV, "") not in ("", "0"):
        return None, f"pure Python ({NO_EXTENSIONS_ENV} is set)", {}
    try:
        manifest = json.loads((ext_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, "pure Python (no compiled build installed)", {}
    except (OSError, ValueError) as exc:
        return None, f"pure Python (unreadable build manifest: {exc})", {}
    if manifest.get("ext_suffix") != importlib.machinery.EXTENSION_SUFFIXES[0]:
        return None, f"pure Python (built for {manifest.get('ext_suffix')})", manifest
    changed = []
    for relative, digest in manifest["sources"].items():
        path = source_root / relative
        if not path.is_file() or source_digest(path) != digest:
            changed.append(relative)
    if changed:
        why = "sources changed since the build: " + ", ".join(sorted(changed))
        return None, f"pure Python ({why})", manifest
    files = {name: ext_dir / file for name, file in manifest["files"].items()}
    missing = [str(f) for f in files.values() if not f.is_file()]
    if missing:
        return None, "pure Python (compiled files missing: " + ", ".join(missing) + ")", manifest
    return files, "compiled (mypyc)", manifest


def install() -> None:
    """Use the compiled modules if they exist, are wanted and match the sources.

    Called once by ``lastcall/__init__.py`` before any compiled module can be
    imported; a second call changes nothing. A build that is there but does not
    match its sources is reported with a ``StaleBuildWarning``.
    """
    if _state["reason"] != "install() not called":
        return
    files, why, manifest = choose(EXT_DIR, SOURCE_ROOT, os.environ)
    _state["reason"] = why
    if manifest:
        _state["built"] = {k: manifest.get(k) for k in ("built_at", "mypy", "opt_level")}
    if files is None:
        if manifest:
            import warnings

            warnings.warn(
                f"lastcall: compiled build not used, {why}; reinstall to rebuild "
                f"(pip install -e .) or set {NO_EXTENSIONS_ENV}=1",
                StaleBuildWarning,
                stacklevel=3,
            )
        return
    sys.meta_path.insert(0, _CompiledFinder(files))
    _state.update(compiled=True, modules=sorted(m for m in files if "__mypyc" not in m))


def build_info() -> dict[str, Any]:
    """Which path runs: ``compiled`` (bool), ``reason`` (why, in words), ``modules``
    (the compiled ones) and, when a build is installed, when and how it was built.

    A module counts as compiled only once it is imported from the compiled file:
    ``loaded`` lists those imported so far.
    """
    info = dict(_state)
    info["loaded"] = sorted(
        name
        for name in info["modules"]
        if isinstance(
            getattr(sys.modules.get(name), "__loader__", None),
            importlib.machinery.ExtensionFileLoader,
        )
    )
    return info


def describe() -> str:
    """One line for ``lastcall --version``."""
    info = build_info()
    if info["compiled"]:
        return f"compiled with mypyc: {len(info['modules'])} modules"
    return str(info["reason"])
