"""``reqlock lock``: its options, and running it."""

from __future__ import annotations

__all__ = ["register"]

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from reqlock.cli.render import add_verbosity_options, reporter_for
from reqlock.errors import ConfigError
from reqlock.settings import Options

if TYPE_CHECKING:
    from reqlock.locking.config import ProjectConfig


def _parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{text!r} is not a timestamp",
            key="--exclude-newer",
            hint="use RFC 3339, e.g. 2026-01-31T00:00:00Z or 2026-01-31",
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``lock`` command to ``sub``."""
    p = sub.add_parser(
        "lock",
        help="resolve requirements files into a hashed pylock.toml",
        description="Resolve requirements files into a PEP 751 lock file with hashes.",
    )
    p.add_argument(
        "requirements",
        nargs="*",
        metavar="REQUIREMENTS",
        help="requirements files (default: requirements.txt)",
    )
    p.add_argument(
        "-o",
        "--output",
        default=None,
        help="lock file to write (default: pylock.toml; '-' for stdout)",
    )
    p.add_argument(
        "--pre", action="store_true", default=None, help="allow pre-releases for every package"
    )
    p.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="TARGET",
        help="platform to lock for, e.g. linux-x86_64-py3.12 (repeatable; default: current)",
    )
    _add_universal_options(p)
    p.add_argument(
        "--exclude-newer", metavar="TIMESTAMP", help="ignore files uploaded after this time"
    )
    p.add_argument(
        "--no-build", action="store_true", help="never build sdists to learn their dependencies"
    )
    p.add_argument(
        "--env",
        metavar="NAME",
        help="lock this deployment environment of pyproject.toml (and the ones before it)",
    )
    p.add_argument(
        "--upgrade",
        action="store_true",
        help="re-resolve everything instead of keeping the existing lock's pins",
    )
    p.add_argument(
        "--upgrade-package",
        action="append",
        default=[],
        metavar="NAME[==VER]",
        help="let this package move (to VER if given); repeatable",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 naming what changed when a lock is stale or "
        "missing, 0 when all locks are current",
    )
    _add_index_options(p)
    _add_cache_options(p)
    add_verbosity_options(p)
    p.set_defaults(func=_cmd_lock)


def _add_universal_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--universal",
        action="store_true",
        default=None,
        help="lock for every environment --python-requires allows (with --target: keep only "
        "those targets' wheels)",
    )
    p.add_argument(
        "--python-requires",
        metavar="SPEC",
        help="Python versions a universal lock covers (default: [project] requires-python, "
        "else the running minor and later)",
    )
    p.add_argument(
        "--universal-environment",
        action="append",
        default=[],
        metavar="MARKER",
        help="limit a universal lock to environments matching MARKER (repeatable: any of them)",
    )


def _add_index_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--index-url", help="base URL of the simple index (default: PyPI)")
    p.add_argument(
        "--extra-index-url",
        action="append",
        default=[],
        metavar="URL",
        help="another index, used for projects the first index lacks",
    )
    p.add_argument(
        "-f",
        "--find-links",
        action="append",
        default=[],
        metavar="DIR|URL",
        help="a directory or flat HTML page of wheels and sdists, searched before the "
        "indexes; repeatable",
    )
    p.add_argument(
        "--no-index",
        action="store_true",
        help="use no index: only --find-links locations and direct references",
    )
    p.add_argument(
        "--allow-insecure-host",
        action="append",
        default=[],
        metavar="HOST",
        help="allow this host over plain http (loopback always is); repeatable",
    )
    p.add_argument(
        "--index-strategy",
        choices=["first-index", "unsafe-best-match"],
        default="first-index",
        help="first-index (default): a project comes from the first index that has it; "
        "unsafe-best-match: mix the files of every index (dependency-confusion risk)",
    )


def _add_cache_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cache-dir", help="cache directory (default: REQLOCK_CACHE_DIR or ~/.cache/reqlock)"
    )
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument(
        "--refresh",
        action="store_true",
        help="fetch index pages again even when the cached copy is fresh",
    )
    p.add_argument(
        "--offline", action="store_true", help="use only the cache; fail when something is missing"
    )
    p.add_argument(
        "--page-ttl",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long a cached index page counts as fresh (default: 600, or REQLOCK_PAGE_TTL)",
    )


def _find_link(value: str) -> str:
    """A --find-links value: URLs as given, directories absolute (from the working
    directory, where a command-line path starts)."""
    import os

    return value if "://" in value else os.path.abspath(os.path.expanduser(value))


def _options(args: argparse.Namespace) -> Options:
    """The command line's layer of the settings (None: not given)."""
    from reqlock.targets import parse_target

    return Options(
        index_url=args.index_url,
        extra_index_urls=args.extra_index_url or None,
        find_links=[_find_link(v) for v in args.find_links] or None,
        no_index=args.no_index or None,
        index_strategy=args.index_strategy,
        allow_insecure_hosts=args.allow_insecure_host or None,
        targets=[parse_target(t) for t in args.target] or None,
        pre=args.pre,
        exclude_newer=_parse_time(args.exclude_newer) if args.exclude_newer else None,
        no_build=args.no_build or None,
        cache_dir=args.cache_dir,
        no_cache=args.no_cache or None,
        offline=args.offline or None,
        refresh=args.refresh or None,
        page_ttl=args.page_ttl,
        upgrade=args.upgrade or None,
        upgrade_packages=args.upgrade_package or None,
        universal=args.universal,
        requires_python=args.python_requires,
        universal_environments=args.universal_environment or None,
    )


