"""One target's view of a lock as a pip requirements file with hashes.

``pip install --require-hashes --no-deps -r out.txt`` installs exactly the locked
files: every line pins ``name==version`` and lists the hash of each file the target
could use (its compatible locked wheels and the sdist). pip only accepts a
candidate whose hash is listed, so whatever the index offers besides the locked
files is ignored. Where the files come from:

* packages with an ``index`` in the lock: ``--index-url`` (the most common one)
  and ``--extra-index-url`` for the others; hashes make mixing them safe;
* local files (``file:`` URLs or ``path``): ``--find-links`` of their directories;
* remote files from no index: a direct reference ``name @ url`` to the selected
  file, with its hash;
* ``archive`` packages: ``name @ url`` with the hash.

``vcs`` and ``directory`` packages cannot be installed with hashes, so they raise
:class:`ExportError`. Without any index, the file says ``--no-index`` so that a
personal pip configuration cannot add one.
"""

from __future__ import annotations

__all__ = ["ExportError", "export_requirements"]

import os
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from pathlib import PurePath
from urllib.parse import urlsplit

from packaging.pylock import (
    Package,
    PackageArchive,
    PackageDirectory,
    PackageSdist,
    PackageVcs,
    PackageWheel,
    Pylock,
)
from packaging.tags import Tag
from packaging.utils import (
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

from reqlock.deploy.verify import LockSelectionError, select_expected
from reqlock.errors import ReqlockError
from reqlock.targets import Target, current

# The algorithms pip's --hash accepts.
_PIP_HASHES = ("sha256", "sha384", "sha512")


class ExportError(ReqlockError):
    """The lock cannot be written as a hash-checked requirements file for this target."""

    def __init__(self, message: str, *, package: str | None = None, hint: str | None = None):
        self.package = package
        super().__init__(f"{package}: {message}" if package else message, hint=hint)


def _hash_options(item: PackageWheel | PackageSdist | PackageArchive, name: str) -> list[str]:
    options = [
        f"--hash={algorithm}:{item.hashes[algorithm]}"
        for algorithm in _PIP_HASHES
        if algorithm in item.hashes
    ]
    if not options:
        have = ", ".join(sorted(item.hashes)) or "none"
        raise ExportError(
            f"the lock has no sha256/sha384/sha512 hash pip can check (has: {have})",
            package=name,
        )
    return options


def _local_dir(item: PackageWheel | PackageSdist, lock_dir: str | None) -> str | None:
    """The ``--find-links`` location of a local file, or ``None`` for a remote one.

    A ``file:`` URL is used rather than a path: pip splits option lines on spaces.
    """
    if item.url:
        if urlsplit(item.url).scheme != "file":
            return None
        return item.url.split("#", 1)[0].rsplit("/", 1)[0] + "/"
    if item.path:
        path = PurePath(item.path)
        if not path.is_absolute() and lock_dir is not None:
            path = PurePath(lock_dir) / path
        if path.is_absolute():
            return PurePath(os.path.normpath(path.parent)).as_uri() + "/"
        return path.parent.as_posix()
    return None


def _version_of(package: Package, source: PackageWheel | PackageSdist) -> str:
    if package.version is not None:
        return str(package.version)
    if isinstance(source, PackageWheel):
        return str(parse_wheel_filename(source.filename)[1])
    return str(parse_sdist_filename(source.filename)[1])


def _archive_url(archive: PackageArchive, lock_dir: str | None, name: str) -> str:
    if archive.url:
        return archive.url
    assert archive.path is not None  # validated: url or path
    path = PurePath(archive.path)
    if not path.is_absolute():
        if lock_dir is None:
            raise ExportError(
                f"archive path {archive.path!r} is relative and the lock's directory is unknown",
                package=name,
            )
        path = PurePath(lock_dir) / path
    return PurePath(os.path.abspath(path)).as_uri()


def _via(lock: Pylock, selected: Collection[NormalizedName]) -> dict[NormalizedName, list[str]]:
    """For each selected package, the selected packages that depend on it."""
    parents: dict[NormalizedName, set[str]] = {}
    for package in lock.packages:
        if package.name not in selected:
            continue
        for dependency in package.dependencies or ():
            raw = dependency.get("name")
            if not isinstance(raw, str):
                continue
            child = canonicalize_name(raw)
            if child in selected and child != package.name:
                parents.setdefault(child, set()).add(package.name)
    return {name: sorted(found) for name, found in parents.items()}


def export_requirements(
    lock: Pylock,
    *,
    target: Target | None = None,
    environment: Mapping[str, str] | None = None,
    tags: Sequence[Tag] | None = None,
    extras: Collection[str] = (),
    groups: Collection[str] | None = None,
    packages: Collection[str] | None = None,
    index_url: str | None = None,
    lock_dir: str | os.PathLike[str] | None = None,
) -> str:
    """Return the requirements-file text that installs ``lock``'s selection for a target.

    The target is ``target``, or ``environment`` and ``tags`` (marker variables and
    supported tags), or, when none is given, the running interpreter. ``extras`` and
    ``groups`` select as ``Pylock.select`` does. ``packages`` limits the output to
    those names (sync installs only what differs). ``index_url`` replaces the lock's
    indexes (e.g. a mirror). ``lock_dir`` resolves relative ``path`` entries.

    Raises :class:`ExportError` for packages pip cannot install with hashes and
    :class:`~reqlock.deploy.verify.LockSelectionError` when the lock does not apply.
    """
    if target is None and (environment is None or tags is None):
        here = current()
        target = Target(
            name="current",
            environment=environment if environment is not None else here.environment,
            tags=tuple(tags) if tags is not None else here.tags,
        )
    elif target is None:
        assert environment is not None
        assert tags is not None
        target = Target(name="custom", environment=environment, tags=tuple(tags))
    base = os.fspath(lock_dir) if lock_dir is not None else None
    selection = select_expected(
        lock,
        environment=target.environment,
        tags=target.tags,
        extras=extras,
        groups=groups,
        lock_name=f"the lock (for target {target.name!r})",
    )
    if selection.problems:
        problems = "; ".join(p.describe() for p in selection.problems)
        raise LockSelectionError(
            f"the lock cannot be installed on target {target.name!r}: {problems}"
        )
    wanted = None if packages is None else {canonicalize_name(n) for n in packages}
    chosen = {
        name: item for name, item in selection.packages.items() if wanted is None or name in wanted
    }
    supported = set(target.tags)
    via = _via(lock, set(selection.packages))

    blocks: list[str] = []
    indexes: Counter[str] = Counter()
    find_links: set[str] = set()
    for name in sorted(chosen):
        package, source = chosen[name]
        if isinstance(source, PackageVcs | PackageDirectory):
            kind = "vcs" if isinstance(source, PackageVcs) else "directory"
            raise ExportError(
                f"is locked as a {kind} source, which pip cannot install with --require-hashes",
                package=name,
                hint="lock a released version (an index file or an archive) instead",
            )
        if isinstance(source, PackageArchive):
            head = f"{name} @ {_archive_url(source, base, name)}"
            options = _hash_options(source, name)
        else:
            files: list[PackageWheel | PackageSdist] = [
                wheel
                for wheel in package.wheels or ()
                if parse_wheel_filename(wheel.filename)[3] & supported
            ]
            if package.sdist is not None:
                files.append(package.sdist)
            local = [_local_dir(item, base) for item in files]
            if package.index and index_url is None:
                indexes[package.index] += 1
            if index_url is None and not package.index and _local_dir(source, base) is None:
                # No index to find it on: point pip at the selected file itself.
                assert source.url is not None
                head = f"{name} @ {source.url}"
                files = [source]
            else:
                head = f"{name}=={_version_of(package, source)}"
                find_links.update(d for d in local if d is not None)
            options = [option for item in files for option in _hash_options(item, name)]
        lines = [head, *(f"    {option}" for option in options)]
        block = " \\\n".join(lines)
        if name in via:
            block += f"\n    # via {', '.join(via[name])}"
        blocks.append(block)

    header = [
        f"# Generated by reqlock from a pylock file for target {target.name!r}; do not edit.",
        "# Install with: pip install --require-hashes --no-deps -r <this file>",
    ]
    if index_url is not None:
        header.append(f"--index-url {index_url}")
    elif indexes:
        ordered = sorted(indexes, key=lambda url: (-indexes[url], url))
        header.append(f"--index-url {ordered[0]}")
        header.extend(f"--extra-index-url {url}" for url in ordered[1:])
    else:
        header.append("--no-index")
    header.extend(f"--find-links {directory}" for directory in sorted(find_links))
    return "\n".join(header) + "\n\n" + "\n".join(blocks) + ("\n" if blocks else "")
