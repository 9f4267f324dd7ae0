"""One target's view of a lock as a pip requirements file, with hashes or without.

``pip install --require-hashes --no-deps -r out.txt`` installs exactly the locked
files: every line pins ``name==version`` and lists the hash of each file the target
could use (its compatible locked wheels and the sdist). pip only accepts a
candidate whose hash is listed, so whatever the index offers besides the locked
files is ignored. With ``only_selected`` (what ``sync`` uses), each package lists
only the hash of the one file ``Pylock.select`` picks, and ``--only-binary`` names
every package whose pick is a wheel, so pip cannot build the sdist instead. Where
the files come from:

* packages with an ``index`` in the lock: ``--index-url`` (the most common one)
  and ``--extra-index-url`` for the others; hashes make mixing them safe;
* local files (``file:`` URLs or ``path``): ``--find-links`` of their directories;
* remote files from no index: a direct reference ``name @ url`` to the selected
  file, with its hash;
* ``archive`` packages: ``name @ url`` with the hash.

``vcs`` and ``directory`` packages cannot be installed with hashes (pip refuses
any unhashed line in a file that has one hash), so a hashed export raises
:class:`ExportError` naming them. ``hashes=False`` writes every line without
hashes instead: ``vcs`` as ``name @ git+URL@COMMIT`` (the locked commit, never a
branch), ``directory`` as ``name @ file:///abs/path`` or, editable,
``-e name@file:///abs/path``. ``sync`` installs those packages in a second pip
step from such a file. Without any index, the file says ``--no-index`` so that a
personal pip configuration cannot add one. Every lock string written is validated
first (:mod:`reqlock.deploy.pipsafe`). This module never imports the inventory.
"""

from __future__ import annotations

__all__ = ["ExportError", "directory_path", "export_requirements"]

import os
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
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

from reqlock.deploy.pipsafe import VCS_COMMIT_LENGTHS, LockPlace, user_index_url
from reqlock.deploy.select import LockSelectionError, Source, select_expected
from reqlock.errors import ReqlockError
from reqlock.targets import Target, current

# The algorithms pip's --hash accepts.
_PIP_HASHES = ("sha256", "sha384", "sha512")


class ExportError(ReqlockError):
    """The lock cannot be written as a requirements file for this target: a vcs or
    directory package with hashes, a hash pip cannot check, an unknown vcs type."""

    def __init__(self, message: str, *, package: str | None = None, hint: str | None = None):
        self.package = package
        super().__init__(f"{package}: {message}" if package else message, hint=hint)


def _hash_options(
    item: PackageWheel | PackageSdist | PackageArchive, name: str, place: LockPlace
) -> list[str]:
    options = place.hash_options(item.hashes, _PIP_HASHES)
    if not options:
        have = ", ".join(sorted(item.hashes)) or "none"
        raise ExportError(
            f"the lock has no sha256/sha384/sha512 hash pip can check (has: {have})",
            package=name,
        )
    return options


def _file_uri(path: PurePath, base: str | None) -> str:
    """A local path as a ``file:`` URL: percent-encoded, so that a space or a
    leading '-' cannot split or start an option on pip's line."""
    if not path.is_absolute():
        path = PurePath(base) / path if base is not None else PurePath(os.path.abspath(path))
    return PurePath(os.path.abspath(path)).as_uri()


def _local_dir(item: PackageWheel | PackageSdist, base: str | None, place: LockPlace) -> str | None:
    """The ``--find-links`` location of a local file, or ``None`` for a remote one."""
    if item.url:
        url = place.at(".url").url(item.url)
        if urlsplit(url).scheme != "file":
            return None
        return url.split("#", 1)[0].rsplit("/", 1)[0] + "/"
    if item.path:
        path = PurePath(place.at(".path").path_value(item.path))
        return _file_uri(path.parent, base) + "/"
    return None


def _version_of(package: Package, source: PackageWheel | PackageSdist) -> str:
    if package.version is not None:
        return str(package.version)
    if isinstance(source, PackageWheel):
        return str(parse_wheel_filename(source.filename)[1])
    return str(parse_sdist_filename(source.filename)[1])


def _archive_url(archive: PackageArchive, base: str | None, place: LockPlace) -> str:
    if archive.url:
        return place.at(".url").url(archive.url)
    assert archive.path is not None  # validated: url or path
    path = PurePath(place.at(".path").path_value(archive.path))
    if not path.is_absolute() and base is None:
        raise ExportError(
            f"archive path {archive.path!r} is relative and the lock's directory is unknown",
        )
    return _file_uri(path, base)


