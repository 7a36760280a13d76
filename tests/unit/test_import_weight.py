"""Importing a sans-IO part of lastcall loads no I/O machinery, checked in a fresh interpreter.

``test_sans_io.py`` reads the source: no module under ``engines/`` or
``lifecycle/`` names asyncio, socket, ssl or time. That cannot see an import
made on the way *to* a module -- a package ``__init__`` that pulls in the
client and the server, as ``lastcall/__init__.py`` once did (53 modules,
asyncio and ssl among them, for ``import lastcall.engines.http2``). This test
imports each part in a new interpreter and looks at what was actually loaded.

The third-party modules the sans-IO packages use (aioquic, pylsqpack,
httptools) are imported first and are not held against us: aioquic itself
loads socket and ssl. ``time`` and ``threading`` are loaded by the interpreter
before any of our code runs, so only the source check can see them.
"""

from __future__ import annotations

import ast
import json
import pathlib
import subprocess
import sys

import pytest

import lastcall

IO_MODULES = {"asyncio", "socket", "ssl", "selectors"}
ROOT = pathlib.Path(lastcall.__file__).parent
SANS_IO_PACKAGES = ["engines", "lifecycle"]

#: What importing the root package loads: itself, its lazy-attribute helper and the
#: switch between the compiled and the pure-Python build.
ROOT_PACKAGE = ("lastcall", "lastcall._extensions", "lastcall._lazy")
#: What every sans-IO part may load: the root package and the exception tree.
BASE = (*ROOT_PACKAGE, "lastcall.errors")
#: An engine may use the shared engine vocabulary (a prefix ending in "." is a package).
ENGINES = (*BASE, "lastcall.engines", "lastcall.engines.")
#: import target -> the lastcall modules it may load.
CASES: dict[str, tuple[str, ...]] = {
    "lastcall": ROOT_PACKAGE,
    "lastcall.errors": BASE,
    "lastcall.lifecycle": (*BASE, "lastcall.lifecycle", "lastcall.lifecycle."),
    "lastcall.engines.http1": ENGINES,
    "lastcall.engines.http2": ENGINES,
    "lastcall.engines.http3": ENGINES,
}
#: Targets that need an optional package, and which.
NEEDS = {"lastcall.engines.http3": "aioquic"}

#: Run in the fresh interpreter: import the third-party modules, then the target,
#: recording which lastcall modules were on the stack when an I/O module loaded.
PROBE = """
import importlib, json, sys

third_party, target, io_modules = sys.argv[1], sys.argv[2], set(sys.argv[3].split(","))
for name in filter(None, third_party.split(",")):
    try:
        importlib.import_module(name)
    except ImportError:
        pass
before = set(sys.modules)
chains = {}

class Witness:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in io_modules and name not in chains:
            frame, chain = sys._getframe(1), []
            while frame is not None:
                module = frame.f_globals.get("__name__", "")
                if module.startswith("lastcall") and module not in chain:
                    chain.append(module)
                frame = frame.f_back
            chains[name] = chain
        return None

sys.meta_path.insert(0, Witness())
importlib.import_module(target)
loaded = sorted(set(sys.modules) - before)
print(json.dumps({"loaded": loaded, "chains": chains}))
"""


def _third_party_imports() -> list[str]:
    """Every absolute import in the sans-IO packages that is neither ours nor stdlib."""
    found: set[str] = set()
    for package in SANS_IO_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top != "lastcall" and top not in sys.stdlib_module_names:
                        found.add(name)
    return sorted(found)


def _probe(target: str) -> dict[str, object]:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE,
            ",".join(_third_party_imports()),
            target,
            ",".join(sorted(IO_MODULES)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    probe: dict[str, object] = json.loads(result.stdout)
    return probe


def _is_allowed(module: str, allowed: tuple[str, ...]) -> bool:
    return any(
        module.startswith(prefix) if prefix.endswith(".") else module == prefix
        for prefix in allowed
    )


@pytest.mark.parametrize("target", sorted(CASES))
def test_import_loads_no_io_module(target: str) -> None:
    if target in NEEDS:
        pytest.importorskip(NEEDS[target])
    probe = _probe(target)
    loaded = probe["loaded"]
    chains = probe["chains"]
    assert isinstance(loaded, list) and isinstance(chains, dict)
    io_loaded = {name: chains.get(name, []) for name in loaded if name in IO_MODULES}
    assert not io_loaded, f"import {target} loaded I/O modules (via): {io_loaded}"
    ours = [name for name in loaded if name == "lastcall" or name.startswith("lastcall.")]
    stray = [name for name in ours if not _is_allowed(name, CASES[target])]
    assert not stray, f"import {target} loaded {stray}"


def test_the_probe_sees_an_io_import() -> None:
    """The probe itself works: the client really does load asyncio, and says who did."""
    probe = _probe("lastcall.client")
    loaded, chains = probe["loaded"], probe["chains"]
    assert isinstance(loaded, list) and isinstance(chains, dict)
    assert "asyncio" in loaded
    assert any(module.startswith("lastcall.client") for module in chains["asyncio"])
