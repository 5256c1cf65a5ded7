"""``python -m rigbench`` is the ``rigbench`` command."""

import sys

from rigbench.cli import main

sys.exit(main())
