"""``python -m lastcall``: same as the ``lastcall`` command."""

import sys

from lastcall.cli import main

sys.exit(main())
