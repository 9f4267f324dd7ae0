"""The ``reqlock`` command line: argument parsing, rendering and exit codes.

It is the only part of reqlock that prints.
"""

from reqlock.cli.main import main

__all__ = ["main"]
