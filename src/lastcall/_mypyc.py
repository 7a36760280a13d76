"""``mypyc_attr``, for the compiled classes that pure-Python subclasses extend.

mypyc compiles a class as a native class (fixed attribute layout, direct
method calls), and by default refuses to let an interpreted class derive
from it. The HTTP/2 and HTTP/3 server adapters share their base classes
(``server/multiplexed.py``), but only the HTTP/2 side is compiled, so the
shared classes say ``@mypyc_attr(allow_interpreted_subclasses=True)``.

mypyc recognises the decorator by its name in ``mypy_extensions`` (which
mypy, and so every build, brings). A pure-Python install may not have that
package, and needs nothing from it: the fallback leaves the class as it is.
"""

from __future__ import annotations

from typing import Any

__all__ = ["mypyc_attr"]

try:
    from mypy_extensions import mypyc_attr as mypyc_attr
except ImportError:  # pragma: no cover - pure Python without mypy installed

    def mypyc_attr(*_attrs: str, **_flags: Any) -> Any:  # type: ignore[misc]
        """No compiler, nothing to mark: return the class unchanged."""
        return lambda cls: cls
