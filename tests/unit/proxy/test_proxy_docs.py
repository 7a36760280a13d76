"""docs/proxy.md lists every proxy setting, and only those."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from lastcall.proxy.config import (
    BudgetSettings,
    EjectionSettings,
    HealthCheckSettings,
    ProxyConfig,
    RouteConfig,
    UpstreamConfig,
)

DOC = (Path(__file__).resolve().parents[3] / "docs" / "proxy.md").read_text()


def _keys(section: str) -> set[str]:
    """The first column of the table under ``### `section```."""
    start = DOC.index(f"### `{section}`")
    end = DOC.find("\n### ", start + 1)
    table = DOC[start : end if end > 0 else None]
    return set(re.findall(r"^\| `([a-z_.]+)` \|", table, re.MULTILINE))


def test_every_setting_is_documented() -> None:
    proxy = {f.name for f in fields(ProxyConfig)} - {"upstreams", "routes"}
    assert _keys("[proxy]") == proxy
    group = {f.name for f in fields(UpstreamConfig)} - {
        "name",
        "health_check",
        "ejection",
        "retry_budget",
    }
    for prefix, cls in (
        ("health_check", HealthCheckSettings),
        ("ejection", EjectionSettings),
        ("retry_budget", BudgetSettings),
    ):
        group |= {f"{prefix}.{f.name}" for f in fields(cls)}
    assert _keys("[upstreams.NAME]") == group
    assert _keys("[[routes]]") == {f.name for f in fields(RouteConfig)}
