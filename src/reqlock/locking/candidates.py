"""The values the resolver works with: requirements, candidates, and the
direct references that stand in for an index's releases.

A requirement with a direct reference (``name @ url``, a path, ``-e``) has exactly
one candidate, the :class:`~reqlock.index.sources.DirectDist` loaded before the
resolution; a requirement by version on the same project accepts it when its
version matches (as in pip).
"""

from __future__ import annotations

__all__ = [
    "PYTHON",
    "Candidate",
    "Req",
    "constraints_for",
    "direct_candidates",
    "pin_limits",
    "to_req",
    "unsatisfiable",
]

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from packaging.markers import Marker
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from reqlock.errors import ResolutionError
from reqlock.index.pages import DistFile
from reqlock.index.sources import DirectDist
from reqlock.locking.markers import MarkerExpr
from reqlock.locking.requirements import RequirementLine, RequirementSet
from reqlock.locking.rules import FileRules, is_pinned
from reqlock.urls import redact_url

PYTHON = "<python>"
"""The name under which the resolver tracks the requirements on Python itself."""
_PYTHON = PYTHON


@dataclass(frozen=True, slots=True)
class Req:
    name: str  # canonical name, or _PYTHON
    extras: frozenset[NormalizedName]
    specifier: SpecifierSet
    source: str  # "requirements.txt:3", or "parent 1.0"
    url: str | None = None
    # The direct reference the requirement names (DirectReference.key), if any.
    direct_key: str | None = None
    # Why the release that asks is unusable (its metadata is invalid): a
    # requirement nothing satisfies, so the resolver moves on to another release.
    unusable: str | None = None
    # Universal resolution: where the requirement holds (its marker, the extra that
    # asked for it decided); None means everywhere. Not part of its identity.
    condition: MarkerExpr | None = field(default=None, compare=False)

    @property
    def identifier(self) -> str:
        return identifier_of(self.name, self.extras)

    def describe(self) -> str:
        if self.name == _PYTHON:
            return f"Python {self.specifier}"
        extras = f"[{','.join(sorted(self.extras))}]" if self.extras else ""
        if self.url:
            return f"{self.name}{extras} @ {redact_url(self.url)}"
        return f"{self.name}{extras}{self.specifier or ''}"


@dataclass(frozen=True, slots=True)
class Candidate:
    name: str
    version: Version
    extras: frozenset[NormalizedName] = frozenset()
    files: tuple[DistFile, ...] = field(default=(), compare=False)
    meta_file: DistFile | None = field(default=None, compare=False)
    index: str = field(default="", compare=False)
    direct: DirectDist | None = field(default=None, compare=False)

    @property
    def identifier(self) -> str:
        return identifier_of(self.name, self.extras)


def identifier_of(name: str, extras: frozenset[NormalizedName]) -> str:
    return f"{name}[{','.join(sorted(extras))}]" if extras else name


def unsatisfiable(source: str, reason: str) -> Req:
    # No interpreter is older than 0: the resolver rejects the release and backtracks.
    return Req(
        name=_PYTHON,
        extras=frozenset(),
        specifier=SpecifierSet("<0"),
        source=source,
        unusable=reason,
    )


def constraints_for(
    requirements: RequirementSet,
    applies: Callable[[Marker], bool],
    extra_constraints: Sequence[tuple[NormalizedName, SpecifierSet, str]],
) -> dict[str, list[Req]]:
    """The constraints that apply to this target, by project name: the lines of
    constraints files whose markers hold (``applies``), then ``extra_constraints``."""
    constraints: dict[str, list[Req]] = {}
    for line in requirements.constraints:
        if line.requirement.marker is None or applies(line.requirement.marker):
            constraint = to_req(line)
            constraints.setdefault(line.name, []).append(
                Req(
                    name=constraint.name,
                    extras=constraint.extras,
                    specifier=constraint.specifier,
                    source=f"constraint {constraint.source} limits it to",
                )
            )
    for name, spec, source in extra_constraints:
        constraints.setdefault(name, []).append(
            Req(name=name, extras=frozenset(), specifier=spec, source=source)
        )
    return constraints


def to_req(line: RequirementLine, condition: MarkerExpr | None = None) -> Req:
    req = line.requirement
    return Req(
        condition=condition,
        name=line.name,
        extras=frozenset(canonicalize_name(e) for e in req.extras),
        specifier=req.specifier,
        source=str(line.origin),
        url=req.url,
        direct_key=line.direct.key if line.direct is not None else None,
    )


def pin_limits(
    roots: Sequence[RequirementLine], constraints: Mapping[str, Sequence[Req]]
) -> dict[str, SpecifierSet]:
    """What the user's ``==`` pins and constraints allow, by project: the crawler
    keeps its guesses inside them."""
    limits: dict[str, SpecifierSet] = {}
    for line in roots:
        spec = line.requirement.specifier
        if line.requirement.url is None and is_pinned(spec):
            limits[line.name] = limits.get(line.name, SpecifierSet()) & spec
    for name, reqs in constraints.items():
        for req in reqs:
            limits[name] = limits.get(name, SpecifierSet()) & req.specifier
    return limits


def direct_candidates(  # noqa: PLR0917 - one call site, all needed
    rules: FileRules,
    name: str,
    extras: frozenset[NormalizedName],
    reqs: Sequence[Req],
    spec: SpecifierSet,
    found: DirectDist | None,
    bad: set[Version],
) -> list[Candidate]:
    """The one candidate of a project given by a direct reference (none when a
    version requirement or the target excludes it)."""
    if found is None:
        req = next(r for r in reqs if r.url)
        raise ResolutionError(
            f"{req.source} requires {req.describe()}: reqlock takes direct references "
            "from the requirements files only",
            hint=f"add '{name} @ <url>' to the requirements (or require {name} by version)",
        )
    if found.version in bad or not spec.contains(found.version, prereleases=True):
        return []
    wheel = found.archive if found.archive is not None and found.archive.is_wheel else None
    if wheel is not None and rules.wheel_rank(wheel) is None:
        return []  # a wheel this target cannot install
    return [
        Candidate(
            name=name,
            version=found.version,
            extras=extras,
            files=(found.archive,) if found.archive is not None else (),
            index="",
            direct=found,
        )
    ]
