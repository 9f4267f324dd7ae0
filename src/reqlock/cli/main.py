"""The ``reqlock`` command line: argument parsing, rendering, exit codes.

Exit codes: 0 success; 1 a check found a difference (``verify``, ``lock --check``);
2 the job could not be done (bad input, conflict, network). Errors are printed as
one message on stderr, never as a traceback.
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import os
import sys
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TextIO

from reqlock import __version__
from reqlock.errors import ConfigError, ReqlockError
from reqlock.progress import Reporter

if TYPE_CHECKING:
    from reqlock.locking.config import ProjectConfig
    from reqlock.targets import Target


class TerminalReporter(Reporter):
    """Renders progress as one rewritten line on a terminal; warnings always."""

    def __init__(self, stream: TextIO, *, live: bool) -> None:
        super().__init__()
        self._stream = stream
        self._live = live
        self._lock = threading.Lock()
        self._pages = 0
        self._metadata = 0
        self._last = 0.0
        self._shown = False

    def fetched_page(self, name: str) -> None:
        with self._lock:
            self._pages += 1
            self._render()

    def fetched_metadata(self, name: str, version: str) -> None:
        with self._lock:
            self._metadata += 1
            self._render()

    def building(self, name: str, version: str) -> None:
        with self._lock:
            self._render(f"building metadata of {name} {version}", force=True)

    def warning(self, message: str) -> None:
        with self._lock:
            super().warning(message)
            self._clear()
            self._stream.write(f"warning: {message}\n")
            self._stream.flush()

    def _render(self, extra: str = "", *, force: bool = False) -> None:
        if not self._live:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        text = f"Resolving: {self._pages} projects, {self._metadata} metadata files"
        if extra:
            text += f"; {extra}"
        self._stream.write("\r\x1b[2K" + text)
        self._stream.flush()
        self._shown = True

    def _clear(self) -> None:
        if self._shown:
            self._stream.write("\r\x1b[2K")
            self._shown = False

    def finish(self) -> None:
        """Remove the progress line."""
        with self._lock:
            self._clear()
            self._stream.flush()


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


def _add_lock_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    p.add_argument("-i", "--index-url", help="base URL of the simple index (default: PyPI)")
    p.add_argument(
        "--extra-index-url",
        action="append",
        default=[],
        metavar="URL",
        help="another index, used for projects the first index lacks",
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
    p.add_argument(
        "--exclude-newer", metavar="TIMESTAMP", help="ignore files uploaded after this time"
    )
    p.add_argument(
        "--no-build", action="store_true", help="never build sdists to learn their dependencies"
    )
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
    p.set_defaults(func=_cmd_lock)


def _page_ttl(value: float | None) -> float:
    if value is not None:
        return value
    raw = os.environ.get("REQLOCK_PAGE_TTL")
    try:
        return float(raw) if raw else 600.0
    except ValueError:
        raise ConfigError(f"{raw!r} is not a number of seconds", key="REQLOCK_PAGE_TTL") from None


def _cmd_lock(args: argparse.Namespace) -> int:
    from pathlib import Path

    from reqlock.locking.config import load_config
    from reqlock.targets import parse_target

    config = load_config(Path("pyproject.toml"))
    targets = [parse_target(t) for t in args.target] or (config.targets if config else None)
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
    if args.env and not project_mode:
        raise ConfigError(
            "--env needs [tool.reqlock.environments] in pyproject.toml and no requirement files",
            key="--env",
        )
    options: dict[str, Any] = {
        "index_url": args.index_url or (config.index_url if config else None),
        "extra_index_urls": args.extra_index_url or (config.extra_index_urls if config else ()),
        "pre": args.pre or (config.pre if config else None) or None,
        "exclude_newer": _parse_time(args.exclude_newer) if args.exclude_newer else None,
        "index_strategy": args.index_strategy,
    }
    if args.check:
        return _check(args, config, targets, options, project_mode)
    live = sys.stderr.isatty()
    reporter = TerminalReporter(sys.stderr, live=live)
    started = time.monotonic()
    common: dict[str, Any] = {
        "cache_dir": args.cache_dir,
        "no_cache": args.no_cache,
        "offline": args.offline,
        "refresh": args.refresh,
        "page_ttl": _page_ttl(args.page_ttl),
        "no_build": args.no_build,
        "reporter": reporter,
        "upgrade": args.upgrade,
        "upgrade_packages": args.upgrade_package,
        "allow_insecure_hosts": args.allow_insecure_host,
    }
    try:
        if project_mode:
            assert config is not None
            from reqlock.locking.project import lock_environments

            done = lock_environments(config, only=args.env, targets=targets, **options, **common)
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
        from reqlock.locking.project import read_previous

        files = args.requirements or ["requirements.txt"]
        previous = None
        if args.output != "-":
            previous = read_previous(Path(args.output))
        result = lock(files, targets=targets, previous=previous, **options, **common)
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
    _summary(args.output, result.package_count, written, result.changes(previous), started)
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
    targets: Sequence[Target] | None,
    options: dict[str, Any],
    project_mode: bool,
) -> int:
    from pathlib import Path

    from reqlock.locking.project import Staleness, check_environments, check_file

    found: list[Staleness]
    if project_mode:
        assert config is not None
        found = check_environments(config, only=args.env, targets=targets, **options)
    else:
        from reqlock.locking.api import inputs_fingerprint

        if args.output == "-":
            raise ConfigError("--check needs a lock file, not stdout", key="--output")
        current = inputs_fingerprint(
            args.requirements or ["requirements.txt"], targets=targets, **options
        )
        found = [check_file(Path(args.output), current)]
    stale = [f for f in found if not f.current]
    for item in found:
        if item.current:
            print(f"{item.path}: up to date")
        else:
            print(f"{item.path}: stale: {'; '.join(item.reasons)}")
    return 1 if stale else 0


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
    _add_lock_parser(sub)
    try:
        from reqlock.cli import deploy as _cli_deploy
    except ImportError:  # pragma: no cover - the deploy commands are optional
        pass
    else:
        _cli_deploy.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except ReqlockError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
