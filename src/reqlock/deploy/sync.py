"""Make an environment equal to its lock, through pip's command line.

:func:`sync` verifies first, turns the problems into a :class:`SyncPlan`, then runs
the *running* interpreter's pip against the target (``python -m pip --python
TARGET ...``), so the target environment does not need pip of its own:

1. ``pip install --require-hashes --no-deps --force-reinstall`` of only the
   packages that are missing, at another version, or not the locked files. The
   requirements give each package the hash of the one file verify expects (the
   selected wheel; the sdist only when the lock has no wheel for the target) and
   ``--only-binary`` for every selected wheel, so pip can neither take another
   file nor fall back to building the sdist. pip checks every hash before it
   installs anything;
2. ``pip uninstall`` of what the lock does not select (except ``allow_extra``),
   only after a successful install, so a failing install changes nothing;
3. verify again (after reinstalling, once, what a removal broke: a removed
   distribution may have shared files with a locked one).

pip runs with ``--isolated``, no configuration file and no ``PIP_*`` variable, and
every lock string written for it is validated first (:mod:`reqlock.deploy.pipsafe`).
pip itself is removed like any other unlocked distribution, except from the
environment reqlock runs in (reqlock, pip and their dependencies are ``kept``).
Files no RECORD lists are never deleted (``manual``); an unowned ``.pth`` file
stops the sync before pip starts the target interpreter, which would run it.
"""

from __future__ import annotations

__all__ = ["Change", "PipFailedError", "SyncPlan", "SyncResult", "plan_sync", "sync"]

import dataclasses
import os
import subprocess
import sys
import tempfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.pylock import Pylock
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from reqlock.deploy.export import export_requirements
from reqlock.deploy.inventory import Inventory
from reqlock.deploy.report import Problem, Report
from reqlock.deploy.verify import (
    LoadedLock,
    Verified,
    load_lock,
    start_inventory,
    verify_loaded,
)
from reqlock.errors import SyncError
from reqlock.pipcall import clean_pip_env, pip_command
from reqlock.urls import redact_text

# Problems sync repairs by reinstalling the locked file.
_REINSTALL_KINDS = frozenset(
    {
        "direct-url",
        "file-not-in-lock",
        "record-mismatch",
        "file-modified",
        "file-missing",
        "broken-install",
    }
)
# Problems no pip command can repair: the lock itself does not fit the interpreter.
_FATAL_KINDS = frozenset({"requires-python", "no-locked-file"})
# Problems sync leaves to a person: it cannot know what an unowned file is.
_MANUAL_KINDS = frozenset({"unowned-file", "pth-import"})
_PIP_OUTPUT_LINES = 15


@dataclass(frozen=True, kw_only=True, slots=True)
class Change:
    """One planned change: ``installed`` is the version there now (or ``None``),
    ``locked`` the version the lock wants (``None`` for a removal)."""

    name: NormalizedName
    installed: str | None
    locked: str | None
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class SyncPlan:
    """What :func:`sync` does (or, with ``dry_run``, would do).

    ``builds`` names the packages pip builds from their locked sdist (the lock has
    no wheel for this interpreter); ``manual`` the problems sync cannot repair.
    """

    install: tuple[Change, ...] = ()
    upgrade: tuple[Change, ...] = ()
    downgrade: tuple[Change, ...] = ()
    reinstall: tuple[Change, ...] = ()
    remove: tuple[Change, ...] = ()
    kept: tuple[Change, ...] = ()
    builds: tuple[NormalizedName, ...] = ()
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
                    versions = change.locked or change.installed or ""
                lines.append(f"  {change.name} {versions} ({change.reason})")
        for name in self.builds:
            version = f" {locked[name]}" if locked.get(name) else ""
            lines.append(
                f"note: building {name}{version} from its sdist "
                "(the lock has no wheel for this interpreter)"
            )
        if self.manual:
            lines.append(f"cannot repair, fix by hand ({len(self.manual)}):")
            lines.extend(f"  {problem.describe()}" for problem in self.manual)
        return "\n".join(lines) + "\n"


