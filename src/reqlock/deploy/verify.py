"""Does an installed environment match its lock? Every difference, not the first.

:func:`verify` selects from the lock what the target interpreter should have
(:func:`~reqlock.deploy.select.select_expected`: ``Pylock.select`` with that
interpreter's marker environment and wheel tags), takes an
:func:`~reqlock.deploy.inventory.inventory` of what it has, optionally hashes every
installed file against its RECORD, and compares (:func:`compare`). The result is a
:class:`~reqlock.deploy.report.Report` listing each problem; nothing is raised for
a mismatch unless the caller asks (``Report.raise_for_problems``).

verify never uses the network and imports no HTTP code, so it can run on a
locked-down deployment host. The report, selection and comparison pieces live in
``report``, ``select``, ``sources`` and ``integrity``; their public names are
re-exported here.
"""

from __future__ import annotations

__all__ = [
    "PROBLEM_KINDS",
    "REPORT_SCHEMA_VERSION",
    "LoadedLock",
    "LockNotApplicableError",
    "LockSelectionError",
    "NotChecked",
    "PendingInventory",
    "Problem",
    "ProblemKind",
    "Report",
    "Selection",
    "Verified",
    "VerifyError",
    "compare",
    "load_lock",
    "select_expected",
    "start_inventory",
    "verify",
    "verify_loaded",
    "verify_started",
]

import os
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from packaging.pylock import Pylock
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from reqlock.deploy.inventory import FileIssue, InstalledDist, Inventory, check_files
from reqlock.deploy.inventory import start_inventory as _start_inventory
from reqlock.deploy.report import (
    PROBLEM_KINDS,
    REPORT_SCHEMA_VERSION,
    NotChecked,
    Problem,
    ProblemKind,
    Report,
    VerifyError,
    problem_key,
)
from reqlock.deploy.select import (
    LockNotApplicableError,
    LockSelectionError,
    Selection,
    select_expected,
)
from reqlock.deploy.sources import (
    RecordStatus,
    expected_text,
    file_problem,
    record_check,
    source_problems,
    unowned_problems,
)
from reqlock.lockfile import read_lock


class PendingInventory(Protocol):
    """An inventory being taken in the background (see :func:`start_inventory`)."""

    python: str
    check_files: bool
    skip: frozenset[str]

    def result(self) -> Inventory:
        """Wait for the interpreter's answer; raises ``InventoryError``."""

    def cancel(self) -> None:
        """Stop the interpreter's processes."""


def start_inventory(
    python: str | os.PathLike[str] | None,
    *,
    check_files: bool = True,
    skip_files_of: Iterable[str] = (),
) -> PendingInventory:
    """Start inspecting ``python`` (default: this one) in the background.

    ``skip_files_of`` names distributions whose files need no hashing. Raises
    :class:`~reqlock.errors.InventoryError` when the interpreter cannot be run.
    """
    return _start_inventory(python, check_files=check_files, skip_files_of=skip_files_of)


def _installed_problems(
    selection: Selection, installed: dict[NormalizedName, InstalledDist], base: Path
) -> tuple[list[Problem], set[NormalizedName]]:
    """Problems of the selected packages against what is installed, and the names
    installed at the locked version from the locked source (the ones whose RECORD
    digest means something)."""
    problems: list[Problem] = []
    compared: set[NormalizedName] = set()
    for name, (package, source) in selection.packages.items():
        dist = installed.get(name)
        locked = str(package.version) if package.version is not None else None
        if dist is None:
            detail = f"locked {locked or expected_text(source, package)}, not installed"
            problems.append(Problem(kind="missing", package=name, detail=detail, expected=locked))
            continue
        try:
            version = Version(dist.version)
        except ValueError:  # InvalidVersion, or an integer too long to convert
            problems.append(
                Problem(
                    kind="broken-install",
                    package=name,
                    detail=f"installed version {dist.version!r} is not a valid version",
                    actual=dist.version,
                    path=dist.path,
                )
            )
            continue
        if package.version is not None and version != package.version:
            problems.append(
                Problem(
                    kind="version-mismatch",
                    package=name,
                    detail=f"locked {locked}, installed {dist.version}",
                    expected=locked,
                    actual=dist.version,
                    path=dist.path,
                )
            )
            continue
        found = source_problems(package, source, dist, base)
        problems.extend(found)
        if not found:
            compared.add(name)
    return problems, compared


