"""Finding the app: ``module:attribute``, ``--app-dir``, ``--factory`` and ``--env-file``.

What uvicorn, gunicorn and granian users type, with the same meaning:

- ``--app-dir DIR`` goes first on ``sys.path`` (default ``.``, the working
  directory: uvicorn's default), so ``app:app`` is found beside the project.
- ``--factory``: the attribute is a function that returns the app, called
  once with no argument (uvicorn ``--factory``, gunicorn ``'app:create()'``).
- ``--env-file FILE`` sets environment variables before anything is
  imported and before ``LASTCALL_*`` settings are read. Variables already
  set win, as with python-dotenv (which uvicorn uses); the file is read here,
  so no dependency: ``KEY=VALUE`` lines, ``#`` comments, an optional
  ``export``, single quotes taken literally, double quotes with ``\\n``,
  ``\\"`` and ``\\\\`` escapes. Anything else is a usage error that names the
  line: a file that half loads is worse than one that does not.

Every failure here is a ``ConfigError`` (exit 2), said before anything starts.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from lastcall.errors import ConfigError

__all__ = ["import_app", "import_object", "load_env_file", "parse_env_file"]


def import_object(spec: str, what: str = "app", app_dir: str = ".") -> Any:
    """Import ``module:attribute`` (dots allowed in the attribute) from ``app_dir`` first.

    A module or attribute that is not there is a usage error (``ConfigError``,
    exit 2) that says ``what`` was looked for, before anything starts.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"{what} must look like 'module:attribute', got {spec!r}")
    directory = os.path.abspath(app_dir)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ConfigError(f"cannot import module {module_name!r}: {exc}") from None
        raise
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"module {module_name!r} has no attribute {attr!r}") from None
    return obj


def import_app(spec: str, *, factory: bool = False, app_dir: str = ".") -> Any:
    """Import an ASGI app from ``module:attribute`` (see ``import_object``).

    With ``factory`` the attribute is called (no argument) and what it
    returns is the app. What is found must be callable: anything else would
    start, then answer every request with 500. Like a module or attribute
    that is not there, it is a usage error (exit 2), said before anything starts.
    """
    obj = import_object(spec, app_dir=app_dir)
    if factory:
        if not callable(obj):
            raise ConfigError(f"--factory: {spec!r} is a {type(obj).__name__}, not a function")
        obj = obj()
        spec = f"{spec}() (--factory)"
    if not callable(obj):
        raise ConfigError(
            f"{spec!r} is not an ASGI app: it is a {type(obj).__name__}, not a callable"
            " (an app is called as app(scope, receive, send))"
        )
    return obj


def parse_env_file(text: str, source: str = "env file") -> dict[str, str]:
    """The variables of a dotenv file (see the module docstring for the syntax)."""
    out: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.replace("_", "a").isalnum() or key[0].isdigit():
            raise ConfigError(f"{source}:{number}: expected KEY=VALUE, got {raw!r}")
        out[key] = _env_value(value.strip(), f"{source}:{number}")
    return out


def _env_value(value: str, where: str) -> str:
    if value[:1] in ("'", '"'):
        quote = value[0]
        end = value.find(quote, 1)
        while quote == '"' and end > 0 and _is_escaped(value, end):
            end = value.find(quote, end + 1)
        if end < 0:
            raise ConfigError(f"{where}: unterminated {quote} quote")
        rest = value[end + 1 :].strip()
        if rest and not rest.startswith("#"):
            raise ConfigError(f"{where}: text after the closing quote")
        inner = value[1:end]
        if quote == "'":
            return inner
        escapes = {"n": "\n", '"': '"', "\\": "\\"}
        out, i = [], 0
        while i < len(inner):
            if inner[i] == "\\" and i + 1 < len(inner) and inner[i + 1] in escapes:
                out.append(escapes[inner[i + 1]])
                i += 2
            else:
                out.append(inner[i])
                i += 1
        return "".join(out)
    comment = value.find(" #")
    return (value[:comment] if comment >= 0 else value).strip()


def _is_escaped(text: str, index: int) -> bool:
    backslashes = 0
    while index - backslashes - 1 >= 0 and text[index - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


def load_env_file(path: str) -> dict[str, str]:
    """Set the file's variables that are not already set; return all of the file's."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read --env-file {path}: {exc}") from None
    variables = parse_env_file(text, path)
    for key, value in variables.items():
        os.environ.setdefault(key, value)
    return variables
