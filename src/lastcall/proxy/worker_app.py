"""The proxy as a worker process imports it: ``lastcall proxy --workers N`` (and reload, upgrade).

A worker imports its app by name (``lastcall.process``), so the proxy it
serves is built here, at import, from the command line the supervisor was
given (passed down in ``LASTCALL_PROXY_ARGS`` as JSON). A reload starts new
workers, which import this anew and so read the ``--config`` file again: the
way to change routes and upstreams without a lost request. A file that no
longer parses fails that generation (``ConfigError``: exit 2 in the worker),
and the running one keeps serving.
"""

from __future__ import annotations

import argparse
import json
import os

from lastcall.errors import ConfigError

from .app import ProxyApp
from .run import PROXY_ARGS_ENV, build

__all__ = ["PROXY_ARGS_ENV", "app"]


def _build() -> ProxyApp:
    raw = os.environ.get(PROXY_ARGS_ENV)
    if raw is None:
        raise ConfigError(f"{__name__} is for `lastcall proxy --workers N` ({PROXY_ARGS_ENV})")
    proxy_config, _ = build(argparse.Namespace(**json.loads(raw)))
    # The worker's server reports through the proxy's own observer (``app.observer``).
    return ProxyApp(proxy_config)


app = _build()