@dataclass(frozen=True, kw_only=True, slots=True)
class SyncResult:
    """The plan that was carried out (or only computed) and the verify report after.

    With ``dry_run`` nothing changed and ``report`` describes the environment as it
    is.
    """

    plan: SyncPlan
    report: Report
    dry_run: bool
    changed: bool

    @property
    def ok(self) -> bool:
        """True when the environment matches the lock (after the sync)."""
        return self.report.ok

    @property
    def built_from_sdist(self) -> tuple[NormalizedName, ...]:
        """The packages pip built (or would build) from their locked sdist."""
        return self.plan.builds


class PipFailedError(SyncError):
    """pip failed during a sync. ``report`` says where the environment stands now;
    ``output`` holds pip's last lines (credentials removed)."""

    def __init__(
        self, message: str, *, returncode: int, output: str, report: Report | None
    ) -> None:
        self.summary = message
        self.returncode = returncode
        self.output = output
        self.report = report
        where = ""
        if report is not None:
            where = (
                "\n  the environment now matches the lock"
                if report.ok
                else f"\n  the environment now has {len(report.problems)} problem(s); "
                "run `reqlock verify` for the list"
            )
        super().__init__(
            f"{message}\n{output}{where}",
            hint="fix the cause shown by pip and run `reqlock sync` again",
        )


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
        elif problem.kind in _REINSTALL_KINDS and name in report.expected:
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


def _tail(output: str) -> str:
    lines = [line for line in redact_text(output).splitlines() if line.strip()]
    first = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ERROR")), None)
    # From the first ERROR on: pip explains it on the lines below (for a hash
    # mismatch, which requirement, which file, which hashes).
    shown = lines[first:] if first is not None else lines
    return "\n".join(f"  pip: {line}" for line in shown[-_PIP_OUTPUT_LINES:])


def _run_pip(arguments: Sequence[str], target: str | None, what: str) -> None:
    command = [*pip_command(target), *arguments]
    try:
        proc = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=clean_pip_env(),
            check=False,
        )
    except OSError as exc:
        raise SyncError(
            f"cannot run pip ({sys.executable} -m pip): {exc.strerror or exc}"
        ) from None
    if proc.returncode != 0:
        output = proc.stdout.decode("utf-8", "replace")
        raise PipFailedError(
            f"pip failed to {what} (exit status {proc.returncode})",
            returncode=proc.returncode,
            output=_tail(output),
            report=None,
        )


def _install(text: str, count: int, target: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="reqlock-sync-") as tmp:
        requirements = Path(tmp, "requirements.txt")
        requirements.write_text(text, encoding="utf-8")
        _run_pip(
            [
                "install",
                "--require-hashes",
                "--no-deps",
                "--force-reinstall",
                "--no-warn-conflicts",
                "--no-warn-script-location",
                "-r",
                str(requirements),
            ],
            target,
            f"install {count} locked package(s)",
        )


def _same_environment(inventory: Inventory) -> bool:
    try:
        return os.path.samefile(inventory.prefix, sys.prefix)
    except OSError:
        return False


def _own_runtime() -> set[NormalizedName]:
    """reqlock, pip, and everything reqlock needs at run time, in this environment."""
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement

    found: set[NormalizedName] = set()
    todo = ["reqlock", "pip"]
    while todo:
        name = canonicalize_name(todo.pop())
        if name in found:
            continue
        found.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            try:
                requirement = Requirement(text)
            except InvalidRequirement:
                continue
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return found


