"""The on-disk cache: index pages (with freshness) and content-addressed blobs.

Layout under the cache directory (``REQLOCK_CACHE_DIR``, else
``$XDG_CACHE_HOME/reqlock``, else ``~/.cache/reqlock``)::

    pages-v2/<key>          one index page: a JSON header line, a JSON line of where
                            each release's entries lie in the body (JSON pages,
                            see ProjectPage.offsets), then the body
    blobs-v2/<kind>/<h>     metadata or distribution bytes, stored under the sha256
                            of the distribution they belong to

(Flat directories: creating hundreds of small shard directories cost more than any
directory lookup they could save.) With the offsets, a warm run decodes only the
entries of the releases it looks at. A page's key hashes its URL with the layout's
tag, so pages stored in another layout are never read (nor discarded, should two
releases of reqlock share the cache).

A JSON page can be read *mapped* (``mapped=True``): its body is then a view of the
stored file, of which only the parts read are ever loaded. A big lock holds
hundreds of pages of megabytes each while it looks at a few releases of each, so
this keeps most of them out of memory.

Every entry starts with a header that records the sha256 and size of its payload;
an entry that does not match (truncated, altered) is discarded and fetched again.
Writes go to a temporary file that is renamed into place, so concurrent reqlock
processes sharing a cache never see half an entry, and a crash leaves at worst a
temporary file that nothing reads. (A mapped page keeps the file it was read from,
even once another process has put a newer one in its place.)
"""

from __future__ import annotations

__all__ = ["Cache", "CachedPage", "default_cache_dir"]

import contextlib
import hashlib
import itertools
import json
import mmap
import os
import stat
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reqlock.index.pagejson import Mapped, Offsets, offsets_array

_PAGES = "pages-v2"
# Part of every page's key: a new page layout gets new keys.
_PAGE_LAYOUT = b"offsets-1\n"
_BLOBS = "blobs-v2"
# A file that is mapped cannot be renamed over on Windows: pages are read there.
_CAN_MAP = os.name == "posix"


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
    # bytes, or the stored file's for a page read mapped (Cache.get_page).
    body: bytes | Mapped = field(hash=False)
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
    # Where each release's entries lie in a JSON body (ProjectPage.offsets).
    offsets: Offsets | None = field(default=None, hash=False)
    # The body's sha256 (hex) when known: a page of megabytes is hashed once.
    sha256: str | None = field(default=None, compare=False)

    def digest(self) -> str:
        """``sha256:<hex>`` of the body, or ``missing`` for a project not there."""
        if self.missing:
            return "missing"
        return "sha256:" + (self.sha256 or hashlib.sha256(_buffer(self.body)).hexdigest())

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

    def get_page(self, url: str, *, mapped: bool = False) -> CachedPage | None:
        """The stored page for ``url`` (credentials already removed), if sound.

        With ``mapped``, the body of an ASCII JSON page is a read-only view of the
        stored file (see the module's docstring), else bytes as always."""
        path = self._page_path(url)
        found = self._read_mapped(path) if mapped else None
        raw, mapping = found if found is not None else (self._read(path), None)
        if raw is None:
            return None
        try:
            return _page_of(url, raw, mapping)
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

    def put_page(self, page: CachedPage, *, mapped: bool = False) -> Mapped | None:
        """Store ``page`` (its URL must carry no credentials).

        With ``mapped``, the page is written at once (never held) and its stored
        body is returned, mapped, to read it from there (None when it could not be
        written or mapped; nothing is returned without ``mapped``)."""
        body = _buffer(page.body)
        offsets = page.offsets
        spans = json.dumps(
            None if offsets is None else {k: v.tolist() for k, v in offsets.items()},
            separators=(",", ":"),
        ).encode()
        header = {
            "url": page.url,
            "content_type": page.content_type,
            "fetched": page.fetched,
            "etag": page.etag,
            "last_modified": page.last_modified,
            "max_age": page.max_age,
            "final_url": page.final_url,
            "missing": page.missing,
            "size": len(body),
            "sha256": page.sha256 or hashlib.sha256(body).hexdigest(),
            "spans_sha256": hashlib.sha256(spans).hexdigest(),
        }
        head = json.dumps(header).encode() + b"\n" + spans + b"\n"
        path = self._page_path(page.url)
        if not (mapped and _CAN_MAP and body):
            self._put(path, head + body)
            return None
        with self._lock:  # what was held for this path is replaced now
            old = self._pending.pop(path, None)
            self._pending_bytes -= 0 if old is None else len(old)
        mapping = self._write(path, (head, body), mapped=True)
        return None if mapping is None else Mapped(mapping, len(head))

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
        found = _read_file(path, mapped=False)
        return None if found is None else found[0]

    def _read_mapped(self, path: Path) -> tuple[bytes, mmap.mmap | None] | None:
        """The bytes of ``path`` and a mapping of the same file (None if held)."""
        with self._lock:
            pending = self._pending.get(path)
        if pending is not None:
            return pending, None
        return _read_file(path, mapped=_CAN_MAP)

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

    def _write(
        self, path: Path, data: bytes | Sequence[bytes | memoryview], *, mapped: bool = False
    ) -> mmap.mmap | None:
        # A cache that cannot be written (read-only, full disk) only costs speed.
        with contextlib.suppress(OSError, ValueError):
            parent = path.parent
            if parent not in self._made:
                parent.mkdir(parents=True, exist_ok=True)
                self._made.add(parent)
            return _write_atomic(path, [data] if isinstance(data, bytes) else data, mapped)
        return None


