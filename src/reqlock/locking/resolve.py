"""Resolution for one target: a resolvelib provider that holds only packaging rules.

The provider asks the :class:`~reqlock.index.index.Index` for pages and metadata and
never does I/O itself. While it works, a crawler runs ahead on the index's thread
pool: for every project it learns of, it guesses the release most likely to be
chosen, fetches its metadata and then the pages of its dependencies, so the
resolver rarely waits on one request at a time.
"""

from __future__ import annotations

__all__ = ["Pin", "Resolution", "ResolveOptions", "resolve"]

import threading
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

import resolvelib
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag, parse_tag
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from reqlock.errors import MetadataError, NoVersionsError, ResolutionError
from reqlock.index.index import Index
from reqlock.index.metadata import DistMetadata
from reqlock.progress import Reporter
from reqlock.locking.requirements import RequirementLine, RequirementSet
from reqlock.locking.resolution import Pin, Resolution
from reqlock.index.pages import DistFile, ProjectPage
from reqlock.targets import Target

_PYTHON = "<python>"


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


# -- requirement and candidate values -------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Req:
    name: str  # canonical name, or _PYTHON
    extras: frozenset[NormalizedName]
    specifier: SpecifierSet
    source: str  # "requirements.txt:3", or "parent 1.0"
    url: str | None = None

    @property
    def identifier(self) -> str:
        return _identifier(self.name, self.extras)

    def describe(self) -> str:
        if self.name == _PYTHON:
            return f"Python {self.specifier}"
        extras = f"[{','.join(sorted(self.extras))}]" if self.extras else ""
        return f"{self.name}{extras}{self.specifier or ''}"


@dataclass(frozen=True, slots=True)
class _Candidate:
    name: str
    version: Version
    extras: frozenset[NormalizedName] = frozenset()
    files: tuple[DistFile, ...] = field(default=(), compare=False)
    meta_file: DistFile | None = field(default=None, compare=False)
    index: str = field(default="", compare=False)

    @property
    def identifier(self) -> str:
        return _identifier(self.name, self.extras)


def _identifier(name: str, extras: frozenset[NormalizedName]) -> str:
    return f"{name}[{','.join(sorted(extras))}]" if extras else name


@lru_cache(maxsize=4096)
def _tags_of(tag_text: str) -> frozenset[Tag]:
    return parse_tag(tag_text)


@lru_cache(maxsize=4096)
def _spec(text: str) -> SpecifierSet | None:
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        return None


def _is_pinned(spec: SpecifierSet) -> bool:
    return any(
        s.operator == "===" or (s.operator == "==" and not s.version.endswith(".*")) for s in spec
    )


# -- the provider --------------------------------------------------------------------


