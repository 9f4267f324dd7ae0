"""The simple repository API, parsed: PEP 691 JSON and PEP 503 HTML project pages.

Pure functions over bytes. Parsing is deliberately shallow: a page of a popular
project lists thousands of files, and the resolver looks at a handful of releases,
so files are grouped by the version written in their name (string work only) and
versions and tags are parsed later, for the releases actually considered. Of a JSON
page only where each entry lies is kept (see :mod:`reqlock.index.pagejson`; the
cache keeps it too): a release's entries are decoded when it is first looked at,
on cold and warm runs alike, from the page's text or from its stored bytes.
"""

from __future__ import annotations

__all__ = [
    "JSON_CONTENT_TYPE",
    "PAGE_ACCEPT",
    "DistFile",
    "ProjectPage",
    "file_url_problem",
    "page_from_entries",
    "parse_flat_page",
    "parse_project_page",
    "version_from_filename",
]

from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from packaging.utils import NormalizedName
from packaging.version import Version

from reqlock.errors import IndexFetchError
from reqlock.index.pagejson import (
    Mapped,
    Offsets,
    Source,
    bad_page,
    decode_entry,
    json_offsets,
    json_text,
    offsets_array,
    version_from_filename,
)
from reqlock.urls import lock_url_problem, redact_url

JSON_CONTENT_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_CONTENT_TYPES = ("application/vnd.pypi.simple.v1+html", "text/html")
# The same preference order pip sends: JSON, then the versioned HTML, then legacy.
PAGE_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html; q=0.1, "
    "text/html; q=0.01"
)

_HASH_NAMES = ("sha256", "sha384", "sha512")
# Where each release's entries lie in a JSON page's text, with their file names:
# [filename, start, end, ...] (see ProjectPage.spans; the index keeps Offsets).
Spans = Mapping[str, Sequence[str | int]]
# Version texts seen on pages, parsed once: many projects share "1.0.0" and the
# like, and one Version object for each saves memory on a big lock.
_VERSIONS: dict[str, Version | None] = {}
_MAX_VERSIONS = 1 << 16


@dataclass(frozen=True, kw_only=True, slots=True)
class DistFile:
    """One distribution file listed on a project page.

    ``url`` is absolute and may carry the index's credentials (needed to download
    it); everything shown or stored uses :attr:`public_url`.
    """

    filename: str
    url: str
    hashes: Mapping[str, str] = field(hash=False)
    requires_python: str | None = None
    yanked: bool = False
    yanked_reason: str | None = None
    size: int | None = None
    upload_time: str | None = None
    # None: the page said nothing; False: explicitly absent; else the hashes.
    metadata_hashes: Mapping[str, str] | bool | None = field(default=None, hash=False)
    index: str = ""

    @property
    def is_wheel(self) -> bool:
        """True for a ``.whl`` file."""
        return self.filename.endswith(".whl")

    @property
    def sha256(self) -> str | None:
        """The file's sha256 from the index, if it gave one."""
        return self.hashes.get("sha256")

    @property
    def public_url(self) -> str:
        """The URL without credentials."""
        return redact_url(self.url)

    @property
    def wheel_tag(self) -> str:
        """The compressed tag set of a wheel name, e.g. ``cp311-cp311-manylinux_2_17_x86_64``."""
        parts = self.filename[:-4].split("-")
        return "-".join(parts[-3:])


