"""The simple repository API, parsed: PEP 691 JSON and PEP 503 HTML project pages.

Pure functions over bytes. Parsing is deliberately shallow: a page of a popular
project lists thousands of files, and the resolver looks at a handful of releases,
so files are grouped by the version written in their name (string work only) and
versions and tags are parsed later, for the releases actually considered. Of a JSON
page only where each entry lies is kept (the cache keeps it too): a release's
entries are decoded when it is first looked at, on cold and warm runs alike.
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
]

import json.decoder
import json.scanner
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from reqlock.errors import IndexFetchError
from reqlock.urls import lock_url_problem, redact_url

JSON_CONTENT_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_CONTENT_TYPES = ("application/vnd.pypi.simple.v1+html", "text/html")
# The same preference order pip sends: JSON, then the versioned HTML, then legacy.
PAGE_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html; q=0.1, "
    "text/html; q=0.01"
)

_SDIST_SUFFIXES = (".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar")
_HASH_NAMES = ("sha256", "sha384", "sha512")
_METADATA_ATTRIBUTES = ("data-core-metadata", "data-dist-info-metadata")
_SCAN = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]
# Where each release's entries lie in a JSON page's text: [filename, start, end, ...].
Spans = Mapping[str, Sequence[str | int]]


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
    what made page parsing slow. With ``source`` (the text of a JSON page),
    ``files_by_version`` holds :data:`Spans` into it, decoded when first needed.
    """

    __slots__ = ("_convert", "_converted", "_raw", "_source", "_versions", "index", "name")

    def __init__(
        self,
        *,
        name: NormalizedName,
        index: str,
        files_by_version: Mapping[str, Sequence[Any]],
        convert: Callable[[Any], DistFile | None] | None = None,
        source: str | None = None,
    ) -> None:
        self.name = name
        self.index = index
        self._raw = files_by_version
        self._convert = convert
        self._source = source
        self._converted: dict[str, tuple[DistFile, ...]] = {}
        self._versions: dict[Version, tuple[str, ...]] | None = None

    def spans(self) -> Spans | None:
        """Where each release's entries lie in a JSON page's text, else None."""
        return self._raw if self._source is not None else None

    def versions(self) -> dict[Version, tuple[str, ...]]:
        """Each PEP 440 version with the spellings it has in file names."""
        if self._versions is None:
            found: dict[Version, tuple[str, ...]] = {}
            for text in self._raw:
                try:
                    version = Version(text)
                except ValueError:  # InvalidVersion, or an integer too long to convert
                    continue
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
        # Spans name their files: only the kept ones are decoded (again if asked again).
        return [
            _SCAN(source, raw[k + 1])[0] for k in range(0, len(raw), 3) if not keep or keep(raw[k])
        ]

    def _convert_all(self, raw: Sequence[Any]) -> tuple[DistFile, ...]:
        if self._convert is None:
            return tuple(raw)
        # A refused entry converts to None (a file URL the policy forbids).
        return tuple(d for d in map(self._convert, raw) if d is not None)

    def releases(self) -> dict[Version, tuple[DistFile, ...]]:
        """Every release with its files (converts everything: for tests and tools)."""
        return {v: self.files(v) for v in self.versions()}


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
        text = body.decode("ascii") if body.isascii() else _json_text(body, page_url)
        spans = _json_spans(text, page_url, name)
        return page_from_entries(
            text, spans, page_url=page_url, name=name, index=index, keep_url=keep_url
        )
    if media not in HTML_CONTENT_TYPES and media:
        raise IndexFetchError(
            f"{redact_url(page_url)} answered with content type {media!r}, "
            "which is not a simple-API page",
            url=redact_url(page_url),
            package=name,
            hint="check that the index URL points at a PEP 503/691 simple index",
        )
    grouped: dict[str, list[Any]] = {}
    names: dict[str, bool] = {}
    for entry in _parse_html(body, page_url):
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
    source: str | bytes | None,
    entries: Mapping[str, Sequence[Any]],
    *,
    page_url: str,
    name: NormalizedName,
    index: str,
    keep_url: Callable[[str], bool] | None = None,
) -> ProjectPage:
    """The page of PEP 691 entries grouped by version text; with ``source`` (a JSON
    page or its text), ``entries`` are :data:`Spans` into it (ProjectPage.spans)."""
    if isinstance(source, bytes):  # the decoder scans text
        source = source.decode("ascii") if source.isascii() else _json_text(source, page_url)

    def convert(entry: Any) -> DistFile | None:
        dist = _file_from_json(entry, page_url, index)
        return dist if keep_url is None or keep_url(dist.url) else None

    return ProjectPage(
        name=name, index=index, files_by_version=entries, convert=convert, source=source
    )


def parse_flat_page(body: bytes, *, page_url: str) -> list[DistFile]:
    """The files an HTML page links to (a ``--find-links`` page: any project's
    files on one page), with hashes from ``#sha256=`` fragments."""
    return [_file_from_json(entry, page_url, "") for entry in _parse_html(body, page_url)]


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


