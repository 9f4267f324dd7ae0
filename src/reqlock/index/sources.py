"""Direct references, fetched: archives, git repositories and local directories.

Each :class:`~reqlock.locking.requirements.DirectReference` becomes a
:class:`DirectDist`: its core metadata and what the lock records about it (an
archive's sha256 and size, a repository's commit). Metadata is read without
running any code where the source allows it (a wheel's ``METADATA``, an sdist's
static ``PKG-INFO``, a static ``[project]`` table), else prepared by the
project's build backend through pip's command line (never ``pip._internal``).

What cannot change is cached: an archive's metadata under its sha256, a
repository's under its commit. A local directory is read afresh every time.
"""

from __future__ import annotations

__all__ = ["DirectDist", "DirectSources", "VcsKey", "VcsPin", "public_repo_url"]

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from reqlock.errors import DirectReferenceError, MetadataError
from reqlock.files import NotARegularFile, TooLarge, read_regular
from reqlock.index.metadata import (
    DistMetadata,
    is_static_sdist_metadata,
    metadata_from_pip_report,
    parse_metadata,
    sdist_pkg_info,
    wheel_metadata,
)
from reqlock.index.pages import DistFile
from reqlock.index.projectmeta import static_metadata
from reqlock.urls import redact_url

if TYPE_CHECKING:
    # Only types here: the parser makes references, the index reads their fields.
    from reqlock.index.git import Git
    from reqlock.index.index import Index
    from reqlock.locking.requirements import DirectReference

# Far above any real wheel or sdist; a path to a device or a huge file is an
# error, not an endless read.
_MAX_ARCHIVE_BYTES = 2 * 1024 * 1024 * 1024
_MAX_PYPROJECT_BYTES = 4 * 1024 * 1024

