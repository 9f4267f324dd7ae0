"""Resolution for one target (or one region of a universal lock).

The provider (:mod:`reqlock.locking.provider`) is only resolvelib's interface.
Which releases and files the target may use is decided by
:class:`~reqlock.locking.rules.FileRules`; pages and metadata come from the
:class:`~reqlock.locking.source.PackageSource` (in production the index client);
a :class:`~reqlock.locking.crawl.Crawler` runs ahead on the source's threads so
the resolver rarely waits; and a failure is put into words by
:mod:`reqlock.locking.explain`.
"""

from __future__ import annotations

__all__ = ["Pin", "Resolution", "ResolveOptions", "resolve"]

from collections.abc import Callable, Mapping, Sequence

import resolvelib
from packaging.markers import Marker
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name

from reqlock.errors import ResolutionError
from reqlock.index.sources import DirectDist
from reqlock.locking.candidates import PYTHON as _PYTHON
from reqlock.locking.candidates import (
    Candidate,
    Req,
    constraints_for,
    pin_limits,
    to_req,
)
from reqlock.locking.crawl import Crawler
from reqlock.locking.explain import explain
from reqlock.locking.forks import condition_of, split
from reqlock.locking.pinned import check_pinned
from reqlock.locking.provider import Provider, ResolveOptions
from reqlock.locking.region import Region
from reqlock.locking.requirements import RequirementLine, RequirementSet
from reqlock.locking.resolution import Pin, Resolution
from reqlock.locking.rules import FileRules, marker_true
from reqlock.locking.search import Outcome, search
from reqlock.locking.source import PackageSource
from reqlock.progress import Reporter
from reqlock.targets import Target


def resolve(
    requirements: RequirementSet,
    *,
    index: PackageSource,
    target: Target | Region,
    options: ResolveOptions | None = None,
    reporter: Reporter | None = None,
    extra_constraints: Sequence[tuple[NormalizedName, SpecifierSet, str]] = (),
    direct: Mapping[NormalizedName, DirectDist] | None = None,
) -> Resolution:
    """Resolve ``requirements`` for ``target``; raise :class:`ResolutionError` with an
    explanation in words when no set of versions satisfies them.

    ``index`` is where pages and metadata come from: a
    :class:`~reqlock.index.index.Index`, or anything else with the methods of
    :class:`~reqlock.locking.source.PackageSource`. ``extra_constraints`` are
    ``(name, specifier, source)`` triples that act like lines of a constraints file
    (pins of an earlier environment, ``--upgrade-package NAME==VERSION``); ``source``
    says where they come from in error messages. ``direct`` holds the loaded
    direct references by project name (see :func:`reqlock.locking.directs.load`);
    every requirement with a URL must name one of them.

    ``target`` may be a :class:`~reqlock.locking.region.Region` (a universal lock);
    then a :class:`~reqlock.locking.forks.Fork` is raised where the region must be
    cut in pieces resolved on their own (see :mod:`reqlock.locking.universal`)."""
    options = options or ResolveOptions(
        pre=requirements.pre,
        only_binary=requirements.only_binary,
        no_binary=requirements.no_binary,
    )
    reporter = reporter or Reporter()
    reporter.resolving_target(target.name)
    region = target if isinstance(target, Region) else None
    applies = _applies(target)
    roots = [
        line
        for line in requirements.requirements
        if line.requirement.marker is None or applies(line.requirement.marker)
    ]
    constraints = constraints_for(requirements, applies, extra_constraints)
    rules = FileRules.of(
        requirements,
        target,
        only_binary=options.only_binary,
        no_binary=options.no_binary,
        exclude_newer=options.exclude_newer,
    )
    crawler = Crawler(
        index,
        rules,
        lambda meta, extras: rules.requirements_of(meta, extras, base=True),
        preferred=options.preferred,
        pre=options.pre,
        limits=pin_limits(roots, constraints),
    )
    provider = Provider(
        index,
        rules,
        crawler,
        constraints=constraints,
        options=options,
        reporter=reporter,
        direct=direct or {},
    )
    root_reqs = _root_reqs(roots, region)
    for req in root_reqs:
        if req.url is None:
            crawler.crawl(req.name, req.extras, req.specifier)
    outcome = _search(provider, root_reqs, options, target.name)
    if outcome.result is None:
        raise explain(
            outcome.causes,
            source=index,
            rules=rules,
            constraints=constraints,
            provenance=provider.watch.provenance,
            unproven=outcome.too_deep,
        ) from None
    return _to_resolution(outcome.result, provider, target, root_reqs)


def _root_reqs(roots: Sequence[RequirementLine], region: Region | None) -> list[Req]:
    """The user's requirements for the resolver; in a region, a :class:`Fork` when
    they ask for one project differently under different markers."""
    reqs = [
        to_req(line, condition_of(line.requirement.marker, (), base=True) if region else None)
        for line in roots
    ]
    fork = split(region, reqs, "the requirements") if region is not None else None
    if fork is not None:
        raise fork
    return reqs


def _search(
    provider: Provider, roots: Sequence[Req], options: ResolveOptions, name: str
) -> Outcome:
    """The search's outcome; a fully pinned input is checked, not searched (see
    :mod:`reqlock.locking.pinned`)."""
    checked = check_pinned(provider, roots)
    if checked is not None:
        return Outcome(checked)
    try:
        return search(
            provider,
            provider.watch,
            roots,
            max_rounds=options.max_rounds,
            recheck_rounds=options.recheck_rounds,
        )
    except resolvelib.ResolutionTooDeep:
        raise ResolutionError(
            f"gave up after {options.max_rounds} resolution rounds for {name}",
            hint="tighten the version ranges of the requirements that backtrack the most",
        ) from None


def _applies(target: Target | Region) -> Callable[[Marker], bool]:
    """Whether a requirement's marker holds for ``target`` (for a region: somewhere)."""
    if isinstance(target, Region):
        return target.applies
    env = dict(target.environment)
    return lambda marker: marker_true(marker, env, "")


def _to_resolution(
    result: resolvelib.resolvers.Result,  # type: ignore[type-arg]
    provider: Provider,
    target: Target | Region,
    root_reqs: Sequence[Req],
) -> Resolution:
    mapping: Mapping[str, Candidate] = result.mapping
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
            direct=cand.direct,
        )
    roots = tuple(sorted({canonicalize_name(r.name) for r in root_reqs}))
    return Resolution(target=target, pins=pins, roots=roots)
