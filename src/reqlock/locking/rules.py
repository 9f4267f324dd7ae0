"""Packaging rules for one target: which releases and files of a project it may use.

Everything here is a pure function of a :class:`~reqlock.index.pages.ProjectPage`,
the target and the user's choices (format control, ``--exclude-newer``, hashes
given in requirements files); the only exception is :meth:`FileRules.why_unusable`,
which looks at metadata the source already holds. Results are cached per
(project, version): the resolver asks the same questions many times while it
backtracks, and the crawler asks them too, from the index's threads. The caches
need no lock: every value is a deterministic function of its key, so a race only
computes one twice.
"""

from __future__ import annotations

__all__ = ["FileRules", "is_pinned", "marker_true"]

from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime
from functools import lru_cache

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag, parse_tag
from packaging.utils import NormalizedName
from packaging.version import Version

from reqlock.index.metadata import DistMetadata
from reqlock.index.pages import DistFile, ProjectPage
from reqlock.locking.region import TRUE, Region
from reqlock.locking.requirements import RequirementSet
from reqlock.locking.source import PackageSource
from reqlock.targets import Target


@lru_cache(maxsize=4096)
def _tags_of(tag_text: str) -> frozenset[Tag]:
    return parse_tag(tag_text)


@lru_cache(maxsize=4096)
def _spec(text: str) -> SpecifierSet | None:
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        return None


def is_pinned(spec: SpecifierSet) -> bool:
    """True when ``spec`` names one exact version (``==1.0`` or ``===1.0``)."""
    return any(
        s.operator == "===" or (s.operator == "==" and not s.version.endswith(".*")) for s in spec
    )


def marker_true(marker: Marker, env: Mapping[str, str], extra: str) -> bool:
    """``marker`` evaluated in ``env`` with ``extra`` as the requested extra."""
    return marker.evaluate({**env, "extra": extra})


def _ranks(targets: Sequence[Target]) -> dict[Tag, int]:
    """The best rank of each tag among ``targets``."""
    ranks: dict[Tag, int] = {}
    for target in targets:
        for tag, rank in target.tag_priority().items():
            ranks[tag] = min(rank, ranks.get(tag, rank))
    return ranks


def _uploaded_before(dist: DistFile, cutoff: datetime) -> bool:
    # A file without a readable upload time cannot be shown to be old enough.
    if not dist.upload_time:
        return False
    try:
        uploaded = datetime.fromisoformat(dist.upload_time.replace("Z", "+00:00"))
    except ValueError:
        return False
    return uploaded <= cutoff


