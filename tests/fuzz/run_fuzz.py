#!/usr/bin/env python3
"""Run one fuzz harness under atheris (libFuzzer, coverage guided).

    python tests/fuzz/run_fuzz.py HARNESS [libFuzzer flags] [CORPUS_DIR ...]
    python tests/fuzz/run_fuzz.py h2_server -runs=200000 tests/fuzz/corpus/h2_server
    python tests/fuzz/run_fuzz.py fast -runs=3000 -seed=1 DIR     # what CI runs

HARNESS is a name from ``harnesses.HARNESSES``, or ``fast``: every harness
but the two that need an event loop or a QUIC handshake per input
(``h1_server``, ``h3_server``), the first input byte choosing which. The
code under test (``INSTRUMENT``) is instrumented for coverage as it is imported. A crash (an exception
escaping a harness, i.e. a broken invariant) is written by libFuzzer as
``crash-<sha1>`` in the working directory, with its traceback on stderr; put
the file in ``tests/fuzz/corpus/<harness>/`` once fixed, so CI replays it.
See docs/dev/fuzzing.md.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import sys

import atheris

sys.path.insert(0, str(pathlib.Path(__file__).parent))

#: The harnesses of ``fast``, cheap enough for thousands of inputs a second.
FAST = ["h2_server", "h2_client", "h2_preface", "hpack", "h1_parser", "proxy"]

#: What each run instruments for coverage: the code under test, not the rest
#: of lastcall (instrumenting costs seconds at start-up).
INSTRUMENT = {
    "fast": ["lastcall.engines.http1", "lastcall.engines.http2", "lastcall.proxy"],
    "h2_server": ["lastcall.engines.http2"],
    "h2_client": ["lastcall.engines.http2"],
    "h2_preface": ["lastcall.engines.http2"],
    "hpack": ["lastcall.engines.http2.hpack", "lastcall.engines.http2.huffman"],
    "h1_parser": ["lastcall.engines.http1"],
    "h1_server": ["lastcall.engines.http1", "lastcall.server", "lastcall.io"],
    "h3_server": ["lastcall.engines"],
    "proxy": [
        "lastcall.proxy.forward",
        "lastcall.proxy.headers",
        "lastcall.client.http1",
        "lastcall.client.models",
        "lastcall.client.multiplexed",
        "lastcall.engines.http1",
        "lastcall.engines.http2",
        "lastcall.server.http1",
        "lastcall.server.stream_scope",
    ],
}


#: libFuzzer re-runs this script for ``-merge=1`` and ``-fork=N`` with its own
#: flags only: the harness name reaches those children through the environment.
HARNESS_VARIABLE = "LASTCALL_FUZZ_HARNESS"


def main() -> None:
    names = list(INSTRUMENT)
    if len(sys.argv) > 1 and sys.argv[1] in names:
        name = sys.argv.pop(1)
        os.environ[HARNESS_VARIABLE] = name
    elif os.environ.get(HARNESS_VARIABLE) in names:
        name = os.environ[HARNESS_VARIABLE]
    else:
        sys.exit(f"usage: run_fuzz.py {{{'|'.join(names)}}} [libFuzzer args]")
    # atheris includes whole top-level packages and excludes exact module names.
    # The module names come from the files: importing packages to list them
    # (pkgutil.walk_packages) would import the code under test uninstrumented.
    wanted = tuple(INSTRUMENT[name])
    root = pathlib.Path(importlib.util.find_spec("lastcall").origin or "").parent  # type: ignore[union-attr]
    modules = [
        ".".join(("lastcall", *path.relative_to(root).with_suffix("").parts)).removesuffix(
            ".__init__"
        )
        for path in root.rglob("*.py")
    ]
    others = [m for m in modules if not m.startswith(wanted)]
    with atheris.instrument_imports(include=["lastcall"], exclude=["lastcall", *others]):
        import harnesses
    if name == "fast":
        targets = [harnesses.HARNESSES[n] for n in FAST]

        def one_input(data: bytes) -> None:
            if data:
                targets[data[0] % len(targets)](data[1:])

    else:
        one_input = harnesses.HARNESSES[name]
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
