"""What an interpreter has installed, seen from outside it.

:func:`inventory` runs the target interpreter with a small, stdlib-only script
(:mod:`reqlock.deploy.inventory_script` and its parts, Python >= 3.8) that reports
facts as JSON: every ``.dist-info``/``.egg-info`` on its path (name, version,
WHEEL tags, INSTALLER, ``direct_url.json``, RECORD rows), its PEP 508 marker
environment, the raw facts wheel tags depend on, the ``import`` lines of its
``.pth`` files and the files of its site-packages no RECORD owns. This module
turns those facts into typed values (:mod:`~reqlock.deploy.inventory_build`,
:mod:`~reqlock.deploy.inventory_tags`).

Nothing of the target environment runs: the interpreter starts isolated and
without ``site`` (``-I -S -B``), so a planted ``.pth`` file cannot execute; the
script rebuilds the path ``site`` would make (:mod:`~reqlock.deploy.inventory_site`).
Nothing is imported into the target and nothing is written. The script reads
only regular files, with size limits, so a FIFO planted as a RECORD cannot hang
it; and the parent waits at most ``REQLOCK_INVENTORY_TIMEOUT`` seconds (default
300), killing its processes when it stops waiting for any reason.

Broken installs (no METADATA, no RECORD, unreadable files, two copies of a package
on the path) come back as :class:`InventoryProblem` values, never as exceptions.
"""

from __future__ import annotations

__all__ = [
    "FileIssue",
    "InstalledDist",
    "Inventory",
    "InventoryProblem",
    "RecordEntry",
    "UnownedFile",
    "check_files",
    "inventory",
    "parse_record",
    "resolve_python",
    "start_inventory",
    "tags_from_facts",
]

import atexit
import math
import os
import subprocess
import sys
import time

from reqlock.deploy import inventory_launch as _launcher
from reqlock.deploy.inventory_rows import canonical as _canonical

# Not typing's: this module is imported before the inventory starts, typing after.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from reqlock.deploy.inventory_tags import tags_from_facts
    from reqlock.deploy.inventory_types import (
        FileIssue,
        InstalledDist,
        Inventory,
        InventoryProblem,
        RecordEntry,
        UnownedFile,
    )
    from reqlock.errors import InventoryError