class ProjectPage:
    """The files of one project on one index, grouped by the version in their names.

    Files are turned into :class:`DistFile` values only for the versions asked
    for: building tens of thousands of objects for releases nobody considers is
    what made page parsing slow. With ``source`` (a JSON page's text, or its
    ASCII bytes), ``files_by_version`` holds where each release's entries lie in
    it: :data:`~reqlock.index.pagejson.Offsets`, or :data:`Spans` (which name
    each entry's file too); entries are decoded when first needed.
    """

    __slots__ = ("_convert", "_converted", "_raw", "_source", "_versions", "index", "name")

    def __init__(
        self,
        *,
        name: NormalizedName,
        index: str,
        files_by_version: Mapping[str, Sequence[Any]],
        convert: Callable[[Any], DistFile | None] | None = None,
        source: Source | None = None,
    ) -> None:
        self.name = name
        self.index = index
        self._raw = files_by_version
        self._convert = convert
        self._source = source
        self._converted: dict[str, tuple[DistFile, ...]] = {}
        self._versions: dict[Version, tuple[str, ...]] | None = None

    def offsets(self) -> Offsets | None:
        """Where each release's entries lie in a JSON page's text, else None."""
        if self._source is None:
            return None
        return {
            text: found if isinstance(found, array) else offsets_array(_spans_offsets(found))
            for text, found in self._raw.items()
        }

    def spans(self) -> Spans | None:
        """:meth:`offsets` with each entry's file name first: ``[filename, start,
        end, ...]`` (decodes every entry: for tests and tools)."""
        source = self._source
        if source is None:
            return None
        spans: dict[str, list[str | int]] = {}
        for text, found in (self.offsets() or {}).items():
            for k in range(0, len(found), 2):
                entry = self._decode(source, found[k], found[k + 1])
                spans.setdefault(text, []).extend((entry["filename"], found[k], found[k + 1]))
        return spans

    def use_source(self, body: Mapped) -> None:
        """Read entries from ``body`` from now on: the same bytes, elsewhere (stored
        and mapped, rather than a copy in memory). Ignored unless the page reads
        its entries from bytes (an ASCII body), where offsets are byte offsets."""
        if isinstance(self._source, (memoryview, Mapped)):
            self._source = body

    def versions(self) -> dict[Version, tuple[str, ...]]:
        """Each PEP 440 version with the spellings it has in file names."""
        if self._versions is None:
            found: dict[Version, tuple[str, ...]] = {}
            for text in self._raw:
                version = _parse_version(text)
                if version is not None:
                    # "1.0" and "1.0.0" are one version written two ways.
                    found[version] = (*found.get(version, ()), text)
            self._versions = found
        return self._versions

    def files(
        self, version: Version, keep: Callable[[str], bool] | None = None
    ) -> tuple[DistFile, ...]:
        """The files of one release; with ``keep``, only those whose file name it
        accepts (checked before the entry is converted, which is the costly part)."""
        result: tuple[DistFile, ...] = ()
        for text in self.versions().get(version, ()):
            converted = self._converted.get(text)
            if converted is not None:
                result += tuple(d for d in converted if keep is None or keep(d.filename))
                continue
            raw = self._entries(text, keep)
            if keep is not None:
                result += self._convert_all(raw)
            else:
                result += self._converted.setdefault(text, self._convert_all(raw))
        return result

    def _entries(self, text: str, keep: Callable[[str], bool] | None) -> list[Any]:
        raw, source, named = self._raw[text], self._source, self._convert is None
        if source is None:  # DistFile values, else PEP 691 entries
            return [r for r in raw if not keep or keep(r.filename if named else r["filename"])]
        if isinstance(raw, array):
            # Decoding an entry is cheap next to converting it: filtered after.
            entries = [self._decode(source, raw[k], raw[k + 1]) for k in range(0, len(raw), 2)]
            return [e for e in entries if not keep or keep(e["filename"])]
        # Spans name their files: only the kept ones are decoded (again if asked again).
        return [
            self._decode(source, raw[k + 1], raw[k + 2])
            for k in range(0, len(raw), 3)
            if not keep or keep(raw[k])
        ]

    def _decode(self, source: Source, start: int, end: int) -> dict[str, Any]:
        try:
            entry = decode_entry(source, start, end)
        except (ValueError, StopIteration, RecursionError):  # UnicodeDecodeError too
            entry = None
        if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str):
            # Offsets come from this page's own scan (or the cache, checked): only a
            # page altered behind their back gets here.
            raise bad_page(f"{self.index}{self.name}/", "an entry is not where it was")
        return entry

    def _convert_all(self, raw: Sequence[Any]) -> tuple[DistFile, ...]:
        if self._convert is None:
            return tuple(raw)
        # A refused entry converts to None (a file URL the policy forbids).
        return tuple(d for d in map(self._convert, raw) if d is not None)

    def releases(self) -> dict[Version, tuple[DistFile, ...]]:
        """Every release with its files (converts everything: for tests and tools)."""
        return {v: self.files(v) for v in self.versions()}


def _parse_version(text: str) -> Version | None:
    try:
        return _VERSIONS[text]
    except KeyError:
        pass
    try:
        found: Version | None = Version(text)
    except ValueError:  # InvalidVersion, or an integer too long to convert
        found = None
    if len(_VERSIONS) >= _MAX_VERSIONS:
        _VERSIONS.clear()  # a bound, not a policy: later texts are parsed again
    _VERSIONS[text] = found
    return found


def _spans_offsets(spans: Sequence[str | int]) -> list[int]:
    """The offsets of :data:`Spans` (their file names dropped)."""
    return [int(spans[k + j]) for k in range(0, len(spans), 3) for j in (1, 2)]


def file_url_problem(url: str, allows: Callable[[str], bool]) -> str | None:
    """What makes a file URL from a project page unusable, or None.

    A file must be fetched over http(s) (never ``file:``, ``ftp:``, ``data:`` or
    ``javascript:``), by a URL the lock can hold (the checks a lock's reader
    makes), and ``allows`` (the index policy) must accept it.
    """
    problem = lock_url_problem(url, schemes=("https", "http"))
    if problem is not None:
        return problem
    if not allows(url):
        return "the URL is plain http to a host that is not allowed (--allow-insecure-host)"
    return None


