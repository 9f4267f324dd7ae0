"""``python -m reqlock``."""

import sys

from reqlock.cli.main import main

code = main()
if sys.argv[1:2] == ["verify"]:
    # The process ends here, and verify holds nothing that needs finalizing (it
    # writes no file; its processes are reaped): the collector's last pass over
    # everything the imports made (~10 ms) would free nothing the system does not
    # take back anyway. Not for the other commands, whose clean-up may rely on it.
    import gc

    gc.freeze()
sys.exit(code)
