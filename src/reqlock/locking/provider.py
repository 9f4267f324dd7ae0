"""The resolvelib provider of one resolution: resolvelib's interface over a
:class:`~reqlock.locking.source.PackageSource` and the target's
:class:`~reqlock.locking.rules.FileRules` (see :mod:`reqlock.locking.resolve`)."""

from __future__ import annotations

__all__ = ["InvalidMetadata", "Provider", "ResolveOptions"]

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import resolvelib
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from reqlock.errors import MetadataError, ResolutionError
from reqlock.index.metadata import DistMetadata
from reqlock.index.sources import DirectDist
from reqlock.locking.candidates import PYTHON as _PYTHON
from reqlock.locking.candidates import (
    Candidate,
    Req,
    direct_candidates,
    unsatisfiable,
)
from reqlock.locking.crawl import Crawler
from reqlock.locking.forks import condition_of, python_split, split
from reqlock.locking.markers import MarkerExpr
from reqlock.locking.region import FALSE, TRUE
from reqlock.locking.requirements import RequirementSet
from reqlock.locking.rules import FileRules, is_pinned
from reqlock.locking.search import ConflictWatch
from reqlock.locking.source import PackageSource
from reqlock.progress import Reporter
from reqlock.settings import Settings


@dataclass(frozen=True, kw_only=True, slots=True)
class ResolveOptions:
    """Choices that change which versions and files may be picked."""

    pre: bool = False
    only_binary: frozenset[str] = frozenset()
    no_binary: frozenset[str] = frozenset()
    exclude_newer: datetime | None = None
    # Versions to try first (kept pins of an existing lock, earlier targets).
    preferred: Mapping[NormalizedName, Version] = field(default_factory=dict)
    max_rounds: int = 20000
    # The exhaustive second search that must confirm "impossible" (see locking.search).
    recheck_rounds: int = 5000

    @classmethod
    def of(
        cls,
        settings: Settings,
        requirements: RequirementSet,
        preferred: Mapping[NormalizedName, Version] | None = None,
    ) -> ResolveOptions:
        """The options ``settings`` and the requirements files decide."""
        return cls(
            pre=settings.pre,
            only_binary=requirements.only_binary,
            no_binary=requirements.no_binary,
            exclude_newer=settings.exclude_newer,
            preferred=preferred or {},
        )


# Releases whose metadata is fetched ahead when one of their project is rejected.
_PREFETCH_BATCH = 16


# -- the provider --------------------------------------------------------------------