class _Provider(resolvelib.AbstractProvider):  # type: ignore[type-arg]
    def __init__(
        self,
        index: Index,
        target: Target,
        *,
        constraints: Mapping[str, list[_Req]],
        user_hashes: Mapping[str, frozenset[str]],
        options: ResolveOptions,
        reporter: Reporter,
    ) -> None:
        self.index = index
        self.target = target
        self.env = dict(target.environment)
        self.python_version = Version(self.env["python_full_version"])
        self.tag_rank = target.tag_priority()
        self.constraints = constraints
        self.user_hashes = user_hashes
        self.options = options
        self.reporter = reporter
        self._files: dict[tuple[str, Version], tuple[DistFile, ...]] = {}
        self._versions: dict[str, list[Version]] = {}
        self._tag_ok: dict[str, int | None] = {}
        self._crawled: set[str] = set()
        self._crawl_lock = threading.Lock()
        self._yanked_warned: set[tuple[str, Version]] = set()
        self._depth: dict[str, int] = {}

    # resolvelib interface

    def identify(self, requirement_or_candidate: _Req | _Candidate) -> str:
        return requirement_or_candidate.identifier

    def get_preference(
        self,
        identifier: str,
        resolutions: Mapping[str, _Candidate],
        candidates: Mapping[str, Iterator[_Candidate]],
        information: Mapping[str, Iterator[resolvelib.structs.RequirementInformation]],  # type: ignore[type-arg]
        backtrack_causes: Sequence[resolvelib.structs.RequirementInformation],  # type: ignore[type-arg]
    ) -> tuple[bool, bool, bool, bool, int, str]:
        infos = list(information[identifier])
        reqs = [info.requirement for info in infos]
        is_python = identifier == _PYTHON
        direct = any(r.url for r in reqs)
        pinned = any(_is_pinned(r.specifier) for r in reqs)
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
        return (not is_python, not cause, not direct, not pinned, depth, identifier)

    def narrow_requirement_selection(
        self,
        identifiers: Iterable[str],
        resolutions: Mapping[str, _Candidate],
        candidates: Mapping[str, Iterator[_Candidate]],
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
        requirements: Mapping[str, Iterator[_Req]],
        incompatibilities: Mapping[str, Iterator[_Candidate]],
    ) -> Iterable[_Candidate]:
        reqs = list(requirements[identifier])
        bad = {c.version for c in incompatibilities[identifier]}
        if identifier == _PYTHON:
            cand = _Candidate(name=_PYTHON, version=self.python_version)
            ok = all(r.specifier.contains(self.python_version, prereleases=True) for r in reqs)
            return [cand] if ok and cand.version not in bad else []
        name = reqs[0].name
        extras = reqs[0].extras
        urls = {r.url for r in reqs if r.url}
        if urls:
            raise ResolutionError(
                f"{name}: direct references ({', '.join(sorted(urls))}) cannot be locked yet",
                hint=f"publish {name} to an index and require it by version",
            )
        spec = SpecifierSet()
        for r in reqs:
            spec &= r.specifier
        for c in self.constraints.get(name, ()):
            spec &= c.specifier
        self.crawl(name, extras, spec)
        return self._iter_candidates(name, extras, spec, bad)

    def _iter_candidates(
        self,
        name: str,
        extras: frozenset[NormalizedName],
        spec: SpecifierSet,
        bad: set[Version],
    ) -> Iterator[_Candidate]:
        page = self.index.project(name)
        versions = self.versions(page)
        pinned = _is_pinned(spec)
        preferred = self.options.preferred.get(canonicalize_name(name))
        if preferred is not None and preferred in page.versions():
            versions = [preferred, *(v for v in versions if v != preferred)]
        allow_pre = self.options.pre or spec.prereleases is True
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
            if v not in bad
            and (allow_pre or not v.is_prerelease)
            and spec.contains(v, prereleases=True)
        )
        for version in matching:
            files = self.usable_files(page, version, pinned)
            if not files:
                continue
            if all(f.yanked for f in files) and (name, version) not in self._yanked_warned:
                self._yanked_warned.add((name, version))
                reason = next((f.yanked_reason for f in files if f.yanked_reason), None)
                self.reporter.warning(
                    f"{name} {version} is yanked"
                    + (f" ({reason})" if reason else "")
                    + "; it is used only because a requirement pins it with =="
                )
            yield _Candidate(
                name=name,
                version=version,
                extras=extras,
                files=files,
                meta_file=self.metadata_file(files, page, version),
                index=page.index,
            )

    def is_satisfied_by(self, requirement: _Req, candidate: _Candidate) -> bool:
        if requirement.url:
            return False
        return requirement.specifier.contains(candidate.version, prereleases=True)

    def get_dependencies(self, candidate: _Candidate) -> list[_Req]:
        if candidate.name == _PYTHON:
            return []
        self.reporter.pinned(candidate.name, str(candidate.version))
        meta = self.metadata(candidate)
        source = f"{candidate.name} {candidate.version}"
        deps: list[_Req] = []
        if candidate.extras:
            # An extra's candidate stands for "the base at this version, plus more".
            deps.append(
                _Req(
                    name=candidate.name,
                    extras=frozenset(),
                    specifier=SpecifierSet(f"=={candidate.version}"),
                    source=source,
                )
            )
        if meta.requires_python is not None:
            deps.append(
                _Req(
                    name=_PYTHON, extras=frozenset(), specifier=meta.requires_python, source=source
                )
            )
        for req in self.requirements_of(meta, candidate.extras, base=not candidate.extras):
            deps.append(
                _Req(
                    name=canonicalize_name(req.name),
                    extras=frozenset(canonicalize_name(e) for e in req.extras),
                    specifier=req.specifier,
                    source=source,
                    url=req.url,
                )
            )
        for dep in deps:
            if dep.name != _PYTHON:
                self.crawl(dep.name, dep.extras, dep.specifier)
        return deps

    # packaging rules

    def requirements_of(
        self, meta: DistMetadata, extras: frozenset[NormalizedName], *, base: bool
    ) -> Iterator[Requirement]:
        """The requirements of ``meta`` that apply to this target and these extras."""
        for req in meta.requires_dist:
            if req.marker is None:
                if base:
                    yield req
                continue
            if (base and _marker_true(req.marker, self.env, "")) or any(
                _marker_true(req.marker, self.env, e) for e in extras
            ):
                yield req

    def metadata(self, candidate: _Candidate) -> DistMetadata:
        assert candidate.meta_file is not None
        try:
            return self.index.metadata(candidate.name, str(candidate.version), candidate.meta_file)
        except MetadataError as exc:
            if exc.reason in ("build-refused", "offline"):
                raise
            raise ResolutionError(exc.message, hint=exc.hint) from None

    def versions(self, page: ProjectPage) -> list[Version]:
        """Versions of a project, newest first."""
        found = self._versions.get(page.name)
        if found is None:
            found = sorted(page.versions(), reverse=True)
            self._versions[page.name] = found
        return found

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
        hashes = self.user_hashes.get(page.name)
        cutoff = self.options.exclude_newer

        def keep(filename: str) -> bool:
            if filename.endswith(".whl"):
                return "binary" in formats and self.wheel_rank_of(filename) is not None
            return "source" in formats

        result = []
        for dist in page.files(version, keep):
            if dist.requires_python:
                spec = _spec(dist.requires_python)
                if spec is not None and not spec.contains(self.python_version, prereleases=True):
                    continue
            if hashes is not None and not any(
                f"{alg}:{value}" in hashes for alg, value in dist.hashes.items()
            ):
                continue
            if cutoff is not None and not _uploaded_before(dist, cutoff):
                continue
            result.append(dist)
        files = tuple(result)
        self._files[key] = files
        return files

    def formats(self, name: str) -> set[str]:
        """pip's format control: which kinds of file may be used for ``name``."""
        allowed = {"binary", "source"}
        only, no = self.options.only_binary, self.options.no_binary
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
        ranks = [self.tag_rank[t] for t in tags if t in self.tag_rank]
        rank = min(ranks) if ranks else None
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

    def why_unusable(self, page: ProjectPage, version: Version) -> str | None:
        """Why a release cannot be used for this target, in words (None if it can)."""
        files = page.files(version)
        usable = self.usable_files(page, version, pinned=False)
        if usable:
            meta = self.index.metadata_if_known(self.metadata_file(usable))
            if (
                meta is not None
                and meta.requires_python is not None
                and not (meta.requires_python.contains(self.python_version, prereleases=True))
            ):
                return f"requires Python {meta.requires_python}"
            return None
        compatible = self.compatible_files(page, version)
        if compatible:
            return "yanked"
        for dist in files:
            spec = _spec(dist.requires_python or "")
            if (
                spec is not None
                and dist.requires_python
                and not spec.contains(self.python_version, prereleases=True)
            ):
                return f"requires Python {dist.requires_python}"
        return f"no file for {self.target.name}"

    # running ahead of the resolver

    def crawl(self, name: str, extras: frozenset[NormalizedName], spec: SpecifierSet) -> None:
        """Fetch, in the background, what the resolver will probably ask for next."""
        key = _identifier(name, extras)
        with self._crawl_lock:
            if key in self._crawled:
                return
            self._crawled.add(key)

        def on_page(page: ProjectPage) -> None:
            guess = self._guess(page, spec)
            if guess is None:
                return
            version, files = guess
            meta_file = self.metadata_file(files, page, version)

            def on_metadata(meta: DistMetadata) -> None:
                for req in self.requirements_of(meta, extras, base=True):
                    self.crawl(
                        canonicalize_name(req.name),
                        frozenset(canonicalize_name(e) for e in req.extras),
                        req.specifier,
                    )

            self.index.prefetch_metadata(name, str(version), meta_file, then=on_metadata)

        self.index.prefetch_project(name, then=on_page)

    def _guess(
        self, page: ProjectPage, spec: SpecifierSet
    ) -> tuple[Version, tuple[DistFile, ...]] | None:
        preferred = self.options.preferred.get(page.name)
        order = self.versions(page)
        if preferred is not None:
            order = [preferred, *order]
        for version in order:
            if version.is_prerelease and not self.options.pre:
                continue
            if not spec.contains(version, prereleases=True):
                continue
            files = self.usable_files(page, version, pinned=False)
            if files:
                return version, files
        return None


