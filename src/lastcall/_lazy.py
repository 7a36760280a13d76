"""Package attributes imported on first use (PEP 562 module ``__getattr__``).

A package whose ``__init__`` re-exports names from heavy modules would load
them for anyone importing any part of it: ``lastcall/__init__.py`` runs before
``lastcall.engines.http2``, which must not bring asyncio along, and
``lastcall.testing`` must import without the test-only packages some of its
modules use. Such a package lists where each name lives and installs the two
functions this returns; it keeps real imports under ``TYPE_CHECKING`` for type
checkers, which then reject a misspelt name instead of accepting anything.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(
    package: str, exported: Iterable[str], where: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: ``where[name]`` is the module that
    holds ``name`` (or is it, when it is ``package.name``). A name is imported once,
    then kept in the package's namespace, so later lookups never come back here."""
    namespace = sys.modules[package].__dict__
    names = sorted({*exported, *where})

    def __getattr__(name: str) -> Any:
        module_name = where.get(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(module_name)
        value = module if module_name == f"{package}.{name}" else getattr(module, name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *names})

    return __getattr__, __dir__
