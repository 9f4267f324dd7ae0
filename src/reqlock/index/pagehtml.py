"""PEP 503 HTML pages: the files a page links to, as PEP 691 entries.

Apart from :mod:`reqlock.index.pages` so that ``html.parser`` is imported only when
an index (or a ``--find-links`` location) answers with HTML: a lock from a JSON
index, or from the cache, never needs it.
"""

from __future__ import annotations

__all__ = ["parse_html"]

from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from reqlock.index.pagejson import bad_page

_HASH_NAMES = ("sha256", "sha384", "sha512")
_METADATA_ATTRIBUTES = ("data-core-metadata", "data-dist-info-metadata")


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


def parse_html(body: bytes, page_url: str) -> list[dict[str, Any]]:
    """The files an HTML page links to, as PEP 691 entries with absolute URLs."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_page(page_url, "the HTML page is not UTF-8") from None
    parser = _AnchorParser()
    try:
        parser.feed(text)
        parser.close()
    except (AssertionError, ValueError) as exc:  # html.parser's own failures
        raise bad_page(page_url, f"unparsable HTML ({exc})") from None
    try:
        base = urljoin(page_url, parser.base) if parser.base else page_url
    except ValueError as exc:  # e.g. "Invalid IPv6 URL"
        raise bad_page(page_url, f"invalid <base href> ({exc})") from None
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
            raise bad_page(page_url, f"invalid link {href!r} ({exc})") from None
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
