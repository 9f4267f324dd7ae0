"""The on-disk cache: index pages (with freshness) and content-addressed blobs.

Layout under the cache directory (``REQLOCK_CACHE_DIR``, else
``$XDG_CACHE_HOME/reqlock``, else ``~/.cache/reqlock``)::

    pages-v2/<key>          one index page: a JSON header line, a JSON line of where
                            each release's entries lie in the body (JSON pages,
                            see ProjectPage.spans), then the body
    blobs-v2/<kind>/<h>     metadata or distribution bytes, stored under the sha256
                            of the distribution they belong to

(Flat directories: creating hundreds of small shard directories cost more than any
directory lookup they could save.) With the spans, a warm run decodes only the
entries of the releases it looks at. A page's key hashes its URL with the layout's
tag, so pages stored in another layout are never read (nor discarded, should two
releases of reqlock share the cache).

Every entry starts with a header that records the sha256 and size of its payload;
an entry that does not match (truncated, altered) is discarded and fetched again.
Writes go to a temporary file that is renamed into place, so concurrent reqlock
processes sharing a cache never see half an entry, and a crash leaves at worst a
temporary file that nothing reads.
"""

from __future__ import annotations

__all__ = ["Cache", "CachedPage", "default_cache_dir"]

import contextlib
import hashlib
import itertools
import json
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reqlock.files import read_regular

