"""The package index client: project pages, metadata and files, cached and parallel.

Work is started as soon as a name or a file is known (:meth:`Index.prefetch_project`,
:meth:`Index.prefetch_metadata`) on a bounded thread pool; asking for a result
that has not started yet runs it in the caller's thread instead of queueing behind
speculative work.

:class:`Index` holds the pages; metadata, RECORD digests, downloads and hashes of
files are the work of :class:`reqlock.index.dists.Dists`, which it delegates to.
File URLs on pages obey the index policy: see :meth:`Index._keep_file_url`.
"""

from __future__ import annotations

__all__ = ["Builder", "Index"]

import dataclasses
import functools
import hashlib
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from packaging.utils import NormalizedName, canonicalize_name

from reqlock.errors import IndexFetchError
from reqlock.index.auth import DEFAULT_INDEX_URL, Credentials, IndexPolicy, split_credentials
from reqlock.index.cache import Cache, CachedPage
from reqlock.index.client import HttpClient
from reqlock.index.dists import BuildSettings, Dists
from reqlock.index.findlinks import FindLinks
from reqlock.index.memory import keep_big_buffers_apart
from reqlock.index.metadata import DistMetadata
from reqlock.index.once import Once, Runner
from reqlock.index.pages import (
    PAGE_ACCEPT,
    DistFile,
    ProjectPage,
    file_url_problem,
    page_from_entries,
    parse_project_page,
)
from reqlock.progress import Reporter
from reqlock.urls import redact_url

if TYPE_CHECKING:
    from reqlock.index.build import MetadataBuilder

Builder = Callable[..., Mapping[str, Any]]
"""Builds an sdist's metadata: :func:`reqlock.index.build.build_metadata`'s shape.
Without one, an index has its own :class:`~reqlock.index.build.MetadataBuilder`
(made at the first build: most locks build nothing),
whose build environments live until the index is closed."""

_MAX_PAGE_BYTES = 256 * 1024 * 1024