def _buffer(body: bytes | Mapped) -> bytes | memoryview:
    return body.view() if isinstance(body, Mapped) else body


def _blob_header(body: bytes) -> bytes:
    return f"reqlock-blob sha256={hashlib.sha256(body).hexdigest()} size={len(body)}".encode()


def _page_of(url: str, raw: bytes, mapping: mmap.mmap | None) -> CachedPage:
    """The page stored as ``raw`` (a mapping of the same file may provide its
    body); raises ValueError, KeyError or TypeError for an entry that is not sound."""
    header_line, sep, rest = raw.partition(b"\n")
    spans_line, sep2, body = rest.partition(b"\n")
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
    offsets = _offsets_of(json.loads(spans_line), len(body))
    max_age = header.get("max_age")
    if max_age is not None and not isinstance(max_age, (int, float)):
        raise ValueError("max_age")
    fields = {k: header.get(k) for k in ("etag", "last_modified", "final_url")}
    if any(v is not None and not isinstance(v, str) for v in fields.values()):
        raise ValueError("header field")
    stored: bytes | Mapped = body
    if mapping is not None and offsets is not None and body.isascii() and len(mapping) == len(raw):
        # The bytes just checked are the mapped file's: read entries from there.
        stored = Mapped(mapping, len(raw) - len(body))
    return CachedPage(
        url=url,
        content_type=str(header["content_type"]),
        body=stored,
        fetched=float(header["fetched"]),
        max_age=max_age,
        missing=bool(header.get("missing", False)),
        offsets=offsets,
        sha256=header["sha256"],
        **fields,
    )


def _offsets_of(spans: object, size: int) -> Offsets | None:
    """The offsets stored for a page: a mapping of version texts to [start, end,
    ...] lists within ``size``; raises ValueError for anything else."""
    if spans is None:
        return None
    if not isinstance(spans, dict):
        raise ValueError("offsets")
    offsets = {}
    for text, found in spans.items():
        if not (
            isinstance(found, list)
            and len(found) % 2 == 0
            and all(type(o) is int and 0 <= o <= size for o in found)
            and all(found[k] <= found[k + 1] for k in range(0, len(found), 2))
        ):
            raise ValueError("offsets")
        offsets[text] = offsets_array(found)
    return offsets


def _read_file(path: Path, *, mapped: bool) -> tuple[bytes, mmap.mmap | None] | None:
    """The bytes of a regular file (and, with ``mapped``, a mapping of it), or None.

    A FIFO or device planted in the cache is a miss, never a hang (opened without
    blocking); so is an entry too large to be ours."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_ENTRY_BYTES:
            return None
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, min(1 << 20, _MAX_ENTRY_BYTES + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > _MAX_ENTRY_BYTES:
                return None
        data = b"".join(chunks)
        # The same open file: what is mapped is what was read (unless altered in
        # place, which no writer of the cache does).
        mapping = mmap.mmap(fd, 0, access=mmap.ACCESS_READ) if mapped and data else None
        return data, mapping
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)


# Larger than any page or distribution reqlock accepts from the network.
_MAX_ENTRY_BYTES = 2 << 30
# Writes kept in memory beyond this go to disk at once: it bounds what a cold lock
# of a big graph holds (apache-airflow[all] writes about 170 MB of pages).
_MAX_PENDING_BYTES = 32 << 20
_TEMP_NUMBERS = itertools.count()
_CREATE = os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def _write_atomic(
    path: Path, parts: Sequence[bytes | memoryview], mapped: bool = False
) -> mmap.mmap | None:
    """Replace ``path`` with the concatenated ``parts`` in one rename, through a
    private temporary file beside it: four system calls, where the cache makes
    hundreds. With ``mapped``, a mapping of the file written is returned."""
    # The process id and a counter make the name unique among live writers; a
    # name left behind by a dead process is met by O_EXCL, and a random one tried.
    tmp = f"{path.parent}/.{path.name}.{os.getpid()}.{next(_TEMP_NUMBERS)}.tmp"
    flags = _CREATE | (os.O_RDWR if mapped else os.O_WRONLY)
    try:
        fd = os.open(tmp, flags, 0o600)
    except FileExistsError:
        tmp = f"{path.parent}/.{path.name}.{os.urandom(8).hex()}.tmp"
        fd = os.open(tmp, flags, 0o600)
    mapping = None
    try:
        try:
            for part in parts:
                view = memoryview(part)
                while view:
                    view = view[os.write(fd, view) :]
            # Mapped before the rename: this file, whoever replaces it later.
            if mapped:
                mapping = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        # KeyboardInterrupt and SystemExit (SIGTERM, see the CLI) included: no
        # temporary file is left behind.
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if mapping is not None:
            mapping.close()
        raise
    return mapping
