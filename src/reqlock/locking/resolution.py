"""The result of resolving for one target: plain values, no resolver machinery."""

from __future__ import annotations

__all__ = ["Pin", "Resolution"]

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName
from packaging.version import Version

from reqlock.index.metadata import DistMetadata
from reqlock.index.pages import DistFile
from reqlock.targets import Target

if TYPE_CHECKING:  # annotations only: a lock from the memo needs no marker algebra
    from reqlock.index.sources import DirectDist
    from reqlock.locking.markers import MarkerExpr
    from reqlock.locking.region import Region


@dataclass(frozen=True, kw_only=True, slots=True)
class Pin:
    """One package of a resolution: the version and the files this target may use."""

    name: NormalizedName
    version: Version
    files: tuple[DistFile, ...]
    metadata: DistMetadata
    dependencies: tuple[NormalizedName, ...]
    index: str
    direct: DirectDist | None = None
    """The archive, repository or directory it comes from, for a direct reference
    (then ``files`` holds at most the archive)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Resolution:
    """The result of resolving requirements for one target, or for one fork of a
    universal resolution (``target`` is then its :class:`Region`, and ``markers``
    gives each pin the environments of the region that install it)."""

    target: Target | Region
    pins: Mapping[NormalizedName, Pin]
    roots: tuple[NormalizedName, ...]
    markers: Mapping[NormalizedName, MarkerExpr] = field(default_factory=dict)
