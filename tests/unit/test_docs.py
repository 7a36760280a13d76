"""The docs stand on their own and say what the code does, checked mechanically.

- Every relative link in README.md and docs/ points at a file inside the
  repository (the docs once linked to a design page outside it, absent for
  every user).
- docs/server/reference.md has one row per ``ServerConfig`` field and no row
  for a setting that does not exist; each row names the real command-line
  option (``--`` and the name with dashes unless the row names another, or
  ``no flag``), and its default is the field's default.
- Every default that ``lastcall serve --help`` states is the field's default.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import re

import pytest

from lastcall.cli import build_parser
from lastcall.server.config import ServerConfig

REPO = pathlib.Path(__file__).parents[2]
REFERENCE = REPO / "docs" / "server" / "reference.md"
DOCS = [REPO / "README.md", REPO / "CHANGELOG.md", *sorted((REPO / "docs").rglob("*.md"))]
FIELDS = {field.name: field for field in dataclasses.fields(ServerConfig)}
UNITS = {"KiB": 1024, "MiB": 1024 * 1024}


def _default(name: str) -> object:
    field = FIELDS[name]
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def _matches_default(text: str, default: object) -> bool:
    """Whether a documented default (``30``, ``16 MiB``, ``on``, ``none``...) is ``default``."""
    text = text.strip().strip("`").strip()
    if isinstance(default, bool):
        return text == ("on" if default else "off")
    if default is None or default == []:
        return text in ("none", "off", "demo app", "built-in demo app")
    if isinstance(default, list):
        return text.split() == default
    if isinstance(default, int | float):
        number = re.fullmatch(r"([\d.]+)\s*(KiB|MiB)?", text.replace(",", ""))
        return number is not None and float(number[1]) * UNITS.get(number[2] or "", 1) == default
    return text == default or (text == '""' and default == "")


def _serve_parser() -> argparse.ArgumentParser:
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            parser: argparse.ArgumentParser = action.choices["serve"]
            return parser
    raise AssertionError("no serve subcommand")


def _flags() -> dict[str, list[str]]:
    """Setting name -> the options that set it (``[]`` for a positional)."""
    flags: dict[str, list[str]] = {}
    for action in _serve_parser()._actions:
        if action.dest in FIELDS:
            # Two options may set one setting (``--server-header``, ``--no-server-header``).
            flags.setdefault(action.dest, []).extend(
                o for o in action.option_strings if o.startswith("--")
            )
    return flags


def _reference_rows() -> dict[str, tuple[str, str]]:
    """Setting name -> (its first cell, its default cell), from the settings table."""
    rows: dict[str, tuple[str, str]] = {}
    for line in REFERENCE.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        for name in re.findall(r"`([a-z0-9_]+)`", cells[0].split("(")[0]):
            rows[name] = (cells[0], cells[1])
    return rows


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_links_stay_inside_the_repository(doc: pathlib.Path) -> None:
    text = doc.read_text()
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # https:, mailto:, an anchor on the same page
        path = (doc.parent / target.split("#")[0]).resolve()
        assert path.is_relative_to(REPO.resolve()), f"{target} leaves the repository"
        assert path.exists(), f"{target} does not exist"
    assert "shared/DESIGN.md" not in text


def test_reference_has_one_row_per_setting() -> None:
    rows = _reference_rows()
    assert sorted(set(FIELDS) - set(rows)) == [], "settings missing from reference.md"
    assert sorted(set(rows) - set(FIELDS)) == [], "reference.md rows for no setting"


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_reference_names_the_real_option(name: str) -> None:
    cell, _ = _reference_rows()[name]
    actual = _flags().get(name)
    named = re.findall(r"`(--[a-z0-9-]+)`", cell)
    if actual is None:
        assert "no flag" in cell, f"{name} has no option: its row must say 'no flag'"
    elif actual == []:
        assert "positional" in cell
    else:
        assert "no flag" not in cell
        implicit = "--" + name.replace("_", "-")
        assert set(named or [implicit]) == set(actual), f"{name}: {actual}"


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_reference_default_is_the_code_default(name: str) -> None:
    _, cell = _reference_rows()[name]
    assert _matches_default(cell.split(" (")[0], _default(name)), f"{name}: {cell!r}"


def test_help_defaults_are_the_code_defaults() -> None:
    stated = 0
    for action in _serve_parser()._actions:
        found = re.search(r"default:? ([^);,(]+)", action.help or "")
        if found is None or action.dest not in FIELDS:
            continue
        stated += 1
        assert _matches_default(found[1], _default(action.dest)), f"--help of {action.dest}"
    assert stated > 10  # the pattern still finds what --help says
