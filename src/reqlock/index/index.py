"""The package index client: project pages, metadata and files, cached and parallel.

Work is started as soon as a name or a file is known (:meth:`Index.prefetch_project`,
:meth:`Index.prefetch_metadata`) on a bounded thread pool; asking for a result
that has not started yet runs it in the caller's thread instead of queueing behind
speculative work.
"""

from __future__ import annotations

__all__ = ["Builder", "Index"]

import contextlib
import hashlib
import json
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Generic, TypeVar

from packaging.utils import NormalizedName, canonicalize_name

from reqlock.errors import IndexFetchError, MetadataError, ReqlockError
from reqlock.index.auth import DEFAULT_INDEX_URL, Credentials, split_credentials
from reqlock.index.build import build_metadata
from reqlock.index.cache import Cache, CachedPage
from reqlock.index.client import HttpClient, Response
from reqlock.index.metadata import (
    DistMetadata,
    find_dist_info_metadata,
    is_static_sdist_metadata,
    metadata_from_pip_report,
    parse_metadata,
    sdist_pkg_info,
    wheel_metadata,
)
from reqlock.index.pages import PAGE_ACCEPT, DistFile, ProjectPage, merge_pages, parse_project_page
from reqlock.index.rangezip import BadZip, RangeNotSupported, read_member
from reqlock.progress import Reporter
from reqlock.urls import redact_url

Builder = Callable[..., Mapping[str, Any]]
"""Builds an sdist's metadata: :func:`reqlock.index.build.build_metadata`'s shape."""

_T = TypeVar("_T")
_MAX_PAGE_BYTES = 256 * 1024 * 1024
_MAX_METADATA_BYTES = 16 * 1024 * 1024
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


