"""The on-disk cache: index pages (with freshness) and content-addressed blobs.

Layout under the cache directory (``REQLOCK_CACHE_DIR``, else
``$XDG_CACHE_HOME/reqlock``, else ``~/.cache/reqlock``)::

    pages-v2/<key>          one index page: a JSON header line, then the body
    blobs-v2/<kind>/<h>     metadata or distribution bytes, stored under the sha256
                            of the distribution they belong to

(Flat directories: creating hundreds of small shard directories cost more than any
directory lookup they could save.)

Every entry starts with a header that records the sha256 and size of its payload;
an entry that does not match (truncated, altered) is discarded and fetched again.
Writes go to a temporary file that is renamed into place, so concurrent reqlock
processes sharing a cache never see half an entry.
"""

from __future__ import annotations

__all__ = ["Cache", "CachedPage", "default_cache_dir"]

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from reqlock.files import read_regular, write_atomic

_PAGES = "pages-v2"
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

    def is_fresh(self, ttl: float, now: float | None = None) -> bool:
        """True while the page may be used without asking the server."""
        age = (time.time() if now is None else now) - self.fetched
        limit = self.max_age if self.max_age is not None else ttl
        return 0 <= age < limit


class Cache:
    """Read and write cache entries; every read is checked, every write atomic."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # -- pages ---------------------------------------------------------------

    def _page_path(self, url: str) -> Path:
        key = hashlib.sha256(url.encode()).hexdigest()
        return self.root / _PAGES / key

    def get_page(self, url: str) -> CachedPage | None:
        """The stored page for ``url`` (credentials already removed), if sound."""
        path = self._page_path(url)
        raw = _read(path)
        if raw is None:
            return None
        header_line, sep, body = raw.partition(b"\n")
        try:
            header = json.loads(header_line)
            if (
                not sep
                or not isinstance(header, dict)
                or header.get("url") != url
                or header.get("size") != len(body)
                or header.get("sha256") != hashlib.sha256(body).hexdigest()
            ):
                raise ValueError("mismatch")
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
                **fields,
            )
        except (ValueError, KeyError, TypeError):
            _discard(path)
            return None

    def page_digest(self, url: str, ttl: float | None) -> str | None:
        """The ``sha256:`` digest (or ``"missing"``) of the stored page for ``url``,
        reading only its header; None when absent, or stale for ``ttl`` (no ``ttl``:
        any age will do). The body is checked whenever the page itself is read."""
        try:
            with open(self._page_path(url), "rb") as fh:
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
            "sha256": hashlib.sha256(page.body).hexdigest(),
        }
        data = json.dumps(header, sort_keys=True).encode() + b"\n" + page.body
        _write_atomic(self._page_path(page.url), data)

    # -- blobs ---------------------------------------------------------------

    def _blob_path(self, kind: str, key: str) -> Path:
        if not key.isalnum():
            raise ValueError(f"bad cache key {key!r}")
        return self.root / _BLOBS / kind / key

    def get_blob(self, kind: str, key: str) -> bytes | None:
        """Bytes stored under ``key`` (a hex digest) for ``kind``, if sound."""
        path = self._blob_path(kind, key)
        raw = _read(path)
        if raw is None:
            return None
        header, sep, body = raw.partition(b"\n")
        if sep and header == _blob_header(body):
            return body
        _discard(path)
        return None

    def put_blob(self, kind: str, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` for ``kind``."""
        _write_atomic(self._blob_path(kind, key), _blob_header(data) + b"\n" + data)


def _blob_header(body: bytes) -> bytes:
    return f"reqlock-blob sha256={hashlib.sha256(body).hexdigest()} size={len(body)}".encode()


# Larger than any page or distribution reqlock accepts from the network.
_MAX_ENTRY_BYTES = 2 << 30


def _read(path: Path) -> bytes | None:
    # A FIFO or device planted in the cache is a miss, never a hang; so is an entry
    # too large to be ours.
    try:
        return read_regular(path, limit=_MAX_ENTRY_BYTES)
    except OSError:
        return None


def _discard(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _write_atomic(path: Path, data: bytes) -> None:
    # A cache that cannot be written (read-only, full disk) only costs speed.
    with contextlib.suppress(OSError):
        write_atomic(path, data, through_links=False)
