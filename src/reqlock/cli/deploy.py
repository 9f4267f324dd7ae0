"""The deploy-time commands: ``reqlock verify``, ``reqlock sync``, ``reqlock export``.

Exit codes follow the main command line: 0 the environment matches (or the job is
done), 1 verify found a difference (or sync could not make it match), 2 the job
could not be done (raised :class:`~reqlock.errors.ReqlockError`, printed by
``reqlock.cli.main.main``). Heavy modules are imported inside the handlers so that
``reqlock verify`` starts fast: :func:`start_early` starts its inventory before
the parser is even built, and this module imports nothing heavy on top.
"""

from __future__ import annotations

__all__ = ["register", "start_early"]

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from reqlock.deploy.verify import PendingInventory


def _names(values: Sequence[str] | None) -> list[str]:
    """Repeatable, comma-separated option values as one list."""
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]


def _groups(values: Sequence[str] | None) -> list[str] | None:
    # No --group at all means "the lock's default groups", not "no group".
    return None if values is None else _names(values)


def _add_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--extras",
        action="append",
        metavar="EXTRA",
        help="extras to select (repeatable or comma-separated)",
    )
    parser.add_argument(
        "--group",
        action="append",
        metavar="GROUP",
        help="dependency groups to select (repeatable; default: the lock's default groups)",
    )


