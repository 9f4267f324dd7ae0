"""Running ahead of the resolver: fetch what it will probably ask for next.

For every project it learns of, the :class:`Crawler` asks the source for the page
in the background; when the page arrives it guesses the release the resolver will
most likely pick, asks for that release's metadata, and crawls the dependencies
it names. So the resolver rarely waits on one request at a time.

The crawler only warms the source's caches. A wrong guess costs a request, never
a different answer: the resolver decides everything from what it asks for itself,
in its own deterministic order. Where the guess cannot be wrong (the requirement
pins one version, as every line of a ``pip freeze`` does), it also starts reading
the RECORD digests the lock will need of that release's wheels, if the source
can (``prefetch_record``): work otherwise left for after the resolution.
"""

from __future__ import annotations

__all__ = ["Crawler", "RequirementsOf"]

import threading
from collections.abc import Callable, Iterable, Mapping

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from reqlock.index.metadata import DistMetadata
from reqlock.index.pages import DistFile, ProjectPage
from reqlock.locking.rules import FileRules, is_pinned
from reqlock.locking.source import PackageSource

RequirementsOf = Callable[[DistMetadata, frozenset[NormalizedName]], Iterable[Requirement]]
"""The requirements of a release (with these extras) that apply to the target."""


class Crawler:
    """Prefetches pages and metadata through ``source``, guided by ``rules``.

    ``requirements`` gives the dependencies of a release to follow; ``preferred``
    and ``pre`` are the resolver's own choices, so that the guess matches its pick;
    ``limits`` are specifiers every release of a project must meet (the user's ``==``
    pins and constraints): a dependency's wider range must not make the crawler
    fetch a release the pins rule out (on a ``pip freeze`` input, every guess is
    then the pinned release, and nothing else is fetched).
    """

    def __init__(
        self,
        source: PackageSource,
        rules: FileRules,
        requirements: RequirementsOf,
        *,
        preferred: Mapping[NormalizedName, Version] | None = None,
        pre: bool = False,
        limits: Mapping[str, SpecifierSet] | None = None,
    ) -> None:
        self.source = source
        self.rules = rules
        self.requirements = requirements
        self.preferred: Mapping[NormalizedName, Version] = preferred or {}
        self.pre = pre
        self.limits: Mapping[str, SpecifierSet] = limits or {}
        self._crawled: set[tuple[str, frozenset[NormalizedName]]] = set()
        # Callbacks run on the source's threads, and each may crawl further.
        self._lock = threading.Lock()

    def crawl(self, name: str, extras: frozenset[NormalizedName], spec: SpecifierSet) -> None:
        """Fetch, in the background, what the resolver will probably ask for next.

        Each (name, extras) is crawled once, with the first specifier seen for it:
        good enough for a guess, and it keeps the work bounded."""
        key = (name, extras)
        with self._lock:
            if key in self._crawled:
                return
            self._crawled.add(key)
        limit = self.limits.get(name)
        if limit is not None:
            spec = spec & limit

        def on_page(page: ProjectPage) -> None:
            guess = self.guess(page, spec)
            if guess is None:
                return
            version, files = guess
            meta_file = self.rules.metadata_file(files, page, version)
            pinned = is_pinned(spec)

            def on_metadata(meta: DistMetadata) -> None:
                for req in self.requirements(meta, extras):
                    self.crawl(
                        canonicalize_name(req.name),
                        frozenset(canonicalize_name(e) for e in req.extras),
                        req.specifier,
                    )
                if pinned:
                    # Queued after the metadata the resolver waits for, not before.
                    self._prefetch_records(name, page, version)

            self.source.prefetch_metadata(name, str(version), meta_file, then=on_metadata)

        self.source.prefetch_project(name, then=on_page)

    def _prefetch_records(self, name: str, page: ProjectPage, version: Version) -> None:
        """Start on the RECORD digests of the wheels a lock of ``version`` holds."""
        prefetch = getattr(self.source, "prefetch_record", None)  # the Index has it
        if prefetch is None:
            return
        for dist in self.rules.usable_files(page, version, pinned=True):
            if dist.is_wheel:
                prefetch(dist, name)

    def guess(
        self, page: ProjectPage, spec: SpecifierSet
    ) -> tuple[Version, tuple[DistFile, ...]] | None:
        """The release the resolver will most likely pick first, with its usable
        files; None when nothing ``spec`` allows is usable."""
        # Cheaper than the resolver's rule (no check for "only pre-releases are
        # usable"): a miss only means one request that is not made ahead of time.
        preferred = self.preferred.get(page.name)
        order = self.rules.versions(page)
        if preferred is not None:
            order = [preferred, *order]
        for version in order:
            if version.is_prerelease and not self.pre:
                continue
            if not spec.contains(version, prereleases=True):
                continue
            files = self.rules.usable_files(page, version, pinned=False)
            if files:
                return version, files
        return None
