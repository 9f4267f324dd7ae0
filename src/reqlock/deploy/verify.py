"""Does an installed environment match its lock? Every difference, not the first.

:func:`verify` selects from the lock what the target interpreter should have
(``Pylock.select`` with that interpreter's marker environment and wheel tags),
takes an :func:`~reqlock.deploy.inventory.inventory` of what it has, optionally hashes
every installed file against its RECORD, and compares. The result is a
:class:`Report` listing each :class:`Problem`; nothing is raised for a mismatch
unless the caller asks (:meth:`Report.raise_for_problems`).

verify never uses the network and imports no HTTP code, so it can run on a
locked-down deployment host.
"""

from __future__ import annotations

__all__ = [
    "PROBLEM_KINDS",
    "REPORT_SCHEMA_VERSION",
    "LockNotApplicableError",
    "LockSelectionError",
    "Problem",
    "ProblemKind",
    "Report",
    "Selection",
    "VerifyError",
    "compare",
    "select_expected",
    "verify",
]

import dataclasses
import json
import os
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias, get_args
from urllib.parse import unquote, urlsplit

from packaging.pylock import (
    Package,
    PackageArchive,
    PackageDirectory,
    PackageSdist,
    PackageVcs,
    PackageWheel,
    Pylock,
    PylockSelectError,
)
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag
from packaging.utils import NormalizedName, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from reqlock.deploy.inventory import (
    FileIssue,
    InstalledDist,
    Inventory,
    _Pending,
    _start,
    check_files,
)
from reqlock.errors import ReqlockError
from reqlock.lockfile import read_lock

ProblemKind: TypeAlias = Literal[
    "requires-python",
    "no-locked-file",
    "missing",
    "unexpected",
    "version-mismatch",
    "direct-url",
    "file-not-in-lock",
    "file-modified",
    "file-missing",
    "broken-install",
]

PROBLEM_KINDS: tuple[ProblemKind, ...] = get_args(ProblemKind)
"""Every problem kind, in the order reports list them."""

REPORT_SCHEMA_VERSION = 1
"""``version`` field of :meth:`Report.to_dict`; raised when the schema changes."""

Source: TypeAlias = PackageWheel | PackageSdist | PackageArchive | PackageVcs | PackageDirectory

# The marker variables that say which interpreter this is, in messages.
_IDENTITY_KEYS = (
    "python_version",
    "python_full_version",
    "implementation_name",
    "sys_platform",
    "platform_machine",
)


class LockSelectionError(ReqlockError):
    """The lock cannot be applied as asked (undeclared extras or groups, or two
    entries of one package selected at once)."""


