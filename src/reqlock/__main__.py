"""``python -m reqlock``."""

import sys

from reqlock.cli import main

sys.exit(main())