class _OwnBuilder:
    """An index's own metadata builder, imported and made at the first build: the
    frontend (unpacking, build environments) is code most locks never run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._builder: MetadataBuilder | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Mapping[str, Any]:
        with self._lock:
            if self._builder is None:
                from reqlock.index.build import MetadataBuilder

                self._builder = MetadataBuilder()
            builder = self._builder
        return builder(*args, **kwargs)

    def close(self) -> None:
        with self._lock:
            builder, self._builder = self._builder, None
        if builder is not None:
            builder.close()


class Index:
    """Reads one or more simple-API indexes.

    A project is taken from the first index that has it, never mixed with files
    of a later index (against dependency confusion). What it puts in the cache is
    written when it is closed (see :meth:`Cache.hold <reqlock.index.cache.Cache.hold>`).
    """

    def __init__(
        self,
        index_urls: Sequence[str] = (),
        *,
        http: HttpClient | None = None,
        cache: Cache | None = None,
        ttl: float = 600.0,
        offline: bool = False,
        refresh: bool = False,
        allow_build: bool = True,
        max_workers: int = 32,
        reporter: Reporter | None = None,
        build_python: str = sys.executable,
        build_index_urls: Sequence[str] | None = None,
        mix_indexes: bool = False,
        hedge_after: float | None = None,
        credentials: Credentials | None = None,
        builder: Builder | None = None,
        policy: IndexPolicy | None = None,
        find_links: Sequence[str] = (),
        no_index: bool = False,
    ) -> None:
        # Page bodies pass through big short-lived buffers on many threads.
        keep_big_buffers_apart()
        # No index URL means the default index, unless no_index says "none".
        chosen = list(index_urls) or ([] if no_index else [DEFAULT_INDEX_URL])
        given = [u if u.endswith("/") else u + "/" for u in chosen]
        # Credentials never travel inside URLs past this point: the HTTP client
        # attaches them by origin. (URLs given with user info are split here; no
        # environment is consulted: ``credentials`` holds what the caller found.)
        public, in_urls = split_credentials(given, {})
        self.index_urls = public
        self._http = http or HttpClient()
        self._http.add_credentials(in_urls)
        if credentials is not None:
            self._http.add_credentials(credentials)
        self._cache = cache
        self._ttl = ttl
        self._offline = offline
        self._refresh = refresh
        self._reporter = reporter or Reporter()
        # File URLs on pages obey the same policy as the index itself. Without one
        # (an embedding with its own client) any http(s) URL goes, as in HttpClient.
        self._policy = policy or IndexPolicy(allow_all=True)
        self._mix_indexes = mix_indexes
        self._runner = Runner(max_workers)
        # Without the caller's builder, the index's own (closed with it).
        self._own_builder: _OwnBuilder | None = None
        if builder is None:
            builder = self._own_builder = _OwnBuilder()
        self._dists = Dists(
            runner=self._runner,
            http=self._http,
            cache=cache,
            offline=offline,
            reporter=self._reporter,
            hedge_after=hedge_after,
            build=BuildSettings(
                allow=allow_build,
                builder=builder,
                python=build_python,
                # Index URLs for pip's build environments; unlike ``index_urls``
                # they may carry credentials (pip gets them through its
                # environment, never argv).
                index_urls=list(build_index_urls or given),
            ),
        )
        self._find_links = self._links(find_links, offline)
        self._lock = threading.Lock()
        self._pages: dict[str, Once[ProjectPage]] = {}
        self._refused: set[str] = set()
        # Which page entries (by URL without credentials) the resolver read, and
        # their digests: a cached resolution is valid only while these are.
        self._page_digests: dict[str, str] = {}
        self._pages_of: dict[str, list[str]] = {}
        self._demanded: set[str] = set()
        self._held = _hold(cache)

    def _links(self, find_links: Sequence[str], offline: bool) -> FindLinks:
        """The find-links locations, their credentials handed to the HTTP client."""
        links, link_credentials = split_credentials(list(find_links), {})
        self._http.add_credentials(link_credentials)
        return FindLinks(
            links,
            http=self._http,
            allows=self._policy.allows,
            reporter=self._reporter,
            offline=offline,
        )

    # -- lifecycle -----------------------------------------------------------

    def close(self) -> None:
        """Stop background work, close connections and write the cache's entries."""
        self._runner.close()
        self._http.close()
        if self._own_builder is not None:
            self._own_builder.close()
        held, self._held = self._held, None
        if held is not None:
            held.release()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- project pages -------------------------------------------------------

    def prefetch_project(
        self, name: str, then: Callable[[ProjectPage], None] | None = None
    ) -> None:
        """Start fetching the page of ``name``; call ``then`` with it when it arrives
        (errors are left for :meth:`project` to raise)."""
        key = canonicalize_name(name)
        once = self._runner.submit(self._pages, key, lambda: self._load_project(key))
        if then is not None:
            once.then(self._runner.guarded(then))

    def project(self, name: str) -> ProjectPage:
        """The page of ``name`` from the first index that has it (empty if none)."""
        key = canonicalize_name(name)
        self._demanded.add(key)
        return self._runner.submit(self._pages, key, lambda: self._load_project(key)).result()

    def pages_read(self) -> dict[str, str]:
        """The page entries behind every project asked for with :meth:`project`:
        URL (without credentials) -> ``sha256:...`` of the body, or ``missing``."""
        with self._lock:
            return {
                url: self._page_digests[url]
                for name in sorted(self._demanded)
                for url in self._pages_of.get(name, ())
                if url in self._page_digests
            }

    def _load_project(self, name: NormalizedName) -> ProjectPage:
        # Find-links locations come first: the user pointed at them on purpose
        # (vendor or GPU builds), and a project found there is not mixed with an
        # index's files, as a project is not mixed across indexes.
        linked = self._find_links.page(name) if self._find_links.locations else None
        if self._mix_indexes:
            found = [
                page
                for page in (self._load_page(url, name) for url in self.index_urls)
                if page is not None
            ]
            self._reporter.fetched_page(name)
            if linked is not None:
                found.insert(0, linked)
            if found:
                return _merge_pages(found)
        if linked is not None:
            self._reporter.fetched_page(name)
            return linked
        for index_url in self.index_urls:
            page = self._load_page(index_url, name)
            if page is not None:
                self._reporter.fetched_page(name)
                return page
        self._reporter.fetched_page(name)
        first = self.index_urls[0] if self.index_urls else ""
        return ProjectPage(name=name, index=first, files_by_version={})

    def _load_page(self, index_url: str, name: NormalizedName) -> ProjectPage | None:
        """The page of ``name`` on one index, or None when that index lacks it."""
        # Index URLs carry no credentials past __init__: what we fetch is what we show.
        url = public = f"{index_url}{name}/"
        index_public = index_url
        # Mapped: of a big page only the releases looked at are ever read in.
        cached = self._cache.get_page(public, mapped=True) if self._cache else None
        if cached is not None and (
            self._offline or (not self._refresh and cached.is_fresh(self._ttl))
        ):
            return self._parse(cached, name, index_public)
        if self._offline:
            raise IndexFetchError(
                f"{name}: the page {public} is not in the cache (--offline)",
                url=public,
                package=name,
                hint="run once without --offline to fill the cache",
            )
        headers = {"Accept": PAGE_ACCEPT}
        if cached is not None and not self._refresh and not cached.missing:
            if cached.etag:
                headers["If-None-Match"] = cached.etag
            if cached.last_modified:
                headers["If-Modified-Since"] = cached.last_modified
        resp = self._http.get(
            url,
            headers=headers,
            ok_statuses=frozenset({200, 304, 404}),
            max_bytes=_MAX_PAGE_BYTES,
            package=name,
        )
        now = time.time()
        max_age = _max_age(resp.headers)
        if resp.status == 404:
            entry = CachedPage(
                url=public, fetched=now, max_age=max_age, content_type="", body=b"", missing=True
            )
        elif resp.status == 304 and (cached is None or cached.missing or self._refresh):
            # Only a conditional request may be answered 304; anything else is a
            # broken server, not an empty project.
            raise IndexFetchError(
                f"{public} answered 304 Not Modified to a request without validators",
                url=public,
                package=name,
                hint="the index or a proxy in front of it is misbehaving; try --refresh later",
            )
        elif resp.status == 304 and cached is not None:
            entry = CachedPage(
                url=public,
                fetched=now,
                max_age=max_age,
                content_type=cached.content_type,
                body=cached.body,
                etag=resp.headers.get("etag", cached.etag),
                last_modified=resp.headers.get("last-modified", cached.last_modified),
                final_url=cached.final_url,
                offsets=cached.offsets,
                sha256=cached.sha256,
            )
        else:
            entry = CachedPage(
                url=public,
                fetched=now,
                max_age=max_age,
                content_type=resp.headers.get("content-type", ""),
                body=resp.content,
                sha256=hashlib.sha256(resp.content).hexdigest(),
                etag=resp.headers.get("etag"),
                last_modified=resp.headers.get("last-modified"),
                final_url=redact_url(resp.url),
            )
        # Parse before caching: a malformed page must not be kept.
        page = self._parse(entry, name, index_public)
        if self._cache is not None:
            offsets = page.offsets() if page is not None else None
            stored = dataclasses.replace(entry, offsets=offsets)
            view = self._cache.put_page(stored, mapped=offsets is not None)
            if view is not None and page is not None:
                # The same bytes, stored: the copy in memory can go.
                page.use_source(view)
        return page

    def _parse(self, entry: CachedPage, name: NormalizedName, index: str) -> ProjectPage | None:
        with self._lock:
            self._page_digests[entry.url] = entry.digest()
            self._pages_of.setdefault(name, []).append(entry.url)
        if entry.missing:
            return None
        # Relative file links resolve against the address the page came from.
        base = entry.final_url or entry.url
        keep = functools.partial(self._keep_file_url, name)
        if entry.offsets is not None:
            # Kept by the cache: only the releases looked at are decoded.
            return page_from_entries(
                entry.body, entry.offsets, page_url=base, name=name, index=index, keep_url=keep
            )
        return parse_project_page(
            entry.body if isinstance(entry.body, bytes) else bytes(entry.body.view()),
            content_type=entry.content_type,
            page_url=base,
            name=name,
            index=index,
            keep_url=keep,
        )

    def _keep_file_url(self, name: NormalizedName, url: str) -> bool:
        """Whether a file URL from the page of ``name`` may be used; warns (once per
        URL) about one that may not: a page must not send reqlock, or the pip that
        installs the lock, to ``file:``, ``ftp:`` or a plain-http host not allowed."""
        problem = file_url_problem(url, self._policy.allows)
        if problem is None:
            return True
        with self._lock:
            first = url not in self._refused
            self._refused.add(url)
        if first:
            self._reporter.warning(
                f"{name}: ignoring the file {redact_url(url)!r} listed by the index: {problem}"
            )
        return False

    # -- what direct references share (see reqlock.index.sources) ------------

    @property
    def build_settings(self) -> BuildSettings:
        """How metadata that needs a build is built (pip, its indexes, allowed?)."""
        return self._dists.build_settings

    @property
    def cache(self) -> Cache | None:
        """The on-disk cache, if any."""
        return self._cache

    @property
    def offline(self) -> bool:
        """Whether the network is off (answers come from the cache only)."""
        return self._offline

    @property
    def reporter(self) -> Reporter:
        """Where progress and warnings go."""
        return self._reporter

    def public_url(self, url: str) -> str:
        """``url`` without user info; its credentials are kept for its origin."""
        public, found = split_credentials([url], {})
        self._http.add_credentials(found)
        return public[0]

    # -- files (see reqlock.index.dists) -------------------------------------

    def prefetch_metadata(
        self,
        name: str,
        version: str,
        dist: DistFile,
        then: Callable[[DistMetadata], None] | None = None,
    ) -> None:
        """Start getting the metadata of ``dist``; call ``then`` with it when known."""
        self._dists.prefetch_metadata(name, version, dist, then)

    def metadata(self, name: str, version: str, dist: DistFile) -> DistMetadata:
        """The core metadata of ``dist`` (release ``name`` ``version``)."""
        return self._dists.metadata(name, version, dist)

    def metadata_if_known(self, dist: DistFile) -> DistMetadata | None:
        """The metadata of ``dist`` if it was already fetched successfully, else None."""
        return self._dists.metadata_if_known(dist)

    def prefetch_record(self, dist: DistFile, package: str) -> None:
        """Start working out the RECORD digest of the wheel ``dist`` (of ``package``)."""
        self._dists.prefetch_record(dist, package)

    def records_incomplete(self) -> bool:
        """True when a RECORD digest is missing for a passing reason (offline, a
        failed fetch): the next lock should try again rather than reuse this one."""
        return self._dists.records_incomplete

    def record_digest(self, dist: DistFile, *, package: str) -> str | None:
        """The RECORD digest (``sha256:<hex>``) of the wheel ``dist``; None for an
        sdist or a wheel without a usable RECORD (warned about once)."""
        return self._dists.record_digest(dist, package=package)

    def download(self, dist: DistFile, *, package: str) -> bytes:
        """The bytes of ``dist``, checked against the index's sha256 when it has one."""
        return self._dists.download(dist, package=package)

    def sha256(self, dist: DistFile, *, package: str) -> str:
        """The sha256 of ``dist``: from the index, else by downloading it."""
        return self._dists.sha256(dist, package=package)


