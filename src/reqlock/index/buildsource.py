"""What a build starts from: an unpacked source tree and its ``[build-system]``.

An sdist is unpacked with the checks pip applies (no member outside the target,
no device, no link pointing out) plus bounds on size and member count. The
``[build-system]`` table is read as PEP 517/518 define it, with pip's fallback for
a project without one (setuptools' legacy backend).
"""

from __future__ import annotations

__all__ = ["BuildSystem", "build_system", "unpack_sdist"]

import os
import sys
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from reqlock.errors import MetadataError
from reqlock.files import NotARegularFile, TooLarge, read_regular

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

_MAX_PYPROJECT_BYTES = 4 * 1024 * 1024
_MAX_UNPACKED_BYTES = 4 * 1024 * 1024 * 1024
_MAX_MEMBERS = 200_000
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
    """Unpack the sdist ``archive`` into ``dest``; return the tree's root (the single
    top-level directory when there is one, as in every sdist tools make)."""
    what = _What(package, version, archive.name)
    try:
        if archive.name.endswith(".zip"):
            _unzip(archive, dest, what)
        else:
            _untar(archive, dest, what)
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise MetadataError(
            f"{what.label}: {archive.name} cannot be unpacked: {exc}",
            package=package,
            version=version,
            reason="build-failed",
        ) from None
    entries = list(dest.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return dest


@dataclass(frozen=True, slots=True)
class _What:
    package: str
    version: str
    archive: str

    @property
    def label(self) -> str:
        return f"{self.package} {self.version}".strip()

    def refuse(self, why: str) -> MetadataError:
        return MetadataError(
            f"{self.label}: {self.archive} is not a safe sdist to unpack: {why}",
            package=self.package,
            version=self.version,
            reason="build-failed",
            hint="this sdist was not made by a normal build tool; pin a version with a wheel",
        )


def _untar(archive: Path, dest: Path, what: _What) -> None:
    with tarfile.open(archive, mode="r:*") as tf:
        members = tf.getmembers()
        _check_bounds(len(members), sum(m.size for m in members if m.isfile()), what)
        for member in members:
            problem = _tar_member_problem(member)
            if problem:
                raise what.refuse(f"{member.name!r} {problem}")
        if hasattr(tarfile, "data_filter"):
            try:
                tf.extractall(dest, members=members, filter="data")
            except tarfile.FilterError as exc:
                raise what.refuse(str(exc)) from None
        else:  # pragma: no cover - Python 3.10 before 3.10.12: checked above
            tf.extractall(dest, members=members)


def _tar_member_problem(member: tarfile.TarInfo) -> str | None:
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        return "is neither a file, a directory nor a link"
    if _escapes(member.name):
        return "lands outside the tree"
    if member.issym() or member.islnk():
        base = os.path.dirname(member.name) if member.issym() else ""
        if os.path.isabs(member.linkname) or _escapes(os.path.join(base, member.linkname)):
            return f"links outside the tree ({member.linkname!r})"
    return None


def _unzip(archive: Path, dest: Path, what: _What) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        _check_bounds(len(infos), sum(i.file_size for i in infos), what)
        for info in infos:
            if _escapes(info.filename):
                raise what.refuse(f"{info.filename!r} lands outside the tree")
        zf.extractall(dest)


def _escapes(name: str) -> bool:
    """True when the archive path ``name`` is absolute or climbs out with ``..``."""
    if name.startswith(("/", "\\")) or os.path.isabs(name) or (len(name) > 1 and name[1] == ":"):
        return True
    depth = 0
    for part in name.replace("\\", "/").split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def _check_bounds(count: int, size: int, what: _What) -> None:
    if count > _MAX_MEMBERS:
        raise what.refuse(f"{count} members (at most {_MAX_MEMBERS})")
    if size > _MAX_UNPACKED_BYTES:
        raise what.refuse(f"{size} bytes unpacked (at most {_MAX_UNPACKED_BYTES})")


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