def _with_subdirectory(url: str, subdirectory: str | None, place: LockPlace) -> str:
    if subdirectory is None:
        return url
    sub = place.at(".subdirectory").subdirectory(subdirectory)
    return f"{url}{'&' if '#' in url else '#'}subdirectory={sub}"


def _vcs_line(name: str, vcs: PackageVcs, base: str | None, place: LockPlace) -> str:
    """``name @ git+URL@COMMIT[#subdirectory=SUB]``: exactly the locked commit."""
    if vcs.type not in VCS_COMMIT_LENGTHS:
        raise ExportError(
            f"is locked as a {vcs.type!r} source; reqlock installs "
            f"{' and '.join(VCS_COMMIT_LENGTHS)} sources only",
            package=name,
        )
    if vcs.url is not None:
        url = place.at(".url").vcs_url(vcs.url)
    else:
        assert vcs.path is not None  # validated: url or path
        url = _file_uri(PurePath(place.at(".path").path_value(vcs.path)), base)
    commit = place.at(".commit-id").commit_id(vcs.commit_id, vcs.type)
    # requested-revision (a branch, a tag) is left out on purpose: the commit is
    # what was locked, whatever the branch points to today.
    return f"{name} @ " + _with_subdirectory(f"{vcs.type}+{url}@{commit}", vcs.subdirectory, place)


def directory_path(directory: PackageDirectory, base: str | os.PathLike[str] | None) -> str:
    """The absolute path of a ``directory`` entry's project: its ``path`` resolved
    against ``base`` (default: the current directory), ``subdirectory`` joined."""
    path = PurePath(directory.path)
    if directory.subdirectory:
        path = path / directory.subdirectory
    if not path.is_absolute() and base is not None:
        path = PurePath(base) / path
    return os.path.abspath(path)


def _directory_line(
    name: str, directory: PackageDirectory, base: str | None, place: LockPlace
) -> str:
    """``name @ file:///abs/path``, or ``-e name@file:///abs/path`` when editable
    (pip's ``-e`` option takes one word: no spaces around the ``@``)."""
    place.at(".path").path_value(directory.path)
    if directory.subdirectory is not None:
        place.at(".subdirectory").subdirectory(directory.subdirectory)
    uri = PurePath(directory_path(directory, base)).as_uri()
    return f"-e {name}@{uri}" if directory.editable else f"{name} @ {uri}"


def _refuse_unhashable(chosen: Mapping[NormalizedName, Source]) -> None:
    """Raise :class:`ExportError` naming every package pip cannot hash-check."""
    found = [
        (name, "vcs" if isinstance(source, PackageVcs) else "directory")
        for name, source in sorted(chosen.items())
        if isinstance(source, PackageVcs | PackageDirectory)
    ]
    if not found:
        return
    hint = (
        "export without hashes (`reqlock export --no-hashes`, hashes=False; nothing is "
        "hash-checked then), or lock a released version (an index file or an archive)"
    )
    if len(found) == 1:
        name, kind = found[0]
        raise ExportError(
            f"is locked as a {kind} source, which pip cannot install with --require-hashes",
            package=name,
            hint=hint,
        )
    listed = ", ".join(f"{name} ({kind})" for name, kind in found)
    raise ExportError(
        f"{len(found)} packages are locked as vcs or directory sources, which pip cannot "
        f"install with --require-hashes: {listed}",
        hint=hint,
    )


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


