"""No module in ``engines/`` over 600 lines (the house rule: small modules with
one job; h2's 2,100-line ``connection.py`` is what to avoid). ``client/`` has
the same rule and joins this list once its split (issue 10) has landed."""

from __future__ import annotations

import pathlib

import lastcall

ROOT = pathlib.Path(lastcall.__file__).parent
LIMIT = 600
CHECKED = ["engines"]


def test_no_module_over_the_limit() -> None:
    over = {
        str(path.relative_to(ROOT)): n
        for package in CHECKED
        for path in sorted((ROOT / package).rglob("*.py"))
        if (n := len(path.read_text().splitlines())) > LIMIT
    }
    assert over == {}
