"""What sync will do: the changes that make an environment equal to its lock.

:func:`plan_sync` turns a verify :class:`~reqlock.deploy.report.Report` into a
:class:`SyncPlan` (install, upgrade, downgrade, reinstall, remove, keep, and the
problems no pip command repairs); :func:`unhashed_installs` names the packages
pip installs without a hash check (``vcs`` pinned by commit, ``directory`` from
its path), which the plan says. Pure: no pip, no I/O. :mod:`reqlock.deploy.sync`
carries the plan out and re-exports these names.
"""

from __future__ import annotations

__all__ = [
    "REINSTALL_KINDS",
    "Change",
    "SyncPlan",
    "Unhashed",
    "plan_sync",
    "unhashed_installs",
]

import os
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from packaging.pylock import PackageDirectory, PackageVcs
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from reqlock.deploy.export import directory_path
from reqlock.deploy.report import Problem, Report
from reqlock.deploy.select import Selection
from reqlock.deploy.sources import expected_text
from reqlock.errors import SyncError

REINSTALL_KINDS = frozenset(
    {
        "direct-url",
        "file-not-in-lock",
        "record-mismatch",
        "file-modified",
        "file-missing",
        "broken-install",
    }
)
"""The problem kinds sync repairs by reinstalling the locked file (or source)."""
# Problems no pip command can repair: the lock itself does not fit the interpreter.
_FATAL_KINDS = frozenset({"requires-python", "no-locked-file"})
# Problems sync leaves to a person: it cannot know what an unowned file is.
_MANUAL_KINDS = frozenset({"unowned-file", "pth-import"})


@dataclass(frozen=True, kw_only=True, slots=True)
class Unhashed:
    """A package pip installs without a hash check, because no single file is
    locked for it: ``kind`` ``"vcs"`` (pinned by its locked commit) or
    ``"directory"`` (built from its path). ``source`` says what pip is given,
    credentials removed: ``git+URL@COMMIT`` or the absolute path; ``editable`` is
    true for an editable directory."""

    name: NormalizedName
    kind: Literal["vcs", "directory"]
    source: str
    editable: bool = False

    def describe(self) -> str:
        """One line for the plan."""
        if self.kind == "vcs":
            return f"{self.name} installs without a hash check, pinned by commit: {self.source}"
        how = " (editable)" if self.editable else ""
        return f"{self.name} installs without a hash check, from the directory {self.source}{how}"


def unhashed_installs(
    selection: Selection, names: Collection[str], lock_dir: str | os.PathLike[str] | None
) -> tuple[Unhashed, ...]:
    """The packages of ``names`` that ``selection`` locks as a vcs or directory
    source, sorted; ``lock_dir`` resolves relative paths (default: the current
    directory)."""
    found: list[Unhashed] = []
    for name in selection.direct_sources():
        if name not in names:
            continue
        package, source = selection.packages[name]
        if isinstance(source, PackageVcs):
            found.append(Unhashed(name=name, kind="vcs", source=expected_text(source, package)))
        elif isinstance(source, PackageDirectory):
            path = directory_path(source, lock_dir)
            found.append(
                Unhashed(name=name, kind="directory", source=path, editable=bool(source.editable))
            )
    return tuple(found)