def parse_project_page(
    body: bytes,
    *,
    content_type: str,
    page_url: str,
    name: NormalizedName,
    index: str,
    keep_url: Callable[[str], bool] | None = None,
) -> ProjectPage:
    """Parse a project page in whichever format the server sent.

    Files whose absolute URL ``keep_url`` rejects are left out (it is asked when
    a release's files are first looked at, so it may warn about them).
    """
    media = content_type.split(";", maxsplit=1)[0].strip().lower()
    if media == JSON_CONTENT_TYPE:
        text = json_text(body, page_url)
        offsets = json_offsets(text, page_url, name)
        # The scan's text is dropped: entries are read from the bytes when ASCII.
        return page_from_entries(
            body if body.isascii() else text,
            offsets,
            page_url=page_url,
            name=name,
            index=index,
            keep_url=keep_url,
        )
    if media not in HTML_CONTENT_TYPES and media:
        raise IndexFetchError(
            f"{redact_url(page_url)} answered with content type {media!r}, "
            "which is not a simple-API page",
            url=redact_url(page_url),
            package=name,
            hint="check that the index URL points at a PEP 503/691 simple index",
        )
    from reqlock.index.pagehtml import parse_html  # html.parser only for HTML pages

    grouped: dict[str, list[Any]] = {}
    names: dict[str, bool] = {}
    for entry in parse_html(body, page_url):
        # Refused links are warned about now: their file names mean nothing.
        if keep_url is not None and not keep_url(entry["url"]):
            continue
        version = version_from_filename(entry["filename"], name, names)
        if version is not None:
            grouped.setdefault(version, []).append(entry)
    return page_from_entries(
        None, grouped, page_url=page_url, name=name, index=index, keep_url=keep_url
    )


def page_from_entries(
    source: str | bytes | Mapped | None,
    entries: Mapping[str, Sequence[Any]],
    *,
    page_url: str,
    name: NormalizedName,
    index: str,
    keep_url: Callable[[str], bool] | None = None,
) -> ProjectPage:
    """The page of PEP 691 entries grouped by version text; with ``source`` (a JSON
    page or its text), ``entries`` say where they lie in it: :data:`Offsets
    <reqlock.index.pagejson.Offsets>` or :data:`Spans` (ProjectPage.offsets, .spans).

    Bytes that are ASCII are read as they are (so are :class:`Mapped
    <reqlock.index.pagejson.Mapped>` ones, which the cache maps only when ASCII)."""
    text: Source | None
    if isinstance(source, bytes):
        # Offsets into ASCII bytes are offsets into their text: no copy needed.
        text = memoryview(source) if source.isascii() else json_text(source, page_url)
    else:
        text = source

    def convert(entry: Any) -> DistFile | None:
        dist = _file_from_json(entry, page_url, index)
        return dist if keep_url is None or keep_url(dist.url) else None

    return ProjectPage(
        name=name, index=index, files_by_version=entries, convert=convert, source=text
    )


def parse_flat_page(body: bytes, *, page_url: str) -> list[DistFile]:
    """The files an HTML page links to (a ``--find-links`` page: any project's
    files on one page), with hashes from ``#sha256=`` fragments."""
    from reqlock.index.pagehtml import parse_html

    return [_file_from_json(entry, page_url, "") for entry in parse_html(body, page_url)]


def _file_from_json(entry: Mapping[str, Any], page_url: str, index: str) -> DistFile:
    filename = entry.get("filename")
    url = entry.get("url")
    hashes = entry.get("hashes")
    if not isinstance(filename, str) or not filename or "/" in filename:
        raise bad_page(page_url, "a file entry has no valid 'filename'")
    if not isinstance(url, str) or not url:
        raise bad_page(page_url, f"the entry of {filename} has no 'url'")
    if not isinstance(hashes, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in hashes.items()
    ):
        raise bad_page(page_url, f"the entry of {filename} has no valid 'hashes'")
    yanked = entry.get("yanked", False)
    size = entry.get("size")
    upload_time = entry.get("upload-time")
    requires_python = entry.get("requires-python")
    metadata = entry.get("core-metadata", entry.get("dist-info-metadata"))
    if metadata is not None:
        metadata = _known_hashes(metadata) if isinstance(metadata, dict) else bool(metadata)
    try:
        # urljoin is slow and most indexes give absolute URLs already.
        url = url if url.startswith(("https://", "http://")) else urljoin(page_url, url)
        urlsplit(url).port  # noqa: B018 - raises ValueError on a malformed host or port
    except ValueError as exc:
        raise bad_page(page_url, f"the entry of {filename} has an invalid url ({exc})") from None
    return DistFile(
        filename=filename,
        url=url,
        hashes=_known_hashes(hashes),
        requires_python=requires_python if isinstance(requires_python, str) else None,
        yanked=bool(yanked),
        yanked_reason=yanked if isinstance(yanked, str) and yanked else None,
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        upload_time=upload_time if isinstance(upload_time, str) else None,
        metadata_hashes=metadata,
        index=index,
    )


def _known_hashes(hashes: Mapping[str, Any]) -> dict[str, str]:
    return {
        k.lower(): v.lower()
        for k, v in hashes.items()
        if k.lower() in _HASH_NAMES and isinstance(v, str)
    }
