"""The package universe: data from ``fixtures/universe.toml``, built into real files."""

from __future__ import annotations

import hashlib
import sys
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.fakeindex import build

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

__all__ = ["DistFile", "Project", "Release", "Universe", "build_universe", "load_universe_data"]

Yanked = bool | str


@dataclass(frozen=True, kw_only=True, slots=True)
class DistFile:
    """One file on the index, as the index describes it."""

    filename: str
    project: str  # canonical name
    version: str
    kind: Literal["wheel", "sdist"]
    tag: str | None  # the (possibly compressed) wheel tag set
    path: Path
    sha256: str
    size: int
    upload_time: str
    requires_python: str | None  # what the index says (data-requires-python)
    yanked: Yanked
    metadata: bytes | None  # the wheel's METADATA; None for sdists
    serve_metadata: bool  # whether <filename>.metadata exists (PEP 658)

    @property
    def metadata_sha256(self) -> str | None:
        if self.metadata is None or not self.serve_metadata:
            return None
        return hashlib.sha256(self.metadata).hexdigest()


@dataclass(frozen=True, kw_only=True, slots=True)
class Release:
    version: str
    requires_dist: tuple[str, ...]
    requires_python: str | None
    provides_extras: tuple[str, ...]
    upload_time: str
    yanked: Yanked
    files: tuple[DistFile, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Project:
    name: str  # canonical
    display_name: str
    purpose: str
    releases: Mapping[str, Release]


@dataclass(frozen=True, kw_only=True, slots=True)
class Universe:
    root: Path  # the directory holding every built file
    projects: Mapping[str, Project]

    def files(self) -> Iterator[DistFile]:
        for project in self.projects.values():
            for release in project.releases.values():
                yield from release.files

    def file(self, filename: str) -> DistFile | None:
        return next((f for f in self.files() if f.filename == filename), None)

    def project(self, name: str) -> Project:
        return self.projects[canonicalize_name(name)]


def load_universe_data(universe_toml: Path) -> dict[str, Any]:
    with universe_toml.open("rb") as f:
        return tomllib.load(f)["projects"]  # type: ignore[no-any-return]


def _padding(size: int, seed: str) -> bytes:
    """Incompressible but deterministic bytes."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def _stamp(universe_toml: Path) -> str:
    digest = hashlib.sha256(universe_toml.read_bytes())
    digest.update(Path(build.__file__).read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()


def _read_wheel_metadata(path: Path) -> bytes:
    with zipfile.ZipFile(path) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return archive.read(name)


def build_universe(universe_toml: Path, dest: Path) -> Universe:
    """Build every file of the universe into ``dest`` (once) and describe them.

    Files already in ``dest`` are reused when they were built from the same universe
    data and builder code (checked by a stamp file).
    """
    data = load_universe_data(universe_toml)
    dest.mkdir(parents=True, exist_ok=True)
    stamp_file = dest / ".stamp"
    stamp = _stamp(universe_toml)
    reuse = stamp_file.exists() and stamp_file.read_text() == stamp
    projects: dict[str, Project] = {}
    for key, spec in data.items():
        canonical = canonicalize_name(key)
        if canonical != key:
            raise ValueError(f"universe: project key {key!r} is not canonical ({canonical!r})")
        display = str(spec.get("name", key))
        releases: dict[str, Release] = {}
        for version, rel in spec.get("releases", {}).items():
            releases[version] = _build_release(
                dest, canonical, display=display, version=version, rel=rel, reuse=reuse
            )
        projects[canonical] = Project(
            name=canonical,
            display_name=display,
            purpose=str(spec.get("purpose", "")),
            releases=dict(sorted(releases.items(), key=lambda item: Version(item[0]))),
        )
    stamp_file.write_text(stamp)
    return Universe(root=dest, projects=dict(sorted(projects.items())))


def _build_release(
    dest: Path,
    canonical: str,
    *,
    display: str,
    version: str,
    rel: Mapping[str, Any],
    reuse: bool,
) -> Release:
    requires_dist = tuple(rel.get("requires_dist", ()))
    requires_python = rel.get("requires_python")
    provides_extras = tuple(rel.get("provides_extras", ()))
    yanked: Yanked = rel.get("yanked", False)
    upload_time = str(rel["upload_time"])
    index_requires_python = rel.get("file_requires_python", requires_python)
    extra_files: dict[str, bytes] = {}
    if rel.get("padding"):
        padding = _padding(int(rel["padding"]), f"{canonical}-{version}")
        extra_files[f"{build.dist_name(display)}/_padding.bin"] = padding
    files: list[DistFile] = []
    for tag in rel.get("wheels", ()):
        path = dest / build.wheel_filename(display, version, tag)
        if not (reuse and path.exists()):
            path = build.build_wheel(
                dest,
                display,
                version,
                tag=tag,
                requires_dist=requires_dist,
                requires_python=requires_python,
                provides_extras=provides_extras,
                files=extra_files,
                metadata_version=str(rel.get("metadata_version", "2.3")),
            )
        files.append(
            _describe(
                path,
                project=canonical,
                version=version,
                kind="wheel",
                tag=tag,
                upload_time=upload_time,
                requires_python=index_requires_python,
                yanked=yanked,
                metadata=_read_wheel_metadata(path),
                serve_metadata=not rel.get("no_metadata_file", False),
            )
        )
    sdist = rel.get("sdist")
    if sdist is not None:
        if sdist not in ("static", "dynamic"):
            raise ValueError(f"universe: {canonical} {version}: sdist must be static or dynamic")
        path = dest / build.sdist_filename(display, version)
        if not (reuse and path.exists()):
            path = build.build_sdist(
                dest,
                display,
                version,
                requires_dist=requires_dist,
                requires_python=requires_python,
                provides_extras=provides_extras,
                static=sdist == "static",
                files=extra_files,
            )
        files.append(
            _describe(
                path,
                project=canonical,
                version=version,
                kind="sdist",
                tag=None,
                upload_time=upload_time,
                requires_python=index_requires_python,
                yanked=yanked,
                metadata=None,
                serve_metadata=False,
            )
        )
    return Release(
        version=version,
        requires_dist=requires_dist,
        requires_python=requires_python,
        provides_extras=provides_extras,
        upload_time=upload_time,
        yanked=yanked,
        files=tuple(sorted(files, key=lambda f: f.filename)),
    )


def _describe(
    path: Path,
    *,
    project: str,
    version: str,
    kind: Literal["wheel", "sdist"],
    tag: str | None,
    upload_time: str,
    requires_python: str | None,
    yanked: Yanked,
    metadata: bytes | None,
    serve_metadata: bool,
) -> DistFile:
    content = path.read_bytes()
    return DistFile(
        filename=path.name,
        project=project,
        version=version,
        kind=kind,
        tag=tag,
        path=path,
        sha256=hashlib.sha256(content).hexdigest(),
        size=len(content),
        upload_time=upload_time,
        requires_python=requires_python,
        yanked=yanked,
        metadata=metadata,
        serve_metadata=serve_metadata,
    )
