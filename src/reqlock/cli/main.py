"""The ``reqlock`` command line: argument parsing, exit codes.

Exit codes: 0 success; 1 a check found a difference (``verify``, ``lock --check``);
2 the job could not be done (bad input, conflict, network). Errors are printed as
one message on stderr, never as a traceback.
"""

from __future__ import annotations

__all__ = ["build_parser", "main"]

import argparse
import signal
import sys
from collections.abc import Sequence

from reqlock import __version__
from reqlock.errors import ReqlockError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``reqlock`` command."""
    parser = argparse.ArgumentParser(
        prog="reqlock",
        description="Lock requirements files into hashed PEP 751 lock files; verify and "
        "sync environments against them.",
    )
    parser.add_argument("--version", action="version", version=f"reqlock {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    from reqlock.cli import deploy, lock

    lock.register(sub)
    deploy.register(sub)
    return parser


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread so that clean-up code runs."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # SIGTERM (a deploy tool stopping us) unwinds like Ctrl-C: temporary files are
    # removed and child processes are ended on the way out.
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code: int = args.func(args)
    except ReqlockError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except _Terminated:
        print("terminated", file=sys.stderr)
        return 143
    finally:
        signal.signal(signal.SIGTERM, previous)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