def _hold(cache: Cache | None) -> Cache | None:
    """``cache``, its writes held until the index closes: made in one go then, not
    one by one while dozens of threads want the interpreter (see Cache.hold)."""
    if cache is not None:
        cache.hold()
    return cache


def _merge_pages(pages: Sequence[ProjectPage]) -> ProjectPage:
    """One page holding the files of several indexes' pages (the opt-in
    ``unsafe-best-match`` strategy). A file name seen on an earlier index hides the
    same name on a later one."""
    grouped: dict[str, list[DistFile]] = {}
    seen: set[str] = set()
    for page in pages:
        for version, texts in page.versions().items():
            for dist in page.files(version):
                if dist.filename not in seen:
                    seen.add(dist.filename)
                    grouped.setdefault(texts[0], []).append(dist)
    first = pages[0]
    return ProjectPage(name=first.name, index=first.index, files_by_version=grouped)


def _max_age(headers: Mapping[str, str]) -> float | None:
    value = headers.get("cache-control")
    if not value:
        return None
    directives = [d.strip().lower() for d in value.split(",")]
    if "no-store" in directives or "no-cache" in directives:
        return 0.0
    for d in directives:
        if d.startswith("max-age="):
            try:
                return max(0.0, float(d[8:]))
            except ValueError:
                return None
    return None
