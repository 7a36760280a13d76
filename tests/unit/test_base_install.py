"""What a plain ``pip install lastcall`` promises imports with lastcall's own dependencies only.

The test environment has every extra installed, so an import of a test-only
package (hpack, h2, httpx, pytest...) from library code would go unnoticed
here and break for users. Each check runs in a fresh interpreter whose import
system refuses every third-party top-level module that is not one of
``[project] dependencies`` in pyproject.toml or something they depend on.
"""

from __future__ import annotations

import importlib.metadata
import json
import pathlib
import pkgutil
import subprocess
import sys
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import lastcall.testing

PYPROJECT = pathlib.Path(__file__).parents[2] / "pyproject.toml"

#: Modules a base install must be able to import.
BASE_MODULES = [
    "lastcall",
    "lastcall.cli",
    "lastcall.client",
    "lastcall.observe",
    "lastcall.server",
    "lastcall.testing",
]
#: The test kit's modules that talk through a library we did not write, and which
#: one they need; every other ``lastcall.testing`` module must import without extras.
TESTING_NEEDS = {
    "lastcall.testing.frames": "hpack",
    "lastcall.testing.h2_raw_client": "hpack",
    "lastcall.testing.h3_loop": "aioquic",
    "lastcall.testing.quic_certs": "cryptography",
}

#: Run in the fresh interpreter: block what a base install lacks, then try each module.
PROBE = """
import importlib, json, sys

allowed = set(sys.argv[1].split(","))

class BaseInstallOnly:
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in allowed or top in sys.stdlib_module_names or top in sys.builtin_module_names:
            return None
        raise ModuleNotFoundError(f"No module named {top!r} (not a base dependency)", name=top)

sys.meta_path.insert(0, BaseInstallOnly())
outcome = {}
for name in sys.argv[2:]:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        outcome[name] = exc.name.split(".")[0] if exc.name else repr(exc)
    else:
        outcome[name] = None
print(json.dumps(outcome))
"""


def _base_import_names() -> set[str]:
    """Top-level import names of the base dependencies and everything they need."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    pending = [Requirement(text) for text in project["dependencies"]]
    distributions: set[str] = set()
    while pending:
        requirement = pending.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue  # an extra's requirement, or another platform's
        name = canonicalize_name(requirement.name)
        if name in distributions:
            continue
        distributions.add(name)
        pending += [Requirement(text) for text in importlib.metadata.requires(name) or []]
    return {
        top
        for top, owners in importlib.metadata.packages_distributions().items()
        if any(canonicalize_name(owner) in distributions for owner in owners)
    } | {"lastcall"}


def _probe(modules: list[str]) -> dict[str, str | None]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(sorted(_base_import_names())), *modules],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    outcome: dict[str, str | None] = json.loads(result.stdout)
    return outcome


def test_base_modules_import_without_extras() -> None:
    missing = {name: needs for name, needs in _probe(BASE_MODULES).items() if needs is not None}
    assert not missing, f"these need a package a base install lacks: {missing}"


def test_testing_kit_needs_only_what_it_says() -> None:
    submodules = [
        info.name
        for info in pkgutil.iter_modules(lastcall.testing.__path__, "lastcall.testing.")
        if not info.ispkg
    ]
    outcome = _probe(submodules)
    expected = {name: TESTING_NEEDS.get(name) for name in submodules}
    assert outcome == expected


def test_the_probe_blocks_what_a_base_install_lacks() -> None:
    pytest.importorskip("hpack")
    assert "hpack" not in _base_import_names()
    assert _probe(["hpack", "h11"]) == {"hpack": "hpack", "h11": None}