def _marker_true(marker: Marker, env: Mapping[str, str], extra: str) -> bool:
    return marker.evaluate({**env, "extra": extra})


def _uploaded_before(dist: DistFile, cutoff: datetime) -> bool:
    if not dist.upload_time:
        return False
    try:
        uploaded = datetime.fromisoformat(dist.upload_time.replace("Z", "+00:00"))
    except ValueError:
        return False
    return uploaded <= cutoff


# -- entry point ---------------------------------------------------------------------


def resolve(
    requirements: RequirementSet,
    *,
    index: Index,
    target: Target,
    options: ResolveOptions | None = None,
    reporter: Reporter | None = None,
    extra_constraints: Sequence[tuple[NormalizedName, SpecifierSet, str]] = (),
) -> Resolution:
    """Resolve ``requirements`` for ``target``; raise :class:`ResolutionError` with an
    explanation in words when no set of versions satisfies them.

    ``extra_constraints`` are ``(name, specifier, source)`` triples that act like
    lines of a constraints file (pins of an earlier environment, ``--upgrade-package
    NAME==VERSION``); ``source`` says where they come from in error messages."""
    options = options or ResolveOptions(
        pre=requirements.pre,
        only_binary=requirements.only_binary,
        no_binary=requirements.no_binary,
    )
    reporter = reporter or Reporter()
    env = dict(target.environment)
    roots = [
        line
        for line in requirements.requirements
        if line.requirement.marker is None or _marker_true(line.requirement.marker, env, "")
    ]
    constraints: dict[str, list[_Req]] = {}
    for line in requirements.constraints:
        if line.requirement.marker is None or _marker_true(line.requirement.marker, env, ""):
            constraint = _to_req(line)
            constraints.setdefault(line.name, []).append(
                _Req(
                    name=constraint.name,
                    extras=constraint.extras,
                    specifier=constraint.specifier,
                    source=f"constraint {constraint.source} limits it to",
                )
            )
    for name, spec, source in extra_constraints:
        constraints.setdefault(name, []).append(
            _Req(name=name, extras=frozenset(), specifier=spec, source=source)
        )
    user_hashes: dict[str, set[str]] = {}
    for line in requirements.requirements:
        if line.hashes:
            user_hashes.setdefault(line.name, set()).update(line.hashes)
    provider = _Provider(
        index,
        target,
        constraints=constraints,
        user_hashes={k: frozenset(v) for k, v in user_hashes.items()},
        options=options,
        reporter=reporter,
    )
    root_reqs = [_to_req(line) for line in roots]
    for req in root_reqs:
        provider.crawl(req.name, req.extras, req.specifier)
    resolver: resolvelib.Resolver = resolvelib.Resolver(  # type: ignore[type-arg]
        provider, resolvelib.BaseReporter()
    )
    try:
        result = resolver.resolve(root_reqs, max_rounds=options.max_rounds)
    except resolvelib.ResolutionImpossible as exc:
        raise _explain(exc.causes, provider, requirements) from None
    except resolvelib.ResolutionTooDeep:
        raise ResolutionError(
            f"gave up after {options.max_rounds} resolution rounds for {target.name}",
            hint="tighten the version ranges of the requirements that backtrack the most",
        ) from None
    return _to_resolution(result, provider, target, root_reqs)


