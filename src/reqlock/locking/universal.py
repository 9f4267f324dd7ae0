"""Universal resolution: one lock for every environment of a region.

The region (every environment ``requires-python`` and the ``environments`` markers
allow) is resolved as one target whose markers hold "somewhere" (see
:mod:`reqlock.locking.region`). Where a release asks for one project with different
versions under different markers, :func:`~reqlock.locking.forks.split` cuts the region
and each piece is resolved again on its own, preferring the versions the pieces done
before chose, so that versions agree wherever they can. Pieces partition the region,
so every environment belongs to exactly one fork, and the merged lock selects for it
what its fork resolved (:func:`~reqlock.locking.forks.reach` gives the markers).
"""

from __future__ import annotations

__all__ = ["Kept", "kept_of", "plan", "resolve_settings_universal", "resolve_universal"]

import dataclasses
from collections import Counter
from collections.abc import Collection, Mapping, Sequence

from packaging.markers import Marker
from packaging.pylock import Pylock
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version

from reqlock.errors import ResolutionError
from reqlock.index.sources import DirectDist
from reqlock.locking.forks import MAX_FORKS, Fork, partition, reach
from reqlock.locking.markers import MarkerError, MarkerExpr
from reqlock.locking.region import FALSE, TRUE, Region
from reqlock.locking.requirements import RequirementSet
from reqlock.locking.resolution import Resolution
from reqlock.locking.resolve import ResolveOptions, resolve
from reqlock.locking.source import PackageSource
from reqlock.progress import Reporter
from reqlock.settings import Settings, upgrade_constraints

Kept = Sequence[tuple[NormalizedName, Version, MarkerExpr]]
"""Pins with where they apply: the packages of a lock (the one being replaced, or an
earlier deployment environment's)."""


def kept_of(
    lock: Pylock, skip: Collection[str] = ()
) -> list[tuple[NormalizedName, Version, MarkerExpr]]:
    """The pins of ``lock`` with their markers (within the lock's ``environments``),
    less the projects in ``skip``."""
    covered = _parsed(lock.environments[0] if lock.environments else None)
    for marker in (lock.environments or [])[1:]:
        covered = covered.or_(_parsed(marker))
    found = []
    for package in lock.packages:
        if package.version is None or package.name in skip:
            continue
        found.append((package.name, package.version, covered.and_(_parsed(package.marker))))
    return found


def _parsed(marker: Marker | None) -> MarkerExpr:
    try:
        return MarkerExpr.parse(marker)
    except MarkerError:
        return TRUE  # a marker the algebra cannot read: the pin counts everywhere


def resolve_universal(
    requirements: RequirementSet,
    *,
    index: PackageSource,
    region: Region,
    options: ResolveOptions,
    reporter: Reporter | None = None,
    extra_constraints: Sequence[tuple[NormalizedName, SpecifierSet, str]] = (),
    direct: Mapping[NormalizedName, DirectDist] | None = None,
    kept: Kept = (),
    layered: Sequence[tuple[str, Kept]] = (),
) -> list[Resolution]:
    """Resolve ``requirements`` for every environment of ``region``: one
    :class:`Resolution` per fork, each with the markers of its pins.

    ``kept`` are preferred where their marker meets the fork (a re-lock keeps the pins
    of the lock it replaces); ``options.preferred`` everywhere. ``layered`` holds
    ``(label, pins)`` of earlier deployment environments: each fork must use their
    versions where their markers meet it (the region is first cut where an earlier
    lock has several versions of a project). A failure names the fork it happened in
    when the region was cut."""
    reporter = reporter or Reporter()
    pending = _pieces(region, [pins for _, pins in layered])
    done: list[Resolution] = []
    chosen: dict[NormalizedName, Version] = {}
    forks = 0
    while pending:
        piece = pending.pop(0)
        preferred = {
            name: version for name, version, where in kept if not where.is_disjoint(piece.marker)
        }
        for name, version in {**chosen, **options.preferred}.items():
            preferred.setdefault(name, version)
        must = [
            (name, SpecifierSet(f"=={version}"), f"{label} pins")
            for label, pins in layered
            for name, version, where in pins
            if not where.is_disjoint(piece.marker)
        ]
        try:
            resolution = resolve(
                requirements,
                index=index,
                target=piece,
                options=dataclasses.replace(options, preferred=preferred),
                reporter=reporter,
                extra_constraints=[*must, *extra_constraints],
                direct=direct,
            )
        except Fork as fork:
            forks += len(fork.pieces)
            if forks > MAX_FORKS:
                raise ResolutionError(
                    f"the universal resolution split into more than {MAX_FORKS} forks "
                    f"(the last at {fork.source})",
                    hint="narrow it with `environments` or lock for named targets",
                ) from None
            # Newer Pythons first: their fork takes the newest versions, and older
            # ones follow where they can (as uv orders its forks). A Python split
            # puts first the piece where the release that split it may be used.
            parts = [piece.narrow(p) for p in fork.pieces]
            if not fork.ordered:
                parts.sort(key=lambda r: r.floor, reverse=True)  # stable: ties keep order
            pending[0:0] = parts
            continue
        except ResolutionError as exc:
            raise _in_fork(exc, piece, region) from None
        roots = [line for line in requirements.requirements if line.name in resolution.pins]
        resolution = _reached(resolution, reach(piece, resolution.pins, roots))
        done.append(resolution)
        for name, pin in resolution.pins.items():
            chosen.setdefault(name, pin.version)
    return done


