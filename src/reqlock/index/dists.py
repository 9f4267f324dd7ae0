"""Distribution files of an index: their metadata, RECORD digests, bytes and hashes.

:class:`Dists` does the file work for :class:`reqlock.index.index.Index`: core
metadata from PEP 658 ``.metadata`` files, from the wheel's own ``METADATA`` by
range requests, or by building an sdist; RECORD digests for the lock; whole
downloads, checked against the index's hashes. Everything is cached for good under
the file's sha256 (a file's bytes never change under one digest).
"""

from __future__ import annotations

__all__ = ["BuildSettings", "Dists"]

import hashlib
import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reqlock.errors import IndexFetchError, MetadataError, ReqlockError
from reqlock.files import NotARegularFile, TooLarge, read_file_url
from reqlock.index.cache import Cache
from reqlock.index.client import HttpClient
from reqlock.index.metadata import (
    DistMetadata,
    find_dist_info_metadata,
    is_static_sdist_metadata,
    metadata_from_pip_report,
    parse_metadata,
    sdist_pkg_info,
    wheel_metadata,
)
from reqlock.index.once import Once, Runner
from reqlock.index.pages import DistFile
from reqlock.index.rangezip import BadZip, RangeNotSupported, RemoteZip, WholeBody, range_answer
from reqlock.index.records import (
    RecordOutcome,
    outcome_of_record,
    outcome_of_wheel,
    wheel_layout,
)
from reqlock.progress import Reporter
from reqlock.urls import redact_url

_MAX_METADATA_BYTES = 16 * 1024 * 1024
_MAX_LOCAL_BYTES = 2 * 1024 * 1024 * 1024
# Never cached: it says nothing about the wheel, only about this run.
_OFFLINE = "it is not in the cache (--offline)"


@dataclass(frozen=True, kw_only=True, slots=True)
class BuildSettings:
    """How sdists whose metadata is not static get built (through pip)."""

    allow: bool
    builder: Callable[..., Mapping[str, Any]]
    python: str
    index_urls: Sequence[str]


