"""The ``reqlock`` command line: argument parsing, exit codes.

Exit codes: 0 success; 1 a check found a difference (``verify``, ``lock --check``);
2 the job could not be done (bad input, conflict, network). Errors are printed as
one message on stderr, never as a traceback.
"""

from __future__ import annotations

__all__ = ["build_parser", "main"]

import sys

from reqlock import __version__

# Not typing's, and argparse and signal imported where used: ``reqlock verify``
# starts its inventory before it imports them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

# Their subcommands are parsed without the lock ones, whose module loads the
# settings and, with them, much of the locking side (~30 ms).
_DEPLOY_COMMANDS = frozenset({"verify", "sync", "export"})


def build_parser(*, deploy_only: bool = False) -> argparse.ArgumentParser:
    """The argument parser of the ``reqlock`` command (``deploy_only``: with the
    deploy-time subcommands alone)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="reqlock",
        description="Lock requirements files into hashed PEP 751 lock files; verify and "
        "sync environments against them.",
    )
    parser.add_argument("--version", action="version", version=f"reqlock {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    from reqlock.cli import deploy

    if not deploy_only:
        from reqlock.cli import lock

        lock.register(sub)
    deploy.register(sub)
    return parser


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread so that clean-up code runs."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    early = None
    if args_list[:1] == ["verify"]:
        # Before the parser and its imports: the inventory runs meanwhile.
        from reqlock.cli.deploy import start_early

        early = start_early(args_list[1:])
    try:
        # Only when the command comes first: "reqlock --help verify" lists them all.
        parser = build_parser(deploy_only=bool(args_list) and args_list[0] in _DEPLOY_COMMANDS)
        args = parser.parse_args(args_list)
    except BaseException:  # SystemExit for a usage error or --help
        if early is not None:
            early.cancel()
        raise
    args.early_inventory = early
    import signal

    # SIGTERM (a deploy tool stopping us) unwinds like Ctrl-C: temporary files are
    # removed and child processes are ended on the way out.
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except _Terminated:
        print("terminated", file=sys.stderr)
        return 143
    except Exception as exc:
        # Imported here, not on top: reqlock.errors loads dataclasses, which the
        # verify path needs only after the inventory has started.
        from reqlock.errors import ReqlockError

        if not isinstance(exc, ReqlockError):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)
    return code


# Commands that hold nothing the collector must finalize once they return: verify
# writes no file; lock has written its lock and cache entries through closed
# descriptors, joined its threads and reaped its builds.
_NOTHING_TO_FINALIZE = frozenset({"verify", "lock"})


def run() -> None:
    """The ``reqlock`` program (console script and ``python -m reqlock``): run the
    command line and exit with its code."""
    code = main()
    if sys.argv[1:2] and sys.argv[1] in _NOTHING_TO_FINALIZE:
        # The process ends here: the collector's last pass over everything the
        # imports made (~10 ms, a tenth of a warm lock) would free nothing the
        # system does not take back anyway. Never in main(): tests call it in-process.
        import gc

        gc.freeze()
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
