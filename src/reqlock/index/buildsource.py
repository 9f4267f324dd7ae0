"""What a build starts from: an unpacked source tree and its ``[build-system]``.

An sdist is unpacked by :mod:`reqlock.index.unpack`, in a process of its own,
with the checks pip applies (no member outside the target, no device, no link
pointing out) plus bounds on size and member count. The
``[build-system]`` table is read as PEP 517/518 define it, with pip's fallback for
a project without one (setuptools' legacy backend).
"""

from __future__ import annotations

__all__ = ["BuildSystem", "build_system", "unpack_sdist"]

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from reqlock.errors import MetadataError
from reqlock.files import NotARegularFile, TooLarge, read_regular
from reqlock.index.unpack import REFUSED

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

_MAX_PYPROJECT_BYTES = 4 * 1024 * 1024
_UNPACK = Path(__file__).with_name("unpack.py")
_UNPACK_TIMEOUT = 600.0
# pip's choice for a project with no [build-system] table (PEP 517's fallback).
_LEGACY_REQUIRES = ("setuptools>=40.8.0",)
_LEGACY_BACKEND = "setuptools.build_meta:__legacy__"


@dataclass(frozen=True, slots=True)
class BuildSystem:
    """A source tree's build requirements and backend (PEP 517/518)."""

    requires: tuple[Requirement, ...]
    backend: str
    #: Absolute directories inside the tree, searched first for the backend.
    backend_path: tuple[str, ...] = ()


def unpack_sdist(archive: Path, dest: Path, *, package: str, version: str) -> Path:
    """Unpack the sdist ``archive`` into ``dest`` (an empty directory), checking
    every member first (:mod:`reqlock.index.unpack`, in a process of its own);
    return the tree's root: the single top-level directory when there is one, as
    in every sdist tools make."""
    what = f"{package} {version}".strip()
    command = [sys.executable, "-I", "-S", str(_UNPACK), str(archive), str(dest)]
    try:
        proc = subprocess.run(command, capture_output=True, timeout=_UNPACK_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise _cannot(what, archive, str(exc), package, version) from None
    if proc.returncode != 0:
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        why = lines[-1] if lines else f"the unpacking process exited {proc.returncode}"
        if proc.returncode == REFUSED:
            raise MetadataError(
                f"{what}: {archive.name} is not a safe sdist to unpack: {why}",
                package=package,
                version=version,
                reason="build-failed",
                hint="this sdist was not made by a normal build tool; pin a version with a wheel",
            )
        raise _cannot(what, archive, why, package, version)
    entries = list(dest.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return dest


def _cannot(what: str, archive: Path, why: str, package: str, version: str) -> MetadataError:
    return MetadataError(
        f"{what}: {archive.name} cannot be unpacked: {why}",
        package=package,
        version=version,
        reason="build-failed",
    )


def build_system(root: Path, *, package: str, version: str) -> BuildSystem:
    """The ``[build-system]`` of the tree at ``root``, or pip's fallback for a
    project with ``setup.py`` and no such table."""
    pyproject = root / "pyproject.toml"
    where = f"{package} {version}".strip() + f": {pyproject.name}"

    def bad(why: str) -> MetadataError:
        return MetadataError(
            f"{where}: {why}",
            package=package,
            version=version,
            reason="build-failed",
            hint="the project's pyproject.toml is broken; pin another version",
        )

    table: Any = None
    if pyproject.is_file():
        try:
            text = read_regular(pyproject, limit=_MAX_PYPROJECT_BYTES).decode("utf-8")
            table = tomllib.loads(text).get("build-system")
        except (OSError, UnicodeDecodeError, NotARegularFile, TooLarge) as exc:
            raise bad(f"cannot be read: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise bad(f"is not valid TOML: {exc}") from None
    elif not (root / "setup.py").is_file():
        raise bad("there is neither a pyproject.toml nor a setup.py: nothing to build")
    if table is None:
        return BuildSystem(tuple(Requirement(r) for r in _LEGACY_REQUIRES), _LEGACY_BACKEND)
    if not isinstance(table, dict):
        raise bad("[build-system] is not a table")
    requires = table.get("requires")
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise bad("[build-system] requires must be a list of strings (PEP 518)")
    try:
        parsed = tuple(Requirement(r) for r in requires)
    except InvalidRequirement as exc:
        raise bad(f"[build-system] requires has an invalid requirement: {exc}") from None
    backend = table.get("build-backend", _LEGACY_BACKEND)
    if not isinstance(backend, str) or not backend.strip():
        raise bad("[build-system] build-backend must be a non-empty string (PEP 517)")
    if "build-backend" not in table:
        # PEP 517: no backend named means setuptools' legacy one, which needs setuptools.
        parsed = parsed + tuple(Requirement(r) for r in _LEGACY_REQUIRES)
    return BuildSystem(parsed, backend, _backend_path(table.get("backend-path"), root, bad))


def _backend_path(
    value: object, root: Path, bad: Callable[[str], MetadataError]
) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise bad("[build-system] backend-path must be a list of strings (PEP 517)")
    real_root = os.path.realpath(root)
    paths = []
    for entry in value:
        full = os.path.realpath(os.path.join(real_root, entry))
        if os.path.commonpath([full, real_root]) != real_root:
            raise bad(f"[build-system] backend-path {entry!r} is outside the source tree")
        paths.append(full)
    return tuple(paths)