@dataclass(frozen=True, kw_only=True, slots=True)
class Change:
    """One planned change: ``installed`` is the version there now (or ``None``),
    ``locked`` the version the lock wants (``None`` for a removal, and for a
    directory package, which has no locked version)."""

    name: NormalizedName
    installed: str | None
    locked: str | None
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class SyncPlan:
    """What :func:`~reqlock.deploy.sync.sync` does (or, with ``dry_run``, would do).

    ``builds`` names the packages pip builds from their locked sdist (the lock has
    no wheel for this interpreter); ``unhashed`` the packages it installs without
    a hash check (vcs and directory sources); ``manual`` the problems sync cannot
    repair.
    """

    install: tuple[Change, ...] = ()
    upgrade: tuple[Change, ...] = ()
    downgrade: tuple[Change, ...] = ()
    reinstall: tuple[Change, ...] = ()
    remove: tuple[Change, ...] = ()
    kept: tuple[Change, ...] = ()
    builds: tuple[NormalizedName, ...] = ()
    unhashed: tuple[Unhashed, ...] = ()
    manual: tuple[Problem, ...] = ()

    @property
    def empty(self) -> bool:
        """True when there is nothing to install, change or remove."""
        return not (self.install or self.upgrade or self.downgrade or self.reinstall or self.remove)

    def to_install(self) -> tuple[NormalizedName, ...]:
        """Every package pip must install from the lock, sorted."""
        changes = (*self.install, *self.upgrade, *self.downgrade, *self.reinstall)
        return tuple(sorted({change.name for change in changes}))

    def render(self) -> str:
        """Readable text, one section per kind of change."""
        if self.empty and not self.kept and not self.manual:
            return "nothing to do: the environment matches the lock\n"
        lines: list[str] = []
        sections = (
            ("install", self.install),
            ("upgrade", self.upgrade),
            ("downgrade", self.downgrade),
            ("reinstall", self.reinstall),
            ("remove", self.remove),
            ("keep (needed by reqlock itself)", self.kept),
        )
        locked = {}
        for title, changes in sections:
            if not changes:
                continue
            lines.append(f"{title} ({len(changes)}):")
            for change in changes:
                locked[change.name] = change.locked
                if change.installed and change.locked and change.installed != change.locked:
                    versions = f"{change.installed} -> {change.locked}"
                else:
                    # A directory package has no locked version (PEP 751).
                    versions = change.locked or change.installed or ""
                shown = f"{change.name} {versions}" if versions else change.name
                lines.append(f"  {shown} ({change.reason})")
        for name in self.builds:
            version = f" {locked[name]}" if locked.get(name) else ""
            lines.append(
                f"note: building {name}{version} from its sdist "
                "(the lock has no wheel for this interpreter)"
            )
        lines.extend(f"note: {item.describe()}" for item in self.unhashed)
        if self.manual:
            lines.append(f"cannot repair, fix by hand ({len(self.manual)}):")
            lines.extend(f"  {problem.describe()}" for problem in self.manual)
        return "\n".join(lines) + "\n"


def plan_sync(report: Report, *, protected: Collection[str] = ()) -> SyncPlan:
    """Turn a verify report into the changes that make the environment match.

    ``protected`` names distributions never to remove. Raises
    :class:`~reqlock.errors.SyncError` when the lock itself cannot be installed
    on this interpreter (``requires-python`` or ``no-locked-file`` problems).
    """
    fatal = [p for p in report.problems if p.kind in _FATAL_KINDS]
    if fatal:
        raise SyncError(
            "the lock cannot be installed on this interpreter: "
            + "; ".join(p.describe() for p in fatal)
        )
    keep = {canonicalize_name(name) for name in protected}
    install: list[Change] = []
    upgrade: list[Change] = []
    downgrade: list[Change] = []
    reinstall: dict[NormalizedName, Change] = {}
    remove: dict[NormalizedName, Change] = {}
    kept: list[Change] = []
    for problem in report.problems:
        name = problem.package
        if name is None:
            continue
        installed = report.installed.get(name)
        locked = report.expected.get(name)
        if problem.kind == "missing":
            install.append(Change(name=name, installed=None, locked=locked, reason="missing"))
        elif problem.kind == "version-mismatch":
            change = Change(name=name, installed=installed, locked=locked, reason="other version")
            (upgrade if _older(installed, locked) else downgrade).append(change)
        elif problem.kind == "unexpected":
            change = Change(name=name, installed=installed, locked=None, reason="not in the lock")
            if name in keep:
                kept.append(change)
            else:
                remove[name] = change
        elif problem.kind in REINSTALL_KINDS and name in report.expected:
            reinstall.setdefault(
                name,
                Change(name=name, installed=installed, locked=locked, reason=problem.kind),
            )
    return SyncPlan(
        install=tuple(install),
        upgrade=tuple(upgrade),
        downgrade=tuple(downgrade),
        reinstall=tuple(reinstall[name] for name in sorted(reinstall)),
        remove=tuple(remove[name] for name in sorted(remove)),
        kept=tuple(kept),
        manual=tuple(p for p in report.problems if p.kind in _MANUAL_KINDS),
    )


def _older(installed: str | None, locked: str | None) -> bool:
    try:
        return Version(installed or "") < Version(locked or "")
    except ValueError:  # InvalidVersion, or an integer too long to convert
        return True
