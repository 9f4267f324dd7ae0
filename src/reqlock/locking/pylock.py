"""Build a PEP 751 lock (``packaging.pylock.Pylock``) from resolutions, and write it.

One resolution per target is merged into one file: a package used by every target
has no marker; any other package carries the marker of the targets that use it;
each package keeps the wheels some of its targets can install, plus the sdist.

A universal lock merges the forks of one region the same way, with each package's
marker the union of where its forks install it (simplified for the lock's
``requires-python``), and only the wheels some environment of that marker can use.
"""

from __future__ import annotations

__all__ = [
    "RECORDS_KEY",
    "TOOL_KEY",
    "RecordOf",
    "build_pylock",
    "lock_to_dict",
    "to_toml",
]

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import PurePath
from typing import Any

from packaging.markers import Marker
from packaging.pylock import (
    Package,
    PackageArchive,
    PackageDirectory,
    PackageSdist,
    PackageVcs,
    PackageWheel,
    Pylock,
    PylockValidationError,
)
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version

from reqlock.errors import LockFileError, ResolutionError
from reqlock.index.pages import DistFile
from reqlock.locking.markers import MarkerError
from reqlock.locking.region import FALSE, Region, filename_tags, wheel_marker
from reqlock.locking.resolution import Pin, Resolution
from reqlock.locking.toml import dumps
from reqlock.targets import Target, environment_marker
from reqlock.urls import redact_url

CREATED_BY = "reqlock"
TOOL_KEY = "reqlock"
RECORDS_KEY = "records"

RecordOf = Callable[[DistFile, str], str | None]
"""``record_of(wheel, package)``: the wheel's RECORD digest, or None."""
_PACKAGE_KEYS = (
    "name",
    "version",
    "marker",
    "requires-python",
    "index",
    "dependencies",
    "sdist",
    "wheels",
    "tool",
)
_FILE_KEYS = ("name", "url", "upload-time", "size", "hashes")


