"""The fuzz harnesses in CI: the kept corpus replayed, and a short coverage-guided run.

- Every file in ``corpus/<harness>/`` (hand-written seeds, inputs the fuzzer
  found interesting, and any crash once fixed) goes through its harness in
  this process: a regression suite of a few hundred inputs.
- atheris runs the cheap harnesses (``run_fuzz.py fast``) for a fixed number
  of inputs from the corpus with a fixed seed, in a subprocess (libFuzzer
  exits the process when it is done). The test checks that the runs happened,
  not only that nothing crashed.

The longer campaign and what it found are in docs/dev/fuzzing.md.
"""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest
from harnesses import HARNESSES, h1_parse
from run_fuzz import FAST

HERE = pathlib.Path(__file__).parent
CORPUS = HERE / "corpus"

#: Inputs of the short atheris run in CI: about a second of fuzzing on a quiet core.
CI_RUNS = 4000


def _corpus(harness: str) -> list[pathlib.Path]:
    return sorted((CORPUS / harness).iterdir())


@pytest.mark.parametrize("harness", sorted(HARNESSES))
def test_corpus_replays_clean(harness: str) -> None:
    files = _corpus(harness)
    assert any(f.name.startswith("seed-") for f in files), f"no seeds for {harness}"
    for path in files:
        try:
            HARNESSES[harness](path.read_bytes())
        except Exception as exc:  # name the input: it is the reproducer
            raise AssertionError(f"{harness} fails on {path.relative_to(HERE)}") from exc


def test_short_atheris_run(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("atheris")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    # ``fast`` picks the harness by the first byte (its index in FAST).
    for index, harness in enumerate(FAST):
        for path in _corpus(harness):
            (corpus / f"{harness}-{path.name}").write_bytes(bytes([index]) + path.read_bytes())
    proc = subprocess.run(
        [sys.executable, str(HERE / "run_fuzz.py"), "fast", f"-runs={CI_RUNS}", "-seed=1",
         "-max_len=4096", str(corpus)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    done = re.search(r"Done (\d+) runs", proc.stderr)
    assert done is not None and int(done.group(1)) >= CI_RUNS, proc.stderr[-2000:]
    assert not list(tmp_path.glob("crash-*"))


#: Found by the h1_parser harness (docs/dev/fuzzing.md): a Transfer-Encoding we
#: answer 501, followed by a malformed field line.
SPLIT_DEPENDENT_STATUS = (
    b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chun\r\nh>ello\r\n0\r\nX-T: 1\r\n\r\n"
)


def test_h1_error_status_does_not_depend_on_the_split() -> None:
    """Whole-field checks now run when the head is complete (parser.py), so
    llhttp's 400 for the malformed next line wins however the bytes come."""
    assert h1_parse(SPLIT_DEPENDENT_STATUS, False) == h1_parse(SPLIT_DEPENDENT_STATUS, True)