def compare(
    selection: Selection,
    inventory: Inventory,
    *,
    allow_extra: Collection[str] = (),
    allow_unowned: Collection[str] = (),
    file_issues: Sequence[FileIssue] | None = None,
    lock_name: str | None = None,
    lock_dir: str | os.PathLike[str] | None = None,
) -> Report:
    """Compare what ``selection`` expects with what ``inventory`` has (no I/O).

    ``file_issues`` are the results of :func:`~reqlock.deploy.inventory.check_files`
    (``None``: files were not checked). ``allow_unowned`` holds globs
    (``fnmatch``, case-sensitive, ``*`` also matches ``/``) of paths relative to
    their site directory that may exist without any RECORD listing them.
    ``lock_dir`` resolves relative paths in the lock (default: the current
    directory).
    """
    base = Path(lock_dir) if lock_dir is not None else Path.cwd()
    allowed = {canonicalize_name(name) for name in allow_extra}
    installed = inventory.by_name()
    problems = list(selection.problems)
    found, compared = _installed_problems(selection, installed, base)
    problems.extend(found)
    for name, dist in installed.items():
        if name not in selection.packages and name not in allowed:
            problems.append(
                Problem(
                    kind="unexpected",
                    package=name,
                    detail=f"{dist.version} is installed but not in the lock",
                    actual=dist.version,
                    path=dist.path,
                )
            )
    for item in inventory.problems:
        if item.package is None or item.package not in allowed:
            problems.append(
                Problem(
                    kind="broken-install", package=item.package, detail=item.detail, path=item.path
                )
            )
    # A broken install's RECORD digest says nothing new: it is reported already.
    compared -= {item.package for item in inventory.problems if item.package is not None}
    problems.extend(file_problem(issue) for issue in file_issues or ())
    statuses: dict[RecordStatus, list[NormalizedName]] = {}
    for name in sorted(compared):
        package, source = selection.packages[name]
        status, mismatch = record_check(package, source, installed[name])
        statuses.setdefault(status, []).append(name)
        if mismatch is not None:
            problems.append(mismatch)
    problems.extend(unowned_problems(inventory, allow_unowned))
    problems.sort(key=problem_key)
    return Report(
        lock=lock_name,
        python=inventory.python,
        environment=dict(inventory.environment),
        problems=tuple(problems),
        expected={
            name: str(package.version) if package.version is not None else None
            for name, (package, _) in sorted(selection.packages.items())
        },
        installed={name: dist.version for name, dist in sorted(installed.items())},
        checked_files=file_issues is not None,
        allow_extra=tuple(sorted(allowed)),
        allow_unowned=tuple(sorted(set(allow_unowned))),
        not_checked=_not_checked(statuses, checked_files=file_issues is not None),
    )


# What each record_check status other than "checked" means, for the report.
_RECORD_REASONS: dict[RecordStatus, str] = {
    "no-digest": "RECORD digests: the lock has none for {n}",
    "not-computed": "RECORD digests: none computed from the installed RECORD of {n}",
    "no-wheel": "RECORD digests: {n} not installed from a locked wheel "
    "(built from the sdist, or an archive, VCS or directory source)",
}


def _not_checked(
    statuses: dict[RecordStatus, list[NormalizedName]],
    *,
    checked_files: bool,
) -> tuple[NotChecked, ...]:
    """The checks that could not run, and for which packages."""
    notes: list[NotChecked] = []
    if not checked_files:
        notes.append(
            NotChecked(
                check="files",
                reason="installed files: not hashed against their RECORD (--no-files)",
            )
        )
    for status, text in _RECORD_REASONS.items():
        names = statuses.get(status)
        if names:
            n = f"{len(names)} package" + ("" if len(names) == 1 else "s")
            notes.append(
                NotChecked(check="record-digest", reason=text.format(n=n), packages=tuple(names))
            )
    return tuple(notes)


def _relevant_issues(
    selection: Selection, inventory: Inventory, skipped: Collection[str] = ()
) -> tuple[FileIssue, ...] | None:
    """File issues of the installed copies of locked packages at the locked version:
    the only files whose integrity is in question (the others are reported already).

    ``skipped`` names distributions the inventory did not check (allowed extras);
    a locked one among them is checked here after all.
    """
    if inventory.file_issues is None:
        return None
    skip = {canonicalize_name(name) for name in skipped}
    late: list[InstalledDist] = []
    wanted = set()
    installed = inventory.by_name()
    for name, (package, _) in selection.packages.items():
        dist = installed.get(name)
        if dist is None:
            continue
        try:
            if package.version is not None and Version(dist.version) != package.version:
                continue
        except ValueError:  # InvalidVersion, or an integer too long to convert
            continue
        wanted.add(dist.path)
        if name in skip:
            late.append(dist)
    found = [issue for issue in inventory.file_issues if issue.dist in wanted]
    found.extend(check_files(late))
    return tuple(found)