def build_pylock(
    resolutions: Sequence[Resolution],
    *,
    sha256_of: Callable[[DistFile, str], str],
    tool: Mapping[str, Any] | None = None,
    record_of: RecordOf | None = None,
    lock_dir: str | os.PathLike[str] | None = None,
) -> Pylock:
    """Merge per-target resolutions into one validated :class:`Pylock`.

    ``sha256_of(file, package)`` gives a file's sha256 (from the index, or by
    downloading it when the index has none). ``record_of(wheel, package)`` gives a
    wheel's RECORD digest, or None when it has none: the digests of a package's
    wheels go in its ``[packages.tool.reqlock] records`` list, in the order of its
    wheels (read back by :func:`reqlock.deploy.sources.locked_records`). Local paths (archives,
    directories, find-links files) are written relative to ``lock_dir``, the
    directory the lock will be in (default: the working directory).
    """
    base = os.path.abspath(lock_dir if lock_dir is not None else os.curdir)
    # (name, version) -> the resolutions using it, and their pins.
    users: dict[tuple[NormalizedName, Version], list[tuple[Resolution, Pin]]] = {}
    for resolution in resolutions:
        for pin in resolution.pins.values():
            users.setdefault((pin.name, pin.version), []).append((resolution, pin))
    merge = _universal_marker if isinstance(resolutions[0].target, Region) else _targets_marker
    packages: list[Package] = []
    for (name, version), entries in sorted(users.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        marker, wheel_ok = merge(name, entries, resolutions)
        pins = [pin for _, pin in entries]
        packages.append(_package(name, version, pins, marker, wheel_ok, sha256_of, record_of, base))
    environments, requires_python = _coverage(resolutions)
    lock = Pylock(
        lock_version=Version("1.0"),
        environments=environments,
        requires_python=requires_python,
        created_by=CREATED_BY,
        packages=packages,
        tool=dict(tool) if tool else None,
    )
    try:
        Pylock.from_dict(lock_to_dict(lock))
    except PylockValidationError as exc:  # a bug of ours, not the user's
        raise LockFileError(f"reqlock built an invalid lock: {exc}", path="<memory>") from exc
    return lock


_Merge = tuple[Marker | None, Callable[[str], bool]]


def _targets_marker(
    name: NormalizedName,
    entries: Sequence[tuple[Resolution, Pin]],
    resolutions: Sequence[Resolution],
) -> _Merge:
    """The marker of the targets using a package (None: all of them)."""
    used_by = [r.target for r, _ in entries if isinstance(r.target, Target)]
    if len(used_by) == len(resolutions):
        return None, lambda filename: True
    return Marker(" or ".join(f"({environment_marker(t)})" for t in used_by)), lambda _: True


def _universal_marker(
    name: NormalizedName,
    entries: Sequence[tuple[Resolution, Pin]],
    resolutions: Sequence[Resolution],
) -> _Merge:
    """Where the forks install a package, and which wheels some environment of it can use."""
    region = resolutions[0].target
    assert isinstance(region, Region)
    where = FALSE
    for resolution, _ in entries:
        where = where.or_(resolution.markers.get(name, FALSE))

    def wheel_ok(filename: str) -> bool:
        return not wheel_marker(filename_tags(filename)).is_disjoint(where)

    try:
        return region.shown(where).to_marker(), wheel_ok
    except MarkerError as exc:
        raise ResolutionError(
            f"{name}: where the universal lock installs it cannot be written as a marker "
            f"({exc.message})",
            hint="lock for named targets (--target), or narrow the lock with "
            "--universal-environment",
        ) from None


def _coverage(resolutions: Sequence[Resolution]) -> tuple[list[Marker] | None, SpecifierSet]:
    """The lock's ``environments`` and ``requires-python``."""
    first = resolutions[0].target
    if isinstance(first, Region):
        return list(first.environments) or None, first.requires_python
    targets = [r.target for r in resolutions if isinstance(r.target, Target)]
    lowest = min(Version(t.environment["python_version"]) for t in targets)
    return [environment_marker(t) for t in targets], SpecifierSet(f">={lowest}")


def _package(  # noqa: PLR0917 - one call site
    name: NormalizedName,
    version: Version,
    pins: Sequence[Pin],
    marker: Marker | None,
    wheel_ok: Callable[[str], bool],
    sha256_of: Callable[[DistFile, str], str],
    record_of: RecordOf | None,
    base: str,
) -> Package:
    first = pins[0]
    if first.direct is not None:
        return _direct_package(first, version, marker, base)
    files: dict[str, DistFile] = {}
    for pin in pins:
        for dist in pin.files:
            if not dist.is_wheel or wheel_ok(dist.filename):
                files.setdefault(dist.filename, dist)
    deps = sorted({d for pin in pins for d in pin.dependencies})
    sdists = [f for f in files.values() if not f.is_wheel]
    wheels = sorted((f for f in files.values() if f.is_wheel), key=lambda f: f.filename)
    sdist = min(sdists, key=lambda f: f.filename) if sdists else None
    return Package(
        name=name,
        version=version,
        marker=marker,
        requires_python=first.metadata.requires_python,
        index=redact_url(first.files[0].index if first.files else first.index) or None,
        dependencies=[{"name": d} for d in deps] or None,
        sdist=_sdist(sdist, name, sha256_of, base) if sdist else None,
        wheels=[_wheel(w, name, sha256_of, base) for w in wheels] or None,
        tool=_records_tool(wheels, name, record_of),
    )


def _records_tool(
    wheels: Sequence[DistFile], package: str, record_of: RecordOf | None
) -> dict[str, Any] | None:
    """``{"reqlock": {"records": [digest, ...]}}``: the RECORD digest of each wheel,
    in the order of the package's ``wheels`` (by file name), ``""`` where a wheel has
    none; None when no wheel has one (the package then has no tool table). A list
    rather than a table by file name: a universal lock has a thousand wheels, and
    their names are already in their URLs."""
    if record_of is None:
        return None
    records = [record_of(w, package) or "" for w in sorted(wheels, key=lambda w: w.filename)]
    return {TOOL_KEY: {RECORDS_KEY: records}} if any(records) else None


def _direct_package(pin: Pin, version: Version, marker: Marker | None, base: str) -> Package:
    """The entry of a direct reference: ``archive``, ``vcs`` or ``directory``.

    A directory's version is left out: PEP 751 forbids it where the lock cannot
    guarantee it (the tree can change after locking)."""
    direct = pin.direct
    assert direct is not None
    deps = [{"name": d} for d in pin.dependencies] or None
    common: dict[str, Any] = {
        "name": pin.name,
        "marker": marker,
        "requires_python": pin.metadata.requires_python,
        "dependencies": deps,
    }
    if direct.archive is not None:
        where = _location(direct.archive.url, base)
        archive = PackageArchive(
            url=where.get("url"),
            path=where.get("path"),
            size=direct.archive.size,
            hashes={"sha256": direct.archive.sha256 or ""},
        )
        return Package(**common, version=version, archive=archive)
    if direct.vcs is not None:
        vcs = PackageVcs(
            type="git",
            url=redact_url(direct.vcs.url),
            requested_revision=direct.vcs.requested_revision,
            commit_id=direct.vcs.commit,
            subdirectory=direct.vcs.subdirectory,
        )
        return Package(**common, version=version, vcs=vcs)
    assert direct.reference.path is not None
    directory = PackageDirectory(
        path=_relative(direct.reference.path, base),
        editable=True if direct.reference.editable else None,
    )
    return Package(**common, directory=directory)


def _relative(path: str, base: str) -> str:
    """``path`` relative to the lock's directory, with '/' separators (PEP 751)."""
    try:
        relative = os.path.relpath(path, base)
    except ValueError:  # another drive on Windows: only an absolute path works
        return PurePath(path).as_posix()
    return PurePath(relative).as_posix()


def _location(url: str, base: str) -> dict[str, str]:
    """``{"path": ...}`` for a local file (relative to the lock), else ``{"url": ...}``."""
    if url.startswith("file:"):
        from urllib.parse import unquote, urlsplit
        from urllib.request import url2pathname

        return {"path": _relative(url2pathname(unquote(urlsplit(url).path)), base)}
    return {"url": redact_url(url)}


def _file_fields(
    dist: DistFile, package: str, sha256_of: Callable[[DistFile, str], str], base: str
) -> dict[str, Any]:
    where = _location(dist.url, base)
    tail = (where.get("url") or where["path"]).rsplit("/", 1)[-1]
    return {
        # The name is only needed when the URL or path does not end in it.
        "name": None if tail == dist.filename else dist.filename,
        **where,
        "upload_time": _parse_time(dist.upload_time),
        "size": dist.size,
        "hashes": {"sha256": sha256_of(dist, package)},
    }


def _sdist(
    dist: DistFile, package: str, sha256_of: Callable[[DistFile, str], str], base: str
) -> PackageSdist:
    return PackageSdist(**_file_fields(dist, package, sha256_of, base))


def _wheel(
    dist: DistFile, package: str, sha256_of: Callable[[DistFile, str], str], base: str
) -> PackageWheel:
    return PackageWheel(**_file_fields(dist, package, sha256_of, base))


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def lock_to_dict(lock: Pylock) -> dict[str, Any]:
    """``lock.to_dict()`` without its deep copies (a third of a warm lock's time).

    The same keys and value conversions: dashes in keys, versions, markers and
    specifiers as strings, absent values left out."""
    return _plain(lock)  # type: ignore[no-any-return]


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if item is not None:
                out[f.name.replace("_", "-")] = _plain(item)
        return out
    if isinstance(value, (Version, Marker, SpecifierSet)):
        return str(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def to_toml(lock: Pylock) -> str:
    """The lock as TOML text: same lock, same bytes, on any machine."""
    data = lock_to_dict(lock)
    ordered: dict[str, Any] = {}
    for key in (
        "lock-version",
        "environments",
        "requires-python",
        "extras",
        "dependency-groups",
        "default-groups",
        "created-by",
    ):
        if key in data:
            ordered[key] = data[key]
    ordered["packages"] = [_order_package(p) for p in data.get("packages", [])]
    if "tool" in data:
        ordered["tool"] = data["tool"]
    return dumps(ordered)


def _order_package(package: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: package[k] for k in _PACKAGE_KEYS if k in package}
    for k in package:
        out.setdefault(k, package[k])
    if "sdist" in out:
        out["sdist"] = _order_file(out["sdist"])
    if "wheels" in out:
        out["wheels"] = [_order_file(w) for w in out["wheels"]]
    return out


def _order_file(entry: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: entry[k] for k in _FILE_KEYS if k in entry}
    for k in entry:
        out.setdefault(k, entry[k])
    return out
