"""PEP 691 JSON project pages: where each release's entries lie, and decoding them.

A page of a popular project lists thousands of files, and a lock looks at a
handful of releases. So a page is read once with the standard decoder, but each
entry of its ``files`` array is decoded, checked a little and dropped at once; what
is kept is :data:`Offsets`, the start and end of each entry in the page's text,
grouped by the version written in its file name. An entry is decoded again, from
those offsets, only when its release is looked at.

Offsets are positions in the page's text; for an ASCII body (PyPI's pages are),
they are byte positions too, so the entries can be read straight from the stored
bytes (:class:`Mapped`, see :meth:`reqlock.index.cache.Cache.get_page`).
"""

from __future__ import annotations

__all__ = [
    "Mapped",
    "Offsets",
    "Source",
    "bad_page",
    "decode_entry",
    "json_offsets",
    "json_text",
    "offsets_array",
    "version_from_filename",
]

import contextlib
import json.decoder
import json.scanner
import mmap
from array import array
from collections.abc import Iterable, Mapping
from typing import Any

from packaging.utils import NormalizedName, canonicalize_name

from reqlock.errors import IndexFetchError
from reqlock.urls import redact_url

_SDIST_SUFFIXES = (".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar")
_SCAN = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]
# Unsigned, at least 32 bits: a page is at most 256 MiB.
_TYPECODE = "I" if array("I").itemsize >= 4 else "L"

Offsets = Mapping[str, "array[int]"]
"""Where each release's entries lie in a JSON page's text, by the version text of
their file names: ``array([start, end, start, end, ...])``."""

# What one touch of a mapped file may map in: a large folio of the page cache is
# at most a PMD (2 MiB on x86-64 and arm64), and fault-around stays within one.
_WINDOW = max(mmap.PAGESIZE, 2 << 20)
_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)


class Mapped:
    """The bytes of a stored page, in a file mapped into memory (read-only).

    Reading an entry copies out its bytes and hands the memory pages back at once:
    the kernel maps more than the page touched (fault-around, and whole large
    folios of a freshly written file: a megabyte and more), so a mapping read here
    and there would otherwise end up nearly as resident as a copy. What stays is
    the kernel's page cache, which is not this process's memory.
    """

    __slots__ = ("_mapping", "_offset", "_size")

    def __init__(self, mapping: mmap.mmap, offset: int) -> None:
        self._mapping = mapping
        self._offset = offset
        self._size = len(mapping) - offset

    def __len__(self) -> int:
        return self._size

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapped):
            other = other.view()
        return isinstance(other, (bytes, memoryview)) and self.view() == other

    __hash__ = None  # type: ignore[assignment]

    def view(self) -> memoryview:
        """All the bytes (read whole, they are all made resident: to store or compare)."""
        return memoryview(self._mapping)[self._offset :]

    def read(self, start: int, end: int) -> bytes:
        """The bytes from ``start`` to ``end``."""
        if not 0 <= start <= end <= self._size:
            raise ValueError("outside the page")
        first, last = self._offset + start, self._offset + end
        data = self._mapping[first:last]
        if _DONTNEED is not None and last > first:
            # Everything this read can have mapped in: the windows it touched.
            base = first - first % _WINDOW
            top = min(len(self._mapping), last - last % _WINDOW + _WINDOW)
            with contextlib.suppress(OSError, ValueError):  # a failure costs only memory
                self._mapping.madvise(_DONTNEED, base, top - base)
        return data


Source = str | memoryview | Mapped
"""A JSON page's text, or its bytes when they are ASCII (then offsets are bytes)."""


def offsets_array(values: Iterable[int] = ()) -> array[int]:
    """An array of offsets (what :data:`Offsets` maps versions to)."""
    return array(_TYPECODE, values)


def decode_entry(source: Source, start: int, end: int) -> Any:
    """The entry at ``start``..``end`` of a page (offsets from :func:`json_offsets`)."""
    if isinstance(source, str):
        return _SCAN(source, start)[0]
    # Only this entry's bytes are read: a mapped page stays mostly on disk.
    data = source.read(start, end) if isinstance(source, Mapped) else source[start:end]
    return _SCAN(str(data, "ascii"), 0)[0]


def bad_page(page_url: str, what: str) -> IndexFetchError:
    """The error for a malformed project page."""
    return IndexFetchError(
        f"{redact_url(page_url)}: {what}",
        url=redact_url(page_url),
        hint="the index sent a malformed project page; try again later or report it "
        "to the index operator",
    )


