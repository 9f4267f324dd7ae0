"""Make an environment equal to its lock, through pip's command line.

:func:`sync` verifies first, turns the problems into a :class:`SyncPlan`, then runs
the *running* interpreter's pip against the target (``python -m pip --python
TARGET ...``), so the target environment does not need pip of its own:

1. ``pip uninstall`` of every installed distribution the lock does not select
   (except ``allow_extra``);
2. ``pip install --require-hashes --no-deps --force-reinstall -r <export>`` of
   every package that is missing, at another version, or whose files are not the
   locked ones (modified, deleted, built locally, installed from a URL or an
   editable checkout) — only those, the rest is left alone;
3. verify again; the result carries that report.

pip always runs with ``--isolated`` and ``PIP_CONFIG_FILE`` pointing at nothing,
and inherits no ``PIP_*`` variable: the lock and the arguments decide where files
come from, not the machine's pip configuration.

pip itself is treated like any other distribution: if the lock does not select it
and it is not in ``allow_extra``, it is removed from the target (sync does not need
it there). The one exception is syncing the environment reqlock itself runs in:
then reqlock, pip and reqlock's own dependencies are never removed (they are listed
as ``kept`` in the plan, and verify still reports them unless allowed).
"""

from __future__ import annotations

__all__ = ["Change", "PipFailedError", "SyncPlan", "SyncResult", "plan_sync", "sync"]

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
from reqlock.deploy.inventory import Inventory, _resolve_python, _start
from reqlock.deploy.verify import Report, _load, _redact, _verify_loaded
from reqlock.errors import SyncError
from reqlock.pipcall import clean_pip_env, pip_command

# Problems sync repairs by reinstalling the locked file.
_REINSTALL_KINDS = frozenset(
    {"direct-url", "file-not-in-lock", "file-modified", "file-missing", "broken-install"}
)
# Problems no pip command can repair: the lock itself does not fit the interpreter.
_FATAL_KINDS = frozenset({"requires-python", "no-locked-file"})
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
    """What :func:`sync` does (or, with ``dry_run``, would do)."""

    install: tuple[Change, ...] = ()
    upgrade: tuple[Change, ...] = ()
    downgrade: tuple[Change, ...] = ()
    reinstall: tuple[Change, ...] = ()
    remove: tuple[Change, ...] = ()
    kept: tuple[Change, ...] = ()

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
        if self.empty and not self.kept:
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
        for title, changes in sections:
            if not changes:
                continue
            lines.append(f"{title} ({len(changes)}):")
            for change in changes:
                if change.installed and change.locked and change.installed != change.locked:
                    versions = f"{change.installed} -> {change.locked}"
                else:
                    versions = change.locked or change.installed or ""
                lines.append(f"  {change.name} {versions} ({change.reason})")
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
    )


def _older(installed: str | None, locked: str | None) -> bool:
    try:
        return Version(installed or "") < Version(locked or "")
    except ValueError:  # InvalidVersion, or an integer too long to convert
        return True


def _tail(output: str) -> str:
    lines = [line for line in _redact(output).splitlines() if line.strip()]
    errors = [line for line in lines if line.lstrip().startswith("ERROR")]
    shown = errors[-_PIP_OUTPUT_LINES:] if errors else lines[-_PIP_OUTPUT_LINES:]
    return "\n".join(f"  pip: {line}" for line in shown)


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


def sync(
    lock: Pylock | str | os.PathLike[str],
    *,
    python: str | os.PathLike[str] | None = None,
    allow_extra: Collection[str] = (),
    dry_run: bool = False,
    extras: Collection[str] = (),
    groups: Collection[str] | None = None,
    index_url: str | None = None,
) -> SyncResult:
    """Make the environment of ``python`` (default: this one) equal to ``lock``.

    ``allow_extra`` names distributions to leave installed although the lock does
    not select them. ``index_url`` replaces the lock's package indexes (a mirror);
    it may carry credentials, which never appear in messages. ``dry_run=True``
    computes the plan and changes nothing.

    Returns a :class:`SyncResult` whose ``report`` is a fresh verify. Raises
    :class:`PipFailedError` (a :class:`~reqlock.errors.SyncError`) when pip fails,
    with the report of where the environment stands attached, and the errors of
    :func:`~reqlock.deploy.verify.verify` when the check cannot be done.
    """
    target = _resolve_python(python)
    pylock, lock_name, lock_dir = _load(lock)

    def check() -> tuple[Report, Inventory]:
        return _verify_loaded(
            _start(target, check_files=True),
            pylock,
            lock_name=lock_name,
            lock_dir=lock_dir,
            extras=extras,
            groups=groups,
            allow_extra=allow_extra,
        )

    before, inventory = check()
    same = _same_environment(inventory)
    plan = plan_sync(before, protected=_own_runtime() if same else ())
    names = plan.to_install()
    # Exported before anything changes: a package pip cannot install with hashes
    # must stop the sync while the environment is still intact.
    text = (
        export_requirements(
            pylock,
            environment=inventory.environment,
            tags=inventory.tags,
            extras=extras,
            groups=groups,
            packages=names,
            index_url=index_url,
            lock_dir=lock_dir,
        )
        if names
        else ""
    )
    if dry_run or plan.empty:
        return SyncResult(plan=plan, report=before, dry_run=dry_run, changed=False)

    pip_target = None if same else target
    try:
        if plan.remove:
            _run_pip(
                ["uninstall", "--yes", *(change.name for change in plan.remove)],
                pip_target,
                "remove packages that are not in the lock",
            )
        if names:
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
                    pip_target,
                    f"install {len(names)} locked package(s)",
                )
    except PipFailedError as exc:
        try:
            after: Report | None = check()[0]
        except Exception:  # the pip failure is the news; a failing re-check must not hide it
            after = None
        raise PipFailedError(
            exc.summary,
            returncode=exc.returncode,
            output=exc.output,
            report=after,
        ) from None
    after_report = check()[0]
    return SyncResult(plan=plan, report=after_report, dry_run=False, changed=True)