# Imported on first use: the command line starts the inventory before it loads the
# modules that read the answer (dataclasses, packaging), so that both overlap.
_LAZY = {
    "FileIssue": "reqlock.deploy.inventory_types",
    "InstalledDist": "reqlock.deploy.inventory_types",
    "Inventory": "reqlock.deploy.inventory_types",
    "InventoryProblem": "reqlock.deploy.inventory_types",
    "RecordEntry": "reqlock.deploy.inventory_types",
    "UnownedFile": "reqlock.deploy.inventory_types",
    "tags_from_facts": "reqlock.deploy.inventory_tags",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


_SCRIPT_SCHEMA = 1
_TIMEOUT = 300.0
TIMEOUT_VARIABLE = "REQLOCK_INVENTORY_TIMEOUT"
# More processes than this do not help: the disk, not the CPU, becomes the limit.
_MAX_CHECK_PROCESSES = 4
# None: the script's own limit on directory entries looked at for unowned files.
_WALK_LIMIT: int | None = None
# Seconds to wait for a killed process to be reaped (one stuck in the kernel, on a
# hung network file system, cannot die before its I/O ends).
_REAP_TIMEOUT = 10.0

# Every inventory process not yet reaped: killed at exit if still running.
_LIVE: set[subprocess.Popen[bytes]] = set()


def _kill(proc: Any) -> None:
    """Kill ``proc`` if it still runs, reap it and close its pipes."""
    if proc.poll() is None:
        try:
            proc.kill()
            proc.wait(timeout=_REAP_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired):
            pass  # gone meanwhile, or unkillable for now: nothing more to do
    for stream in (getattr(proc, "stdout", None), getattr(proc, "stderr", None)):
        if stream is not None:
            stream.close()
    _LIVE.discard(proc)


@atexit.register
def _kill_live() -> None:
    # For processes whose _Pending was dropped without result() or cancel().
    for proc in list(_LIVE):
        _kill(proc)


# --------------------------------------------------------------------------- running


def _error(message: str, *, hint: str | None = None) -> InventoryError:
    # reqlock.errors (and dataclasses with it) only once something went wrong.
    from reqlock.errors import InventoryError

    return InventoryError(message, hint=hint)


def resolve_python(python: str | os.PathLike[str] | None) -> str:
    """The interpreter path for ``python``: itself, the interpreter of a virtual
    environment directory, or (``None``) the running one.

    Raises :class:`~reqlock.errors.InventoryError` when there is none.
    """
    if python is None:
        return sys.executable
    path = os.fspath(python)
    if os.path.isdir(path):
        # Accept a virtual environment directory, as pip's --python does.
        for candidate in ("bin/python", "bin/python3", "Scripts/python.exe"):
            full = os.path.join(path, candidate)
            if os.path.isfile(full):
                return full
        raise _error(f"{path}: is a directory with no Python interpreter in it")
    if not os.path.exists(path):
        raise _error(f"{path}: no such interpreter")
    return path


_resolve_python = resolve_python


def _timeout_setting() -> float:
    text = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    if not text:
        return _TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        from reqlock.errors import ConfigError

        raise ConfigError(
            f"{text[:40]!r} is not a positive number of seconds", key=TIMEOUT_VARIABLE
        )
    return value


def _check_processes() -> int:
    return max(1, min(_MAX_CHECK_PROCESSES, os.cpu_count() or 1))


class _Pending:
    """Running inventory (and file check) processes of one interpreter.

    Started before the caller's other work (imports, reading the lock) so that the
    two overlap. With ``check_files``, the distributions are split between several
    processes of the target interpreter, which hash their share in parallel.
    :meth:`result` waits for them; :meth:`cancel` kills them. Either way they are
    gone afterwards, and any still running when reqlock exits are killed then.
    """

    def __init__(
        self,
        python: str | os.PathLike[str] | None,
        *,
        check_files: bool,
        skip_files_of: Iterable[str] = (),
    ) -> None:
        self.python = resolve_python(python)
        self.check_files = check_files
        self.skip = frozenset(_canonical(name) for name in skip_files_of)
        self._procs: list[subprocess.Popen[bytes]] = []
        count = _check_processes() if check_files else 0
        skip = ["--skip", ",".join(sorted(self.skip))] if self.skip else []
        walk = ["--walk-limit", str(_WALK_LIMIT)] if _WALK_LIMIT is not None else []
        try:
            self._launch([*(["--check", "0", str(count), *skip] if count else []), *walk])
            for share in range(1, count):
                self._launch(["--check-only", str(share), str(count), *skip])
        except OSError as exc:
            self.cancel()
            raise _error(f"{self.python}: cannot run it: {exc.strerror or exc}") from None
        except BaseException:
            self.cancel()
            raise

    def _launch(self, options: list[str]) -> None:
        proc = _launcher.launch(self.python, options)
        _LIVE.add(proc)
        self._procs.append(proc)

    def _answer(self, proc: subprocess.Popen[bytes], deadline: float, limit: float) -> Any:
        # A process that has exited has written everything: read it even when late.
        wait = None if proc.poll() is not None else max(0.0, deadline - time.monotonic())
        try:
            out, err = proc.communicate(timeout=wait)
        except subprocess.TimeoutExpired:
            raise _error(
                f"{self.python}: did not answer within {limit:g} s",
                hint=f"set {TIMEOUT_VARIABLE} to the number of seconds to wait",
            ) from None
        if proc.returncode != 0:
            lines = err.decode("utf-8", "replace").strip().splitlines()
            last = lines[-1] if lines else f"exit status {proc.returncode}"
            raise _error(f"{self.python}: failed to run the inventory script: {last}")
        import json

        try:
            data = json.loads(out)
        except (ValueError, RecursionError):
            raise _error(
                f"{self.python}: answered with output that is not JSON (is it a Python "
                "interpreter?)"
            ) from None
        if not isinstance(data, dict) or data.get("schema") != _SCRIPT_SCHEMA:
            raise _error(f"{self.python}: answered with data reqlock cannot read")
        return data

    def result(self, timeout: float | None = None) -> Inventory:
        """Wait for the answers (at most ``timeout`` seconds in all; default
        ``REQLOCK_INVENTORY_TIMEOUT``, else 300) and build the inventory.

        The processes are killed when this returns or raises, whatever the reason
        (an error, a timeout, ``KeyboardInterrupt``, ``SystemExit``).
        """
        try:
            # Imported while the processes may still run, rather than after.
            from reqlock.deploy.inventory_build import build_inventory
            from reqlock.errors import InventoryError

            limit = _timeout_setting() if timeout is None else timeout
            deadline = time.monotonic() + limit
            answers = [self._answer(proc, deadline, limit) for proc in self._procs]
        finally:
            self.cancel()
        try:
            return build_inventory(answers[0], answers[1:] if self.check_files else None, self.skip)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise InventoryError(
                f"{self.python}: answered with data reqlock cannot read ({exc})"
            ) from None
        except InventoryError as exc:
            raise InventoryError(f"{self.python}: {exc.message}", hint=exc.hint) from None

    def cancel(self) -> None:
        """Kill the processes still running and reap them (idempotent)."""
        for proc in self._procs:
            _kill(proc)


def start_inventory(
    python: str | os.PathLike[str] | None,
    *,
    check_files: bool = False,
    skip_files_of: Iterable[str] = (),
) -> _Pending:
    """Start inspecting ``python`` in the background (see :func:`inventory`); call
    ``.result()`` on the value returned for the :class:`Inventory`, or
    ``.cancel()`` to stop."""
    return _Pending(python, check_files=check_files, skip_files_of=skip_files_of)


_start = start_inventory


def inventory(
    python: str | os.PathLike[str] | None = None,
    *,
    check_files: bool = False,
    skip_files_of: Iterable[str] = (),
) -> Inventory:
    """Inspect ``python`` (default: the running interpreter) and return what it has.

    ``python`` is an interpreter path or a virtual environment directory. With
    ``check_files``, every file listed (with a hash) in a RECORD is hashed and
    compared, in parallel processes; the differences are in ``file_issues``.
    ``skip_files_of`` names distributions whose files need no check.

    Raises :class:`~reqlock.errors.InventoryError` when the interpreter is missing,
    cannot be run, does not answer in time, or answers with something that is not
    an inventory, and :class:`~reqlock.errors.ConfigError` for a bad
    ``REQLOCK_INVENTORY_TIMEOUT``.
    """
    return start_inventory(python, check_files=check_files, skip_files_of=skip_files_of).result()


# --------------------------------------------------------------------------- RECORD


def parse_record(text: str) -> tuple[tuple[RecordEntry, ...], tuple[str, ...]]:
    """Parse RECORD text into rows and a list of problems (``"line N: ..."``).

    Never raises: a garbage line is reported and skipped, so one bad row does not
    hide the others.
    """
    from reqlock.deploy.inventory_rows import parse_record as parse_rows
    from reqlock.deploy.inventory_types import RecordEntry

    entries, errors = parse_rows(text)
    return (
        tuple(
            RecordEntry(path=path, algorithm=algorithm, digest=digest, size=size)
            for path, algorithm, digest, size in entries
        ),
        tuple(errors),
    )


def check_files(dists: Iterable[InstalledDist]) -> tuple[FileIssue, ...]:
    """Hash, in this process, every file the RECORDs of ``dists`` list; return the
    differences sorted by package and path.

    Rows without a hash (RECORD itself) and ``__pycache__`` bytecode are skipped.
    ``inventory(check_files=True)`` does the same for a whole environment, faster.
    """
    from reqlock.deploy.inventory_build import file_issue
    from reqlock.deploy.inventory_rows import check_dist

    issues = [
        file_issue(raw, dist.name)
        for dist in dists
        if dist.record is not None
        for raw in check_dist(dist.path, dist.location, dist.record)
    ]
    issues.sort(key=lambda issue: (issue.package, issue.dist, issue.path, issue.kind))
    return tuple(issues)