class Dists:
    """Metadata, RECORD digests, bytes and hashes of distribution files."""

    def __init__(
        self,
        *,
        runner: Runner,
        http: HttpClient,
        cache: Cache | None,
        offline: bool,
        reporter: Reporter,
        hedge_after: float | None,
        build: BuildSettings,
    ) -> None:
        self._runner = runner
        self._http = http
        self._cache = cache
        self._offline = offline
        self._reporter = reporter
        self._hedge_after = hedge_after
        self._build_settings = build
        self._metadata: dict[str, Once[DistMetadata]] = {}
        self._hashes: dict[str, Once[str]] = {}
        self._records: dict[str, Once[RecordOutcome]] = {}
        # RECORD outcomes of wheels the index gave no hash for, read from the
        # download that hashed them, until their RECORD digest is asked for.
        self._unhashed: dict[str, RecordOutcome] = {}
        self._warned: set[str] = set()
        # A digest missing for a passing reason (offline, a failed fetch): a lock
        # made now must not be remembered as final.
        self.records_incomplete = False

    @property
    def build_settings(self) -> BuildSettings:
        """How sdists whose metadata is not static get built."""
        return self._build_settings

    # -- metadata ------------------------------------------------------------

    def prefetch_metadata(
        self,
        name: str,
        version: str,
        dist: DistFile,
        then: Callable[[DistMetadata], None] | None = None,
    ) -> None:
        """Start getting the metadata of ``dist``; call ``then`` with it when known."""
        once = self._runner.submit(
            self._metadata, dist.url, lambda: self._load_metadata(name, version, dist)
        )
        if then is not None:
            once.then(self._runner.guarded(then))

    def metadata(self, name: str, version: str, dist: DistFile) -> DistMetadata:
        """The core metadata of ``dist`` (release ``name`` ``version``)."""
        return self._runner.submit(
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
        if dist.sha256:
            key = dist.sha256
        elif _is_local(dist.url):
            # A local file can change under its name: key by its content.
            key = self.sha256(dist, package=name)
        else:
            key = hashlib.sha256(dist.url.encode()).hexdigest()
        if self._cache is not None:
            data = self._cache.get_blob("metadata", key)
            if data is not None:
                return parse_metadata(data, package=name, version=version)
            built = self._cache.get_blob("built", key)
            if built is not None:
                return metadata_from_pip_report(json.loads(built), package=name, version=version)
        if self._offline and not _is_local(dist.url):
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
        if _is_local(dist.url):
            whole = self.download(dist, package=name)
            self._seed_record(dist, whole)
            return wheel_metadata(whole, filename=dist.filename, package=name, version=version)
        if dist.metadata_hashes is False:
            return self._wheel_metadata_from_file(name, version, dist)
        if dist.metadata_hashes is None and self._hedge_after is None:
            # The page does not say whether a metadata file exists. Like pip and uv,
            # read the wheel's own METADATA by range requests: they bring its RECORD
            # along (the lock needs its digest), and a mirror answers a missing
            # .metadata slowly (a 404 took 0.16 s where a range read takes 0.03 s).
            # The metadata file is asked for only when the server refuses ranges.
            return self._wheel_metadata_from_file(name, version, dist, probe=True)
        metadata_file = Once(lambda: self._metadata_file(name, version, dist))
        if dist.metadata_hashes is None and self._hedge_after is not None:
            # Asked for: race an unadvertised metadata file (an index known to serve
            # them) against range reads that start when it has not answered quickly.
            self._runner.start(metadata_file)
            metadata_file.wait(self._hedge_after)
            if not metadata_file.done():
                try:
                    found = self._wheel_metadata_from_file(name, version, dist, fallback=False)
                except (_NoRanges, ReqlockError):
                    # The hedge failed; the metadata file may still come (and if
                    # the wheel itself is broken, the fallback below says so).
                    pass
                else:
                    # Still queued behind other work: a request nobody would read.
                    metadata_file.cancel()
                    return found
        data = metadata_file.result()
        if data is not None:
            return data
        return self._wheel_metadata_from_file(name, version, dist)

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
        self, name: str, version: str, dist: DistFile, *, fallback: bool = True, probe: bool = False
    ) -> bytes:
        """METADATA read from the wheel itself: by range requests, else (when
        ``fallback``) from an unadvertised metadata file (when ``probe``) or by
        downloading the whole wheel and checking its hash."""
        try:
            remote = RemoteZip(self._range_fetcher(dist, name))
            member = find_dist_info_metadata(remote.names)
            if member is not None:
                found = remote.read(member)
                # The RECORD sits just before the directory, so it usually came
                # with it: keep its digest now rather than ask again at lock time.
                self._note_record(dist, remote)
                return found
        except WholeBody as whole:
            self._check_hash(dist, whole.content, name)
            self._keep_whole(dist, whole.content)
            return wheel_metadata(
                whole.content, filename=dist.filename, package=name, version=version
            )
        except (RangeNotSupported, BadZip):
            if not fallback:
                raise _NoRanges from None
        except IndexFetchError:
            # The wheel's host failed even after retries; an unadvertised metadata
            # file may still answer. (A whole wheel failing its hash is raised by the
            # WholeBody branch, outside this try: never a reason to look elsewhere.)
            if not probe or (unannounced := self._metadata_file(name, version, dist)) is None:
                raise
            return unannounced
        if probe and (unannounced := self._metadata_file(name, version, dist)) is not None:
            return unannounced
        data = self.download(dist, package=name)
        self._seed_record(dist, data)
        return wheel_metadata(data, filename=dist.filename, package=name, version=version)

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
            return range_answer(resp.status, resp.headers.get("content-range"), resp.content)

        return fetch

    def _build(self, name: str, version: str, dist: DistFile, key: str) -> DistMetadata:
        settings = self._build_settings
        if not settings.allow:
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
            item = settings.builder(
                path,
                package=name,
                version=version,
                index_urls=list(settings.index_urls),
                python=settings.python,
            )
        meta = metadata_from_pip_report(item, package=name, version=version)
        if self._cache is not None:
            self._cache.put_blob("built", key, json.dumps(dict(item), sort_keys=True).encode())
        return meta

    # -- RECORD digests ------------------------------------------------------

    def prefetch_record(self, dist: DistFile, package: str) -> None:
        """Start working out the RECORD digest of the wheel ``dist``."""
        if dist.is_wheel:
            self._runner.submit(self._records, dist.url, lambda: self._load_record(dist, package))

    def record_digest(self, dist: DistFile, *, package: str) -> str | None:
        """The RECORD digest of the wheel ``dist`` (``sha256:<hex>``, see
        :func:`reqlock.deploy.record.wheel_record_digest`); None for an sdist, and
        for a wheel without a usable RECORD, which is warned about once."""
        if not dist.is_wheel:
            return None
        outcome = self._runner.submit(
            self._records, dist.url, lambda: self._load_record(dist, package)
        ).result()
        if outcome.digest is None and dist.url not in self._warned:
            self._warned.add(dist.url)
            self._reporter.warning(
                f"{package}: no RECORD digest for {dist.filename}: {outcome.problem}; "
                "the lock cannot prove an installation of it unchanged"
            )
        return outcome.digest

    def _load_record(self, dist: DistFile, package: str) -> RecordOutcome:
        # Without a hash from the index the lock needs the whole file for one
        # anyway: sha256() reads the RECORD from that same download.
        key = dist.sha256 or self.sha256(dist, package=package)
        if self._cache is not None:
            cached = self._cache.get_blob("record", key)
            outcome = RecordOutcome.decode(cached) if cached is not None else None
            if outcome is not None:
                return outcome
        with self._runner.lock:
            outcome = self._unhashed.pop(dist.url, None)
        if outcome is not None:
            return self._store_record(key, outcome)
        whole = self._cache.get_blob("dist", key) if self._cache is not None else None
        if whole is not None:
            return self._store_record(key, outcome_of_wheel(whole))
        if self._offline:
            self.records_incomplete = True
            return RecordOutcome(problem=_OFFLINE)
        try:
            return self._store_record(key, self._record_by_ranges(dist, package))
        except _HashMismatch:
            raise  # altered files are never shrugged off
        except IndexFetchError as exc:
            # Transient (the wheel was readable when its metadata was read): the
            # lock goes on without this digest, and the next lock tries again.
            self.records_incomplete = True
            return RecordOutcome(problem=f"it could not be fetched ({exc})")

    def _record_by_ranges(self, dist: DistFile, package: str) -> RecordOutcome:
        """The RECORD read by range requests, else from the whole (checked) wheel."""
        try:
            remote = RemoteZip(self._range_fetcher(dist, package))
            layout = wheel_layout(remote.names)
            if isinstance(layout, str):
                return RecordOutcome(problem=layout)
            return outcome_of_record(remote.read(layout.record), layout)
        except WholeBody as answer:
            whole = answer.content
            self._check_hash(dist, whole, package)
            if self._cache is not None and dist.sha256:
                self._cache.put_blob("dist", dist.sha256, whole)
        except (RangeNotSupported, BadZip):
            whole = self.download(dist, package=package)
        return outcome_of_wheel(whole)

    def _note_record(self, dist: DistFile, remote: RemoteZip) -> None:
        """Keep the RECORD digest from a zip read for its METADATA, when that
        costs no request more."""
        if dist.sha256 is None or dist.url in self._records:
            return
        layout = wheel_layout(remote.names)
        if isinstance(layout, str):
            outcome = RecordOutcome(problem=layout)
        elif remote.holds(layout.record):
            try:
                outcome = outcome_of_record(remote.read(layout.record), layout)
            except BadZip as exc:
                outcome = RecordOutcome(problem=f"its {layout.record} is unreadable ({exc})")
        else:
            return
        self._runner.seed(self._records, dist.url, self._store_record(dist.sha256, outcome))

    def _keep_whole(self, dist: DistFile, data: bytes) -> None:
        """Cache a hash-checked whole wheel that came unasked, and its RECORD digest."""
        if self._cache is not None and dist.sha256:
            self._cache.put_blob("dist", dist.sha256, data)
        self._seed_record(dist, data)

    def _seed_record(self, dist: DistFile, data: bytes) -> None:
        if dist.is_wheel and dist.url not in self._records:
            key = dist.sha256 or hashlib.sha256(data).hexdigest()
            outcome = self._store_record(key, outcome_of_wheel(data))
            self._runner.seed(self._records, dist.url, outcome)

    def _store_record(self, key: str, outcome: RecordOutcome) -> RecordOutcome:
        if self._cache is not None:
            self._cache.put_blob("record", key, outcome.encode())
        return outcome

    # -- files ---------------------------------------------------------------

    def download(self, dist: DistFile, *, package: str) -> bytes:
        """The bytes of ``dist``, checked against the index's sha256 when it has one."""
        if self._cache is not None and dist.sha256:
            data = self._cache.get_blob("dist", dist.sha256)
            if data is not None:
                return data
        if _is_local(dist.url):
            data = _read_local(dist, package)
            self._check_hash(dist, data, package)
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
        return self._runner.submit(
            self._hashes, dist.url, lambda: self._hash_whole(dist, package)
        ).result()

    def _hash_whole(self, dist: DistFile, package: str) -> str:
        data = self.download(dist, package=package)
        if dist.is_wheel:
            # The lock wants this wheel's RECORD digest too: these bytes have it.
            with self._runner.lock:
                self._unhashed[dist.url] = outcome_of_wheel(data)
        return hashlib.sha256(data).hexdigest()

    def _check_hash(self, dist: DistFile, data: bytes, package: str) -> None:
        for alg, expected in dist.hashes.items():
            if hashlib.new(alg, data).hexdigest() != expected:
                raise _HashMismatch(
                    f"{package}: {dist.filename} does not match the {alg} the index gives for it",
                    url=dist.public_url,
                    package=package,
                    hint="the index or a proxy serves altered files; do not use it",
                )


def _is_local(url: str) -> bool:
    return url.startswith("file:")


def _read_local(dist: DistFile, package: str) -> bytes:
    """The bytes of a local file (a --find-links directory's, or an archive path)."""
    try:
        return read_file_url(dist.url, limit=_MAX_LOCAL_BYTES)
    except (OSError, NotARegularFile, TooLarge) as exc:
        raise IndexFetchError(
            f"{package}: cannot read {dist.url}: {getattr(exc, 'strerror', None) or exc}",
            url=dist.url,
            package=package,
        ) from None


class _HashMismatch(IndexFetchError):
    """A file does not match the hash the index gives for it."""


class _NoRanges(Exception):
    """Reading by range requests did not work for this file."""