@dataclass
class _Writer:
    """The requirements text being built, and what its header must say."""

    base: str | None
    supported: frozenset[Tag]
    index_url: str | None
    only_selected: bool
    hashes: bool = True
    indexes: Counter[str] = field(default_factory=Counter)
    find_links: set[str] = field(default_factory=set)
    binary: list[NormalizedName] = field(default_factory=list)
    source_built: list[NormalizedName] = field(default_factory=list)
    sdist_only: list[NormalizedName] = field(default_factory=list)
    direct: list[NormalizedName] = field(default_factory=list)

    def _hashes(
        self, item: PackageWheel | PackageSdist | PackageArchive, name: str, place: LockPlace
    ) -> list[str]:
        if not self.hashes:
            # Validated all the same: a poisoned lock is refused in either mode.
            place.hash_options(item.hashes, tuple(item.hashes))
            return []
        return _hash_options(item, name, place)

    def block(self, package: Package, source: Source, place: LockPlace) -> list[str]:
        """The requirement line of one package and its ``--hash`` options."""
        name = package.name
        if isinstance(source, PackageVcs | PackageDirectory):
            if self.hashes:
                _refuse_unhashable({name: source})
            # Built from source: never covered by an --only-binary :all:.
            self.source_built.append(name)
            self.direct.append(name)
            if isinstance(source, PackageVcs):
                return [_vcs_line(name, source, self.base, place.at(".vcs"))]
            return [_directory_line(name, source, self.base, place.at(".directory"))]
        if isinstance(source, PackageArchive):
            at = place.at(".archive")
            try:
                url = _archive_url(source, self.base, at)
            except ExportError as exc:
                raise ExportError(exc.message, package=name) from None
            self.source_built.append(name)
            head = f"{name} @ {_with_subdirectory(url, source.subdirectory, at)}"
            return [head, *self._hashes(source, name, at)]
        files = self._files(package, source, place)
        if isinstance(source, PackageWheel):
            self.binary.append(name)
        else:
            self.source_built.append(name)
            self.sdist_only.append(name)
        if package.index and self.index_url is None:
            self.indexes[place.at(".index").index(package.index)] += 1
        local = {id(item): _local_dir(item, self.base, where) for item, where in files}
        if self.index_url is None and not package.index and local[id(source)] is None:
            # No index to find it on: point pip at the selected file itself.
            where = next(where for item, where in files if item is source)
            assert source.url is not None
            head = f"{name} @ {where.at('.url').url(source.url)}"
            files = [(source, where)]
        else:
            head = f"{name}=={_version_of(package, source)}"
            self.find_links.update(d for d in local.values() if d is not None)
        return [head, *(o for item, where in files for o in self._hashes(item, name, where))]

    def build_indexes(self, indexes: Sequence[tuple[str, LockPlace]]) -> None:
        """Offer pip every index of the lock (``indexes``: each package's index and
        its place) for the build requirements of vcs and directory packages, when
        the packages written name none themselves."""
        if self.index_url is not None or self.indexes or not self.direct:
            return
        for url, place in indexes:
            self.indexes[place.index(url)] += 1

    def _files(
        self, package: Package, source: PackageWheel | PackageSdist, place: LockPlace
    ) -> list[tuple[PackageWheel | PackageSdist, LockPlace]]:
        """The files whose hashes pip may accept, each with its place in the lock."""
        files: list[tuple[PackageWheel | PackageSdist, LockPlace]] = []
        for j, wheel in enumerate(package.wheels or ()):
            if parse_wheel_filename(wheel.filename)[3] & self.supported:
                files.append((wheel, place.at(f".wheels[{j}]")))
        if package.sdist is not None:
            files.append((package.sdist, place.at(".sdist")))
        for item, where in files:
            # Every file is checked, also those only_selected leaves out: a lock
            # with a poisoned string is refused whatever part of it is written.
            where.at(".name").filename(item.filename)
            _local_dir(item, self.base, where)
            where.hash_options(item.hashes, tuple(item.hashes))
        if self.only_selected:
            files = [(item, where) for item, where in files if item is source]
        return files

    def header(self, target: Target) -> list[str]:
        """The comment and option lines that start the file."""
        lines = [
            f"# Generated by reqlock from a pylock file for target {target.name!r}; do not edit.",
        ]
        if self.hashes:
            lines.append("# Install with: pip install --require-hashes --no-deps -r <this file>")
        else:
            lines += [
                "# Install with: pip install --no-deps -r <this file>",
                "# Written without hashes: pip does not check that it installs the locked files.",
            ]
        if self.index_url is not None:
            lines.append(f"--index-url {user_index_url(self.index_url)}")
        elif self.indexes:
            ordered = sorted(self.indexes, key=lambda url: (-self.indexes[url], url))
            lines.append(f"--index-url {ordered[0]}")
            lines.extend(f"--extra-index-url {url}" for url in ordered[1:])
        else:
            lines.append("--no-index")
        lines.extend(f"--find-links {directory}" for directory in sorted(self.find_links))
        if self.only_selected and self.binary:
            # Per package when some must be built from source (sdist or archive).
            names = sorted(self.binary) if self.source_built else [":all:"]
            lines.extend(f"--only-binary {name}" for name in names)
        if self.only_selected:
            # pip cannot tell files in a --find-links directory apart by hash before
            # downloading them: without this it would take a wheel lying next to the
            # locked sdist, and fail its hash check.
            lines.extend(f"--no-binary {name}" for name in sorted(self.sdist_only))
        return lines