@dataclass(frozen=True, kw_only=True, slots=True)
class LoadedLock:
    """A lock read and checked: the model, the name given (``None`` for a
    ``Pylock`` object) and the directory its relative paths are resolved against."""

    lock: Pylock
    name: str | None
    directory: Path | None


def load_lock(
    lock: Pylock | str | os.PathLike[str] | LoadedLock,
    *,
    warn: Callable[[str], None] | None = None,
) -> LoadedLock:
    """Read ``lock`` (a path) or wrap it (a ``Pylock``); ``warn`` hears what
    :func:`~reqlock.lockfile.read_lock` warns about.

    Raises :class:`~reqlock.errors.LockFileError`.
    """
    if isinstance(lock, LoadedLock):
        return lock
    if isinstance(lock, Pylock):
        return LoadedLock(lock=lock, name=None, directory=None)
    path = Path(lock)
    return LoadedLock(
        lock=read_lock(path, warn=warn), name=os.fspath(lock), directory=path.resolve().parent
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class Verified:
    """What :func:`verify_loaded` found: the report, and the inventory and
    selection it compared (sync plans from them)."""

    report: Report
    inventory: Inventory
    selection: Selection


def verify(
    lock: Pylock | str | os.PathLike[str],
    *,
    python: str | os.PathLike[str] | None = None,
    extras: Collection[str] = (),
    groups: Collection[str] | None = None,
    allow_extra: Collection[str] = (),
    allow_unowned: Collection[str] = (),
    check_files: bool = True,
) -> Report:
    """Compare the environment of ``python`` (default: this one) with ``lock``.

    ``lock`` is a path or a ``Pylock``. ``extras`` and ``groups`` select as
    ``Pylock.select`` does (``groups=None``: the lock's default groups).
    ``allow_extra`` names installed distributions that may be present without being
    locked (nothing else may). ``allow_unowned`` holds globs of paths (relative to
    their site directory, ``/``-separated) that may exist although no RECORD lists
    them. ``check_files=False`` skips hashing installed files against their
    RECORD, the slow part.

    Returns a :class:`Report`. Raises :class:`~reqlock.errors.LockFileError`,
    :class:`~reqlock.errors.InventoryError`, :class:`LockNotApplicableError` or
    :class:`LockSelectionError` when the check itself cannot be done.
    """
    return verify_started(
        # Allowed extras are never reported, so their files need no hashing.
        start_inventory(python, check_files=check_files, skip_files_of=allow_extra),
        lock,
        extras=extras,
        groups=groups,
        allow_extra=allow_extra,
        allow_unowned=allow_unowned,
    )


def verify_started(
    pending: PendingInventory,
    lock: Pylock | str | os.PathLike[str] | LoadedLock,
    *,
    extras: Collection[str] = (),
    groups: Collection[str] | None = None,
    allow_extra: Collection[str] = (),
    allow_unowned: Collection[str] = (),
) -> Report:
    """:func:`verify` with the interpreter already inspected in the background, so
    that the command line can start it before importing this module."""
    try:
        loaded = load_lock(lock)
    except BaseException:
        pending.cancel()
        raise
    return verify_loaded(
        pending,
        loaded,
        extras=extras,
        groups=groups,
        allow_extra=allow_extra,
        allow_unowned=allow_unowned,
    ).report


# The command line (reqlock.cli.deploy) still calls it by its old name.


def verify_loaded(
    pending: PendingInventory,
    lock: LoadedLock,
    *,
    extras: Collection[str] = (),
    groups: Collection[str] | None = None,
    allow_extra: Collection[str] = (),
    allow_unowned: Collection[str] = (),
) -> Verified:
    """:func:`verify_started` for a lock already loaded; returns the inventory and
    the selection with the report."""
    inventory = pending.result()
    selection = select_expected(
        lock.lock,
        environment=inventory.environment,
        tags=inventory.tags,
        extras=extras,
        groups=groups,
        lock_name=lock.name or "the lock",
    )
    report = compare(
        selection,
        inventory,
        allow_extra=allow_extra,
        allow_unowned=allow_unowned,
        file_issues=_relevant_issues(selection, inventory, pending.skip),
        lock_name=lock.name,
        lock_dir=lock.directory,
    )
    return Verified(report=report, inventory=inventory, selection=selection)