class Provider(resolvelib.AbstractProvider):  # type: ignore[type-arg]
    def __init__(
        self,
        source: PackageSource,
        rules: FileRules,
        crawler: Crawler,
        *,
        constraints: Mapping[str, list[Req]],
        options: ResolveOptions,
        reporter: Reporter,
        direct: Mapping[NormalizedName, DirectDist],
    ) -> None:
        self.direct = direct
        self.source = source
        self.rules = rules
        self.crawler = crawler
        self.constraints = constraints
        self.options = options
        self.reporter = reporter
        self._yanked_warned: set[tuple[str, Version]] = set()
        self._ignored: set[str] = set()
        self._depth: dict[str, int] = {}
        self.watch = ConflictWatch(reporter, self._prefetch_after)
        # find_matches answers by (identifier, combined specifier, excluded versions):
        # backtracking asks the same questions again and again.
        self._matches: dict[
            tuple[str, SpecifierSet, frozenset[Version], MarkerExpr | None], Lazy
        ] = {}
        self._latest: dict[str, Lazy] = {}
        self._prefetched: set[tuple[str, Version]] = set()

    def identify(self, requirement_or_candidate: Req | Candidate) -> str:
        return requirement_or_candidate.identifier

    def get_preference(
        self,
        identifier: str,
        resolutions: Mapping[str, Candidate],
        candidates: Mapping[str, Iterator[Candidate]],
        information: Mapping[str, Iterator[resolvelib.structs.RequirementInformation]],  # type: ignore[type-arg]
        backtrack_causes: Sequence[resolvelib.structs.RequirementInformation],  # type: ignore[type-arg]
    ) -> tuple[bool, bool, bool, bool, bool, int, str]:
        infos = list(information[identifier])
        reqs = [info.requirement for info in infos]
        is_python = identifier == _PYTHON
        direct = any(r.url for r in reqs)
        pinned = any(is_pinned(r.specifier) for r in reqs)
        cause = any(
            info.requirement.identifier == identifier
            or (info.parent is not None and info.parent.identifier == identifier)
            for info in backtrack_causes
        )
        # Shallow packages first, then by name: a deterministic order (the result
        # must not depend on timing) that follows the order in which the crawler
        # fetches, so the resolver rarely waits for a page or metadata.
        depth = (
            min(
                (0 if info.parent is None else self._depth.get(info.parent.identifier, 0) + 1)
                for info in infos
            )
            if infos
            else 0
        )
        self._depth[identifier] = min(depth, self._depth.get(identifier, depth))
        # A project that keeps being rejected goes before the ones rejecting it:
        # deciding it first lets their versions adapt to it, instead of trying all
        # of its versions under every version of theirs (resolvelib #199).
        hot = self.watch.is_hot(identifier)
        return (not is_python, not hot, not cause, not direct, not pinned, depth, identifier)

    def narrow_requirement_selection(
        self,
        identifiers: Iterable[str],
        resolutions: Mapping[str, Candidate],
        candidates: Mapping[str, Iterator[Candidate]],
        information: Mapping[str, Iterator[resolvelib.structs.RequirementInformation]],  # type: ignore[type-arg]
        backtrack_causes: Sequence[resolvelib.structs.RequirementInformation],  # type: ignore[type-arg]
    ) -> Iterable[str]:
        # While there is a conflict, work on the packages in it first: pinning
        # anything else cannot resolve it and only multiplies the backtracking
        # (as pip does). The Python check is free, so it always goes first.
        causes: set[str] = set()
        for info in backtrack_causes:
            causes.add(info.requirement.identifier)
            if info.parent is not None:
                causes.add(info.parent.identifier)
        found = []
        for identifier in identifiers:
            if identifier == _PYTHON:
                return [identifier]
            if identifier in causes:
                found.append(identifier)
        return found or identifiers

    def find_matches(
        self,
        identifier: str,
        requirements: Mapping[str, Iterator[Req]],
        incompatibilities: Mapping[str, Iterator[Candidate]],
    ) -> Iterable[Candidate] | Callable[[], Iterator[Candidate]]:
        reqs = list(requirements[identifier])
        bad = {c.version for c in incompatibilities[identifier]}
        if identifier == _PYTHON:
            python_version = self.rules.python_version
            cand = Candidate(name=_PYTHON, version=python_version)
            ok = all(r.specifier.contains(python_version, prereleases=True) for r in reqs)
            return [cand] if ok and cand.version not in bad else []
        name = reqs[0].name
        extras = reqs[0].extras
        spec = SpecifierSet()
        for r in reqs:
            spec &= r.specifier
        for c in self.constraints.get(name, ()):
            spec &= c.specifier
        found = self.direct.get(canonicalize_name(name))
        if found is not None or any(r.url for r in reqs):
            return direct_candidates(self.rules, name, extras, reqs, spec, found, bad)
        demand = self._demand(reqs)
        key = (identifier, spec, frozenset(bad), demand)
        found_matches = self._matches.get(key)
        if found_matches is None:
            self.crawler.crawl(name, extras, spec)
            found_matches = self._matches[key] = Lazy(
                cand
                for cand in self._iter_candidates(name, extras, spec, bad)
                if demand is None or self._covers(cand, demand)
            )
        self._latest[identifier] = found_matches
        # A factory: resolvelib reads candidates as far as it needs (usually one), so
        # the files of releases it never tries are never converted.
        return found_matches

    def _demand(self, reqs: Sequence[Req]) -> MarkerExpr | None:
        """Where a universal lock with required environments needs the project (None:
        no environment is required, any release will do)."""
        region = self.rules.region
        if region is None or not region.required:
            return None
        where = FALSE
        for req in reqs:
            where = where.or_(TRUE if req.condition is None else req.condition)
        return where

    def _covers(self, cand: Candidate, demand: MarkerExpr) -> bool:
        region = self.rules.region
        return region is None or region.uncovered(cand.files, demand) is None

    def _prefetch_after(self, rejected: Candidate) -> None:
        """Fetch, in one batch, the metadata of the releases that will be tried
        after ``rejected`` (the resolver goes down a project's list one at a time)."""
        ordered = self._latest.get(rejected.identifier)
        start = ordered.position(rejected) if ordered is not None else None
        if ordered is None or start is None:
            return
        for cand in ordered.upto(start + 1 + _PREFETCH_BATCH)[start + 1 :]:
            key = (cand.name, cand.version)
            if cand.meta_file is None or key in self._prefetched:
                continue
            self._prefetched.add(key)
            self.source.prefetch_metadata(cand.name, str(cand.version), cand.meta_file)

    def _iter_candidates(
        self,
        name: str,
        extras: frozenset[NormalizedName],
        spec: SpecifierSet,
        bad: set[Version],
    ) -> Iterator[Candidate]:
        # A generator: nothing is read from the source until resolvelib asks for
        # a first candidate.
        page = self.source.project(name)
        releases = self.rules.releases(
            page,
            spec,
            exclude=bad,
            preferred=self.options.preferred.get(canonicalize_name(name)),
            pre=self.options.pre,
        )
        for version, files in releases:
            if all(f.yanked for f in files) and (name, version) not in self._yanked_warned:
                self._yanked_warned.add((name, version))
                reason = next((f.yanked_reason for f in files if f.yanked_reason), None)
                self.reporter.warning(
                    f"{name} {version} is yanked"
                    + (f" ({reason})" if reason else "")
                    + "; it is used only because a requirement pins it with =="
                )
            yield Candidate(
                name=name,
                version=version,
                extras=extras,
                files=files,
                meta_file=self.rules.metadata_file(files, page, version),
                index=page.index,
            )

    def is_satisfied_by(self, requirement: Req, candidate: Candidate) -> bool:
        if requirement.url:
            return (
                candidate.direct is not None
                and requirement.direct_key == candidate.direct.reference.key
            )
        return requirement.specifier.contains(candidate.version, prereleases=True)

    def get_dependencies(self, candidate: Candidate) -> list[Req]:
        if candidate.name == _PYTHON:
            return []
        self.reporter.pinned(candidate.name, str(candidate.version))
        source = f"{candidate.name} {candidate.version}"
        try:
            meta = self.metadata(candidate)
        except InvalidMetadata as exc:
            # As pip does: warn, and let the resolver try the next release.
            if source not in self._ignored:
                self._ignored.add(source)
                self.reporter.warning(f"ignoring {source}: {exc}")
            return [unsatisfiable(source, str(exc))]
        deps: list[Req] = []
        if candidate.extras:
            # An extra's candidate stands for "the base at this version, plus more".
            deps.append(
                Req(
                    name=candidate.name,
                    extras=frozenset(),
                    specifier=SpecifierSet(f"=={candidate.version}"),
                    source=source,
                )
            )
        region = self.rules.region
        if region is not None:
            python = meta.requires_python or next(_file_pythons(candidate), None)
            fork = python_split(region, python, source) if python else None
            if fork is not None:
                raise fork
        if meta.requires_python is not None:
            deps.append(
                Req(name=_PYTHON, extras=frozenset(), specifier=meta.requires_python, source=source)
            )
        base = not candidate.extras
        for req in self.rules.requirements_of(meta, candidate.extras, base=base):
            dep_name = canonicalize_name(req.name)
            given = self.direct.get(dep_name)
            deps.append(
                Req(
                    condition=(
                        condition_of(req.marker, candidate.extras, base=base)
                        if region is not None
                        else None
                    ),
                    name=dep_name,
                    extras=frozenset(canonicalize_name(e) for e in req.extras),
                    specifier=req.specifier,
                    source=source,
                    url=req.url,
                    # A URL a dependency declares was loaded with the user's direct
                    # references (see locking.directs); it names that source.
                    direct_key=given.reference.key if req.url and given is not None else None,
                )
            )
        fork = split(region, deps, source) if region is not None else None
        if fork is not None:
            raise fork
        for dep in deps:
            if dep.name != _PYTHON and dep.name not in self.direct:
                self.crawler.crawl(dep.name, dep.extras, dep.specifier)
        # The requirement an earlier release of this project conflicted on goes
        # first: when it conflicts again, resolvelib stops at it instead of
        # working through every other dependency. The order changes no answer.
        on = self.watch.conflict_on.get(candidate.identifier)
        if on is not None:
            deps.sort(key=lambda dep: dep.identifier != on)
        return deps

    def metadata(self, candidate: Candidate) -> DistMetadata:
        """The metadata of ``candidate``'s release; a broken one is a resolution
        error, but a refused build or a cache miss offline keeps its own error."""
        if candidate.direct is not None:
            return candidate.direct.metadata
        assert candidate.meta_file is not None
        try:
            return self.source.metadata(candidate.name, str(candidate.version), candidate.meta_file)
        except MetadataError as exc:
            if exc.reason in ("build-refused", "offline"):
                raise
            if exc.reason == "invalid":
                raise InvalidMetadata(exc.message) from None
            raise ResolutionError(exc.message, hint=exc.hint) from None