class LockNotApplicableError(LockSelectionError):
    """None of the lock's ``environments`` markers matches the interpreter.

    ``environments`` lists the lock's markers; ``interpreter`` the identifying
    marker values of the interpreter that was checked.
    """

    def __init__(
        self, message: str, *, environments: Sequence[str], interpreter: Mapping[str, str]
    ) -> None:
        self.environments = tuple(environments)
        self.interpreter = dict(interpreter)
        super().__init__(
            message,
            hint="use the lock made for this platform, or add this platform to the "
            "lock's targets and lock again",
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Problem:
    """One difference between the lock and the environment.

    ``kind`` is one of :data:`PROBLEM_KINDS`; ``package`` the canonical name (or
    ``None`` for the lock as a whole); ``path`` the file concerned (file problems,
    unexpected and broken installs); ``expected``/``actual`` short values such as
    versions, file names or hashes; ``detail`` a sentence for people.
    """

    kind: ProblemKind
    package: NormalizedName | None
    detail: str
    expected: str | None = None
    actual: str | None = None
    path: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        """The JSON form (every key always present)."""
        return {
            "kind": self.kind,
            "package": self.package,
            "detail": self.detail,
            "expected": self.expected,
            "actual": self.actual,
            "path": self.path,
        }

    def describe(self) -> str:
        """One line: ``package: detail``."""
        return f"{self.package}: {self.detail}" if self.package else self.detail


def _problem_key(problem: Problem) -> tuple[int, str, str, str]:
    return (
        PROBLEM_KINDS.index(problem.kind),
        problem.package or "",
        problem.path or "",
        problem.detail,
    )


class VerifyError(ReqlockError):
    """An environment does not match its lock; ``report`` has every problem."""

    def __init__(self, report: Report) -> None:
        self.report = report
        lines = [f"  - {p.kind}: {p.describe()}" for p in report.problems]
        super().__init__(
            f"{report.python} does not match {report.lock or 'the lock'} "
            f"({_count(len(report.problems), 'problem')}):\n" + "\n".join(lines),
            hint="run `reqlock sync` to make the environment equal to the lock",
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Report:
    """The outcome of :func:`verify`.

    ``ok`` is true when there is no problem. :meth:`to_json` gives a stable,
    documented JSON form (see ``docs/verify.md``); :meth:`render` readable text.
    """

    lock: str | None
    python: str
    environment: Mapping[str, str] = field(hash=False)
    problems: tuple[Problem, ...]
    expected: Mapping[NormalizedName, str | None] = field(hash=False)
    installed: Mapping[NormalizedName, str] = field(hash=False)
    checked_files: bool
    allow_extra: tuple[NormalizedName, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the environment matches the lock exactly."""
        return not self.problems

    def raise_for_problems(self) -> None:
        """Raise :class:`VerifyError` listing every problem, if there is any."""
        if self.problems:
            raise VerifyError(self)

    def by_kind(self) -> dict[ProblemKind, list[Problem]]:
        """Problems grouped by kind, in :data:`PROBLEM_KINDS` order."""
        groups: dict[ProblemKind, list[Problem]] = {}
        for problem in self.problems:
            groups.setdefault(problem.kind, []).append(problem)
        return {kind: groups[kind] for kind in PROBLEM_KINDS if kind in groups}

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form; the schema is documented in ``docs/verify.md``."""
        return {
            "version": REPORT_SCHEMA_VERSION,
            "ok": self.ok,
            "lock": self.lock,
            "python": self.python,
            "interpreter": {
                key: self.environment[key] for key in _IDENTITY_KEYS if key in self.environment
            },
            "checked_files": self.checked_files,
            "allow_extra": sorted(self.allow_extra),
            "counts": {
                "expected": len(self.expected),
                "installed": len(self.installed),
                "problems": len(self.problems),
            },
            "problems": [p.to_dict() for p in sorted(self.problems, key=_problem_key)],
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text: sorted keys, two-space indent, newline."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def render(self) -> str:
        """Readable text, problems grouped by kind."""
        lock = self.lock or "the lock"
        if self.ok:
            files = "" if self.checked_files else " (files not checked)"
            return (
                f"{self.python} matches {lock}: "
                f"{_count(len(self.expected), 'package')} as locked{files}\n"
            )
        lines = [f"{self.python} does not match {lock}: {_count(len(self.problems), 'problem')}"]
        for kind, problems in self.by_kind().items():
            lines.append("")
            lines.append(f"{kind} ({len(problems)}):")
            lines.extend(_render_group(kind, problems))
        return "\n".join(lines) + "\n"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


_FILES_SHOWN = 5


def _render_group(kind: ProblemKind, problems: list[Problem]) -> list[str]:
    if kind not in ("file-modified", "file-missing"):
        return [f"  {p.describe()}" for p in problems]
    # A deleted package directory would print hundreds of lines: show a few per package.
    by_package: dict[str, list[Problem]] = {}
    for problem in problems:
        by_package.setdefault(problem.package or "", []).append(problem)
    lines = []
    for package, found in by_package.items():
        for problem in found[:_FILES_SHOWN]:
            lines.append(f"  {package}: {problem.path} ({problem.detail})")
        if len(found) > _FILES_SHOWN:
            lines.append(f"  {package}: ... and {len(found) - _FILES_SHOWN} more files")
    return lines


# --------------------------------------------------------------------------- selection


@dataclass(frozen=True, kw_only=True, slots=True)
class Selection:
    """What the lock selects for one interpreter: package and file, by name."""

    packages: Mapping[NormalizedName, tuple[Package, Source]] = field(hash=False)
    problems: tuple[Problem, ...] = ()


def _identity(environment: Mapping[str, str]) -> str:
    return ", ".join(f"{key} {environment[key]}" for key in _IDENTITY_KEYS if key in environment)


def select_expected(
    lock: Pylock,
    *,
    environment: Mapping[str, str],
    tags: Sequence[Tag],
    extras: Collection[str] = (),
    groups: Collection[str] | None = None,
    lock_name: str = "the lock",
) -> Selection:
    """Select what ``lock`` installs for the given interpreter, collecting problems.

    A package whose ``requires-python`` the interpreter does not meet, or for which
    the lock has no file this interpreter can install, becomes a :class:`Problem`
    (``Pylock.select`` would stop at the first). Raises
    :class:`LockNotApplicableError` when no ``environments`` marker matches and
    :class:`LockSelectionError` for undeclared extras or groups.
    """
    env = dict(environment)
    options: dict[str, Any] = {
        "environment": env,
        "tags": tags,
        "extras": extras,
        "dependency_groups": groups,
    }
    bare = dataclasses.replace(lock, packages=[], requires_python=None, environments=None)
    try:
        list(bare.select(**options))
    except PylockSelectError as exc:
        raise LockSelectionError(f"{lock_name}: {exc}") from None
    if lock.environments is not None:
        try:
            list(dataclasses.replace(bare, environments=lock.environments).select(**options))
        except PylockSelectError:
            covered = "; ".join(str(marker) for marker in lock.environments) or "(none)"
            raise LockNotApplicableError(
                f"{lock_name} is not for this interpreter: it covers {covered}; "
                f"this interpreter has {_identity(env)}",
                environments=[str(m) for m in lock.environments],
                interpreter={k: env[k] for k in _IDENTITY_KEYS if k in env},
            ) from None

    problems: list[Problem] = []
    full_version = env.get("python_full_version", "")
    if lock.requires_python is not None and not _python_ok(lock.requires_python, full_version):
        problems.append(
            Problem(
                kind="requires-python",
                package=None,
                detail=f"the lock requires Python {lock.requires_python}, "
                f"this interpreter is {full_version}",
                expected=str(lock.requires_python),
                actual=full_version,
            )
        )
    relaxed = dataclasses.replace(lock, requires_python=None, environments=None)
    try:
        chosen = list(relaxed.select(**options))
    except PylockSelectError:
        # Find every package at fault, not only the first select() stops at.
        chosen = _select_one_by_one(relaxed, options, problems)
    packages: dict[NormalizedName, tuple[Package, Source]] = {}
    for package, source in chosen:
        packages[package.name] = (package, source)
    return Selection(packages=packages, problems=tuple(problems))


def _python_ok(spec: SpecifierSet, full_version: str) -> bool:
    # As Pylock.select does: a non-tagged build reports "3.13.1+", not PEP 440.
    if full_version.endswith("+"):
        full_version += "local"
    return spec.contains(full_version, prereleases=True)


def _select_one_by_one(
    lock: Pylock, options: Mapping[str, Any], problems: list[Problem]
) -> list[tuple[Package, Source]]:
    chosen: list[tuple[Package, Source]] = []
    where: dict[str, int] = {}
    full_version = options["environment"].get("python_full_version", "")
    for index, package in enumerate(lock.packages):
        single = dataclasses.replace(lock, packages=[package])
        try:
            found = list(single.select(**options))
        except PylockSelectError:
            spec = package.requires_python
            if spec is not None and not _python_ok(spec, full_version):
                problems.append(
                    Problem(
                        kind="requires-python",
                        package=package.name,
                        detail=f"locked {package.version} requires Python {spec}, "
                        f"this interpreter is {full_version}",
                        expected=str(spec),
                        actual=full_version,
                    )
                )
            else:
                files = ", ".join(w.filename for w in package.wheels or ())
                problems.append(
                    Problem(
                        kind="no-locked-file",
                        package=package.name,
                        detail=f"the lock has no file this interpreter can install "
                        f"(packages[{index}] has {files or 'no wheels'} and no sdist)",
                        expected=str(package.version) if package.version else None,
                    )
                )
            continue
        for item in found:
            if package.name in where:
                raise LockSelectionError(
                    f"packages[{where[package.name]}] and packages[{index}] both select "
                    f"{package.name!r} for this interpreter; the lock is ambiguous"
                )
            where[package.name] = index
            chosen.append(item)
    return chosen


# --------------------------------------------------------------------------- compare

_CREDENTIALS_RE = re.compile(r"(?<=://)[^/\s@]+@")


def _redact(text: str) -> str:
    """``text`` with the user-info of every URL in it replaced by ``****``."""
    return _CREDENTIALS_RE.sub("****@", text)


def _file_url_path(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme != "file":
        return None
    return os.path.normpath(unquote(parts.path))


def _same_url(installed: str, locked: str, base: Path) -> bool:
    """Equal URLs, ignoring credentials, fragments and how a local path is spelt."""
    local = _file_url_path(installed)
    if local is not None:
        target = locked if "://" not in locked else (_file_url_path(locked) or "")
        return bool(target) and os.path.normpath(base / target) == local

    def clean(url: str) -> str:
        return _redact(url).split("#", 1)[0].rstrip("/")

    return clean(installed) == clean(locked)


def _archive_hashes(direct_url: Mapping[str, Any]) -> dict[str, str]:
    info = direct_url.get("archive_info")
    if not isinstance(info, Mapping):
        return {}
    hashes = {}
    raw = info.get("hashes")
    if isinstance(raw, Mapping):
        hashes.update({str(k): str(v).lower() for k, v in raw.items()})
    single = info.get("hash")
    if isinstance(single, str) and "=" in single:
        algorithm, _, value = single.partition("=")
        hashes.setdefault(algorithm, value.lower())
    return hashes


def _locked_files(package: Package) -> list[PackageWheel | PackageSdist | PackageArchive]:
    files: list[PackageWheel | PackageSdist | PackageArchive] = list(package.wheels or ())
    if package.sdist is not None:
        files.append(package.sdist)
    if package.archive is not None:
        files.append(package.archive)
    return files


def _hash_match(
    hashes: Mapping[str, str], files: Sequence[PackageWheel | PackageSdist | PackageArchive]
) -> bool:
    return any(
        hashes.get(algorithm) == value.lower()
        for item in files
        for algorithm, value in item.hashes.items()
    )


def _direct_kind(direct_url: Mapping[str, Any]) -> str:
    dir_info = direct_url.get("dir_info")
    if isinstance(dir_info, Mapping):
        return "an editable directory" if dir_info.get("editable") else "a local directory"
    if isinstance(direct_url.get("vcs_info"), Mapping):
        vcs = direct_url["vcs_info"].get("vcs", "vcs")
        return f"a {vcs} checkout"
    return "an archive URL"


def _direct_url_text(direct_url: Mapping[str, Any]) -> str:
    url = _redact(str(direct_url.get("url", "?")))
    vcs_info = direct_url.get("vcs_info")
    if isinstance(vcs_info, Mapping) and vcs_info.get("commit_id"):
        url += f"@{vcs_info['commit_id']}"
    return url


def _expected_text(source: Source, package: Package) -> str:
    if isinstance(source, PackageWheel | PackageSdist):
        return source.filename
    if isinstance(source, PackageVcs):
        return f"{source.type}+{_redact(source.url or source.path or '')}@{source.commit_id}"
    if isinstance(source, PackageDirectory):
        return f"directory {source.path}"
    return _redact(source.url or source.path or str(package.name))


def _source_problems(
    package: Package, source: Source, dist: InstalledDist, base: Path
) -> list[Problem]:
    name = package.name
    direct = dist.direct_url
    expected = _expected_text(source, package)

    def problem(kind: ProblemKind, detail: str, actual: str | None) -> Problem:
        return Problem(
            kind=kind, package=name, detail=detail, expected=expected, actual=actual, path=dist.path
        )

    if isinstance(source, PackageVcs):
        vcs_info = direct.get("vcs_info") if direct else None
        if (
            direct is None
            or not isinstance(vcs_info, Mapping)
            or vcs_info.get("vcs") != source.type
            or vcs_info.get("commit_id") != source.commit_id
            or not _same_url(str(direct.get("url", "")), source.url or source.path or "", base)
        ):
            actual = _direct_url_text(direct) if direct else "an index"
            return [problem("direct-url", f"locked {expected}, installed from {actual}", actual)]
        return []
    if isinstance(source, PackageDirectory):
        dir_info = direct.get("dir_info") if direct else None
        if (
            direct is None
            or not isinstance(dir_info, Mapping)
            or bool(dir_info.get("editable")) != bool(source.editable)
            or not _same_url(str(direct.get("url", "")), source.path, base)
        ):
            actual = _direct_url_text(direct) if direct else "an index"
            return [problem("direct-url", f"locked {expected}, installed from {actual}", actual)]
        return []

    files = _locked_files(package)
    if direct is not None:
        if not isinstance(direct.get("archive_info"), Mapping):
            kind = _direct_kind(direct)
            actual = _direct_url_text(direct)
            return [
                problem(
                    "direct-url", f"installed from {kind} ({actual}), locked {expected}", actual
                )
            ]
        hashes = _archive_hashes(direct)
        url = str(direct.get("url", ""))
        if hashes:
            if not _hash_match(hashes, files):
                digest = hashes.get("sha256") or next(iter(hashes.values()))
                return [
                    problem(
                        "file-not-in-lock",
                        f"installed from {_redact(url)}, a file that is not in the lock "
                        f"(locked {expected})",
                        f"{_redact(url)} sha256={digest}",
                    )
                ]
            return []
        if not any(_same_url(url, f.url or f.path or "", base) for f in files):
            return [
                problem(
                    "direct-url",
                    f"installed from {_redact(url)}, locked {expected}",
                    _redact(url),
                )
            ]
        return []
    if isinstance(source, PackageArchive):
        return [problem("direct-url", f"locked {expected}, installed from an index", "an index")]
    if isinstance(source, PackageWheel):
        return _wheel_problems(package, source, dist, problem)
    return []


def _wheel_problems(
    package: Package, source: PackageWheel, dist: InstalledDist, problem: Any
) -> list[Problem]:
    if dist.wheel_tags is None:
        how = "as egg-info" if dist.format == "egg-info" else "with no WHEEL file"
        return [
            problem(
                "file-not-in-lock",
                f"installed {how}, not from a wheel; locked {source.filename}",
                dist.format,
            )
        ]
    locked_tags: set[Tag] = set()
    for wheel in package.wheels or ():
        locked_tags |= parse_wheel_filename(wheel.filename)[3]
    if dist.wheel_tags & locked_tags:
        return []
    tags = ".".join(sorted(str(t) for t in dist.wheel_tags)) or "no tags"
    generator = f" by {dist.wheel_generator}" if dist.wheel_generator else ""
    return [
        problem(
            "file-not-in-lock",
            f"installed wheel tagged {tags} (built{generator}) is none of the locked "
            f"wheels; the lock has {source.filename} for this interpreter",
            tags,
        )
    ]


def _file_problem(issue: FileIssue) -> Problem:
    if issue.kind == "modified":
        return Problem(
            kind="file-modified",
            package=issue.package,
            detail=issue.detail,
            expected=issue.expected,
            actual=issue.actual,
            path=issue.path,
        )
    if issue.kind == "missing":
        return Problem(
            kind="file-missing", package=issue.package, detail=issue.detail, path=issue.path
        )
    return Problem(
        kind="broken-install", package=issue.package, detail=issue.detail, path=issue.path
    )


def compare(
    selection: Selection,
    inventory: Inventory,
    *,
    allow_extra: Collection[str] = (),
    file_issues: Sequence[FileIssue] | None = None,
    lock_name: str | None = None,
    lock_dir: str | os.PathLike[str] | None = None,
) -> Report:
    """Compare what ``selection`` expects with what ``inventory`` has (no I/O).

    ``file_issues`` are the results of :func:`~reqlock.deploy.inventory.check_files`
    (``None``: files were not checked). ``lock_dir`` resolves relative paths in the
    lock (default: the current directory).
    """
    base = Path(lock_dir) if lock_dir is not None else Path.cwd()
    allowed = {canonicalize_name(name) for name in allow_extra}
    installed = inventory.by_name()
    problems = list(selection.problems)
    for name, (package, source) in selection.packages.items():
        dist = installed.get(name)
        locked = str(package.version) if package.version is not None else None
        if dist is None:
            problems.append(
                Problem(
                    kind="missing",
                    package=name,
                    detail=f"locked {locked or _expected_text(source, package)}, not installed",
                    expected=locked,
                )
            )
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
        problems.extend(_source_problems(package, source, dist, base))
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
    for issue in file_issues or ():
        problems.append(_file_problem(issue))
    problems.sort(key=_problem_key)
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
    )


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


def _load(lock: Pylock | str | os.PathLike[str]) -> tuple[Pylock, str | None, Path | None]:
    if isinstance(lock, Pylock):
        return lock, None, None
    path = Path(lock)
    return read_lock(path), os.fspath(lock), path.resolve().parent


def verify(
    lock: Pylock | str | os.PathLike[str],
    *,
    python: str | os.PathLike[str] | None = None,
    extras: Collection[str] = (),
    groups: Collection[str] | None = None,
    allow_extra: Collection[str] = (),
    check_files: bool = True,
) -> Report:
    """Compare the environment of ``python`` (default: this one) with ``lock``.

    ``lock`` is a path or a ``Pylock``. ``extras`` and ``groups`` select as
    ``Pylock.select`` does (``groups=None``: the lock's default groups).
    ``allow_extra`` names installed distributions that may be present without being
    locked (nothing else may). ``check_files=False`` skips hashing installed files
    against their RECORD, the slow part.

    Returns a :class:`Report`. Raises :class:`~reqlock.errors.LockFileError`,
    :class:`~reqlock.errors.InventoryError`, :class:`LockNotApplicableError` or
    :class:`LockSelectionError` when the check itself cannot be done.
    """
    return _verify_started(
        # Allowed extras are never reported, so their files need no hashing.
        _start(python, check_files=check_files, skip_files_of=allow_extra),
        lock,
        extras=extras,
        groups=groups,
        allow_extra=allow_extra,
    )


def _verify_started(
    pending: _Pending,
    lock: Pylock | str | os.PathLike[str],
    *,
    extras: Collection[str] = (),
    groups: Collection[str] | None = None,
    allow_extra: Collection[str] = (),
) -> Report:
    """:func:`verify` with the interpreter already inspected in the background, so
    that the command line can start it before importing this module."""
    try:
        pylock, lock_name, lock_dir = _load(lock)
    except BaseException:
        pending.cancel()
        raise
    return _verify_loaded(
        pending,
        pylock,
        lock_name=lock_name,
        lock_dir=lock_dir,
        extras=extras,
        groups=groups,
        allow_extra=allow_extra,
    )[0]


def _verify_loaded(
    pending: _Pending,
    pylock: Pylock,
    *,
    lock_name: str | None,
    lock_dir: Path | None,
    extras: Collection[str],
    groups: Collection[str] | None,
    allow_extra: Collection[str],
) -> tuple[Report, Inventory]:
    inventory = pending.result()
    selection = select_expected(
        pylock,
        environment=inventory.environment,
        tags=inventory.tags,
        extras=extras,
        groups=groups,
        lock_name=lock_name or "the lock",
    )
    report = compare(
        selection,
        inventory,
        allow_extra=allow_extra,
        file_issues=_relevant_issues(selection, inventory, pending.skip),
        lock_name=lock_name,
        lock_dir=lock_dir,
    )
    return report, inventory