def _to_req(line: RequirementLine) -> _Req:
    req = line.requirement
    return _Req(
        name=line.name,
        extras=frozenset(canonicalize_name(e) for e in req.extras),
        specifier=req.specifier,
        source=str(line.origin),
        url=req.url,
    )


def _to_resolution(
    result: resolvelib.resolvers.Result,  # type: ignore[type-arg]
    provider: _Provider,
    target: Target,
    root_reqs: Sequence[_Req],
) -> Resolution:
    mapping: Mapping[str, _Candidate] = result.mapping
    children: dict[str, set[NormalizedName]] = {}
    for key in mapping:
        cand = mapping[key]
        if cand.name == _PYTHON:
            continue
        name = canonicalize_name(cand.name)
        for child_key in result.graph.iter_children(key):
            child = mapping.get(child_key) if child_key is not None else None
            if child is None or child.name == _PYTHON:
                continue
            child_name = canonicalize_name(child.name)
            if child_name != name:
                children.setdefault(name, set()).add(child_name)
    pins: dict[NormalizedName, Pin] = {}
    for cand in mapping.values():
        if cand.name == _PYTHON or cand.extras:
            continue
        name = canonicalize_name(cand.name)
        pins[name] = Pin(
            name=name,
            version=cand.version,
            files=cand.files,
            metadata=provider.metadata(cand),
            dependencies=tuple(sorted(children.get(name, ()))),
            index=cand.index,
        )
    roots = tuple(sorted({canonicalize_name(r.name) for r in root_reqs}))
    return Resolution(target=target, pins=pins, roots=roots)


