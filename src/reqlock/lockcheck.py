"""What reqlock demands of a lock beyond PEP 751's schema: every string that can
reach pip or a requirements file is safe, and what reqlock does not know is said.

Strings from a lock end up in text handed to pip (``sync``) or in an exported
requirements file. A URL, path, filename, index or hash with whitespace or a
control character could smuggle in an option (``--trusted-host``) or a second line
(``evil==6.6.6``), so each is checked where the lock is read, and a bad one is a
:class:`~reqlock.errors.LockFileError` naming the key. Unknown keys and a newer
minor ``lock-version`` are not errors (PEP 751 allows them) but deserve a warning.
"""

from __future__ import annotations

__all__ = ["check_strings", "format_warnings", "name_warning"]

import re
from collections.abc import Iterator, Mapping
from typing import Any

from packaging.pylock import Package, Pylock

from reqlock.errors import LockFileError
from reqlock.urls import has_unsafe_characters, hash_problem, lock_url_problem

# The keys PEP 751 (lock-version 1.0) defines, at the top and in a package.
_TOP_KEYS = frozenset(
    {"lock-version", "environments", "requires-python", "extras", "dependency-groups",
     "default-groups", "created-by", "packages", "tool"}
)  # fmt: skip
_PACKAGE_KEYS = frozenset(
    {"name", "version", "marker", "requires-python", "dependencies", "vcs", "directory",
     "archive", "index", "sdist", "wheels", "attestation-identities", "tool"}
)  # fmt: skip
_NAME_RE = re.compile(r"pylock(?:\.[^.\s/\\]+)?\.toml")


def format_warnings(data: Mapping[str, Any], *, known_minor: int) -> list[str]:
    """What in ``data`` this reqlock does not know (a newer minor version, keys)."""
    warnings: list[str] = []
    raw = str(data.get("lock-version", ""))
    minor = raw.split(".")[1] if raw.count(".") == 1 else "0"
    if minor.isdigit() and int(minor) > known_minor:
        warnings.append(
            f"lock-version {raw} is newer than the 1.{known_minor} this reqlock knows; "
            "parts it does not know are ignored"
        )
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        warnings.append(f"unknown top-level keys ignored: {', '.join(unknown)}")
    packages = data.get("packages")
    if isinstance(packages, list):
        for i, package in enumerate(packages):
            if isinstance(package, Mapping):
                extra = sorted(set(package) - _PACKAGE_KEYS)
                if extra:
                    warnings.append(f"packages[{i}]: unknown keys ignored: {', '.join(extra)}")
    return warnings


def name_warning(filename: str) -> str | None:
    """A warning when ``filename`` is not a name PEP 751 allows for a lock file."""
    if _NAME_RE.fullmatch(filename):
        return None
    return (
        f"{filename!r} is not a PEP 751 lock file name: it must be pylock.toml or "
        "pylock.<name>.toml (pip and uv may refuse or misread it)"
    )


def check_strings(lock: Pylock, *, path: str) -> None:
    """Raise :class:`LockFileError` for the first unsafe string of ``lock``."""
    for i, package in enumerate(lock.packages):
        for key, problem in _problems(package):
            raise LockFileError(
                f"{problem} (package {package.name})",
                path=path,
                key=f"packages[{i}]{key}",
                hint="the lock was edited or written by a broken tool; regenerate it",
            )


def _problems(package: Package) -> Iterator[tuple[str, str]]:
    if package.index is not None:
        problem = _expansion(package.index) or lock_url_problem(
            package.index, schemes=("https", "http")
        )
        if problem:
            yield ".index", problem
    files: list[tuple[str, Any]] = []
    if package.sdist is not None:
        files.append((".sdist", package.sdist))
    files += [(f".wheels[{j}]", w) for j, w in enumerate(package.wheels or ())]
    if package.archive is not None:
        files.append((".archive", package.archive))
    for key, item in files:
        yield from _file_problems(key, item)
    if package.vcs is not None:
        # A repository may be reached over ssh (git+ssh://git@host/repo.git).
        yield from _location_problems(
            ".vcs", package.vcs.url, package.vcs.path, schemes=("https", "http", "file", "ssh")
        )
        for field in ("commit_id", "requested_revision", "subdirectory"):
            value = getattr(package.vcs, field)
            if value is not None and has_unsafe_characters(value):
                yield f".vcs.{field.replace('_', '-')}", "contains whitespace or control characters"
    if package.directory is not None:
        yield from _location_problems(".directory", None, package.directory.path)


def _file_problems(key: str, item: Any) -> Iterator[tuple[str, str]]:
    name = getattr(item, "name", None)
    if name is not None and (has_unsafe_characters(name) or "/" in name or "\\" in name):
        yield f"{key}.name", f"{name!r} is not a file name"
    yield from _location_problems(key, item.url, item.path)
    for algorithm, value in item.hashes.items():
        problem = hash_problem(algorithm, value)
        if problem:
            yield f"{key}.hashes.{algorithm}", problem


def _location_problems(
    key: str, url: str | None, path: str | None, *, schemes: tuple[str, ...] | None = None
) -> Iterator[tuple[str, str]]:
    if url is not None:
        problem = _expansion(url) or (
            lock_url_problem(url, schemes=schemes) if schemes else lock_url_problem(url)
        )
        if problem:
            yield f"{key}.url", problem
    # Spaces are legal in a path; line breaks and control characters never are.
    if path is not None and any(ord(c) < 32 or 127 <= ord(c) < 160 for c in path):
        yield f"{key}.path", "contains control characters"


def _expansion(url: str) -> str | None:
    # pip expands ${VAR} in requirement files and URLs: a lock carrying one could
    # send an environment secret (${AWS_SECRET_ACCESS_KEY}) to any server.
    return "contains ${...}, which pip would fill from the environment" if "${" in url else None