def _bad_page(page_url: str, what: str) -> IndexFetchError:
    return IndexFetchError(
        f"{redact_url(page_url)}: {what}",
        url=redact_url(page_url),
        hint="the index sent a malformed project page; try again later or report it "
        "to the index operator",
    )


def _json_text(body: bytes, page_url: str) -> str:
    try:  # as json.loads decodes bytes
        return body.decode(json.detect_encoding(body), "surrogatepass")
    except UnicodeDecodeError as exc:
        raise _bad_page(page_url, f"invalid JSON ({exc})") from None


def _json_spans(text: str, page_url: str, name: NormalizedName) -> Spans:
    """Where the entries of each release lie in a PEP 691 page: the standard
    decoder reads it, but an array gives an :class:`_Entries`, whose items are
    decoded one at a time and dropped at once (a page decoded whole holds tens of
    thousands of dicts, which the garbage collector then walks over and over)."""
    decoder = json.JSONDecoder()
    decoder.parse_array = lambda state, _: _Entries(name).read(state)  # type: ignore[attr-defined]
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    try:
        data = decoder.decode(text)
    except ValueError as exc:
        raise _bad_page(page_url, f"invalid JSON ({exc})") from None
    except RecursionError:
        raise _bad_page(page_url, "invalid JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise _bad_page(page_url, "the JSON page is not an object")
    meta = data.get("meta")
    api_version = meta.get("api-version") if isinstance(meta, dict) else None
    if not isinstance(api_version, str) or not api_version.startswith("1."):
        raise _bad_page(page_url, f"unsupported simple API version {api_version!r}")
    files = data.get("files")
    if not isinstance(files, _Entries):
        raise _bad_page(page_url, "the JSON page has no 'files' list")
    if files.problem is not None:
        raise _bad_page(page_url, files.problem)
    return files.spans


class _Entries:
    """A JSON array read as page entries: where each lies, by version, and the
    first malformed one's problem (a few checks now, so that a malformed page is
    never cached; the rest when an entry's release is considered)."""

    def __init__(self, name: NormalizedName) -> None:
        self.name = name
        self.spans: dict[str, list[str | int]] = {}
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
                self.spans.setdefault(version, []).extend((filename, i, end))
        return None, end


def _file_from_json(entry: Mapping[str, Any], page_url: str, index: str) -> DistFile:
    filename = entry.get("filename")
    url = entry.get("url")
    hashes = entry.get("hashes")
    if not isinstance(filename, str) or not filename or "/" in filename:
        raise _bad_page(page_url, "a file entry has no valid 'filename'")
    if not isinstance(url, str) or not url:
        raise _bad_page(page_url, f"the entry of {filename} has no 'url'")
    if not isinstance(hashes, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in hashes.items()
    ):
        raise _bad_page(page_url, f"the entry of {filename} has no valid 'hashes'")
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
        raise _bad_page(page_url, f"the entry of {filename} has an invalid url ({exc})") from None
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


class _AnchorParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[dict[str, str | None], str]] = []
        self.base: str | None = None
        self._current: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "base" and self.base is None:
            self.base = dict(attrs).get("href")
        elif tag == "a":
            self._current = dict(attrs)
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._current is not None:
            self.anchors.append((self._current, "".join(self._text).strip()))
            self._current = None


def _parse_html(body: bytes, page_url: str) -> list[dict[str, Any]]:
    """The files an HTML page links to, as PEP 691 entries with absolute URLs."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad_page(page_url, "the HTML page is not UTF-8") from None
    parser = _AnchorParser()
    try:
        parser.feed(text)
        parser.close()
    except (AssertionError, ValueError) as exc:  # html.parser's own failures
        raise _bad_page(page_url, f"unparsable HTML ({exc})") from None
    try:
        base = urljoin(page_url, parser.base) if parser.base else page_url
    except ValueError as exc:  # e.g. "Invalid IPv6 URL"
        raise _bad_page(page_url, f"invalid <base href> ({exc})") from None
    entries: list[dict[str, Any]] = []
    for attrs, label in parser.anchors:
        href = attrs.get("href")
        if not href:
            continue
        try:
            url = urljoin(base, href)
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError as exc:
            raise _bad_page(page_url, f"invalid link {href!r} ({exc})") from None
        filename = unquote(parts.path.rsplit("/", 1)[-1] or label)
        if "/" in filename:
            continue  # a directory's link, not a file's
        alg, _, value = parts.fragment.partition("=")
        hashes = {alg: value} if value else {}
        url = url.split("#", 1)[0]
        entry = {
            "filename": filename,
            "url": url,
            "hashes": hashes,
            "requires-python": attrs.get("data-requires-python") or None,
            "yanked": attrs.get("data-yanked") or "data-yanked" in attrs,
        }
        key = next((k for k in _METADATA_ATTRIBUTES if k in attrs), None)
        if key is not None:
            value = attrs[key] or ""
            alg, _, digest = value.partition("=")
            known = digest and alg.lower() in _HASH_NAMES
            entry["core-metadata"] = {alg: digest} if known else value != "false"
        entries.append(entry)
    return entries