def _explain(
    causes: Collection[resolvelib.structs.RequirementInformation],  # type: ignore[type-arg]
    provider: _Provider,
    requirements: RequirementSet,
) -> ResolutionError:
    """Turn resolvelib's causes into sentences: who wants what."""
    lines: list[str] = []
    names: list[str] = []
    for info in causes:
        req: _Req = info.requirement
        parent: _Candidate | None = info.parent
        who = req.source if parent is None else f"{parent.name} {parent.version}"
        if req.name == _PYTHON:
            lines.append(
                f"  - {who} requires Python {req.specifier}, but the target "
                f"{provider.target.name} has Python {provider.python_version}"
            )
        else:
            lines.append(f"  - {who} requires {req.describe()}")
        if req.name not in names:
            names.append(req.name)
    for name in names:
        for c in provider.constraints.get(name, ()):
            lines.append(f"  - {c.source} {c.describe()}")
    pkgs = [n for n in names if n != _PYTHON]
    if len(causes) == 1 or (len(pkgs) == 1 and all(i.requirement.name == pkgs[0] for i in causes)):
        name = pkgs[0] if pkgs else _PYTHON
        spec = SpecifierSet()
        for info in causes:
            if info.requirement.name == name:
                spec &= info.requirement.specifier
        available = _available_summary(provider, name, spec) if name != _PYTHON else ""
        return NoVersionsError(
            f"no version of {name} satisfies all requirements for {provider.target.name}:\n"
            + "\n".join(lines)
            + (f"\n  available: {available}" if available else ""),
            hint="relax one of these requirements",
        )
    return ResolutionError(
        f"the requirements conflict for {provider.target.name} "
        f"(on {', '.join(pkgs) or 'Python'}):\n" + "\n".join(lines),
        hint="relax one of these requirements, or add a constraint that picks a version "
        "all of them accept",
    )


def _available_summary(provider: _Provider, name: str, spec: SpecifierSet) -> str:
    """What the index has for ``name``, and why the versions ``spec`` allows were
    not usable for this target."""
    page = provider.index.project(name)
    versions = provider.versions(page)
    if not versions:
        return f"none: {page.index} has no project named {name} (check the spelling)"
    usable = [v for v in versions if provider.usable_files(page, v, pinned=False)]
    parts: list[str] = []
    for version in versions:
        if not spec.contains(version, prereleases=True) or len(parts) >= 5:
            continue
        reason = provider.why_unusable(page, version)
        if reason:
            parts.append(f"{version} ({reason})")
    shown = ", ".join(str(v) for v in usable[:8]) or "none"
    more = f" and {len(usable) - 8} older" if len(usable) > 8 else ""
    text = f"{shown}{more}"
    if parts:
        text += "; not usable: " + ", ".join(parts)
    return text
