"""Forking a universal resolution, and the markers of what each fork locks.

A release (or the requirements files) may ask for one project twice, with different
versions under different markers: ``numpy<2; python_version < "3.10"`` and
``numpy>=2; python_version >= "3.10"``. No single version serves both, so the
resolution *forks*: the region is cut into the pieces those markers separate, and each
piece is resolved on its own (see :mod:`reqlock.locking.universal`). As in uv, only
requirements of one release (or of the user) fork; two releases asking for
incompatible versions of a third under different markers is a conflict.

After a fork is resolved, :func:`reach` gives each locked package the marker of the
environments that install it: the union, over the paths from the user's requirements,
of the markers along the path. The merged lock's ``select()`` for an environment then
gives exactly the packages of the fork that environment falls in.
"""

from __future__ import annotations

__all__ = ["Fork", "condition_of", "partition", "python_split", "reach", "split"]

import functools
from collections.abc import Iterable, Mapping, Sequence

from packaging.markers import Marker
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name

from reqlock.locking.candidates import PYTHON, Req
from reqlock.locking.markers import MarkerExpr
from reqlock.locking.region import FALSE, TRUE, Region, for_extra, python_marker
from reqlock.locking.requirements import RequirementLine
from reqlock.locking.resolution import Pin

# A graph that forks more often than this is not locked universally by reqlock.
MAX_FORKS = 256


class Fork(Exception):
    """Raised inside a resolution: resolve each of ``pieces`` (they partition the
    region) on its own. ``source`` names who asked (``"a 1.0"``, ``"the requirements"``);
    ``ordered`` keeps the pieces' order (else newer Pythons go first)."""

    def __init__(self, pieces: Sequence[MarkerExpr], source: str, *, ordered: bool = False) -> None:
        super().__init__(source)
        self.pieces = tuple(pieces)
        self.source = source
        # True: resolve the pieces in this order (the first is where the release that
        # split the region may be used, so that it is used there).
        self.ordered = ordered


def condition_of(marker: Marker | None, extras: Iterable[str], *, base: bool) -> MarkerExpr:
    """Where a requirement with ``marker`` holds, for a release requested with
    ``extras`` (and, with ``base``, without extras)."""
    if marker is None:
        return TRUE
    found = for_extra(str(marker), "") if base else FALSE
    for extra in extras:
        found = found.or_(for_extra(str(marker), extra))
    return found


def split(region: Region, reqs: Sequence[Req], source: str) -> Fork | None:
    """The fork ``reqs`` (the requirements of one release, or the user's) call for in
    ``region``, or None: a project asked for with different specifiers where some of
    those requirements hold in only part of the region."""
    groups: dict[str, list[Req]] = {}
    for req in reqs:
        if req.name != PYTHON:
            groups.setdefault(req.name, []).append(req)
    cuts: list[MarkerExpr] = []
    for group in groups.values():
        if len(group) < 2 or len({(str(r.specifier), r.url) for r in group}) < 2:
            continue
        for req in group:
            condition = TRUE if req.condition is None else req.condition
            if not region.marker.implies(condition) and condition not in cuts:
                cuts.append(condition)
    pieces = partition(region.marker, cuts)
    return Fork(pieces, source) if len(pieces) > 1 else None


def partition(marker: MarkerExpr, cuts: Iterable[MarkerExpr]) -> list[MarkerExpr]:
    """``marker`` cut by each of ``cuts`` (where it holds, where it does not): the
    non-empty pieces, which partition ``marker``."""
    pieces = [marker]
    for cut in cuts:
        pieces = [
            part
            for piece in pieces
            for part in (piece.and_(cut), piece.and_(cut.not_()))
            if not part.is_false()
        ]
    return pieces


def python_split(region: Region, requires_python: SpecifierSet, source: str) -> Fork | None:
    """The fork a release's ``Requires-Python`` calls for when it admits only part of
    the region: the Pythons it admits get a fork where it may be used (uv's default:
    the newest versions each Python supports), the others another. Upper bounds at 4
    or above (``<4``) are left aside: no environment runs Python 4, and a fork for it
    would only double the work."""
    inside = region.marker.and_(_admitted(requires_python))
    outside = region.marker.and_(inside.not_())
    if inside.is_false() or outside.is_false():
        return None
    return Fork([inside, outside], source, ordered=True)


@functools.lru_cache(maxsize=1024)
def _admitted(requires_python: SpecifierSet) -> MarkerExpr:
    """The Pythons ``requires_python`` admits, upper bounds at 4 and above aside."""
    effective = ",".join(
        str(s)
        for s in requires_python
        if not (s.operator in ("<", "<=") and _major(s.version) >= 4)
    )
    return python_marker(SpecifierSet(effective))


def _major(version: str) -> int:
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else 0


def reach(
    region: Region,
    pins: Mapping[NormalizedName, Pin],
    roots: Sequence[RequirementLine],
) -> dict[NormalizedName, MarkerExpr]:
    """Where each of ``pins`` is installed: the environments of ``region`` with a path
    to it from ``roots`` whose every requirement's marker holds."""
    # Nodes are (project, extra): "" is the release itself; an extra's node is reached
    # where someone asks for the release with that extra.
    found: dict[tuple[NormalizedName, str], MarkerExpr] = {}
    todo: list[tuple[NormalizedName, str]] = []

    def add(name: NormalizedName, extras: Iterable[str], where: MarkerExpr) -> None:
        if name not in pins or where.is_false():
            return
        for key in ((name, ""), *((name, canonicalize_name(e)) for e in extras)):
            old = found.get(key, FALSE)
            new = old.or_(where)
            if new != old:
                found[key] = new
                todo.append(key)

    for line in roots:
        marker = line.requirement.marker
        where = region.marker.and_(condition_of(marker, (), base=True))
        add(line.name, line.requirement.extras, where)
    while todo:
        name, extra = todo.pop()
        here = found[(name, extra)]
        pin = pins[name]
        for req in pin.metadata.requires_dist:
            if extra and req.marker is None:
                continue  # a dependency of the release itself: the "" node has it
            condition = condition_of(req.marker, (extra,) if extra else (), base=not extra)
            add(canonicalize_name(req.name), req.extras, here.and_(condition))
    return {name: where for (name, extra), where in found.items() if not extra}
