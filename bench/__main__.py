"""``python -m bench``: see bench/__init__.py and docs/performance.md."""

import sys

from .run import main

sys.exit(main())