class _Once(Generic[_T]):
    """A unit of work run exactly once, by a pool thread or by the first caller
    that needs it, whichever comes first. Callbacks run when it succeeds, in the
    thread that finished it, so no pool thread ever blocks waiting for another."""

    __slots__ = ("_callbacks", "_claimed", "_done", "_error", "_fn", "_lock", "_result")

    def __init__(self, fn: Callable[[], _T]) -> None:
        self._fn = fn
        self._lock = threading.Lock()
        self._claimed = False
        self._done = threading.Event()
        self._result: _T | None = None
        self._error: BaseException | None = None
        self._callbacks: list[Callable[[_T], None]] = []

    def run(self) -> None:
        with self._lock:
            if self._claimed:
                return
            self._claimed = True
        try:
            self._result = self._fn()
        except BaseException as exc:  # re-raised in result()
            self._error = exc
        with self._lock:
            self._done.set()
            callbacks, self._callbacks = self._callbacks, []
        if self._error is None:
            for callback in callbacks:
                callback(self._result)  # type: ignore[arg-type]

    def then(self, callback: Callable[[_T], None]) -> None:
        """Call ``callback`` with the result once there is one (never on error)."""
        with self._lock:
            if not self._done.is_set():
                self._callbacks.append(callback)
                return
        if self._error is None:
            callback(self._result)  # type: ignore[arg-type]

    def result(self) -> _T:
        self.run()
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]

    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the work to finish."""
        self._done.wait(timeout)


class Index:
    """Reads one or more simple-API indexes.

    A project is taken from the first index that has it, never mixed with files
    of a later index (against dependency confusion).
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
        hedge_after: float | None = 0.02,
        credentials: Credentials | None = None,
        builder: Builder = build_metadata,
    ) -> None:
        given = [
            u if u.endswith("/") else u + "/" for u in (list(index_urls) or [DEFAULT_INDEX_URL])
        ]
        # Credentials never travel inside URLs past this point: the HTTP client
        # attaches them by origin. (URLs given with user info are split here; no
        # environment is consulted: ``credentials`` holds what the caller found.)
        public, in_urls = split_credentials(given, {})
        self.index_urls = public
        self._http = http or HttpClient()
        self._http.add_credentials(in_urls)
        if credentials is not None:
            self._http.add_credentials(credentials)
        self._builder = builder
        self._cache = cache
        self._ttl = ttl
        self._offline = offline
        self._refresh = refresh
        self._allow_build = allow_build
        self._reporter = reporter or Reporter()
        self._build_python = build_python
        # Index URLs for pip's build environments; unlike ``index_urls`` they may
        # carry credentials (pip gets them through its environment, never argv).
        self._build_index_urls = list(build_index_urls or given)
        self._mix_indexes = mix_indexes
        self._hedge_after = hedge_after
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="reqlock")
        self._lock = threading.Lock()
        self._pages: dict[str, _Once[ProjectPage]] = {}
        self._metadata: dict[str, _Once[DistMetadata]] = {}
        self._hashes: dict[str, _Once[str]] = {}
        self._closed = False
        # Which page entries (by URL without credentials) the resolver read, and
        # their digests: a cached resolution is valid only while these are.
        self._page_digests: dict[str, str] = {}
        self._pages_of: dict[str, list[str]] = {}
        self._demanded: set[str] = set()

    # -- lifecycle -----------------------------------------------------------

    def close(self) -> None:
        """Stop background work and close connections."""
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._http.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _submit(self, table: dict[str, _Once[_T]], key: str, fn: Callable[[], _T]) -> _Once[_T]:
        with self._lock:
            once = table.get(key)
            if once is None:
                once = _Once(fn)
                table[key] = once
                if not self._closed:
                    with contextlib.suppress(RuntimeError):  # pool shut down meanwhile
                        self._pool.submit(once.run)
        return once

    # -- project pages -------------------------------------------------------

    def prefetch_project(
        self, name: str, then: Callable[[ProjectPage], None] | None = None
    ) -> None:
        """Start fetching the page of ``name``; call ``then`` with it when it arrives
        (errors are left for :meth:`project` to raise)."""
        key = canonicalize_name(name)
        once = self._submit(self._pages, key, lambda: self._load_project(key))
        if then is not None:
            once.then(self._guarded(then))

    def project(self, name: str) -> ProjectPage:
        """The page of ``name`` from the first index that has it (empty if none)."""
        key = canonicalize_name(name)
        self._demanded.add(key)
        return self._submit(self._pages, key, lambda: self._load_project(key)).result()

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
        if self._mix_indexes:
            found = [
                page
                for page in (self._load_page(url, name) for url in self.index_urls)
                if page is not None
            ]
            self._reporter.fetched_page(name)
            if found:
                return merge_pages(found)
        for index_url in self.index_urls:
            page = self._load_page(index_url, name)
            if page is not None:
                self._reporter.fetched_page(name)
                return page
        self._reporter.fetched_page(name)
        return ProjectPage(name=name, index=self.index_urls[0], files_by_version={})

    def _load_page(self, index_url: str, name: NormalizedName) -> ProjectPage | None:
        """The page of ``name`` on one index, or None when that index lacks it."""
        # Index URLs carry no credentials past __init__: what we fetch is what we show.
        url = public = f"{index_url}{name}/"
        index_public = index_url
        cached = self._cache.get_page(public) if self._cache else None
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
            )
        else:
            entry = CachedPage(
                url=public,
                fetched=now,
                max_age=max_age,
                content_type=resp.headers.get("content-type", ""),
                body=resp.content,
                etag=resp.headers.get("etag"),
                last_modified=resp.headers.get("last-modified"),
                final_url=redact_url(resp.url),
            )
        # Parse before caching: a malformed page must not be kept.
        page = self._parse(entry, name, index_public)
        if self._cache is not None:
            self._cache.put_page(entry)
        return page

    def _parse(self, entry: CachedPage, name: NormalizedName, index: str) -> ProjectPage | None:
        digest = "missing" if entry.missing else "sha256:" + hashlib.sha256(entry.body).hexdigest()
        with self._lock:
            self._page_digests[entry.url] = digest
            self._pages_of.setdefault(name, []).append(entry.url)
        if entry.missing:
            return None
        # Relative file links resolve against the address the page came from.
        base = entry.final_url or entry.url
        return parse_project_page(
            entry.body, content_type=entry.content_type, page_url=base, name=name, index=index
        )

    # -- metadata ------------------------------------------------------------

    def prefetch_metadata(
        self,
        name: str,
        version: str,
        dist: DistFile,
        then: Callable[[DistMetadata], None] | None = None,
    ) -> None:
        """Start getting the metadata of ``dist``; call ``then`` with it when known."""
        once = self._submit(
            self._metadata, dist.url, lambda: self._load_metadata(name, version, dist)
        )
        if then is not None:
            once.then(self._guarded(then))

    def _guarded(self, callback: Callable[[_T], None]) -> Callable[[_T], None]:
        """``callback``, stopped once the index is closed; its errors are dropped
        (speculative work must never break the resolution that asked for it)."""

        def run(value: _T) -> None:
            if self._closed:
                return
            with contextlib.suppress(ReqlockError):
                callback(value)

        return run

    def metadata(self, name: str, version: str, dist: DistFile) -> DistMetadata:
        """The core metadata of ``dist`` (release ``name`` ``version``)."""
        return self._submit(
            self._metadata, dist.url, lambda: self._load_metadata(name, version, dist)
        ).result()

    def metadata_if_known(self, dist: DistFile) -> DistMetadata | None:
        """The metadata of ``dist`` if it was already fetched successfully, else None."""
        once = self._metadata.get(dist.url)
        if once is None or not once.done():
            return None
        try:
            return once.result()
        except ReqlockError:
            return None

    def _load_metadata(self, name: str, version: str, dist: DistFile) -> DistMetadata:
        meta = self._load_metadata_inner(name, version, dist)
        self._reporter.fetched_metadata(name, version)
        return meta

    def _load_metadata_inner(self, name: str, version: str, dist: DistFile) -> DistMetadata:
        key = dist.sha256 or hashlib.sha256(dist.url.encode()).hexdigest()
        if self._cache is not None:
            data = self._cache.get_blob("metadata", key)
            if data is not None:
                return parse_metadata(data, package=name, version=version)
            built = self._cache.get_blob("built", key)
            if built is not None:
                return metadata_from_pip_report(json.loads(built), package=name, version=version)
        if self._offline:
            raise MetadataError(
                f"{name} {version}: metadata of {dist.filename} is not in the cache (--offline)",
                package=name,
                version=version,
                reason="offline",
                hint="run once without --offline to fill the cache",
            )
        if dist.is_wheel:
            data = self._wheel_metadata(name, version, dist)
        else:
            sdist = self.download(dist, package=name)
            pkg_info = sdist_pkg_info(sdist, filename=dist.filename, package=name, version=version)
            if pkg_info is None or not is_static_sdist_metadata(pkg_info):
                return self._build(name, version, dist, key)
            data = pkg_info
        meta = parse_metadata(data, package=name, version=version)
        if self._cache is not None:
            self._cache.put_blob("metadata", key, data)
        return meta

    def _wheel_metadata(self, name: str, version: str, dist: DistFile) -> bytes:
        if dist.metadata_hashes is False:
            return self._wheel_metadata_from_file(name, version, dist)
        metadata_file = _Once(lambda: self._metadata_file(name, version, dist))
        if dist.metadata_hashes is None and self._hedge_after is not None:
            # The page does not say whether a metadata file exists. Mirrors answer a
            # missing one slowly (a 404 took ~0.1 s where a hit takes ~0.01 s), so
            # when no answer comes quickly, read the wheel's own METADATA by range
            # requests at the same time and take whichever arrives first.
            self._submit_once(metadata_file)
            metadata_file.wait(self._hedge_after)
            if not metadata_file.done():
                try:
                    return self._wheel_metadata_from_file(name, version, dist, fallback=False)
                except (_NoRanges, ReqlockError):
                    # The hedge failed; the metadata file may still come (and if
                    # the wheel itself is broken, the fallback below says so).
                    pass
        data = metadata_file.result()
        if data is not None:
            return data
        return self._wheel_metadata_from_file(name, version, dist)

    def _submit_once(self, once: _Once[Any]) -> None:
        if not self._closed:
            with contextlib.suppress(RuntimeError):  # pool shut down meanwhile
                self._pool.submit(once.run)

    def _metadata_file(self, name: str, version: str, dist: DistFile) -> bytes | None:
        """The PEP 658 metadata file of ``dist`` (hash-checked when advertised), or
        None when the index has none."""
        resp = self._http.get(
            dist.url + ".metadata",
            ok_statuses=frozenset({200, 403, 404}),
            max_bytes=_MAX_METADATA_BYTES,
            package=name,
        )
        if resp.status != 200:
            return None
        expected = (
            dist.metadata_hashes.get("sha256")
            if isinstance(dist.metadata_hashes, Mapping)
            else None
        )
        if expected and hashlib.sha256(resp.content).hexdigest() != expected:
            raise IndexFetchError(
                f"{name} {version}: the metadata file of {dist.filename} does not "
                "match the sha256 the index gives for it",
                url=redact_url(dist.url) + ".metadata",
                package=name,
                hint="the index or a proxy serves altered files; do not use it",
            )
        return resp.content

    def _wheel_metadata_from_file(
        self, name: str, version: str, dist: DistFile, *, fallback: bool = True
    ) -> bytes:
        """METADATA read from the wheel itself: by range requests, else (when
        ``fallback``) by downloading the whole wheel and checking its hash."""
        try:
            found = read_member(self._range_fetcher(dist, name), find_dist_info_metadata)
            if found is not None:
                return found
        except _WholeBody as whole:
            self._check_hash(dist, whole.content, name)
            if self._cache is not None and dist.sha256:
                self._cache.put_blob("dist", dist.sha256, whole.content)
            return wheel_metadata(
                whole.content, filename=dist.filename, package=name, version=version
            )
        except (RangeNotSupported, BadZip):
            if not fallback:
                raise _NoRanges from None
        return wheel_metadata(
            self.download(dist, package=name),
            filename=dist.filename,
            package=name,
            version=version,
        )

    def _range_fetcher(
        self, dist: DistFile, name: str
    ) -> Callable[[int, int | None], tuple[bytes, int]]:
        def fetch(start: int, end: int | None) -> tuple[bytes, int]:
            spec = f"bytes={start}" if start < 0 else f"bytes={start}-{(end or 0) - 1}"
            resp = self._http.get(
                dist.url,
                headers={"Range": spec, "Accept-Encoding": "identity"},
                ok_statuses=frozenset({200, 206, 416}),
                package=name,
            )
            return _range_answer(resp)

        return fetch

    def _build(self, name: str, version: str, dist: DistFile, key: str) -> DistMetadata:
        if not self._allow_build:
            raise MetadataError(
                f"{name} {version} has only an sdist whose dependencies are not static; "
                "reqlock would have to build it to know them, and --no-build forbids that",
                package=name,
                version=version,
                reason="build-refused",
                hint=f"allow builds, or pin a version of {name} that has a wheel",
            )
        self._reporter.building(name, version)
        data = self.download(dist, package=name)
        with tempfile.TemporaryDirectory(prefix="reqlock-sdist-") as tmp:
            path = Path(tmp) / dist.filename
            path.write_bytes(data)
            item = self._builder(
                path,
                package=name,
                version=version,
                index_urls=self._build_index_urls,
                python=self._build_python,
            )
        meta = metadata_from_pip_report(item, package=name, version=version)
        if self._cache is not None:
            self._cache.put_blob("built", key, json.dumps(dict(item), sort_keys=True).encode())
        return meta

    # -- files ---------------------------------------------------------------

    def download(self, dist: DistFile, *, package: str) -> bytes:
        """The bytes of ``dist``, checked against the index's sha256 when it has one."""
        if self._cache is not None and dist.sha256:
            data = self._cache.get_blob("dist", dist.sha256)
            if data is not None:
                return data
        if self._offline:
            raise IndexFetchError(
                f"{package}: {dist.filename} is not in the cache (--offline)",
                url=dist.public_url,
                package=package,
                hint="run once without --offline to fill the cache",
            )
        resp = self._http.get(dist.url, package=package)
        self._check_hash(dist, resp.content, package)
        if self._cache is not None:
            self._cache.put_blob(
                "dist", dist.sha256 or hashlib.sha256(resp.content).hexdigest(), resp.content
            )
        return resp.content

    def sha256(self, dist: DistFile, *, package: str) -> str:
        """The sha256 of ``dist``: from the index, else by downloading it."""
        if dist.sha256:
            return dist.sha256
        return self._submit(
            self._hashes,
            dist.url,
            lambda: hashlib.sha256(self.download(dist, package=package)).hexdigest(),
        ).result()

    def _check_hash(self, dist: DistFile, data: bytes, package: str) -> None:
        for alg, expected in dist.hashes.items():
            if hashlib.new(alg, data).hexdigest() != expected:
                raise IndexFetchError(
                    f"{package}: {dist.filename} does not match the {alg} the index gives for it",
                    url=dist.public_url,
                    package=package,
                    hint="the index or a proxy serves altered files; do not use it",
                )


class _NoRanges(Exception):
    """Reading by range requests did not work for this file."""


class _WholeBody(Exception):
    """The server ignored the Range header and sent the whole file."""

    def __init__(self, content: bytes) -> None:
        super().__init__("whole body")
        self.content = content


def _range_answer(resp: Response) -> tuple[bytes, int]:
    if resp.status == 200:
        raise _WholeBody(resp.content)
    if resp.status != 206:
        raise RangeNotSupported(f"HTTP {resp.status}")
    match = _CONTENT_RANGE.fullmatch(resp.headers.get("content-range", "").strip())
    if not match:
        raise RangeNotSupported("no usable Content-Range")
    start, end, total = (int(g) for g in match.groups())
    if end - start + 1 != len(resp.content):
        raise RangeNotSupported("body does not match Content-Range")
    return resp.content, total


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