def _add_target_env(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("lock", metavar="LOCK", help="the pylock.toml file")
    parser.add_argument(
        "--python",
        metavar="PATH",
        help="interpreter (or virtual environment) to check (default: this one)",
    )
    parser.add_argument(
        "--allow-extra",
        action="extend",
        nargs="+",
        default=[],
        metavar="NAME",
        help="distributions that may be installed without being locked (e.g. pip)",
    )
    parser.add_argument(
        "--allow-unowned",
        action="extend",
        nargs="+",
        default=[],
        metavar="GLOB",
        help="files no RECORD lists that may exist (paths relative to site-packages, "
        "'/'-separated, fnmatch; '*' matches '/'), and .pth files whose import lines "
        "may run, e.g. distutils-precedence.pth",
    )
    _add_selection(parser)
    from reqlock.cli.render import add_verbosity_options

    add_verbosity_options(parser)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``verify``, ``sync`` and ``export`` subcommands."""
    p = subparsers.add_parser(
        "verify",
        help="check that an environment matches a lock exactly (no network)",
        description="Compare what an interpreter has installed with a lock file: "
        "versions, files (RECORD hashes), origin. Exit 0 when equal, 1 when not, "
        "2 when the check cannot be done (bad lock, lock for another platform, "
        "interpreter not found).",
    )
    _add_target_env(p)
    p.add_argument(
        "--no-files",
        action="store_true",
        help="do not hash installed files against their RECORD (faster)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_cmd_verify)

    p = subparsers.add_parser(
        "sync",
        help="make an environment equal to a lock (pip with --require-hashes)",
        description="Install, upgrade, downgrade, reinstall and remove distributions "
        "until the environment matches the lock, then verify it. Files are installed "
        "with --require-hashes; vcs packages (pinned by commit) and directory "
        "packages in a second pip step without hashes.",
    )
    _add_target_env(p)
    p.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
    p.add_argument(
        "--index-url",
        metavar="URL",
        help="take files from this index instead of the lock's (e.g. a mirror)",
    )
    p.set_defaults(func=_cmd_sync)

    p = subparsers.add_parser(
        "export",
        help="write one target's packages as a requirements file with hashes",
        description="Write what the lock selects for a target as a requirements file "
        "for `pip install --require-hashes --no-deps -r FILE` (with --no-hashes: "
        "`pip install --no-deps -r FILE`).",
    )
    p.add_argument("lock", metavar="LOCK", help="the pylock.toml file")
    p.add_argument(
        "--target",
        default="current",
        metavar="TARGET",
        help="platform to export for, e.g. linux-x86_64-py3.12 (default: current)",
    )
    p.add_argument("-o", "--output", default="-", help="file to write (default: stdout)")
    p.add_argument(
        "--no-hashes",
        action="store_true",
        help="write no --hash options, so that vcs and directory packages can be written "
        "too; pip then does not check that it installs the locked files",
    )
    _add_selection(p)
    from reqlock.cli.render import add_verbosity_options

    add_verbosity_options(p)
    p.set_defaults(func=_cmd_export)


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


# The options of ``reqlock verify`` and how many values each takes (_MANY: one or
# more, up to the next option), as start_early reads them.
_MANY = -1
_VERIFY_OPTIONS = {
    "--python": 1,
    "--no-files": 0,
    "--allow-extra": _MANY,
    "--allow-unowned": _MANY,
    "--extras": 1,
    "--group": 1,
    "--json": 0,
    "-q": 0,
    "--quiet": 0,
    "-v": 0,
    "--verbose": 0,
}


def _guess_verify(args: Sequence[str]) -> tuple[str | None, bool, list[str]] | None:
    """``(python, check files, allowed extras)`` of plainly spelled ``reqlock verify``
    arguments; ``None`` for anything else (abbreviated, combined or unknown options,
    ``--``, ``--help``, a missing value)."""
    python: str | None = None
    check = True
    extra: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if not name.startswith("-"):
            continue  # the lock
        takes = _VERIFY_OPTIONS.get(name)
        if takes is None or (eq and takes == 0):
            return None
        if takes == 0:
            check = check and name != "--no-files"
            continue
        values = [value] if eq else []
        while not eq and index < len(args) and not args[index].startswith("-"):
            if takes == 1 and values:
                break
            values.append(args[index])
            index += 1
        if not values:
            return None
        if name == "--python":
            python = values[-1]
        elif name == "--allow-extra":
            extra.extend(values)
    return python, check, extra


def start_early(args: Sequence[str]) -> PendingInventory | None:
    """Start the inventory that the ``reqlock verify`` arguments ``args`` most
    likely ask for, before the parser (and what it imports) is built, so that the
    interpreter starts ~20 ms sooner; ``None`` when they are not plain enough to
    tell, or the start fails (the parsed arguments then fail the same way, with
    the proper message).

    A guess only: :func:`_cmd_verify` takes it when the parsed arguments ask for
    exactly that inventory, and stops it otherwise.
    """
    guess = _guess_verify(args)
    if guess is None:
        return None
    python, check, extra = guess
    from reqlock.deploy.inventory import start_inventory

    try:
        return start_inventory(python, check_files=check, skip_files_of=_names(extra))
    except Exception:  # InventoryError, ConfigError: raised again after parsing
        return None


def _asks_for(pending: PendingInventory, args: argparse.Namespace) -> bool:
    from reqlock.deploy.inventory import resolve_python
    from reqlock.deploy.inventory_rows import canonical

    try:
        python = resolve_python(args.python)
    except Exception:  # the new start raises it again
        return False
    return (
        pending.python == python
        and pending.check_files == (not args.no_files)
        and pending.skip == frozenset(canonical(name) for name in _names(args.allow_extra))
    )


def _inventory_for(args: argparse.Namespace) -> PendingInventory:
    """The early inventory if it is the one ``args`` ask for, else a new one."""
    from reqlock.deploy.inventory import start_inventory

    early: PendingInventory | None = getattr(args, "early_inventory", None)
    if early is not None:
        if _asks_for(early, args):
            return early
        early.cancel()
    return start_inventory(
        args.python, check_files=not args.no_files, skip_files_of=_names(args.allow_extra)
    )


def _cmd_verify(args: argparse.Namespace) -> int:
    # The interpreter is inspected while this process reads the lock.
    pending = _inventory_for(args)
    try:
        from reqlock.deploy.verify import load_lock, verify_started

        loaded = load_lock(args.lock, warn=_warn)
    except BaseException:
        pending.cancel()
        raise
    report = verify_started(
        pending,
        loaded,
        extras=_names(args.extras),
        groups=_groups(args.group),
        allow_extra=_names(args.allow_extra),
        allow_unowned=_names(args.allow_unowned),
    )
    sys.stdout.write(report.to_json() if args.json else report.render())
    return 0 if report.ok else 1


def _cmd_sync(args: argparse.Namespace) -> int:
    from reqlock.deploy.sync import sync
    from reqlock.deploy.verify import load_lock

    result = sync(
        load_lock(args.lock, warn=_warn),
        python=args.python,
        allow_extra=_names(args.allow_extra),
        allow_unowned=_names(args.allow_unowned),
        dry_run=args.dry_run,
        extras=_names(args.extras),
        groups=_groups(args.group),
        index_url=args.index_url,
    )
    if result.dry_run:
        sys.stdout.write("dry run, nothing changed\n" + result.plan.render())
        return 0
    sys.stdout.write(result.plan.render())
    if not result.plan.empty or not result.ok:
        sys.stdout.write(result.report.render())
    return 0 if result.ok else 1


def _cmd_export(args: argparse.Namespace) -> int:
    from reqlock.deploy.export import export_requirements
    from reqlock.lockfile import read_lock
    from reqlock.targets import parse_target

    lock = read_lock(args.lock, warn=_warn)
    target = parse_target(args.target)
    text = export_requirements(
        lock,
        lock_name=args.lock,
        target=target,
        extras=_names(args.extras),
        groups=_groups(args.group),
        lock_dir=os.path.dirname(os.path.abspath(args.lock)),
        hashes=not args.no_hashes,
    )
    if args.output == "-":
        sys.stdout.write(text)
    else:
        _write(args.output, text)
    return 0


def _write(path: str, text: str) -> None:
    from reqlock.errors import ReqlockError
    from reqlock.files import write_atomic

    try:
        write_atomic(path, text.encode("utf-8"))
    except OSError as exc:
        raise ReqlockError(f"{path}: cannot write: {exc.strerror or exc}") from None
