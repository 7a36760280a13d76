"""Build hook: compile the hot modules with mypyc, from the same ``.py`` sources.

``pip install -e '.[dev]'`` (and ``pip install .``) compiles the modules listed in
``lastcall._extensions.COMPILED_MODULES`` when a C compiler is there, and installs
pure Python when not (or when ``LASTCALL_NO_EXTENSIONS=1``): a failed build is a
warning, never a failed install. Everything else is in pyproject.toml.

The compiled files go to ``lastcall/_ext/`` with a manifest of the sources they
were built from, never next to the ``.py`` files (where, in an editable install,
they would shadow every later edit): see ``src/lastcall/_extensions.py`` for how
the import picks them up only while the sources are unchanged.
"""

from __future__ import annotations

import datetime
import importlib.machinery
import importlib.util
import json
import os
import shutil
import sys
import time
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).parent.resolve()
SRC = ROOT / "src"


def _load_extensions_module():  # type: ignore[no-untyped-def]
    """``lastcall/_extensions.py`` on its own (importing ``lastcall`` needs its dependencies)."""
    spec = importlib.util.spec_from_file_location(
        "_lastcall_extensions", SRC / "lastcall" / "_extensions.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


EXT = _load_extensions_module()
#: The extension name prefix: outputs land in lastcall/_ext/ instead of beside the sources.
PREFIX = "lastcall._ext."
GROUP = "lastcall"


def _log(message: str) -> None:
    print(f"lastcall build: {message}", file=sys.stderr, flush=True)


def _wanted() -> str | None:
    """Why the build is skipped, or None to build."""
    if os.environ.get(EXT.NO_EXTENSIONS_ENV, "") not in ("", "0"):
        return f"{EXT.NO_EXTENSIONS_ENV} is set"
    if sys.implementation.name != "cpython":
        return f"mypyc needs CPython, not {sys.implementation.name}"
    if importlib.util.find_spec("mypyc") is None:
        return "mypyc is not installed"
    return None


def _extensions() -> list:  # type: ignore[type-arg]
    """mypyc's extensions for the hot modules, or [] (and why, on stderr) if it fails."""
    from mypyc.build import mypycify

    missing = [name for name in EXT.COMPILED_MODULES if EXT._module_path(SRC, name) is None]
    if missing:  # a module renamed without updating the list: never fail the install
        _log(f"no source for {', '.join(missing)}; installing pure Python")
        return []
    paths = [str(_source(name).relative_to(ROOT)) for name in EXT.COMPILED_MODULES]
    # Hashed before mypyc reads them: a source edited during the build then fails
    # the check at import (pure Python runs) instead of passing it with old code.
    SOURCES.update(
        (str(path.relative_to(SRC)), EXT.source_digest(path))
        for path in sorted(EXT.dependency_closure(SRC, EXT.COMPILED_MODULES).values())
    )
    started = time.monotonic()
    try:
        extensions = mypycify(paths, opt_level="3", group_name=GROUP)
    except BaseException as exc:  # mypy reports type errors with SystemExit
        _log(f"mypyc failed ({exc!r}); installing pure Python")
        return []
    _log(f"mypyc generated C for {len(paths)} modules in {time.monotonic() - started:.1f} s")
    for extension in extensions:
        extension.name = PREFIX + extension.name
    return extensions


#: Digest of every source the build reads, taken when mypyc starts (for the manifest).
SOURCES: dict[str, str] = {}

#: Stands for the compiled modules until build_ext runs: pip runs setup.py three
#: times per install (requirements, metadata, build) and only the last needs mypyc.
PLACEHOLDER = Extension(PREFIX + "placeholder", sources=[])


def _source(name: str) -> Path:
    path = EXT._module_path(SRC, name)
    if path is None:
        raise SystemExit(f"setup.py: {name} has no source")
    return path


class BuildCompiled(build_ext):
    """Compile, then write the manifest; fall back to pure Python if the compiler fails."""

    def finalize_options(self) -> None:
        modules = self.distribution.ext_modules
        if modules and modules[0] is PLACEHOLDER:
            modules[:] = _extensions()
        super().finalize_options()

    def run(self) -> None:
        if not self.extensions:
            _log(f"pure Python ({_wanted() or 'nothing to compile'})")
            self._remove_outputs()  # an older build must not outlive this install
            return
        started = time.monotonic()
        try:
            super().run()
        except Exception as exc:  # no compiler, missing headers...
            _log(f"C build failed ({exc}); installing pure Python")
            self._remove_outputs()
            return
        self._write_manifest()
        _log(f"C compiled and linked in {time.monotonic() - started:.1f} s")

    def copy_extensions_to_source(self) -> None:
        """In place (editable installs): into ``src/lastcall/_ext/``, made first."""
        build_py = self.get_finalized_command("build_py")
        for extension in self.extensions:
            inplace_file, _regular = self._get_inplace_equivalent(build_py, extension)
            Path(inplace_file).parent.mkdir(parents=True, exist_ok=True)
        super().copy_extensions_to_source()

    def _ext_dirs(self) -> list[Path]:
        """Where the compiled files went: the build dir, and the source tree if in place."""
        dirs = {Path(self.build_lib) / "lastcall" / "_ext"}
        if self.inplace or getattr(self, "editable_mode", False):
            dirs.add(SRC / "lastcall" / "_ext")
        return sorted(dirs)

    def _remove_outputs(self) -> None:
        for directory in self._ext_dirs():
            shutil.rmtree(directory, ignore_errors=True)

    def _write_manifest(self) -> None:
        files = {}
        for extension in self.extensions:
            module = extension.name[len(PREFIX) :]
            built = Path(self.get_ext_filename(extension.name))
            files[module] = str(built.relative_to(Path("lastcall", "_ext")))
        from mypy.version import __version__ as mypy_version

        manifest = {
            "built_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "mypy": mypy_version,
            "opt_level": "3",
            "ext_suffix": importlib.machinery.EXTENSION_SUFFIXES[0],
            "files": files,
            "sources": SOURCES,
        }
        for directory in self._ext_dirs():
            directory.mkdir(parents=True, exist_ok=True)
            (directory / EXT.MANIFEST_NAME).write_text(json.dumps(manifest, indent=1) + "\n")

    def get_outputs(self) -> list[str]:
        outputs = list(super().get_outputs())
        if self.extensions:
            outputs.append(str(Path(self.build_lib) / "lastcall" / "_ext" / EXT.MANIFEST_NAME))
        return outputs


setup(
    ext_modules=[PLACEHOLDER] if _wanted() is None else [],
    cmdclass={"build_ext": BuildCompiled},
)