def json_text(body: bytes, page_url: str) -> str:
    """The text of a JSON body, decoded as :func:`json.loads` decodes bytes."""
    if body.isascii():
        return body.decode("ascii")
    try:
        return body.decode(json.detect_encoding(body), "surrogatepass")
    except UnicodeDecodeError as exc:
        raise bad_page(page_url, f"invalid JSON ({exc})") from None


def json_offsets(text: str, page_url: str, name: NormalizedName) -> dict[str, array[int]]:
    """Where the entries of each release lie in a PEP 691 page's text.

    The standard decoder reads the page, but an array gives an :class:`_Entries`,
    whose items are decoded one at a time and dropped at once (a page decoded
    whole holds tens of thousands of dicts, which the garbage collector then walks
    over and over). Raises :class:`IndexFetchError` for a page that is not JSON
    or not a version 1 page with a valid ``files`` list."""
    decoder = json.JSONDecoder()
    decoder.parse_array = lambda state, _: _Entries(name).read(state)  # type: ignore[attr-defined]
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    try:
        data = decoder.decode(text)
    except ValueError as exc:
        raise bad_page(page_url, f"invalid JSON ({exc})") from None
    except RecursionError:
        raise bad_page(page_url, "invalid JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise bad_page(page_url, "the JSON page is not an object")
    meta = data.get("meta")
    api_version = meta.get("api-version") if isinstance(meta, dict) else None
    if not isinstance(api_version, str) or not api_version.startswith("1."):
        raise bad_page(page_url, f"unsupported simple API version {api_version!r}")
    files = data.get("files")
    if not isinstance(files, _Entries):
        raise bad_page(page_url, "the JSON page has no 'files' list")
    if files.problem is not None:
        raise bad_page(page_url, files.problem)
    return files.offsets


class _Entries:
    """A JSON array read as page entries: where each lies, by version, and the
    first malformed one's problem (a few checks now, so that a malformed page is
    never cached; the rest when an entry's release is considered)."""

    def __init__(self, name: NormalizedName) -> None:
        self.name = name
        self.offsets: dict[str, array[int]] = {}
        self.problem: str | None = None
        self.count = 0
        self._names: dict[str, bool] = {}

    def read(self, state: tuple[str, int]) -> tuple[_Entries, int]:
        return self, json.decoder.JSONArray(state, self.item)[1]  # type: ignore[attr-defined]

    def item(self, text: str, i: int) -> tuple[None, int]:
        item, end = _SCAN(text, i)
        n, self.count = self.count, self.count + 1
        filename = item.get("filename") if isinstance(item, dict) else None
        if self.problem is not None:
            pass
        elif not isinstance(filename, str) or not filename:
            self.problem = f"files[{n}] has no valid 'filename'"
        elif not isinstance(item.get("url"), str) or not isinstance(item.get("hashes"), dict):
            self.problem = f"files[{n}] ({filename}) has no valid 'url' or 'hashes'"
        else:
            version = version_from_filename(filename, self.name, self._names)
            if version is not None:
                found = self.offsets.get(version)
                if found is None:
                    found = self.offsets[version] = offsets_array()
                found.append(i)
                found.append(end)
        return None, end


def version_from_filename(
    filename: str, name: NormalizedName, seen: dict[str, bool] | None = None
) -> str | None:
    """The version string in a wheel or sdist name of project ``name``, else None.

    Files of other projects, eggs, installers and unknown archive types give None.
    ``seen`` memoizes which name prefixes belong to the project.
    """
    memo = {} if seen is None else seen
    if filename.endswith(".whl"):
        parts = filename.split("-")
        if len(parts) not in (5, 6):
            return None
        found = memo.get(parts[0])
        if found is None:
            found = memo[parts[0]] = canonicalize_name(parts[0]) == name
        return parts[1] if found else None
    for suffix in _SDIST_SUFFIXES:
        if filename.endswith(suffix):
            stem = filename[: -len(suffix)]
            break
    else:
        return None
    # Legacy sdist names may hold dashes in the project name: find the split
    # where the part before it is this project.
    pos = stem.find("-")
    while pos != -1:
        prefix = stem[:pos]
        found = memo.get(prefix)
        if found is None:
            found = memo[prefix] = canonicalize_name(prefix) == name
        if found:
            return stem[pos + 1 :] or None
        pos = stem.find("-", pos + 1)
    return None
