"""``python -m reqlock``."""

import sys

from reqlock.cli.main import main

sys.exit(main())