_PAGES = "pages-v2"
# Part of every page's key: a new page layout gets new keys.
_PAGE_LAYOUT = b"spans-1\n"
_BLOBS = "blobs-v2"


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the cache lives when no directory is given."""
    env = os.environ if environ is None else environ
    if env.get("REQLOCK_CACHE_DIR"):
        return Path(env["REQLOCK_CACHE_DIR"])
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "reqlock"


@dataclass(frozen=True, kw_only=True, slots=True)
class CachedPage:
    """An index page as stored: its body and what is needed to revalidate it."""

    url: str
    content_type: str
    body: bytes
    fetched: float
    etag: str | None = None
    last_modified: str | None = None
    max_age: float | None = None
    # The address the body came from after redirects (without credentials):
    # relative file links resolve against it.
    final_url: str | None = None
    # The index answered 404: the project is not there (kept like any page, so a
    # warm or offline run knows to look at the next index).
    missing: bool = False
    # Where each release's entries lie in a JSON body (ProjectPage.spans).
    spans: Mapping[str, Sequence[str | int]] | None = field(default=None, hash=False)
    # The body's sha256 (hex) when known: a page of megabytes is hashed once.
    sha256: str | None = field(default=None, compare=False)

    def digest(self) -> str:
        """``sha256:<hex>`` of the body, or ``missing`` for a project not there."""
        if self.missing:
            return "missing"
        return "sha256:" + (self.sha256 or hashlib.sha256(self.body).hexdigest())

    def is_fresh(self, ttl: float, now: float | None = None) -> bool:
        """True while the page may be used without asking the server."""
        age = (time.time() if now is None else now) - self.fetched
        limit = self.max_age if self.max_age is not None else ttl
        return 0 <= age < limit


class Cache:
    """Read and write cache entries; every read is checked, every write atomic.

    Between :meth:`hold` and :meth:`release` writes are kept in memory (reads are
    served from there) and made when the last holder releases: a lock writes
    hundreds of entries, and each system call made while dozens of threads want
    the interpreter costs far more than the call itself.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self._holds = 0
        self._pending: dict[Path, bytes] = {}
        self._pending_bytes = 0
        self._made: set[Path] = set()

    # -- batching ------------------------------------------------------------

    def hold(self) -> None:
        """Keep writes in memory until the matching :meth:`release`."""
        with self._lock:
            self._holds += 1

    def release(self) -> None:
        """End one :meth:`hold`; the last one writes what was kept."""
        with self._lock:
            self._holds = max(0, self._holds - 1)
            if self._holds:
                return
            pending, self._pending, self._pending_bytes = self._pending, {}, 0
        for path, data in pending.items():
            self._write(path, data)

    # -- pages ---------------------------------------------------------------

    def _page_path(self, url: str) -> Path:
        key = hashlib.sha256(_PAGE_LAYOUT + url.encode()).hexdigest()
        return self.root / _PAGES / key

    def get_page(self, url: str) -> CachedPage | None:
        """The stored page for ``url`` (credentials already removed), if sound."""
        path = self._page_path(url)
        raw = self._read(path)
        if raw is None:
            return None
        header_line, sep, rest = raw.partition(b"\n")
        spans_line, sep2, body = rest.partition(b"\n")
        try:
            header = json.loads(header_line)
            if (
                not sep
                or not sep2
                or not isinstance(header, dict)
                or header.get("url") != url
                or header.get("size") != len(body)
                or header.get("sha256") != hashlib.sha256(body).hexdigest()
                or header.get("spans_sha256") != hashlib.sha256(spans_line).hexdigest()
            ):
                raise ValueError("mismatch")
            spans = json.loads(spans_line)
            if spans is not None and not _spans_ok(spans, len(body)):
                raise ValueError("spans")
            max_age = header.get("max_age")
            if max_age is not None and not isinstance(max_age, (int, float)):
                raise ValueError("max_age")
            fields = {k: header.get(k) for k in ("etag", "last_modified", "final_url")}
            if any(v is not None and not isinstance(v, str) for v in fields.values()):
                raise ValueError("header field")
            return CachedPage(
                url=url,
                content_type=str(header["content_type"]),
                body=body,
                fetched=float(header["fetched"]),
                max_age=max_age,
                missing=bool(header.get("missing", False)),
                spans=spans,
                sha256=header["sha256"],
                **fields,
            )
        except (ValueError, KeyError, TypeError):
            self._discard(path)
            return None

    def page_digest(self, url: str, ttl: float | None) -> str | None:
        """The ``sha256:`` digest (or ``"missing"``) of the stored page for ``url``,
        reading only its header; None when absent, or stale for ``ttl`` (no ``ttl``:
        any age will do). The body is checked whenever the page itself is read."""
        path = self._page_path(url)
        with self._lock:
            pending = self._pending.get(path)
        try:
            if pending is not None:
                header = json.loads(pending.partition(b"\n")[0])
            else:
                with open(path, "rb") as fh:
                    header = json.loads(fh.readline())
        except (OSError, ValueError):
            return None
        if not isinstance(header, dict) or header.get("url") != url:
            return None
        try:
            entry = CachedPage(
                url=url,
                content_type="",
                body=b"",
                fetched=float(header["fetched"]),
                max_age=header.get("max_age"),
            )
            if ttl is not None and not entry.is_fresh(ttl):
                return None
        except (KeyError, TypeError, ValueError):
            return None
        return "missing" if header.get("missing") else f"sha256:{header.get('sha256')}"

    def put_page(self, page: CachedPage) -> None:
        """Store ``page`` (its URL must carry no credentials)."""
        spans = json.dumps(page.spans, separators=(",", ":")).encode()
        header = {
            "url": page.url,
            "content_type": page.content_type,
            "fetched": page.fetched,
            "etag": page.etag,
            "last_modified": page.last_modified,
            "max_age": page.max_age,
            "final_url": page.final_url,
            "missing": page.missing,
            "size": len(page.body),
            "sha256": page.sha256 or hashlib.sha256(page.body).hexdigest(),
            "spans_sha256": hashlib.sha256(spans).hexdigest(),
        }
        data = b"\n".join((json.dumps(header).encode(), spans, page.body))
        self._put(self._page_path(page.url), data)

    # -- blobs ---------------------------------------------------------------

    def _blob_path(self, kind: str, key: str) -> Path:
        if not key.isalnum():
            raise ValueError(f"bad cache key {key!r}")
        return self.root / _BLOBS / kind / key

    def get_blob(self, kind: str, key: str) -> bytes | None:
        """Bytes stored under ``key`` (a hex digest) for ``kind``, if sound."""
        path = self._blob_path(kind, key)
        raw = self._read(path)
        if raw is None:
            return None
        header, sep, body = raw.partition(b"\n")
        if sep and header == _blob_header(body):
            return body
        self._discard(path)
        return None

    def put_blob(self, kind: str, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` for ``kind``."""
        self._put(self._blob_path(kind, key), _blob_header(data) + b"\n" + data)

    # -- files ---------------------------------------------------------------

    def _read(self, path: Path) -> bytes | None:
        with self._lock:
            pending = self._pending.get(path)
        if pending is not None:
            return pending
        # A FIFO or device planted in the cache is a miss, never a hang; so is an
        # entry too large to be ours.
        try:
            return read_regular(path, limit=_MAX_ENTRY_BYTES)
        except OSError:
            return None

    def _put(self, path: Path, data: bytes) -> None:
        with self._lock:
            old = self._pending.pop(path, None)
            self._pending_bytes -= 0 if old is None else len(old)
            if self._holds and self._pending_bytes + len(data) <= _MAX_PENDING_BYTES:
                self._pending[path] = data
                self._pending_bytes += len(data)
                return
        self._write(path, data)

    def _discard(self, path: Path) -> None:
        with self._lock:
            if path in self._pending:
                return  # ours, and sound: it replaces what is on disk at release
        with contextlib.suppress(OSError):
            path.unlink()

    def _write(self, path: Path, data: bytes) -> None:
        # A cache that cannot be written (read-only, full disk) only costs speed.
        with contextlib.suppress(OSError):
            parent = path.parent
            if parent not in self._made:
                parent.mkdir(parents=True, exist_ok=True)
                self._made.add(parent)
            _write_atomic(path, data)


def _blob_header(body: bytes) -> bytes:
    return f"reqlock-blob sha256={hashlib.sha256(body).hexdigest()} size={len(body)}".encode()


def _spans_ok(spans: object, size: int) -> bool:
    """True for a mapping of version texts to [file name, start, end, ...] lists of
    offsets within ``size``."""
    return isinstance(spans, dict) and all(
        isinstance(found, list)
        and len(found) % 3 == 0
        and all(isinstance(name, str) for name in found[::3])
        and all(isinstance(o, int) and 0 <= o <= size for o in found[1::3] + found[2::3])
        for found in spans.values()
    )


# Larger than any page or distribution reqlock accepts from the network.
_MAX_ENTRY_BYTES = 2 << 30
# Writes kept in memory beyond this go to disk at once: it bounds what a cold lock
# of a big graph holds (apache-airflow[all] writes about 170 MB of pages).
_MAX_PENDING_BYTES = 32 << 20
_TEMP_NUMBERS = itertools.count()
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def _write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one rename, through a private temporary
    file beside it: four system calls, where the cache makes hundreds."""
    # The process id and a counter make the name unique among live writers; a
    # name left behind by a dead process is met by O_EXCL, and a random one tried.
    tmp = f"{path.parent}/.{path.name}.{os.getpid()}.{next(_TEMP_NUMBERS)}.tmp"
    try:
        fd = os.open(tmp, _CREATE, 0o600)
    except FileExistsError:
        tmp = f"{path.parent}/.{path.name}.{os.urandom(8).hex()}.tmp"
        fd = os.open(tmp, _CREATE, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        # KeyboardInterrupt and SystemExit (SIGTERM, see the CLI) included: no
        # temporary file is left behind.
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
