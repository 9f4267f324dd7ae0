"""A WSGI app serving a built universe as a PEP 503 / PEP 691 simple index.

Stdlib only. Behaves like the mirror reqlock meets in the field (file-name order,
relative file URLs, ``.metadata`` for most wheels, HEAD and range requests) and can
be switched to the variants a client must also handle (see ``IndexOptions``).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from packaging.utils import canonicalize_name

from tests.fakeindex.universe import DistFile, Project, Universe

__all__ = ["FakeIndexApp", "IndexOptions", "RequestRecord"]

StartResponse = Callable[..., Any]
Environ = Mapping[str, Any]

JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
JSON_LATEST = "application/vnd.pypi.simple.latest+json"
HTML_LATEST = "application/vnd.pypi.simple.latest+html"
TEXT_HTML = "text/html"
API_VERSION = "1.1"


@dataclass(frozen=True, kw_only=True, slots=True)
class IndexOptions:
    formats: tuple[str, ...] = ("json", "html")
    """Which page formats the server speaks. JSON only: a request that accepts no
    JSON gets 406. HTML only: every page is ``text/html``, whatever was asked."""
    advertise_metadata: bool = False
    """Add ``core-metadata`` (JSON) / ``data-core-metadata`` (HTML) for wheels whose
    ``.metadata`` file exists. The mirror we use never does; PyPI does."""
    ranges: bool = True
    """Answer ``Range`` requests with 206 and send ``Accept-Ranges: bytes``."""
    upload_times: bool = True
    """Include PEP 700 ``upload-time`` in JSON pages."""
    require_auth: tuple[str, str] | None = None
    """(user, password) for HTTP Basic auth on every path; 401 otherwise."""
    validators: bool = False
    """Send ``ETag`` on index pages and answer ``If-None-Match`` with 304. The
    mirror sends no validators, so the default is off."""


class RequestRecord(NamedTuple):
    method: str
    path: str  # with the query string, if any
    headers: dict[str, str]  # lower-case names


@dataclass(frozen=True, slots=True)
class _Response:
    status: str
    headers: list[tuple[str, str]]
    body: bytes = b""


def _error(status: str, text: str = "", extra: Sequence[tuple[str, str]] = ()) -> _Response:
    body = (text or status).encode() + b"\n"
    headers = [("Content-Type", "text/plain; charset=utf-8"), *extra]
    return _Response(status, headers, body)


_STATUS_TEXT = {
    200: "200 OK",
    206: "206 Partial Content",
    301: "301 Moved Permanently",
    304: "304 Not Modified",
    401: "401 Unauthorized",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    406: "406 Not Acceptable",
    416: "416 Range Not Satisfiable",
    429: "429 Too Many Requests",
    500: "500 Internal Server Error",
    502: "502 Bad Gateway",
    503: "503 Service Unavailable",
}


@dataclass(slots=True)
class FakeIndexApp:
    """The WSGI application. ``requests`` logs every request, in arrival order."""

    universe: Universe
    options: IndexOptions = field(default_factory=IndexOptions)
    requests: list[RequestRecord] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _faults: dict[str, list[int]] = field(default_factory=dict)
    _files: dict[str, DistFile] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._files = {f.filename: f for f in self.universe.files()}

    # -- test helpers -------------------------------------------------------------

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def requests_for(self, path_prefix: str) -> list[RequestRecord]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(path_prefix)]

    def inject_faults(self, path: str, statuses: Iterable[int]) -> None:
        """Answer the next requests for ``path`` with these statuses, in order."""
        with self._lock:
            self._faults.setdefault(path, []).extend(statuses)

    # -- WSGI ---------------------------------------------------------------------

    def __call__(self, environ: Environ, start_response: StartResponse) -> list[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        path = str(environ.get("PATH_INFO", "") or "/")
        query = str(environ.get("QUERY_STRING", ""))
        headers = {
            key[5:].replace("_", "-").lower(): str(value)
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        # wsgiref invents a text/plain CONTENT_TYPE for bodiless requests: log the
        # content headers only when there is a body.
        if str(environ.get("CONTENT_LENGTH") or "0") != "0":
            headers["content-length"] = str(environ["CONTENT_LENGTH"])
            headers["content-type"] = str(environ.get("CONTENT_TYPE", ""))
        with self._lock:
            self.requests.append(
                RequestRecord(method, path + (f"?{query}" if query else ""), headers)
            )
            pending = self._faults.get(path)
            fault = pending.pop(0) if pending else None
        if fault is not None:
            response = _error(_STATUS_TEXT.get(fault, f"{fault} Fault"), "injected fault")
        else:
            response = self._dispatch(method, path, headers)
        if method == "HEAD":
            response = _Response(response.status, response.headers, b"")
        start_response(response.status, response.headers)
        return [response.body]

    def _dispatch(self, method: str, path: str, headers: Mapping[str, str]) -> _Response:
        if self.options.require_auth is not None and not self._authorized(headers):
            return _error(
                "401 Unauthorized",
                extra=[("WWW-Authenticate", 'Basic realm="fakeindex"')],
            )
        if method not in ("GET", "HEAD"):
            return _error("405 Method Not Allowed", extra=[("Allow", "GET, HEAD")])
        if path == "/simple":
            return _redirect("/simple/")
        if path == "/simple/":
            return self._page(headers, self._root_json, self._root_html)
        if path.startswith("/simple/"):
            name = path[len("/simple/") :]
            if name.endswith("/"):
                name = name[:-1]
            if not name or "/" in name:
                return _error("404 Not Found")
            canonical = canonicalize_name(name)
            if canonical not in self.universe.projects:
                return _error("404 Not Found", f"no project {name}")
            if name != canonical or not path.endswith("/"):
                return _redirect(f"/simple/{canonical}/")
            project = self.universe.projects[canonical]
            return self._page(
                headers,
                lambda: self._project_json(project),
                lambda: self._project_html(project),
            )
        if path.startswith("/files/"):
            return self._file(path[len("/files/") :], headers)
        return _error("404 Not Found")

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        assert self.options.require_auth is not None
        user, password = self.options.require_auth
        expected = base64.b64encode(f"{user}:{password}".encode()).decode()
        return headers.get("authorization", "") == f"Basic {expected}"

    # -- pages --------------------------------------------------------------------

    def _negotiate(self, accept: str) -> str | None:
        """The content type to answer with, or None for 406."""
        formats = self.options.formats
        if formats == ("html",):
            return TEXT_HTML
        offered: dict[str, str] = {}
        if "json" in formats:
            offered[JSON_V1] = JSON_V1
            offered[JSON_LATEST] = JSON_V1
        if "html" in formats:
            offered[HTML_V1] = HTML_V1
            offered[HTML_LATEST] = HTML_V1
            offered[TEXT_HTML] = TEXT_HTML
        default = TEXT_HTML if "html" in formats else JSON_V1
        if not accept.strip():
            return default
        best: tuple[float, int, str] | None = None
        for position, item in enumerate(accept.split(",")):
            media, *params = (part.strip() for part in item.split(";"))
            quality = 1.0
            for param in params:
                key, _, value = param.partition("=")
                if key.strip() == "q":
                    try:
                        quality = float(value)
                    except ValueError:
                        quality = 0.0
            if quality <= 0:
                continue
            media = media.lower()
            if media in ("*/*", "application/*", "text/*"):
                chosen = default if media == "*/*" else None
                if media == "text/*" and "html" in formats:
                    chosen = TEXT_HTML
            else:
                chosen = offered.get(media)
            if chosen is None:
                continue
            # Higher quality wins; on a tie the earlier entry does.
            candidate = (quality, -position, chosen)
            if best is None or candidate[:2] > best[:2]:
                best = candidate
        return best[2] if best else None

    def _page(
        self,
        headers: Mapping[str, str],
        render_json: Callable[[], dict[str, Any]],
        render_html: Callable[[], str],
    ) -> _Response:
        content_type = self._negotiate(headers.get("accept", ""))
        if content_type is None:
            return _error("406 Not Acceptable", f"this index speaks {JSON_V1}")
        if content_type == JSON_V1:
            body = json.dumps(render_json(), indent=1, sort_keys=True).encode()
        else:
            body = render_html().encode()
        response_headers = [("Content-Type", content_type), ("Vary", "Accept")]
        if self.options.validators:
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            response_headers.append(("ETag", etag))
            if etag in (tag.strip() for tag in headers.get("if-none-match", "").split(",")):
                return _Response("304 Not Modified", response_headers)
        response_headers.append(("Content-Length", str(len(body))))
        return _Response("200 OK", response_headers, body)

    def _root_json(self) -> dict[str, Any]:
        return {
            "meta": {"api-version": API_VERSION},
            "projects": [{"name": p.display_name} for p in self.universe.projects.values()],
        }

    def _root_html(self) -> str:
        links = "\n".join(
            f'<a href="{html.escape(p.name)}/">{html.escape(p.display_name)}</a><br>'
            for p in self.universe.projects.values()
        )
        return _html_document("Simple index", links)

    @staticmethod
    def _project_files(project: Project) -> list[DistFile]:
        files = [f for r in project.releases.values() for f in r.files]
        return sorted(files, key=lambda f: f.filename)

    def _project_json(self, project: Project) -> dict[str, Any]:
        files: list[dict[str, Any]] = []
        for dist in self._project_files(project):
            entry: dict[str, Any] = {
                "filename": dist.filename,
                "url": f"../../files/{dist.filename}",
                "hashes": {"sha256": dist.sha256},
                "requires-python": dist.requires_python,
                "yanked": dist.yanked,
                "size": dist.size,
            }
            if self.options.upload_times:
                entry["upload-time"] = dist.upload_time
            if self.options.advertise_metadata and dist.metadata_sha256:
                entry["core-metadata"] = {"sha256": dist.metadata_sha256}
                entry["dist-info-metadata"] = {"sha256": dist.metadata_sha256}
            files.append(entry)
        return {
            "meta": {"api-version": API_VERSION},
            "name": project.name,
            "versions": list(project.releases),
            "files": files,
        }

    def _project_html(self, project: Project) -> str:
        links: list[str] = []
        for dist in self._project_files(project):
            attributes = [f'href="../../files/{dist.filename}#sha256={dist.sha256}"']
            if dist.requires_python:
                attributes.append(f'data-requires-python="{html.escape(dist.requires_python)}"')
            if dist.yanked is not False:
                reason = dist.yanked if isinstance(dist.yanked, str) else ""
                attributes.append(f'data-yanked="{html.escape(reason)}"')
            if self.options.advertise_metadata and dist.metadata_sha256:
                value = f"sha256={dist.metadata_sha256}"
                attributes.append(f'data-core-metadata="{value}"')
                attributes.append(f'data-dist-info-metadata="{value}"')
            links.append(f"<a {' '.join(attributes)}>{html.escape(dist.filename)}</a><br>")
        return _html_document(f"Links for {project.name}", "\n".join(links))

    # -- files --------------------------------------------------------------------

    def _file(self, filename: str, headers: Mapping[str, str]) -> _Response:
        if filename.endswith(".metadata"):
            dist = self._files.get(filename[: -len(".metadata")])
            if dist is None or dist.metadata is None or not dist.serve_metadata:
                return _error("404 Not Found")
            return self._bytes(dist.metadata, "text/plain; charset=utf-8", headers)
        dist = self._files.get(filename)
        if dist is None:
            return _error("404 Not Found")
        content_type = "application/zip" if dist.kind == "wheel" else "application/x-tar"
        return self._bytes(dist.path.read_bytes(), content_type, headers)

    def _bytes(self, data: bytes, content_type: str, headers: Mapping[str, str]) -> _Response:
        size = len(data)
        base_headers = [("Content-Type", content_type)]
        if not self.options.ranges:
            return _Response("200 OK", [*base_headers, ("Content-Length", str(size))], data)
        base_headers.append(("Accept-Ranges", "bytes"))
        requested = headers.get("range")
        if requested is None:
            return _Response("200 OK", [*base_headers, ("Content-Length", str(size))], data)
        span = _parse_range(requested, size)
        if span is None:
            # Not a single byte range we understand: ignoring it is allowed.
            return _Response("200 OK", [*base_headers, ("Content-Length", str(size))], data)
        if isinstance(span, str):
            return _error("416 Range Not Satisfiable", extra=[("Content-Range", f"bytes */{size}")])
        start, end = span
        body = data[start : end + 1]
        return _Response(
            "206 Partial Content",
            [
                *base_headers,
                ("Content-Range", f"bytes {start}-{end}/{size}"),
                ("Content-Length", str(len(body))),
            ],
            body,
        )


_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")


def _parse_range(value: str, size: int) -> tuple[int, int] | str | None:
    match = _RANGE.match(value)
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        length = int(last)
        if length == 0 or size == 0:
            return "unsatisfiable"
        return (max(size - length, 0), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size:
        return "unsatisfiable"
    if end < start:
        return None
    return (start, min(end, size - 1))


def _redirect(location: str) -> _Response:
    return _Response(
        "301 Moved Permanently",
        [("Location", location), ("Content-Type", "text/plain"), ("Content-Length", "0")],
    )


def _html_document(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        f'<meta name="pypi:repository-version" content="{API_VERSION}">\n'
        f"<title>{html.escape(title)}</title>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n{body}\n</body>\n</html>\n"
    )
