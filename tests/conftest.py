"""Settings for the whole suite.

Hypothesis's per-example deadline (200 ms by default) measures the machine, not
the code: on a shared 2-core CI runner a property test that takes 20 ms alone
took 312 ms, and failed. Speed is measured in ``bench/``, never asserted in a
test, so the deadline is off everywhere; health checks stay on.
"""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("lastcall", deadline=None)
settings.load_profile("lastcall")