VcsKey = tuple[str, str | None, str | None]
"""``(repository URL without credentials, requested revision, subdirectory)``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class VcsPin:
    """A git reference resolved to its commit."""

    url: str
    """The repository URL without credentials (what the lock holds)."""
    requested_revision: str | None
    commit: str
    subdirectory: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class DirectDist:
    """A direct reference with its metadata and what the lock records about it."""

    reference: DirectReference
    metadata: DistMetadata
    archive: DistFile | None = None
    """For an archive: its file (``url`` without credentials, or the ``file:``
    URL of a local one), with sha256 and size."""
    vcs: VcsPin | None = None

    @property
    def name(self) -> NormalizedName:
        """The project name (from its metadata)."""
        return self.metadata.name

    @property
    def version(self) -> Version:
        """The version its metadata declares."""
        return self.metadata.version

    @property
    def kind(self) -> str:
        """``archive``, ``vcs`` or ``directory``."""
        return self.reference.kind

    @property
    def shown(self) -> str:
        """Where it comes from, for messages (no credentials)."""
        if self.vcs is not None:
            return f"{self.vcs.url}@{self.vcs.commit[:12]}"
        return self.reference.path or redact_url(self.reference.url)


def public_repo_url(url: str) -> str:
    """A repository URL fit for a lock: no password or token. An ssh user name
    (``git@``) is part of the address, not a secret, so it stays."""
    parts = urlsplit(url)
    if parts.password is None and (parts.username is None or parts.scheme == "ssh"):
        return url
    host = parts.netloc.rpartition("@")[2]
    if parts.scheme == "ssh" and parts.username:
        host = f"{parts.username}@{host}"
    return parts._replace(netloc=host).geturl()


class DirectSources:
    """Loads direct references with an :class:`Index`'s network, cache and build
    settings, and ``git`` for repositories."""

    def __init__(
        self,
        index: Index,
        *,
        git_dir: Path,
        keep_commits: Mapping[VcsKey, str] | None = None,
    ) -> None:
        self._index = index
        self._git_dir = git_dir
        self._git_tool: Git | None = None
        self._keep = dict(keep_commits or {})
        self._lock = threading.Lock()

    def load(
        self, reference: DirectReference, *, name: str | None, hashes: tuple[str, ...] = ()
    ) -> DirectDist:
        """Fetch ``reference``; ``name`` is the name the requirement gives (checked
        against the metadata), ``hashes`` the ``algorithm:hex`` it must match."""
        if reference.kind == "archive":
            found = self._archive(reference, name, hashes)
        elif reference.kind == "vcs":
            found = self._vcs(reference, name)
        else:
            assert reference.path is not None
            found = DirectDist(
                reference=reference, metadata=self._project(Path(reference.path), name)
            )
        if name is not None and found.name != canonicalize_name(name):
            raise DirectReferenceError(
                f"the requirement names {name}, but {found.shown} is the project {found.name}",
                source=found.shown,
                hint=f"write '{found.name} @ ...', or point at the project {name}",
            )
        return found

    # -- archives ------------------------------------------------------------

    def _archive(
        self, reference: DirectReference, name: str | None, hashes: tuple[str, ...]
    ) -> DirectDist:
        wanted = dict(h.split(":", 1) for h in hashes)
        if reference.path is not None:
            filename = os.path.basename(reference.path)
            data = _read_local(reference.path)
            url = reference.url
        else:
            url = self._index.public_url(reference.url)
            filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
            given = {k: v for k, v in wanted.items() if k == "sha256"}
            remote = DistFile(filename=filename, url=url, hashes=given)
            data = self._index.download(remote, package=name or filename)
        for algorithm, expected in sorted(wanted.items()):
            if hashlib.new(algorithm, data).hexdigest() != expected:
                shown = reference.path or redact_url(url)
                raise DirectReferenceError(
                    f"{shown} does not match the {algorithm} the requirement gives",
                    source=shown,
                    hint="the file changed or the hash is wrong; check where it comes from",
                )
        sha256 = hashlib.sha256(data).hexdigest()
        dist = DistFile(filename=filename, url=url, hashes={"sha256": sha256}, size=len(data))
        return DirectDist(
            reference=reference,
            metadata=self._archive_metadata(data, dist, name),
            archive=dist,
        )

    def _archive_metadata(self, data: bytes, dist: DistFile, name: str | None) -> DistMetadata:
        label = name or dist.filename
        key = dist.sha256 or ""
        remembered = self._remembered(key)
        if remembered is not None:
            return remembered
        if dist.is_wheel:
            raw = wheel_metadata(data, filename=dist.filename, package=label, version="")
        else:
            pkg_info = sdist_pkg_info(data, filename=dist.filename, package=label, version="")
            if pkg_info is None or not is_static_sdist_metadata(pkg_info):
                with tempfile.TemporaryDirectory(prefix="reqlock-archive-") as tmp:
                    path = Path(tmp) / dist.filename
                    path.write_bytes(data)
                    return self._remember(key, self._build(path, label))
            raw = pkg_info
        return self._remember(key, _metadata_of(raw, label))

    # -- git -----------------------------------------------------------------

    @property
    def _git(self) -> Git:
        with self._lock:
            if self._git_tool is None:
                from reqlock.index.git import Git

                self._git_tool = Git(self._git_dir)
            return self._git_tool

    def _vcs(self, reference: DirectReference, name: str | None) -> DirectDist:
        from reqlock.index.git import parse_vcs_url

        parsed = parse_vcs_url(reference.url)
        public = public_repo_url(parsed.repo_url)
        key: VcsKey = (public, parsed.revision, parsed.subdirectory)
        commit = self._keep.get(key)
        if commit is None:
            if self._index.offline:
                raise DirectReferenceError(
                    f"{redact_url(public)}: which commit {parsed.revision or 'HEAD'} is "
                    "needs the network (--offline)",
                    source=redact_url(public),
                    hint="run once without --offline, or re-lock a lock that pins the commit",
                )
            commit = self._git.resolve(parsed.repo_url, parsed.revision)
        pin = VcsPin(
            url=public,
            requested_revision=parsed.revision,
            commit=commit,
            subdirectory=parsed.subdirectory,
        )
        cache_key = hashlib.sha256(
            f"{public}\0{commit}\0{parsed.subdirectory}".encode()
        ).hexdigest()
        meta = self._remembered(cache_key)
        if meta is None:
            tree = self._git.checkout(parsed.repo_url, commit)
            project = tree / parsed.subdirectory if parsed.subdirectory else tree
            meta = self._remember(cache_key, self._project(project, name, pristine=True))
        return DirectDist(reference=reference, metadata=meta, vcs=pin)

    # -- source trees --------------------------------------------------------

    def _project(self, path: Path, name: str | None, *, pristine: bool = False) -> DistMetadata:
        """The metadata of the project in directory ``path``; with ``pristine``
        (a cached checkout) a build runs on a copy, since backends write into
        the tree (``build/``, ``*.egg-info``)."""
        label = name or path.name
        if not path.is_dir():
            what = "does not exist" if not path.exists() else "is not a directory"
            raise DirectReferenceError(
                f"{path} {what}", source=str(path), hint="check the path on the requirement line"
            )
        pyproject = path / "pyproject.toml"
        if pyproject.is_file():
            try:
                text = read_regular(pyproject, limit=_MAX_PYPROJECT_BYTES).decode("utf-8")
            except (OSError, UnicodeDecodeError, NotARegularFile, TooLarge) as exc:
                raise DirectReferenceError(
                    f"cannot read {pyproject}: {exc}", source=str(pyproject)
                ) from None
            meta = static_metadata(text, where=str(pyproject))
            if meta is not None:
                return meta
        elif not (path / "setup.py").is_file() and not (path / "setup.cfg").is_file():
            raise DirectReferenceError(
                f"{path} has no pyproject.toml or setup.py: it is not a Python project",
                source=str(path),
                hint="point at the directory that holds the project's pyproject.toml",
            )
        if pristine:
            import shutil

            with tempfile.TemporaryDirectory(prefix="reqlock-tree-") as tmp:
                copy = Path(tmp) / path.name
                shutil.copytree(path, copy, symlinks=True, ignore=shutil.ignore_patterns(".git"))
                return self._build(copy, label)
        return self._build(path, label)

    def _build(self, path: Path, label: str) -> DistMetadata:
        settings = self._index.build_settings
        if not settings.allow:
            raise MetadataError(
                f"{label} ({path.name}) has no static metadata; reqlock would have to run its "
                "build backend to know its dependencies, and --no-build forbids that",
                package=label,
                reason="build-refused",
                hint="allow builds, or declare the dependencies statically in [project]",
            )
        self._index.reporter.building(label, "")
        item = settings.builder(
            path,
            package=label,
            version="",
            index_urls=list(settings.index_urls),
            python=settings.python,
        )
        meta = item.get("metadata") if isinstance(item, Mapping) else None
        name, version = _name_version(meta, label)
        return metadata_from_pip_report(item, package=name, version=version)

    # -- the cache -----------------------------------------------------------

    def _remembered(self, key: str) -> DistMetadata | None:
        cache = self._index.cache
        if cache is None or not key:
            return None
        blob = cache.get_blob("direct-metadata", key)
        if blob is None:
            return None
        try:
            item = json.loads(blob)
            name, version = _name_version(item.get("metadata"), "?")
            return metadata_from_pip_report(item, package=name, version=version)
        except (ValueError, AttributeError, MetadataError, DirectReferenceError):
            return None  # an old or damaged entry: work it out again

    def _remember(self, key: str, meta: DistMetadata) -> DistMetadata:
        cache = self._index.cache
        if cache is not None and key:
            item = {
                "metadata": {
                    "name": meta.name,
                    "version": str(meta.version),
                    "requires_dist": [str(r) for r in meta.requires_dist],
                    "requires_python": str(meta.requires_python)
                    if meta.requires_python is not None
                    else None,
                    "provides_extra": sorted(meta.provides_extras),
                }
            }
            cache.put_blob("direct-metadata", key, json.dumps(item, sort_keys=True).encode())
        return meta


def _read_local(path: str) -> bytes:
    try:
        return read_regular(path, limit=_MAX_ARCHIVE_BYTES)
    except FileNotFoundError:
        raise DirectReferenceError(
            f"{path} does not exist", source=path, hint="check the path on the requirement line"
        ) from None
    except (OSError, NotARegularFile, TooLarge) as exc:
        raise DirectReferenceError(f"cannot read {path}: {exc}", source=path) from None


def _metadata_of(raw: bytes, label: str) -> DistMetadata:
    """Parse METADATA/PKG-INFO whose name and version are not known beforehand."""
    from reqlock.index.headers import email_fields

    fields = email_fields(raw)
    name, version = _name_version(
        {"name": fields.get("name"), "version": fields.get("version")}, label
    )
    return parse_metadata(raw, package=name, version=version)


def _name_version(meta: Any, label: str) -> tuple[str, str]:
    name = meta.get("name") if isinstance(meta, Mapping) else None
    version = meta.get("version") if isinstance(meta, Mapping) else None
    if not isinstance(name, str) or not name or not isinstance(version, str):
        raise DirectReferenceError(f"{label}: its metadata has no Name or no Version", source=label)
    try:
        Version(version)
    except InvalidVersion:
        raise DirectReferenceError(
            f"{label}: its Version {version!r} is not PEP 440", source=label
        ) from None
    return name, version