def _target_of(
    target: Target | None, environment: Mapping[str, str] | None, tags: Sequence[Tag] | None
) -> Target:
    if target is not None:
        return target
    if environment is None or tags is None:
        here = current()
        return Target(
            name="current",
            environment=environment if environment is not None else here.environment,
            tags=tuple(tags) if tags is not None else here.tags,
        )
    return Target(name="custom", environment=environment, tags=tuple(tags))


def _selection(
    lock: Pylock,
    target: Target,
    extras: Collection[str],
    groups: Collection[str] | None,
    lock_name: str | None,
) -> Mapping[NormalizedName, tuple[Package, Source]]:
    selection = select_expected(
        lock,
        environment=target.environment,
        tags=target.tags,
        extras=extras,
        groups=groups,
        lock_name=f"{lock_name or 'the lock'} (for target {target.name!r})",
    )
    if selection.problems:
        problems = "; ".join(p.describe() for p in selection.problems)
        raise LockSelectionError(
            f"the lock cannot be installed on target {target.name!r}: {problems}"
        )
    return selection.packages


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
    lock_name: str | None = None,
    only_selected: bool = False,
    hashes: bool = True,
) -> str:
    """Return the requirements-file text that installs ``lock``'s selection for a target.

    The target is ``target``, or ``environment`` and ``tags`` (marker variables and
    supported tags), or, when none is given, the running interpreter. ``extras`` and
    ``groups`` select as ``Pylock.select`` does. ``packages`` limits the output to
    those names (sync installs only what differs). ``index_url`` replaces the lock's
    indexes (e.g. a mirror). ``lock_dir`` resolves relative ``path`` entries
    (default: the current directory); ``lock_name`` names the lock in errors.
    ``only_selected`` lists only the selected file's hash per package and forbids
    pip to build what has a selected wheel (``--only-binary``).

    ``hashes=False`` writes no ``--hash`` at all (pip then checks nothing), and can
    therefore write ``vcs`` packages (pinned to the locked commit) and
    ``directory`` packages (absolute ``file:`` URLs, ``-e`` when editable). When
    such packages are written and none of the others names an index, the indexes
    of every selected package are offered for their build requirements.

    Raises :class:`ExportError` for packages pip cannot install with hashes (all
    of them named), :class:`~reqlock.errors.LockFileError` for a lock string unsafe
    to hand to pip, :class:`~reqlock.errors.ConfigError` for an unusable
    ``index_url`` and :class:`~reqlock.deploy.select.LockSelectionError` when the
    lock does not apply.
    """
    target = _target_of(target, environment, tags)
    selected = _selection(lock, target, extras, groups, lock_name)
    wanted = None if packages is None else {canonicalize_name(n) for n in packages}
    chosen = sorted(name for name in selected if wanted is None or name in wanted)
    if hashes:
        _refuse_unhashable({name: selected[name][1] for name in chosen})
    writer = _Writer(
        base=os.fspath(lock_dir) if lock_dir is not None else None,
        supported=frozenset(target.tags),
        index_url=index_url,
        only_selected=only_selected,
        hashes=hashes,
    )
    via = _via(lock, set(selected))
    # select() yields the lock's own Package objects: their identity gives the key.
    position = {id(package): index for index, package in enumerate(lock.packages)}

    def place_of(package: Package) -> LockPlace:
        return LockPlace(lock_name or "the lock", f"packages[{position.get(id(package), '?')}]")

    blocks: list[str] = []
    for name in chosen:
        package, source = selected[name]
        block = " \\\n".join(
            line if i == 0 else f"    {line}"
            for i, line in enumerate(writer.block(package, source, place_of(package)))
        )
        if name in via:
            block += f"\n    # via {', '.join(via[name])}"
        blocks.append(block)
    writer.build_indexes(
        [
            (package.index, place_of(package).at(".index"))
            for package, _ in (selected[name] for name in sorted(selected))
            if package.index
        ]
    )
    header = writer.header(target)
    return "\n".join(header) + "\n\n" + "\n".join(blocks) + ("\n" if blocks else "")