def _cmd_lock(args: argparse.Namespace) -> int:
    from pathlib import Path

    from reqlock.locking.config import load_config

    config = load_config(Path("pyproject.toml"))
    project_mode = not args.requirements and config is not None and bool(config.environments)
    if project_mode and args.output is not None:
        raise ConfigError(
            "-o cannot be used with [tool.reqlock.environments]: each environment is written "
            "to pylock.<env>.toml",
            key="--output",
            hint="name requirement files to lock a single file instead",
        )
    if args.output is None:
        args.output = "pylock.toml"
    if args.output != "-":
        from pathlib import PurePath

        from reqlock.lockcheck import name_warning

        warning = name_warning(PurePath(args.output).name)
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
    if args.env and not project_mode:
        raise ConfigError(
            "--env needs [tool.reqlock.environments] in pyproject.toml and no requirement files",
            key="--env",
        )
    options = _options(args)
    if not project_mode and args.output not in (None, "-"):
        # Local paths in the lock are relative to the lock file's directory.
        options = dataclasses.replace(
            options, lock_dir=os.path.dirname(os.path.abspath(args.output))
        )
    if args.check:
        return _check(args, config, options, project_mode)
    reporter = reporter_for(args, sys.stderr)
    started = time.monotonic()
    try:
        if project_mode:
            assert config is not None
            from reqlock.locking.project import lock_environments

            done = lock_environments(config, only=args.env, options=options, reporter=reporter)
            reporter.finish()
            for item in done:
                _summary(
                    str(item.environment.lock_path),
                    item.result.package_count,
                    item.written,
                    item.changes,
                    started,
                )
            return 0
        from reqlock.locking.api import lock
        from reqlock.locking.previous import PreviousFile, changes_from

        # As bytes: parsed only when no remembered result has exactly these bytes.
        previous = PreviousFile.read(args.output) if args.output != "-" else None
        result = lock(
            args.requirements or ["requirements.txt"],
            options=options,
            project=config.options if config else None,
            previous=previous,
            reporter=reporter,
        )
    finally:
        reporter.finish()
    if args.output == "-":
        sys.stdout.write(result.to_toml())
        print(
            f"Locked {_packages(result.package_count)} in {time.monotonic() - started:.1f} s",
            file=sys.stderr,
        )
        return 0
    written = result.write(args.output)
    changes = changes_from(previous, result, written)
    _summary(args.output, result.package_count, written, changes, started)
    return 0


def _packages(count: int) -> str:
    return f"{count} package" if count == 1 else f"{count} packages"


def _summary(
    path: str, count: int, written: bool, changes: Sequence[object], started: float
) -> None:
    elapsed = time.monotonic() - started
    if written:
        print(f"Locked {_packages(count)} into {path} in {elapsed:.1f} s", file=sys.stderr)
    else:
        print(f"{path} is up to date ({_packages(count)}, {elapsed:.1f} s)", file=sys.stderr)
    for change in changes:
        print(f"  {change}", file=sys.stderr)


def _check(
    args: argparse.Namespace,
    config: ProjectConfig | None,
    options: Options,
    project_mode: bool,
) -> int:
    from pathlib import Path

    from reqlock.locking.project import Staleness, check_environments, check_file

    found: list[Staleness]
    if project_mode:
        assert config is not None
        found = check_environments(config, only=args.env, options=options)
    else:
        from reqlock.locking.api import inputs_fingerprint

        if args.output == "-":
            raise ConfigError("--check needs a lock file, not stdout", key="--output")
        current = inputs_fingerprint(
            args.requirements or ["requirements.txt"],
            options=options,
            project=config.options if config else None,
        )
        found = [check_file(Path(args.output), current)]
    for item in found:
        if item.current:
            print(f"{item.path}: up to date")
        else:
            print(f"{item.path}: stale: {'; '.join(item.reasons)}")
    return 0 if all(item.current for item in found) else 1
