"""``python -m stocksbot``: the same command line as the ``stocksbot`` console script."""

import sys

from .cli import main

sys.exit(main())