def _refuse_startup_code(report: Report) -> None:
    """Stop before pip runs when start-up code verify did not accept is there (an
    unowned ``.pth`` file, a ``.pth`` import line): pip starts the target
    interpreter, whose ``site`` would run it."""
    found = [
        p
        for p in report.problems
        if p.kind == "pth-import" or (p.kind == "unowned-file" and p.actual == "pth")
    ]
    if found:
        names = ", ".join(sorted({p.path or p.detail for p in found}))
        raise SyncError(
            f"{report.python} has start-up code that is not allowed ({names}); pip would "
            "start the interpreter and run it, so nothing was changed",
            hint="remove it (or allow it with --allow-unowned) and sync again",
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class _Job:
    """What one sync works on: the lock, the target and the selection options."""

    lock: LoadedLock
    target: str | os.PathLike[str] | None
    extras: Collection[str]
    groups: Collection[str] | None
    allow_extra: Collection[str]
    allow_unowned: Collection[str]
    index_url: str | None

    def check(self) -> Verified:
        return verify_loaded(
            start_inventory(self.target, check_files=True),
            self.lock,
            extras=self.extras,
            groups=self.groups,
            allow_extra=self.allow_extra,
            allow_unowned=self.allow_unowned,
        )

    def requirements(self, verified: Verified, names: Collection[str]) -> str:
        """The text for pip; validated, so it raises before anything changes."""
        return export_requirements(
            self.lock.lock,
            environment=verified.inventory.environment,
            tags=verified.inventory.tags,
            extras=self.extras,
            groups=self.groups,
            packages=names,
            index_url=self.index_url,
            lock_dir=self.lock.directory,
            lock_name=self.lock.name,
            only_selected=True,
        )


def sync(
    lock: Pylock | str | os.PathLike[str] | LoadedLock,
    *,
    python: str | os.PathLike[str] | None = None,
    allow_extra: Collection[str] = (),
    allow_unowned: Collection[str] = (),
    dry_run: bool = False,
    extras: Collection[str] = (),
    groups: Collection[str] | None = None,
    index_url: str | None = None,
) -> SyncResult:
    """Make the environment of ``python`` (default: this one) equal to ``lock``.

    ``allow_extra`` names distributions to leave installed although the lock does
    not select them; ``allow_unowned`` globs of files no RECORD lists that may stay
    (as for verify). ``index_url`` replaces the lock's package indexes (a mirror);
    it may carry credentials, which never appear in messages. ``dry_run=True``
    computes the plan and changes nothing.

    Returns a :class:`SyncResult` whose ``report`` is a fresh verify. Raises
    :class:`PipFailedError` (a :class:`~reqlock.errors.SyncError`) when pip fails,
    with the report of where the environment stands attached;
    :class:`~reqlock.errors.SyncError` when an unowned ``.pth`` file is present;
    :class:`~reqlock.errors.LockFileError` when a lock string is unsafe to hand to
    pip; and the errors of :func:`~reqlock.deploy.verify.verify` when the check
    cannot be done.
    """
    job = _Job(
        lock=load_lock(lock),
        target=python,
        extras=extras,
        groups=groups,
        allow_extra=allow_extra,
        allow_unowned=allow_unowned,
        index_url=index_url,
    )
    before = job.check()
    same = _same_environment(before.inventory)
    plan = plan_sync(before.report, protected=_own_runtime() if same else ())
    names = plan.to_install()
    builds = tuple(name for name in before.selection.sdist_builds() if name in names)
    plan = dataclasses.replace(plan, builds=builds)
    # Written (and validated) before anything changes: a package pip cannot install
    # with hashes, or an unsafe lock string, stops the sync with the environment intact.
    text = job.requirements(before, names) if names else ""
    if dry_run or plan.empty:
        return SyncResult(plan=plan, report=before.report, dry_run=dry_run, changed=False)
    _refuse_startup_code(before.report)
    pip_target = None if same else before.inventory.python
    try:
        _apply(plan, text, pip_target)
        after_report = _repaired(job, plan, pip_target)
    except PipFailedError as exc:
        try:
            after: Report | None = job.check().report
        except Exception:  # the pip failure is the news; a failing re-check must not hide it
            after = None
        raise PipFailedError(
            exc.summary, returncode=exc.returncode, output=exc.output, report=after
        ) from None
    return SyncResult(plan=plan, report=after_report, dry_run=False, changed=True)


def _apply(plan: SyncPlan, text: str, pip_target: str | None) -> None:
    names = plan.to_install()
    # Install first: pip checks every hash (and builds every sdist) before it
    # installs anything, so a failure here leaves the environment as it was.
    if names:
        _install(text, len(names), pip_target)
    if plan.remove:
        _run_pip(
            ["uninstall", "--yes", *(change.name for change in plan.remove)],
            pip_target,
            "remove packages that are not in the lock",
        )


def _repaired(job: _Job, plan: SyncPlan, pip_target: str | None) -> Report:
    """The report after the sync; when a removed distribution took files of a
    locked one with it (both listed them), reinstall those once and check again."""
    after = job.check()
    if not plan.remove:
        return after.report
    broken = tuple(
        name
        for name in plan_sync(after.report).to_install()
        if any(p.package == name and p.kind in _REINSTALL_KINDS for p in after.report.problems)
    )
    if not broken:
        return after.report
    _install(job.requirements(after, broken), len(broken), pip_target)
    return job.check().report