def _file_pythons(candidate: Candidate) -> Iterator[SpecifierSet]:
    """The ``data-requires-python`` of the candidate's files that can be read."""
    for dist in candidate.files:
        if dist.requires_python:
            try:
                yield SpecifierSet(dist.requires_python)
            except ValueError:
                continue


class Lazy:
    """A ``find_matches`` answer computed only as far as it is read: calling it gives
    an iterator over the candidates, newest first, from the ones already made on."""

    __slots__ = ("_made", "_source")

    def __init__(self, source: Iterable[Candidate]) -> None:
        self._source = iter(source)
        self._made: list[Candidate] = []

    def __call__(self) -> Iterator[Candidate]:
        index = 0
        while index < len(self._made) or self._more():
            yield self._made[index]
            index += 1

    def _more(self) -> bool:
        found = next(self._source, None)
        if found is None:
            return False
        self._made.append(found)
        return True

    def upto(self, count: int) -> list[Candidate]:
        """The first ``count`` candidates (fewer when there are not so many)."""
        while len(self._made) < count and self._more():
            pass
        return self._made[:count]

    def position(self, cand: Candidate) -> int | None:
        """Where ``cand`` is among the candidates made so far."""
        try:
            return self._made.index(cand)
        except ValueError:
            return None


class InvalidMetadata(Exception):
    """A release's metadata cannot be used (its message says why)."""
