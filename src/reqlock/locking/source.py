"""What the resolver needs from a package index, as a structural type.

:class:`reqlock.index.index.Index` satisfies :class:`PackageSource` without naming
it; so can a test double holding a few pages in memory. The resolver, its rules and
its crawler are typed against this protocol only, so none of them depends on HTTP,
caching or threads.
"""

from __future__ import annotations

__all__ = ["PackageSource"]

from collections.abc import Callable
from typing import Protocol

from reqlock.index.metadata import DistMetadata
from reqlock.index.pages import DistFile, ProjectPage


class PackageSource(Protocol):
    """Project pages and core metadata, on demand or ahead of time.

    The two ``prefetch_*`` methods only warm the source: they may start the work
    in the background, do it at once, or do nothing. When they call ``then``, it
    is with the same value the matching blocking method would return, possibly
    from another thread, and never when the work failed. A source should drop the
    :class:`~reqlock.errors.ReqlockError` a ``then`` raises: speculative work must
    never break the resolution that asked for it (``Index`` does so).
    """

    def project(self, name: str) -> ProjectPage:
        """The page of ``name`` (empty when no index has it)."""
        ...

    def metadata(self, name: str, version: str, dist: DistFile) -> DistMetadata:
        """The core metadata of ``dist``, a file of release ``name`` ``version``."""
        ...

    def metadata_if_known(self, dist: DistFile) -> DistMetadata | None:
        """The metadata of ``dist`` if already at hand, else None (never fetches)."""
        ...

    def prefetch_project(
        self, name: str, then: Callable[[ProjectPage], None] | None = None
    ) -> None:
        """Start getting the page of ``name``; call ``then`` with it once known."""
        ...

    def prefetch_metadata(
        self,
        name: str,
        version: str,
        dist: DistFile,
        then: Callable[[DistMetadata], None] | None = None,
    ) -> None:
        """Start getting the metadata of ``dist``; call ``then`` with it once known."""
        ...
