"""``python -m skaesep``: the ``skaesep`` command line."""

import sys

from .cli import main

sys.exit(main())
