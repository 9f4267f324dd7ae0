"""The simple repository API, parsed: PEP 691 JSON and PEP 503 HTML project pages.

Pure functions over bytes. Parsing is deliberately shallow: a page of a popular
project lists thousands of files, and the resolver looks at a handful of releases,
so files are grouped by the version written in their name (string work only) and
versions and tags are parsed later, for the releases actually considered.
"""

from __future__ import annotations

__all__ = [
    "JSON_CONTENT_TYPE",
    "PAGE_ACCEPT",
    "DistFile",
    "ProjectPage",
    "file_url_problem",
    "merge_pages",
    "parse_flat_page",
    "parse_project_page",
]

import json
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
    what made page parsing slow.
    """

    __slots__ = ("_convert", "_converted", "_raw", "_versions", "index", "name")

    def __init__(
        self,
        *,
        name: NormalizedName,
        index: str,
        files_by_version: Mapping[str, Sequence[Any]],
        convert: Callable[[Any], DistFile | None] | None = None,
    ) -> None:
        self.name = name
        self.index = index
        self._raw = files_by_version
        self._convert = convert
        self._converted: dict[str, tuple[DistFile, ...]] = {}
        self._versions: dict[Version, tuple[str, ...]] | None = None

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
            raw = self._raw[text]
            if keep is not None:
                raw = [r for r in raw if keep(_filename_of(r))]
                result += self._convert_all(raw)
                continue
            converted = self._convert_all(raw)
            self._converted[text] = converted
            result += converted
        return result

    def _convert_all(self, raw: Sequence[Any]) -> tuple[DistFile, ...]:
        convert = self._convert
        if convert is None:
            return tuple(raw)
        # A refused entry converts to None (a file URL the policy forbids).
        return tuple(d for d in map(convert, raw) if d is not None)

    def releases(self) -> dict[Version, tuple[DistFile, ...]]:
        """Every release with its files (converts everything: for tests and tools)."""
        return {v: self.files(v) for v in self.versions()}


def merge_pages(pages: Sequence[ProjectPage]) -> ProjectPage:
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
    grouped: dict[str, list[Any]] = {}
    convert: Callable[[Any], DistFile | None] | None = None
    names: dict[str, bool] = {}
    if media == JSON_CONTENT_TYPE:
        for i, entry in enumerate(_json_files(body, page_url)):
            filename = entry.get("filename") if isinstance(entry, dict) else None
            if not isinstance(filename, str) or not filename:
                raise _bad_page(page_url, f"files[{i}] has no valid 'filename'")
            # Cheap type checks now, so a malformed page is never cached; the rest
            # of each entry is converted when its release is considered.
            if not isinstance(entry.get("url"), str) or not isinstance(entry.get("hashes"), dict):
                raise _bad_page(page_url, f"files[{i}] ({filename}) has no valid 'url' or 'hashes'")
            version = version_from_filename(filename, name, names)
            if version is not None:
                grouped.setdefault(version, []).append(entry)

        def convert(entry: Any) -> DistFile | None:
            dist = _file_from_json(entry, page_url, index)
            return dist if keep_url is None or keep_url(dist.url) else None

    elif media in HTML_CONTENT_TYPES or not media:
        for dist in _parse_html(body, page_url, index):
            if keep_url is not None and not keep_url(dist.url):
                continue
            version = version_from_filename(dist.filename, name, names)
            if version is not None:
                grouped.setdefault(version, []).append(dist)
    else:
        raise IndexFetchError(
            f"{redact_url(page_url)} answered with content type {media!r}, "
            "which is not a simple-API page",
            url=redact_url(page_url),
            package=name,
            hint="check that the index URL points at a PEP 503/691 simple index",
        )
    return ProjectPage(name=name, index=index, files_by_version=grouped, convert=convert)


def parse_flat_page(body: bytes, *, page_url: str) -> list[DistFile]:
    """The files an HTML page links to (a ``--find-links`` page: any project's
    files on one page), with hashes from ``#sha256=`` fragments."""
    return _parse_html(body, page_url, "")


def _filename_of(entry: Any) -> str:
    if isinstance(entry, DistFile):
        return entry.filename
    return str(entry["filename"])


def version_from_filename(
    filename: str, name: NormalizedName, seen: dict[str, bool] | None = None
) -> str | None:
    """The version string in a wheel or sdist name of project ``name``, else None.

    Files of other projects, eggs, installers and unknown archive types give None.
    ``seen`` memoizes which name prefixes belong to the project.
    """
    memo = {} if seen is None else seen

    def is_project(prefix: str) -> bool:
        found = memo.get(prefix)
        if found is None:
            found = memo[prefix] = canonicalize_name(prefix) == name
        return found

    if filename.endswith(".whl"):
        parts = filename[:-4].split("-")
        if len(parts) not in (5, 6) or not is_project(parts[0]):
            return None
        return parts[1]
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
        if is_project(stem[:pos]):
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


def _json_files(body: bytes, page_url: str) -> list[Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad_page(page_url, f"invalid JSON ({exc})") from None
    except RecursionError:
        raise _bad_page(page_url, "invalid JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise _bad_page(page_url, "the JSON page is not an object")
    meta = data.get("meta")
    api_version = meta.get("api-version") if isinstance(meta, dict) else None
    if not isinstance(api_version, str) or not api_version.startswith("1."):
        raise _bad_page(page_url, f"unsupported simple API version {api_version!r}")
    raw_files = data.get("files")
    if not isinstance(raw_files, list):
        raise _bad_page(page_url, "the JSON page has no 'files' list")
    return raw_files


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
        metadata_hashes=_metadata_field(metadata),
        index=index,
    )


def _metadata_field(value: object) -> Mapping[str, str] | bool | None:
    if value is None:
        return None
    if isinstance(value, dict):
        return _known_hashes(value)
    return bool(value)


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


def _parse_html(body: bytes, page_url: str, index: str) -> list[DistFile]:
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
    files: list[DistFile] = []
    for attrs, label in parser.anchors:
        href = attrs.get("href")
        if not href:
            continue
        try:
            url = urljoin(base, href)
            parts = urlsplit(url)
        except ValueError as exc:
            raise _bad_page(page_url, f"invalid link {href!r} ({exc})") from None
        filename = parts.path.rsplit("/", 1)[-1] or label
        filename = unquote(filename)
        hashes: dict[str, str] = {}
        if parts.fragment:
            alg, _, value = parts.fragment.partition("=")
            if alg.lower() in _HASH_NAMES and value:
                hashes[alg.lower()] = value.lower()
            url = url.split("#", 1)[0]
        yanked_attr = "data-yanked" in attrs
        yanked_value = attrs.get("data-yanked")
        metadata_attr = attrs.get("data-core-metadata", attrs.get("data-dist-info-metadata"))
        metadata: Mapping[str, str] | bool | None = None
        if "data-core-metadata" in attrs or "data-dist-info-metadata" in attrs:
            alg, _, value = (metadata_attr or "").partition("=")
            if alg.lower() in _HASH_NAMES and value:
                metadata = {alg.lower(): value.lower()}
            else:
                metadata = metadata_attr not in ("false",)
        requires_python = attrs.get("data-requires-python")
        files.append(
            DistFile(
                filename=filename,
                url=url,
                hashes=hashes,
                requires_python=requires_python or None,
                yanked=yanked_attr,
                yanked_reason=yanked_value or None,
                metadata_hashes=metadata,
                index=index,
            )
        )
    return files