def plan(
    settings: Settings, previous: Pylock | None, pinned_by: Sequence[tuple[str, Pylock]]
) -> list[tuple[str, Kept]]:
    """For a universal lock: the pins to keep (labelled ``""``: the lock being
    replaced, less what may move), then each earlier environment's pins."""
    keep: Kept = []
    if previous is not None and not settings.upgrade:
        keep = kept_of(previous, skip=settings.upgrade_packages)
    return [("", keep), *((label, kept_of(other)) for label, other in pinned_by)]


def resolve_settings_universal(
    settings: Settings,
    reqs: RequirementSet,
    index: PackageSource,
    layers: Sequence[tuple[str, Kept]],
    reporter: Reporter,
    *,
    direct: Mapping[NormalizedName, DirectDist],
) -> list[Resolution]:
    """:func:`resolve_universal` with what ``settings`` say (``layers`` from :func:`plan`)."""
    universal = settings.universal
    assert universal is not None
    return resolve_universal(
        reqs,
        index=index,
        region=Region.covering(universal),
        options=ResolveOptions.of(settings, reqs),
        reporter=reporter,
        extra_constraints=upgrade_constraints(settings),
        direct=direct,
        kept=layers[0][1],
        layered=layers[1:],
    )


def _reached(resolution: Resolution, markers: Mapping[NormalizedName, MarkerExpr]) -> Resolution:
    """``resolution`` with its markers, less the pins no environment installs (a
    dependency whose marker contradicts every path to it)."""
    kept = {name for name, where in markers.items() if not where.is_false()}
    pins = {
        name: dataclasses.replace(pin, dependencies=tuple(d for d in pin.dependencies if d in kept))
        for name, pin in resolution.pins.items()
        if name in kept
    }
    return dataclasses.replace(resolution, pins=pins, markers=markers)


def _pieces(region: Region, locks: Sequence[Kept]) -> list[Region]:
    """``region`` cut where an earlier lock gives one project several versions, and
    where an earlier lock stops covering it."""
    cuts: list[MarkerExpr] = []
    for pins in locks:
        versions = Counter(name for name, _, _ in pins)
        covered = FALSE
        for name, _, where in pins:
            covered = covered.or_(where)
            if versions[name] > 1 and where not in cuts:
                cuts.append(where)
        # A lock made for some environments only (its targets) binds those only.
        if pins and not region.marker.implies(covered) and covered not in cuts:
            cuts.append(covered)
    return [region.narrow(p) for p in partition(region.marker, cuts)]


def _in_fork(exc: ResolutionError, piece: Region, region: Region) -> ResolutionError:
    """``exc``, saying which fork failed when the region was cut."""
    if piece.marker != region.marker:
        exc.message = f"for {piece.name}: {exc.message}"
        exc.args = (exc.message, *exc.args[1:])
    return exc