class FileRules:
    """Which versions and files of a project one target (or, for a universal lock, one
    :class:`~reqlock.locking.region.Region`) may use."""

    def __init__(
        self,
        target: Target | Region,
        *,
        only_binary: frozenset[str] = frozenset(),
        no_binary: frozenset[str] = frozenset(),
        exclude_newer: datetime | None = None,
        user_hashes: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        self.target = target
        self.region = target if isinstance(target, Region) else None
        if isinstance(target, Region):
            self.env: dict[str, str] = {}
            # A release must support the oldest Python of the region (as in uv).
            self.python_version = target.floor
            self._tag_rank = _ranks(target.targets)
        else:
            self.env = dict(target.environment)
            self.python_version = Version(self.env["python_full_version"])
            self._tag_rank = target.tag_priority()
        self.only_binary = only_binary
        self.no_binary = no_binary
        self.exclude_newer = exclude_newer
        self.user_hashes: Mapping[str, frozenset[str]] = user_hashes or {}
        self._files: dict[tuple[str, Version], tuple[DistFile, ...]] = {}
        self._versions: dict[str, list[Version]] = {}
        self._tag_ok: dict[str, int | None] = {}

    @classmethod
    def of(
        cls,
        requirements: RequirementSet,
        target: Target | Region,
        *,
        only_binary: frozenset[str],
        no_binary: frozenset[str],
        exclude_newer: datetime | None,
    ) -> FileRules:
        """The rules of ``target`` with the ``--hash`` values ``requirements`` give."""
        user_hashes: dict[str, set[str]] = {}
        for line in requirements.requirements:
            if line.hashes:
                user_hashes.setdefault(line.name, set()).update(line.hashes)
        return cls(
            target,
            only_binary=only_binary,
            no_binary=no_binary,
            exclude_newer=exclude_newer,
            user_hashes={k: frozenset(v) for k, v in user_hashes.items()},
        )

    def requirements_of(
        self, meta: DistMetadata, extras: frozenset[NormalizedName], *, base: bool
    ) -> Iterator[Requirement]:
        """The requirements of ``meta`` that apply to this target and these extras
        (with ``base``, also those of the release itself, without extras)."""
        region = self.region
        for req in meta.requires_dist:
            if req.marker is None:
                if base:
                    yield req
                continue
            if region is not None:
                if (base and region.applies(req.marker, "")) or any(
                    region.applies(req.marker, e) for e in extras
                ):
                    yield req
                continue
            if (base and marker_true(req.marker, self.env, "")) or any(
                marker_true(req.marker, self.env, e) for e in extras
            ):
                yield req

    def versions(self, page: ProjectPage) -> list[Version]:
        """Versions of a project, newest first."""
        found = self._versions.get(page.name)
        if found is None:
            found = sorted(page.versions(), reverse=True)
            self._versions[page.name] = found
        return found

    def releases(
        self,
        page: ProjectPage,
        spec: SpecifierSet,
        *,
        exclude: Collection[Version] = (),
        preferred: Version | None = None,
        pre: bool = False,
    ) -> Iterator[tuple[Version, tuple[DistFile, ...]]]:
        """The releases of ``page`` that ``spec`` allows, with their usable files, in
        the order to try them: ``preferred`` first, then newest first. ``exclude``
        holds versions already rejected; ``pre`` allows pre-releases (``--pre``)."""
        versions = self.versions(page)
        pinned = is_pinned(spec)
        if preferred is not None and preferred in page.versions():
            versions = [preferred, *(v for v in versions if v != preferred)]
        allow_pre = pre or spec.prereleases is True
        if not allow_pre:
            # pip's rule: pre-releases only when no final release can be used at all
            # (decided before excluding versions the resolver already rejected).
            allow_pre = not any(
                not v.is_prerelease
                and spec.contains(v, prereleases=True)
                and self.usable_files(page, v, pinned)
                for v in versions
            )
        # Lazy: the resolver usually takes the first candidate, and a popular
        # project has hundreds of versions.
        matching = (
            v
            for v in versions
            if v not in exclude
            and (allow_pre or not v.is_prerelease)
            and spec.contains(v, prereleases=True)
        )
        for version in matching:
            files = self.usable_files(page, version, pinned)
            if files:
                yield version, files

    def usable_files(
        self, page: ProjectPage, version: Version, pinned: bool
    ) -> tuple[DistFile, ...]:
        """Files of a release this target may install; yanked ones only if pinned."""
        files = self.compatible_files(page, version)
        if pinned:
            return files
        return tuple(f for f in files if not f.yanked)

    def compatible_files(self, page: ProjectPage, version: Version) -> tuple[DistFile, ...]:
        """Files of a release this target can install, whatever their yanked state."""
        key = (page.name, version)
        cached = self._files.get(key)
        if cached is not None:
            return cached
        formats = self.formats(page.name)

        def keep(filename: str) -> bool:
            # Decided on the file name alone, before the page entry is converted.
            if filename.endswith(".whl"):
                return "binary" in formats and self.wheel_rank_of(filename) is not None
            return "source" in formats

        name = page.name
        files = tuple(d for d in page.files(version, keep) if self._why_not_file(name, d) is None)
        self._files[key] = files
        return files

    def formats(self, name: str) -> set[str]:
        """pip's format control: which kinds of file may be used for ``name``."""
        allowed = {"binary", "source"}
        only, no = self.only_binary, self.no_binary
        if name in only:
            allowed.discard("source")
        elif name in no:
            allowed.discard("binary")
        elif ":all:" in only:
            allowed.discard("source")
        elif ":all:" in no:
            allowed.discard("binary")
        return allowed

    def wheel_rank(self, dist: DistFile) -> int | None:
        """The best (lowest) priority of the wheel's tags for this target, or None."""
        return self.wheel_rank_of(dist.filename)

    def wheel_rank_of(self, filename: str) -> int | None:
        """:meth:`wheel_rank` from a wheel's file name."""
        tag_text = "-".join(filename[:-4].split("-")[-3:])
        if tag_text in self._tag_ok:
            return self._tag_ok[tag_text]
        try:
            tags = _tags_of(tag_text)
        except ValueError:
            tags = frozenset()
        ranks = [self._tag_rank[t] for t in tags if t in self._tag_rank]
        rank = min(ranks) if ranks else None
        if self.region is not None and not (self.region.targets and rank is None):
            # Universal: any wheel some environment of the region can install (with
            # targets, only theirs); all rank alike, the file name decides.
            rank = 0 if self.region.wheel_ok(filename) else None
        self._tag_ok[tag_text] = rank
        return rank

    def metadata_file(
        self,
        files: Sequence[DistFile],
        page: ProjectPage | None = None,
        version: Version | None = None,
    ) -> DistFile:
        """The file whose metadata stands for the release: the best wheel this target
        can install; else, when the target would use the sdist, a wheel of the same
        release built for another platform (as uv does: a release's dependencies are
        the same in all its files, and markers carry the platform differences), which
        spares building the sdist; else the sdist."""
        wheels = [f for f in files if f.is_wheel]
        if wheels:
            return min(wheels, key=lambda f: (self.wheel_rank(f) or 0, f.filename))
        if page is not None and version is not None:
            others = [f for f in page.files(version) if f.is_wheel and not f.yanked]
            if others:
                return min(others, key=lambda f: f.filename)
        return min(files, key=lambda f: f.filename)

    def has_python(self) -> str:
        """The Python a release must support, in words."""
        if self.region is not None:
            return f"Python {self.python_version} is in the lock's range (--python-requires)"
        return f"the target has {self.python_version}"

    def why_unusable(
        self, page: ProjectPage, version: Version, source: PackageSource
    ) -> str | None:
        """Why a release cannot be used for this target, in words that name the rule
        or option responsible (None if it can be used).

        Metadata is consulted only when ``source`` already holds it: explaining a
        failure must not start new downloads."""
        usable = self.usable_files(page, version, pinned=False)
        region = self.region
        missing = region.uncovered(usable, TRUE) if region and usable else None
        if missing is not None:
            return f"no wheel or sdist for the required environment {missing}"
        if usable:
            meta = source.metadata_if_known(self.metadata_file(usable))
            if (
                meta is not None
                and meta.requires_python is not None
                and not (meta.requires_python.contains(self.python_version, prereleases=True))
            ):
                return f"requires Python {meta.requires_python}, {self.has_python()}"
            return None
        compatible = self.compatible_files(page, version)
        if compatible:
            reason = next((f.yanked_reason for f in compatible if f.yanked_reason), None)
            return "yanked" + (f": {reason}" if reason else "")
        reasons: list[str] = []
        for dist in page.files(version):
            reason = self._why_not(page.name, dist)
            if reason not in reasons:
                reasons.append(reason)
        return "; ".join(reasons) if reasons else "no files"

    def _why_not(self, name: str, dist: DistFile) -> str:
        """Which rule of :meth:`compatible_files` rejects ``dist``."""
        formats = self.formats(name)
        if dist.filename.endswith(".whl"):
            if "binary" not in formats:
                return "--no-binary excludes its wheels"
            if self.wheel_rank_of(dist.filename) is None:
                return f"no wheel for {self.target.name}"
        elif "source" not in formats:
            return "--only-binary excludes its sdist"
        return self._why_not_file(name, dist) or f"no file for {self.target.name}"

    def _why_not_file(self, name: str, dist: DistFile) -> str | None:
        """The rules that need the file's page entry, not only its name (None: it
        passes them): Requires-Python, the user's ``--hash`` values, ``--exclude-newer``."""
        if dist.requires_python:
            spec = _spec(dist.requires_python)
            # In a region, a file for its newer Pythons only is kept: the release then
            # splits the region (see locking.forks.python_split).
            if spec is not None and not (
                self.region.python_ok(spec)
                if self.region is not None
                else spec.contains(self.python_version, prereleases=True)
            ):
                return f"requires Python {dist.requires_python}, {self.has_python()}"
        hashes = self.user_hashes.get(name)
        if hashes is not None and not any(
            f"{alg}:{value}" in hashes for alg, value in dist.hashes.items()
        ):
            return "no file matches the --hash values of the requirements"
        cutoff = self.exclude_newer
        if cutoff is not None and not _uploaded_before(dist, cutoff):
            return f"uploaded after --exclude-newer {cutoff.isoformat()}"
        return None
