"""CI runs what the README tells a newcomer to run: its install and check lines, verbatim.

So the commands a newcomer types are the ones CI proves, and a change to one
without the other fails here instead of drifting.
"""

from __future__ import annotations

import pathlib

REPO = pathlib.Path(__file__).parents[2]


def _readme_commands() -> list[str]:
    """The README's first code block: install, check, serve."""
    text = (REPO / "README.md").read_text()
    block = text.split("```", 2)[1]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_opens_with_install_check_serve() -> None:
    commands = _readme_commands()
    assert len(commands) == 3
    assert commands[0].startswith("pip install") and commands[2].startswith("lastcall serve")


def test_ci_runs_the_readme_install_and_check_lines() -> None:
    ci_lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    install, check, _serve = _readme_commands()
    assert check == "./check"
    assert install in ci_lines
    assert check in ci_lines


def test_check_runs_tests_ruff_and_mypy() -> None:
    script = (REPO / "check").read_text()
    for step in ("python -m pytest", "ruff check .", "ruff format --check .", "mypy"):
        assert step in script, f"./check lacks {step!r}"
