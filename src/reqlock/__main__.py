"""``python -m reqlock``."""

from reqlock.cli.main import run

run()
