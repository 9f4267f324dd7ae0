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
2. ``pip install --no-deps --force-reinstall`` (no hashes: pip refuses a ``vcs``
   or ``directory`` requirement in hash-checking mode) of the ``vcs`` packages,
   as ``name @ git+URL@COMMIT`` (exactly the locked commit), and ``directory``
   packages, as ``name @ file:///path`` or ``-e name@file:///path``, that need
   installing (``SyncPlan.unhashed`` names them). Build requirements come from
   ``index_url``, else from the lock's indexes, else from none (``--no-index``);
3. ``pip uninstall`` of what the lock does not select (except ``allow_extra``),
   only after a successful install, so a failing install removes nothing;
4. verify again (after reinstalling, once, what a removal broke: a removed
   distribution may have shared files with a locked one).

pip runs with ``--isolated``, no configuration file and no ``PIP_*`` variable, and
every lock string written for it is validated first (:mod:`reqlock.deploy.pipsafe`).
pip itself is removed like any other unlocked distribution, except from the
environment reqlock runs in (reqlock, pip and their dependencies are ``kept``).
Files no RECORD lists are never deleted (``manual``); an unowned ``.pth`` file
stops the sync before pip starts the target interpreter, which would run it.
"""

from __future__ import annotations

__all__ = ["Change", "PipFailedError", "SyncPlan", "SyncResult", "Unhashed", "plan_sync", "sync"]

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

from reqlock.deploy.export import export_requirements
from reqlock.deploy.inventory import Inventory
from reqlock.deploy.plan import (
    REINSTALL_KINDS,
    Change,
    SyncPlan,
    Unhashed,
    plan_sync,
    unhashed_installs,
)
from reqlock.deploy.report import Report
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

_PIP_OUTPUT_LINES = 15


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


@dataclass(frozen=True, kw_only=True, slots=True)
class _Requirements:
    """The requirements of both install steps, written and validated before
    anything changes; an empty text is a step that does not run."""

    hashed: str = ""
    hashed_count: int = 0
    direct: str = ""
    direct_count: int = 0


def _pip_install(
    directory: str, text: str, options: Sequence[str], target: str | None, what: str
) -> None:
    requirements = Path(directory, "requirements.txt")
    requirements.write_text(text, encoding="utf-8")
    _run_pip(
        [
            "install",
            *options,
            "--no-deps",
            "--force-reinstall",
            "--no-warn-conflicts",
            "--no-warn-script-location",
            "-r",
            str(requirements),
        ],
        target,
        what,
    )


def _install(requirements: _Requirements, target: str | None) -> None:
    # Hash-checked files first: pip checks every hash before it installs anything.
    # A failing second step leaves the first one's packages installed; the error
    # carries a fresh report of where the environment stands.
    if requirements.hashed:
        with tempfile.TemporaryDirectory(prefix="reqlock-sync-") as tmp:
            what = f"install {requirements.hashed_count} locked package(s)"
            _pip_install(tmp, requirements.hashed, ["--require-hashes"], target, what)
    if requirements.direct:
        what = (
            f"install {requirements.direct_count} locked vcs or directory package(s) "
            "(without hashes)"
        )
        if "--no-index" in requirements.direct.splitlines():
            what += (
                "; pip had no index to take build requirements from "
                "(the lock names none; see --index-url)"
            )
        with tempfile.TemporaryDirectory(prefix="reqlock-sync-") as tmp:
            _pip_install(tmp, requirements.direct, [], target, what)


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

    def _export(self, verified: Verified, names: Collection[str], *, hashes: bool) -> str:
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
            hashes=hashes,
        )

    def requirements(self, verified: Verified, names: Collection[str]) -> _Requirements:
        """The texts for pip; validated, so it raises before anything changes.
        vcs and directory packages go to the second, unhashed step."""
        direct = set(verified.selection.direct_sources())
        hashed = [name for name in names if name not in direct]
        unhashed = [name for name in names if name in direct]
        return _Requirements(
            hashed=self._export(verified, hashed, hashes=True) if hashed else "",
            hashed_count=len(hashed),
            direct=self._export(verified, unhashed, hashes=False) if unhashed else "",
            direct_count=len(unhashed),
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
    unhashed = unhashed_installs(before.selection, names, job.lock.directory)
    plan = dataclasses.replace(plan, builds=builds, unhashed=unhashed)
    # Written (and validated) before anything changes: an unsafe lock string stops
    # the sync with the environment intact.
    text = job.requirements(before, names)
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


def _apply(plan: SyncPlan, text: _Requirements, pip_target: str | None) -> None:
    # Install first: pip checks every hash (and builds every sdist) before it
    # installs anything, so a failure here removes nothing.
    _install(text, pip_target)
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
        if any(p.package == name and p.kind in REINSTALL_KINDS for p in after.report.problems)
    )
    if not broken:
        return after.report
    _install(job.requirements(after, broken), pip_target)
    return job.check().report
