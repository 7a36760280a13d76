"""Engines and lifecycle are sans-IO: they never import asyncio, socket, ssl or time.

That is what lets every frame-level and drain behaviour be tested without a
network and without a clock (STYLE.md, "Sans-IO core, thin asyncio shell").
"""

from __future__ import annotations

import ast
import pathlib

import pytest

import lastcall

FORBIDDEN = {"asyncio", "socket", "ssl", "time", "selectors", "threading"}
ROOT = pathlib.Path(lastcall.__file__).parent
SANS_IO_PACKAGES = ["engines", "lifecycle"]


def _modules() -> list[pathlib.Path]:
    found: list[pathlib.Path] = []
    for package in SANS_IO_PACKAGES:
        found.extend(sorted((ROOT / package).rglob("*.py")))
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_imports_no_io(path: pathlib.Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module.split(".")[0]]
        else:
            continue
        bad = FORBIDDEN.intersection(names)
        assert not bad, f"{path.relative_to(ROOT)}:{node.lineno} imports {sorted(bad)}"
