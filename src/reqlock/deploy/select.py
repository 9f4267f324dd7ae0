"""What a lock selects for one interpreter: each package and the one file to install.

:func:`select_expected` is ``Pylock.select`` with the interpreter's marker
environment and wheel tags, except that packages the interpreter cannot install
(``requires-python``, no compatible file) become :class:`Problem` values instead
of stopping at the first. verify compares an environment with the selection;
export and sync hand pip exactly the selected files, so that what sync installs
is what verify expects.
"""

from __future__ import annotations

__all__ = [
    "LockNotApplicableError",
    "LockSelectionError",
    "Selection",
    "Source",
    "select_expected",
]

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

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
from packaging.utils import NormalizedName

from reqlock.deploy.report import IDENTITY_KEYS, Problem
from reqlock.errors import ReqlockError

Source: TypeAlias = PackageWheel | PackageSdist | PackageArchive | PackageVcs | PackageDirectory
"""What ``Pylock.select`` picks for a package: the best wheel, the sdist, or the
archive, VCS or directory source."""


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
class Selection:
    """What the lock selects for one interpreter: package and file, by name.

    The file is the one ``Pylock.select`` picks: the best compatible wheel, else
    the sdist (or the package's archive, VCS or directory source).
    """

    packages: Mapping[NormalizedName, tuple[Package, Source]] = field(hash=False)
    problems: tuple[Problem, ...] = ()

    def sdist_builds(self) -> tuple[NormalizedName, ...]:
        """Selected packages whose file is an sdist (the lock has no wheel for this
        interpreter): installing them means building them here. Sorted."""
        return tuple(
            sorted(
                name
                for name, (_, source) in self.packages.items()
                if isinstance(source, PackageSdist)
            )
        )

    def direct_sources(self) -> tuple[NormalizedName, ...]:
        """Selected packages locked as a ``vcs`` or ``directory`` source: pip installs
        them without a hash check (a commit or a path says what they are). Sorted."""
        return tuple(
            sorted(
                name
                for name, (_, source) in self.packages.items()
                if isinstance(source, PackageVcs | PackageDirectory)
            )
        )


def _identity(environment: Mapping[str, str]) -> str:
    return ", ".join(f"{key} {environment[key]}" for key in IDENTITY_KEYS if key in environment)


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
                interpreter={k: env[k] for k in IDENTITY_KEYS if k in env},
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
                # A directory entry has no version (PEP 751: it cannot be known).
                what = f"locked {package.version}" if package.version else "the locked source"
                problems.append(
                    Problem(
                        kind="requires-python",
                        package=package.name,
                        detail=f"{what} requires Python {spec}, this interpreter is {full_version}",
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
