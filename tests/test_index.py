"""index.py with the fake index, and _rangezip.py on real wheels.

Every test that asserts on requests builds its own app (``make_index_app``) so that
its request log is private.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import struct
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from reqlock.errors import IndexFetchError, MetadataError
from reqlock.index.build import build_metadata
from reqlock.index.cache import Cache
from reqlock.index.client import HttpClient
from reqlock.index.index import Index
from reqlock.index.metadata import find_dist_info_metadata
from reqlock.index.pages import DistFile, ProjectPage
from reqlock.index.rangezip import BadZip, read_member
from tests.fakeindex import FakeIndexApp, Universe, build_wheel, make_app

BASE = "http://fakeindex"
SIMPLE = f"{BASE}/simple/"
WSGIApp = Callable[[dict[str, Any], Any], Iterable[bytes]]
MakeApp = Callable[..., FakeIndexApp]


# -- helpers -------------------------------------------------------------------------


def http_for(app: Any, **kw: Any) -> HttpClient:
    kw.setdefault("backoff", 0.0)
    return HttpClient(transport=httpx.WSGITransport(app=app), **kw)


def forbidden_build(*args: object, **kwargs: object) -> Mapping[str, Any]:
    raise AssertionError("pip must not run in this test")


@contextmanager
def open_index(
    app: Any, urls: Iterable[str] = (SIMPLE,), *, http: HttpClient | None = None, **kw: Any
) -> Iterator[Index]:
    # No hedged range reads unless a test asks for them: whether the hedge fires
    # depends on how fast the machine answers, and request logs must not.
    kw.setdefault("hedge_after", None)
    # pip runs only in the tests that pass a builder of their own.
    kw.setdefault("builder", forbidden_build)
    index = Index(list(urls), http=http or http_for(app), **kw)
    try:
        yield index
    finally:
        index.close()


def only_release(page: ProjectPage, version: str) -> tuple[DistFile, ...]:
    files = page.files(Version(version))
    assert files, f"{page.name} {version} has no files"
    return files


def wheel_of(page: ProjectPage, version: str) -> DistFile:
    (wheel,) = [f for f in only_release(page, version) if f.is_wheel]
    return wheel


def sdist_of(page: ProjectPage, version: str) -> DistFile:
    (sdist,) = [f for f in only_release(page, version) if not f.is_wheel]
    return sdist


def gets(app: FakeIndexApp, prefix: str = "/") -> list[str]:
    return [r.path for r in app.requests_for(prefix) if r.method == "GET"]


def wheel_gets_without_range(app: FakeIndexApp, filename: str) -> list[str]:
    return [
        r.path
        for r in app.requests_for(f"/files/{filename}")
        if r.path == f"/files/{filename}" and "range" not in r.headers
    ]


def requirement_names(reqs: Iterable[Requirement]) -> list[str]:
    return sorted(str(r) for r in reqs)


class AlterBody:
    """A WSGI wrapper that passes ``change(body)`` instead of the body for one path."""

    def __init__(self, app: WSGIApp, path: str, change: Callable[[bytes], bytes]) -> None:
        self.app = app
        self.path = path
        self.change = change

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != self.path:
            return self.app(environ, start_response)
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured["status"] = status
            captured["headers"] = headers

        body = b"".join(self.app(environ, capture))
        if captured["status"].startswith("200"):
            body = self.change(body)
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], [*headers, ("Content-Length", str(len(body)))])
        return [body]


def flip_middle(data: bytes) -> bytes:
    mid = len(data) // 2
    return data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1 :]


class HostRouter:
    """Several fake indexes behind one transport, told apart by host name."""

    def __init__(self, **apps: FakeIndexApp) -> None:
        self.apps = apps

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        host = str(environ.get("HTTP_HOST", "")).split(":")[0]
        return self.apps[host](environ, start_response)


def sub_universe(universe: Universe, keep: dict[str, list[str] | None]) -> Universe:
    """Some projects of ``universe`` (and, optionally, only some of their releases)."""
    projects = {}
    for name, versions in keep.items():
        project = universe.projects[name]
        releases = (
            project.releases if versions is None else {v: project.releases[v] for v in versions}
        )
        projects[name] = dataclasses.replace(project, releases=releases)
    return Universe(root=universe.root, projects=projects)


class FailingTransport(httpx.BaseTransport):
    """Fails every request, counting them."""

    def __init__(self) -> None:
        self.calls = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        raise httpx.ConnectError("the network is switched off in this test")


# -- _rangezip over bytes ------------------------------------------------------------


class BytesFetch:
    """A ``Fetch`` over bytes in memory, logging the ranges asked for."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.log: list[tuple[int, int | None]] = []

    def __call__(self, start: int, end: int | None) -> tuple[bytes, int]:
        self.log.append((start, end))
        if start < 0:
            return self.data[max(len(self.data) + start, 0) :], len(self.data)
        return self.data[start:end], len(self.data)

    @property
    def fetched(self) -> int:
        total = 0
        for start, end in self.log:
            total += -start if start < 0 else (end or len(self.data)) - start
        return total


def zip_bytes(members: list[tuple[str, bytes, int]], **kw: Any) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", **kw) as archive:
        for name, data, method in members:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            archive.writestr(info, data)
    return buffer.getvalue()


METADATA = b"Metadata-Version: 2.3\nName: demo\nVersion: 1.0\nRequires-Dist: leaf-a\n\n"
META_NAME = "demo-1.0.dist-info/METADATA"


def test_rangezip_reads_metadata_of_a_small_wheel_in_one_request(universe: Universe) -> None:
    dist = universe.file("leaf_a-1.0-py3-none-any.whl")
    assert dist is not None
    fetch = BytesFetch(dist.path.read_bytes())
    assert read_member(fetch, find_dist_info_metadata) == dist.metadata
    assert fetch.log == [(-64 * 1024, None)]


def test_rangezip_reads_only_the_tail_of_a_big_wheel(universe: Universe) -> None:
    dist = universe.file("nometa_pkg-1.0-py3-none-any.whl")
    assert dist is not None
    data = dist.path.read_bytes()
    assert len(data) > 256 * 1024
    fetch = BytesFetch(data)
    assert read_member(fetch, find_dist_info_metadata) == dist.metadata
    assert fetch.fetched <= 64 * 1024


def test_rangezip_fetches_a_prefix_when_the_directory_starts_before_the_tail(
    tmp_path: Path,
) -> None:
    # 1500 entries with long names: a central directory of ~150 kB.
    files = {f"many/{'m' * 80}_{i:05}.py": b"" for i in range(1500)}
    path = build_wheel(tmp_path, "Many", "1.0", requires_dist=["leaf-b>=2"], files=files)
    data = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        expected = archive.read("many-1.0.dist-info/METADATA")
        directory_start = archive.start_dir
        member_start = archive.getinfo("many-1.0.dist-info/METADATA").header_offset
    tail_start = len(data) - 64 * 1024
    assert directory_start < tail_start
    fetch = BytesFetch(data)
    assert read_member(fetch, find_dist_info_metadata) == expected
    assert fetch.log == [
        (-64 * 1024, None),
        (directory_start, tail_start),  # only what the window lacked
        (member_start, directory_start),  # the member, just before the directory
    ]
    assert fetch.fetched < len(data)


def test_rangezip_fetches_a_member_that_lies_before_the_tail() -> None:
    big = hashlib.sha256(b"seed").digest() * 4096  # 128 KiB, stored
    data = zip_bytes(
        [(META_NAME, METADATA, zipfile.ZIP_STORED), ("demo/big.bin", big, zipfile.ZIP_STORED)]
    )
    fetch = BytesFetch(data)
    assert read_member(fetch, find_dist_info_metadata) == METADATA
    assert len(fetch.log) == 2
    assert fetch.log[1][0] == 0  # the member is at the very start


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_rangezip_stored_and_deflated_members(method: int) -> None:
    data = zip_bytes([("demo/__init__.py", b"x = 1\n" * 50, method), (META_NAME, METADATA, method)])
    assert read_member(BytesFetch(data), find_dist_info_metadata) == METADATA


class _Unseekable(io.RawIOBase):
    def __init__(self) -> None:
        self.buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.buffer += bytes(data)
        return len(data)


def test_rangezip_reads_a_streamed_zip_with_data_descriptors() -> None:
    # A zip written to a pipe has zero sizes and CRC in its local headers; the
    # central directory has the real ones.
    sink = _Unseekable()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("demo/__init__.py", b"x = 1\n")
        archive.writestr(META_NAME, METADATA)
    data = bytes(sink.buffer)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.getinfo(META_NAME).flag_bits & 0x08  # data descriptor used
    assert read_member(BytesFetch(data), find_dist_info_metadata) == METADATA


def test_rangezip_returns_none_when_nothing_is_wanted() -> None:
    data = zip_bytes([("demo/__init__.py", b"", zipfile.ZIP_STORED)])
    seen: list[list[str]] = []

    def want(names: list[str]) -> str | None:
        seen.append(names)
        return find_dist_info_metadata(names)

    assert read_member(BytesFetch(data), want) is None
    assert seen == [["demo/__init__.py"]]


def test_rangezip_crc_mismatch_is_bad_zip() -> None:
    data = zip_bytes([(META_NAME, METADATA, zipfile.ZIP_STORED)])
    pos = data.index(b"Requires-Dist")
    altered = data[:pos] + b"X" + data[pos + 1 :]
    with pytest.raises(BadZip, match="CRC"):
        read_member(BytesFetch(altered), find_dist_info_metadata)


def test_rangezip_corrupt_deflate_stream_is_bad_zip() -> None:
    data = zip_bytes([(META_NAME, METADATA * 20, zipfile.ZIP_DEFLATED)])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(META_NAME)
    start = info.header_offset + 30 + len(META_NAME)
    altered = data[:start] + b"\xff" * 8 + data[start + 8 :]
    with pytest.raises(BadZip):
        read_member(BytesFetch(altered), find_dist_info_metadata)


def test_rangezip_unknown_compression_is_bad_zip() -> None:
    data = zip_bytes([(META_NAME, METADATA, zipfile.ZIP_BZIP2)])
    with pytest.raises(BadZip, match="compression method 12"):
        read_member(BytesFetch(data), find_dist_info_metadata)


@pytest.mark.parametrize("data", [b"", b"not a zip at all" * 100, b"PK\x05\x06short"])
def test_rangezip_not_a_zip_is_bad_zip(data: bytes) -> None:
    with pytest.raises(BadZip):
        read_member(BytesFetch(data), find_dist_info_metadata)


def test_rangezip_zip64(monkeypatch: pytest.MonkeyPatch) -> None:
    # Make zipfile write zip64 records for a tiny archive, then point the classic
    # end record at them (0xFFFFFFFF), as an archive over 4 GiB would.
    with monkeypatch.context() as m:
        m.setattr(zipfile, "ZIP64_LIMIT", 0)
        data = zip_bytes(
            [
                ("demo/__init__.py", b"x = 1\n", zipfile.ZIP_DEFLATED),
                (META_NAME, METADATA, zipfile.ZIP_DEFLATED),
            ]
        )
    eocd = data.rindex(b"PK\x05\x06")
    assert data.rfind(b"PK\x06\x06") != -1
    assert data.rfind(b"PK\x06\x07") != -1
    patched = data[: eocd + 12] + struct.pack("<LL", 0xFFFFFFFF, 0xFFFFFFFF) + data[eocd + 20 :]
    with zipfile.ZipFile(io.BytesIO(patched)) as archive:  # still a valid zip
        assert archive.read(META_NAME) == METADATA
        assert archive.getinfo(META_NAME).extra  # the entry carries a zip64 field
    assert read_member(BytesFetch(patched), find_dist_info_metadata) == METADATA


# -- pages ---------------------------------------------------------------------------


def page_view(page: ProjectPage) -> dict[str, dict[str, tuple[object, ...]]]:
    return {
        str(v): {
            f.filename: (f.url, f.sha256, f.requires_python, f.yanked, f.yanked_reason)
            for f in files
        }
        for v, files in page.releases().items()
    }


@pytest.mark.parametrize(
    "name", ["leaf-a", "yanked-pkg", "rp-file", "foo-bar", "plat-pkg", "pre-pkg", "sdist-static"]
)
def test_json_and_html_servers_give_the_same_releases(
    make_index_app: MakeApp, universe: Universe, name: str
) -> None:
    json_app = make_index_app(advertise_metadata=True)
    html_app = make_index_app(formats=("html",), advertise_metadata=True)
    with open_index(json_app) as a, open_index(html_app) as b:
        from_json, from_html = a.project(name), b.project(name)
    assert page_view(from_json) == page_view(from_html)
    project = universe.project(name)
    assert sorted(from_json.versions()) == sorted(Version(v) for v in project.releases)
    expected_files = {f.filename for r in project.releases.values() for f in r.files}
    assert {f for r in page_view(from_json).values() for f in r} == expected_files
    for files in from_json.releases().values():
        for dist in files:
            source = universe.file(dist.filename)
            assert source is not None
            assert dist.sha256 == source.sha256
            assert dist.size == source.size  # JSON only
            assert dist.upload_time == source.upload_time
            assert dist.url == f"{BASE}/files/{dist.filename}"
    for version, files in from_html.releases().items():
        for mine, theirs in zip(files, from_json.files(version), strict=True):
            assert mine.metadata_hashes == theirs.metadata_hashes
    assert (
        json_app.requests_for(f"/simple/{name}/")[0]
        .headers["accept"]
        .startswith("application/vnd.pypi.simple.v1+json")
    )


def test_yanked_and_requires_python_come_through(make_index_app: MakeApp) -> None:
    with open_index(make_index_app()) as index:
        yanked = index.project("yanked-pkg")
        rp = index.project("rp-file")
    assert wheel_of(yanked, "1.2").yanked is True
    assert wheel_of(yanked, "1.2").yanked_reason is None
    assert wheel_of(yanked, "2.0").yanked_reason == "broken build, use 1.1"
    assert wheel_of(yanked, "1.1").yanked is False
    assert wheel_of(rp, "2.0").requires_python == ">=3.12"
    assert wheel_of(rp, "1.0").requires_python is None


def test_unknown_project_gives_an_empty_page(make_index_app: MakeApp) -> None:
    app = make_index_app()
    with open_index(app) as index:
        page = index.project("no-such-project")
    assert page.versions() == {}
    assert page.name == "no-such-project"
    assert page.index == SIMPLE
    assert gets(app) == ["/simple/no-such-project/"]


@pytest.mark.parametrize("spelling", ["Foo.Bar", "FOO_bar", "foo-bar", "foo__BAR"])
def test_names_are_normalized(make_index_app: MakeApp, spelling: str) -> None:
    app = make_index_app()
    with open_index(app) as index:
        page = index.project(spelling)
        assert index.project("foo.bar") is page  # one page per project
    assert page.name == "foo-bar"
    assert sorted(page.versions()) == [Version("1.0"), Version("1.1")]
    assert {f.filename for f in only_release(page, "1.0")} == {
        "foo_bar-1.0-py3-none-any.whl",
        "foo_bar-1.0.tar.gz",
    }
    assert gets(app) == ["/simple/foo-bar/"]  # asked by canonical name, no redirect


def test_the_default_index_is_pypi() -> None:
    with Index(http=HttpClient(transport=FailingTransport())) as index:
        assert index.index_urls == ["https://pypi.org/simple/"]


def test_index_url_without_a_trailing_slash(make_index_app: MakeApp) -> None:
    app = make_index_app()
    with open_index(app, [SIMPLE.rstrip("/")]) as index:
        assert index.index_urls == [SIMPLE]
        assert index.project("leaf-a").versions()
    assert gets(app) == ["/simple/leaf-a/"]


def test_a_page_is_fetched_once_for_many_threads(make_index_app: MakeApp) -> None:
    app = make_index_app()
    pages: list[ProjectPage] = []
    with open_index(app) as index:
        index.prefetch_project("leaf-b")
        threads = [
            threading.Thread(target=lambda: pages.append(index.project("leaf-b"))) for _ in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(pages) == 8
    assert all(p is pages[0] for p in pages)
    assert gets(app) == ["/simple/leaf-b/"]


def test_prefetch_calls_back_with_the_page(make_index_app: MakeApp) -> None:
    arrived = threading.Event()
    got: list[ProjectPage] = []

    def then(page: ProjectPage) -> None:
        got.append(page)
        arrived.set()

    with open_index(make_index_app()) as index:
        index.prefetch_project("leaf-a", then)
        assert arrived.wait(10)
        assert got == [index.project("leaf-a")]


def test_prefetch_calls_back_for_a_page_already_known(make_index_app: MakeApp) -> None:
    got: list[ProjectPage] = []
    with open_index(make_index_app()) as index:
        page = index.project("leaf-a")
        index.prefetch_project("leaf-a", got.append)
    assert got == [page]  # close() waited for the pool


def test_prefetch_does_not_call_back_on_error(make_index_app: MakeApp) -> None:
    app = make_index_app()
    app.inject_faults("/simple/leaf-a/", [500])
    got: list[ProjectPage] = []
    with open_index(app, http=http_for(app, retries=0)) as index:
        index.prefetch_project("leaf-a", got.append)
        with pytest.raises(IndexFetchError):
            index.project("leaf-a")
    assert got == []


def test_transient_faults_on_a_page_are_retried(make_index_app: MakeApp) -> None:
    app = make_index_app()
    app.inject_faults("/simple/leaf-a/", [503, 429])
    with open_index(app) as index:
        assert len(index.project("leaf-a").versions()) == 3
    assert len(gets(app, "/simple/leaf-a/")) == 3


def test_a_failing_page_raises_index_fetch_error(make_index_app: MakeApp) -> None:
    app = make_index_app()
    app.inject_faults("/simple/leaf-a/", [500] * 10)
    with open_index(app, http=http_for(app, retries=1)) as index:
        with pytest.raises(IndexFetchError, match="HTTP 500"):
            index.project("leaf-a")
        # The failure is remembered, not retried by every caller.
        with pytest.raises(IndexFetchError):
            index.project("leaf-a")
    assert len(gets(app, "/simple/leaf-a/")) == 2


def test_a_malformed_page_is_an_error_and_is_not_cached(
    make_index_app: MakeApp, tmp_path: Path
) -> None:
    app = make_index_app()
    broken = AlterBody(app, "/simple/leaf-a/", lambda body: body[: len(body) // 2])
    cache = Cache(tmp_path)
    with open_index(broken, cache=cache) as index, pytest.raises(IndexFetchError) as info:
        index.project("leaf-a")
    assert "invalid JSON" in str(info.value)
    assert info.value.url == f"{SIMPLE}leaf-a/"
    assert cache.get_page(f"{SIMPLE}leaf-a/") is None
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


# -- several indexes -----------------------------------------------------------------


@pytest.fixture
def two_indexes(universe: Universe) -> tuple[FakeIndexApp, FakeIndexApp, HostRouter]:
    # Index one has leaf-a 1.0 only (and no leaf-b); index two has everything.
    one = make_app(sub_universe(universe, {"leaf-a": ["1.0"]}))
    two = make_app(universe)
    return one, two, HostRouter(one=one, two=two)


TWO = ["http://one/simple/", "http://two/simple/"]


def test_a_project_on_the_first_index_is_never_mixed_with_a_later_one(
    two_indexes: tuple[FakeIndexApp, FakeIndexApp, HostRouter],
) -> None:
    one, two, router = two_indexes
    with open_index(router, TWO) as index:
        page = index.project("leaf-a")
    assert list(page.versions()) == [Version("1.0")]
    assert page.index == "http://one/simple/"
    assert {f.url.split("/files/")[0] for f in only_release(page, "1.0")} == {"http://one"}
    assert gets(one) == ["/simple/leaf-a/"]
    assert gets(two) == []


def test_a_project_missing_on_the_first_index_comes_from_the_next(
    two_indexes: tuple[FakeIndexApp, FakeIndexApp, HostRouter],
) -> None:
    one, two, router = two_indexes
    with open_index(router, TWO) as index:
        page = index.project("leaf-b")
        meta = index.metadata("leaf-b", "2.0", wheel_of(page, "2.0"))
    assert sorted(page.versions()) == [Version("1.0"), Version("2.0"), Version("3.0")]
    assert page.index == "http://two/simple/"
    assert all(f.url.startswith("http://two/files/") for f in only_release(page, "2.0"))
    assert meta.version == Version("2.0")
    assert gets(one) == ["/simple/leaf-b/"]
    # Metadata is not advertised: it is read from the wheel of the index that has it.
    assert gets(two) == ["/simple/leaf-b/", "/files/leaf_b-2.0-py3-none-any.whl"]


def test_a_project_on_no_index_is_empty_and_asks_every_index(
    two_indexes: tuple[FakeIndexApp, FakeIndexApp, HostRouter],
) -> None:
    one, two, router = two_indexes
    with open_index(router, TWO) as index:
        page = index.project("nowhere")
    assert page.versions() == {}
    assert page.index == "http://one/simple/"
    assert gets(one) == gets(two) == ["/simple/nowhere/"]


def test_offline_works_for_a_project_from_the_second_index(
    two_indexes: tuple[FakeIndexApp, FakeIndexApp, HostRouter], tmp_path: Path
) -> None:
    _, _, router = two_indexes
    with open_index(router, TWO, cache=Cache(tmp_path)) as index:
        page = index.project("leaf-b")
        index.metadata("leaf-b", "2.0", wheel_of(page, "2.0"))
    failing = FailingTransport()
    http = HttpClient(transport=failing, retries=0)
    with open_index(None, TWO, http=http, cache=Cache(tmp_path), offline=True) as index:
        page = index.project("leaf-b")
        assert index.metadata("leaf-b", "2.0", wheel_of(page, "2.0")).version == Version("2.0")
    assert failing.calls == 0


def test_a_warm_cache_makes_no_request_for_a_project_from_the_second_index(
    two_indexes: tuple[FakeIndexApp, FakeIndexApp, HostRouter], tmp_path: Path
) -> None:
    one, two, router = two_indexes
    with open_index(router, TWO, cache=Cache(tmp_path)) as index:
        index.project("leaf-b")
    one.clear_requests()
    two.clear_requests()
    with open_index(router, TWO, cache=Cache(tmp_path)) as index:
        assert index.project("leaf-b").versions()
    assert gets(one) == []
    assert gets(two) == []


# -- credentials ---------------------------------------------------------------------


def test_credentials_are_used_but_never_stored(make_index_app: MakeApp, tmp_path: Path) -> None:
    app = make_index_app(require_auth=("alice", "s3cret"))
    url = "http://alice:s3cret@fakeindex/simple/"
    with open_index(app, [url], cache=Cache(tmp_path)) as index:
        page = index.project("nometa-pkg")
        assert page.index == SIMPLE
        small = wheel_of(page, "0.9")
        big = wheel_of(page, "1.0")
        # Credentials travel with the requests, never inside URLs.
        assert small.url == small.public_url == f"{BASE}/files/{small.filename}"
        assert index.metadata("nometa-pkg", "0.9", small).version == Version("0.9")
        assert index.metadata("nometa-pkg", "1.0", big).version == Version("1.0")
    assert all(r.headers.get("authorization", "").startswith("Basic ") for r in app.requests)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"s3cret" not in path.read_bytes(), path


def test_errors_never_show_credentials(make_index_app: MakeApp) -> None:
    app = make_index_app(require_auth=("alice", "s3cret"))
    with (
        open_index(app, ["http://alice:wrong@fakeindex/simple/"]) as index,
        pytest.raises(IndexFetchError) as info,
    ):
        index.project("leaf-a")
    assert "HTTP 401" in str(info.value)
    assert "wrong" not in str(info.value)
    assert info.value.url == f"{SIMPLE}leaf-a/"


# -- wheel metadata ------------------------------------------------------------------


def test_metadata_comes_from_the_metadata_file(make_index_app: MakeApp, universe: Universe) -> None:
    app = make_index_app(advertise_metadata=True)
    with open_index(app) as index:
        page = index.project("extras-a")
        meta = index.metadata("extras-a", "1.0", wheel_of(page, "1.0"))
        assert index.metadata_if_known(wheel_of(page, "1.0")) is meta
        assert index.metadata_if_known(sdist_of(page, "1.0")) is None
    release = universe.project("extras-a").releases["1.0"]
    assert meta.name == "extras-a"
    assert meta.version == Version("1.0")
    assert requirement_names(meta.requires_dist) == sorted(
        str(Requirement(r)) for r in release.requires_dist
    )
    assert meta.provides_extras == frozenset({"x", "y", "all"})
    assert gets(app, "/files/") == ["/files/extras_a-1.0-py3-none-any.whl.metadata"]


def test_an_unadvertised_metadata_file_is_not_asked_for(make_index_app: MakeApp) -> None:
    app = make_index_app()  # extras-a's metadata file exists, unannounced
    with open_index(app) as index:
        page = index.project("extras-a")
        meta = index.metadata("extras-a", "1.0", wheel_of(page, "1.0"))
    assert meta.provides_extras == frozenset({"x", "y", "all"})
    assert set(gets(app, "/files/")) == {"/files/extras_a-1.0-py3-none-any.whl"}


def test_advertised_metadata_hash_is_checked(make_index_app: MakeApp) -> None:
    app = make_index_app(advertise_metadata=True)
    with open_index(app) as index:
        page = index.project("leaf-a")
        wheel = wheel_of(page, "2.0")
        assert isinstance(wheel.metadata_hashes, dict)
        assert index.metadata("leaf-a", "2.0", wheel).version == Version("2.0")


def test_advertised_metadata_hash_mismatch_is_an_error(make_index_app: MakeApp) -> None:
    app = make_index_app(advertise_metadata=True)
    path = "/files/leaf_a-2.0-py3-none-any.whl.metadata"
    altered = AlterBody(app, path, lambda body: body + b"Requires-Dist: evil\n")
    with open_index(altered) as index:
        wheel = wheel_of(index.project("leaf-a"), "2.0")
        with pytest.raises(IndexFetchError) as info:
            index.metadata("leaf-a", "2.0", wheel)
    assert "does not match" in str(info.value)
    assert info.value.url == f"{BASE}{path}"
    assert info.value.package == "leaf-a"


def test_metadata_false_skips_the_metadata_file(make_index_app: MakeApp) -> None:
    app = make_index_app()
    with open_index(app) as index:
        wheel = wheel_of(index.project("leaf-b"), "3.0")
        explicit_none = dataclasses.replace(wheel, metadata_hashes=False)
        assert index.metadata("leaf-b", "3.0", explicit_none).version == Version("3.0")
    paths = gets(app, "/files/")
    assert "/files/leaf_b-3.0-py3-none-any.whl.metadata" not in paths
    assert paths  # read from the wheel instead


def test_unadvertised_metadata_is_read_from_the_wheel_by_range_requests(
    make_index_app: MakeApp, universe: Universe
) -> None:
    # Like pip and uv: a metadata file the page does not announce is not asked for
    # (this one does not exist), the wheel's own METADATA is read by ranges.
    app = make_index_app()
    filename = "nometa_pkg-1.0-py3-none-any.whl"
    with open_index(app) as index:
        wheel = wheel_of(index.project("nometa-pkg"), "1.0")
        meta = index.metadata("nometa-pkg", "1.0", wheel)
    assert requirement_names(meta.requires_dist) == ["leaf-a"]
    requests = app.requests_for(f"/files/{filename}")
    assert requests
    assert all(r.path == f"/files/{filename}" for r in requests)
    assert all(r.headers.get("range", "").startswith("bytes=") for r in requests)
    assert wheel_gets_without_range(app, filename) == []
    source = universe.file(filename)
    assert source is not None
    assert source.size > 256 * 1024


def test_without_ranges_the_whole_wheel_is_downloaded_and_checked(
    make_index_app: MakeApp, tmp_path: Path
) -> None:
    app = make_index_app(ranges=False)
    filename = "nometa_pkg-1.0-py3-none-any.whl"
    cache = Cache(tmp_path)
    with open_index(app, cache=cache) as index:
        wheel = wheel_of(index.project("nometa-pkg"), "1.0")
        meta = index.metadata("nometa-pkg", "1.0", wheel)
        assert meta.version == Version("1.0")
        # The whole wheel came once, was checked, and is kept: no second download.
        assert wheel.sha256 is not None
        assert cache.get_blob("dist", wheel.sha256) is not None
        index.download(wheel, package="nometa-pkg")
    # The range request was answered with the whole file: nothing else was asked.
    assert [r.path for r in app.requests_for(f"/files/{filename}")] == [f"/files/{filename}"]


def test_without_ranges_a_wheel_not_matching_its_hash_is_an_error(
    make_index_app: MakeApp,
) -> None:
    app = make_index_app(ranges=False)
    filename = "nometa_pkg-1.0-py3-none-any.whl"
    altered = AlterBody(app, f"/files/{filename}", flip_middle)
    with open_index(altered) as index:
        wheel = wheel_of(index.project("nometa-pkg"), "1.0")
        with pytest.raises(IndexFetchError) as info:
            index.metadata("nometa-pkg", "1.0", wheel)
    assert "does not match the sha256" in str(info.value)
    assert info.value.url == f"{BASE}/files/{filename}"


def test_download_checks_the_hash(make_index_app: MakeApp, tmp_path: Path) -> None:
    app = make_index_app()
    filename = "leaf_a-1.0-py3-none-any.whl"
    altered = AlterBody(app, f"/files/{filename}", lambda body: body + b"\0")
    cache = Cache(tmp_path)
    with open_index(altered, cache=cache) as index:
        wheel = wheel_of(index.project("leaf-a"), "1.0")
        with pytest.raises(IndexFetchError, match="does not match"):
            index.download(wheel, package="leaf-a")
    assert wheel.sha256 is not None
    assert cache.get_blob("dist", wheel.sha256) is None  # bad bytes are not kept


def test_download_and_sha256(make_index_app: MakeApp, universe: Universe) -> None:
    app = make_index_app()
    source = universe.file("leaf_a-1.1-py3-none-any.whl")
    assert source is not None
    with open_index(app) as index:
        wheel = wheel_of(index.project("leaf-a"), "1.1")
        assert index.download(wheel, package="leaf-a") == source.path.read_bytes()
        assert index.sha256(wheel, package="leaf-a") == source.sha256  # from the index
        unhashed = dataclasses.replace(wheel, hashes={})
        assert index.sha256(unhashed, package="leaf-a") == source.sha256
        assert index.sha256(unhashed, package="leaf-a") == source.sha256
    # One download for download(), one for the unhashed file; sha256() is memoized.
    assert gets(app, f"/files/{source.filename}") == [f"/files/{source.filename}"] * 2


def test_a_wheel_without_metadata_is_a_metadata_error(tmp_path: Path) -> None:
    data = zip_bytes([("demo/__init__.py", b"", zipfile.ZIP_STORED)])
    sha = hashlib.sha256(data).hexdigest()

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/files/demo-1.0-py3-none-any.whl":
            start_response("200 OK", [("Content-Length", str(len(data)))])
            return [data]
        start_response("404 Not Found", [])
        return [b""]

    dist = DistFile(
        filename="demo-1.0-py3-none-any.whl",
        url=f"{BASE}/files/demo-1.0-py3-none-any.whl",
        hashes={"sha256": sha},
    )
    with open_index(app) as index, pytest.raises(MetadataError) as info:
        index.metadata("demo", "1.0", dist)
    assert "no .dist-info/METADATA" in str(info.value)
    assert info.value.package == "demo"


# -- sdists --------------------------------------------------------------------------


def test_static_sdist_metadata_is_read_without_pip(make_index_app: MakeApp) -> None:
    app = make_index_app()
    with open_index(app) as index:
        sdist = sdist_of(index.project("sdist-static"), "1.0")
        meta = index.metadata("sdist-static", "1.0", sdist)
    assert requirement_names(meta.requires_dist) == ["leaf-a<2"]
    assert gets(app, "/files/") == ["/files/sdist_static-1.0.tar.gz"]


def test_dynamic_sdist_with_no_build_is_refused(make_index_app: MakeApp) -> None:
    with open_index(make_index_app(), allow_build=False) as index:
        sdist = sdist_of(index.project("sdist-dynamic"), "1.0")
        with pytest.raises(MetadataError) as info:
            index.metadata("sdist-dynamic", "1.0", sdist)
    assert info.value.package == "sdist-dynamic"
    assert info.value.version == "1.0"
    assert "sdist-dynamic" in str(info.value)
    assert "--no-build" in str(info.value)


def test_dynamic_sdist_is_built_through_pip_once(
    make_index_app: MakeApp,
    serve_app: Callable[[FakeIndexApp], str],
    tmp_path: Path,
) -> None:
    app = make_index_app()
    # Served on 127.0.0.1 so that pip, were it to ask the index, would stay local.
    simple = f"{serve_app(app)}/simple/"
    calls: list[dict[str, Any]] = []
    real_build = build_metadata

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real_build(*args, **kwargs)

    with Index(
        [simple], http=HttpClient(backoff=0.0), cache=Cache(tmp_path), builder=counting
    ) as index:
        sdist = sdist_of(index.project("sdist-dynamic"), "1.0")
        meta = index.metadata("sdist-dynamic", "1.0", sdist)
    assert requirement_names(meta.requires_dist) == ["leaf-b<2"]  # not in PKG-INFO
    assert len(calls) == 1
    assert calls[0]["index_urls"] == [simple]

    # The built metadata is cached: no pip, no request the second time.
    app.clear_requests()
    with Index(
        [simple], http=HttpClient(backoff=0.0), cache=Cache(tmp_path), builder=forbidden_build
    ) as index:
        again = index.metadata(
            "sdist-dynamic", "1.0", index.project("sdist-dynamic").files(Version("1.0"))[0]
        )
    assert again == meta
    assert app.requests == []


# -- the cache -----------------------------------------------------------------------

PROJECTS = {
    # name: (version, wheel or sdist)
    "leaf-a": ("2.0", "wheel"),
    "nometa-pkg": ("1.0", "wheel"),
    "sdist-static": ("1.0", "sdist"),
    "foo-bar": ("1.1", "wheel"),
}


def fill(index: Index) -> dict[str, Any]:
    found = {}
    for name, (version, kind) in PROJECTS.items():
        page = index.project(name)
        dist = wheel_of(page, version) if kind == "wheel" else sdist_of(page, version)
        found[name] = index.metadata(name, version, dist)
    return found


def test_a_second_index_on_the_same_cache_makes_no_request(
    make_index_app: MakeApp, tmp_path: Path
) -> None:
    app = make_index_app()
    with open_index(app, cache=Cache(tmp_path)) as index:
        first = fill(index)
    assert app.requests
    app.clear_requests()
    with open_index(app, cache=Cache(tmp_path)) as index:
        assert fill(index) == first
    assert app.requests == []


def test_offline_with_a_filled_cache_needs_no_network(
    make_index_app: MakeApp, tmp_path: Path
) -> None:
    with open_index(make_index_app(), cache=Cache(tmp_path), ttl=0.0) as index:
        first = fill(index)
    failing = FailingTransport()
    http = HttpClient(transport=failing, retries=0)
    # ttl=0: every page is stale, and offline uses it anyway.
    with open_index(None, http=http, cache=Cache(tmp_path), offline=True, ttl=0.0) as index:
        assert fill(index) == first
    assert failing.calls == 0


def test_offline_with_an_empty_cache_is_a_clear_error(tmp_path: Path) -> None:
    failing = FailingTransport()
    http = HttpClient(transport=failing, retries=0)
    with (
        open_index(None, http=http, cache=Cache(tmp_path), offline=True) as index,
        pytest.raises(IndexFetchError) as info,
    ):
        index.project("leaf-a")
    assert "--offline" in str(info.value)
    assert "leaf-a" in str(info.value)
    assert info.value.hint is not None
    assert "without --offline" in info.value.hint
    assert failing.calls == 0


def test_offline_without_cached_metadata_is_a_clear_error(
    make_index_app: MakeApp, tmp_path: Path
) -> None:
    with open_index(make_index_app(), cache=Cache(tmp_path)) as index:
        index.project("leaf-a")  # the page only
    failing = FailingTransport()
    http = HttpClient(transport=failing, retries=0)
    with open_index(None, http=http, cache=Cache(tmp_path), offline=True) as index:
        wheel = wheel_of(index.project("leaf-a"), "1.0")
        with pytest.raises(MetadataError, match="--offline") as info:
            index.metadata("leaf-a", "1.0", wheel)
        with pytest.raises(IndexFetchError, match="--offline"):
            index.download(wheel, package="leaf-a")
    assert info.value.package == "leaf-a"
    assert failing.calls == 0


def test_refresh_refetches_pages_but_not_metadata(make_index_app: MakeApp, tmp_path: Path) -> None:
    app = make_index_app()
    with open_index(app, cache=Cache(tmp_path)) as index:
        first = fill(index)
    app.clear_requests()
    with open_index(app, cache=Cache(tmp_path), refresh=True) as index:
        assert fill(index) == first
    assert sorted(gets(app)) == sorted(f"/simple/{name}/" for name in PROJECTS)


def test_a_stale_page_without_validators_is_fetched_again(
    make_index_app: MakeApp, tmp_path: Path
) -> None:
    app = make_index_app()
    with open_index(app, cache=Cache(tmp_path)) as index:
        index.project("leaf-a")
    with open_index(app, cache=Cache(tmp_path), ttl=0.0) as index:
        assert len(index.project("leaf-a").versions()) == 3
    second = app.requests_for("/simple/leaf-a/")[1]
    assert "if-none-match" not in second.headers
    assert len(app.requests_for("/simple/leaf-a/")) == 2


def test_validators_keep_the_cached_body(make_index_app: MakeApp, tmp_path: Path) -> None:
    app = make_index_app(validators=True)
    cache = Cache(tmp_path)
    url = f"{SIMPLE}leaf-a/"
    with open_index(app, cache=cache) as index:
        first = page_view(index.project("leaf-a"))
    stored = cache.get_page(url)
    assert stored is not None
    assert stored.etag
    with open_index(app, cache=cache, ttl=0.0) as index:
        second = page_view(index.project("leaf-a"))  # a 304 has no body
    assert second == first
    assert len(first) == 3
    request = app.requests_for("/simple/leaf-a/")[1]
    assert request.headers["if-none-match"] == stored.etag
    renewed = cache.get_page(url)
    assert renewed is not None
    assert renewed.body == stored.body
    assert renewed.etag == stored.etag
    assert renewed.fetched >= stored.fetched
    # And the renewed entry is fresh again: no request at all now.
    app.clear_requests()
    with open_index(app, cache=cache) as index:
        assert page_view(index.project("leaf-a")) == first
    assert app.requests == []


def test_refresh_does_not_send_validators(make_index_app: MakeApp, tmp_path: Path) -> None:
    app = make_index_app(validators=True)
    with open_index(app, cache=Cache(tmp_path)) as index:
        index.project("leaf-b")
    with open_index(app, cache=Cache(tmp_path), refresh=True) as index:
        assert len(index.project("leaf-b").versions()) == 3
    assert "if-none-match" not in app.requests_for("/simple/leaf-b/")[1].headers


def test_a_server_max_age_overrides_the_ttl(make_index_app: MakeApp, tmp_path: Path) -> None:
    app = make_index_app()

    def no_cache(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        def add(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, [*headers, ("Cache-Control", "max-age=0")])

        return app(environ, add)

    with open_index(no_cache, cache=Cache(tmp_path)) as index:
        index.project("leaf-a")
    with open_index(no_cache, cache=Cache(tmp_path), ttl=3600.0) as index:
        index.project("leaf-a")
    assert len(app.requests_for("/simple/leaf-a/")) == 2


def test_a_truncated_metadata_blob_is_fetched_again(
    make_index_app: MakeApp, tmp_path: Path
) -> None:
    app = make_index_app(advertise_metadata=True)
    with open_index(app, cache=Cache(tmp_path)) as index:
        wheel = wheel_of(index.project("leaf-a"), "2.0")
        first = index.metadata("leaf-a", "2.0", wheel)
    blobs = [p for p in (tmp_path / "blobs-v2" / "metadata").rglob("*") if p.is_file()]
    assert len(blobs) == 1
    blobs[0].write_bytes(blobs[0].read_bytes()[:-5])
    app.clear_requests()
    with open_index(app, cache=Cache(tmp_path)) as index:
        again = index.metadata("leaf-a", "2.0", wheel_of(index.project("leaf-a"), "2.0"))
    assert again == first
    assert gets(app) == ["/files/leaf_a-2.0-py3-none-any.whl.metadata"]
    assert Cache(tmp_path).get_blob("metadata", wheel.sha256 or "") is not None


def test_a_truncated_page_entry_is_fetched_again(make_index_app: MakeApp, tmp_path: Path) -> None:
    app = make_index_app()
    with open_index(app, cache=Cache(tmp_path)) as index:
        index.project("leaf-a")
    (entry,) = [p for p in (tmp_path / "pages-v2").rglob("*") if p.is_file()]
    entry.write_bytes(entry.read_bytes()[:-10])
    with open_index(app, cache=Cache(tmp_path)) as index:
        assert len(index.project("leaf-a").versions()) == 3
    assert len(app.requests_for("/simple/leaf-a/")) == 2


def test_range_read_metadata_is_cached(make_index_app: MakeApp, tmp_path: Path) -> None:
    app = make_index_app()
    with open_index(app, cache=Cache(tmp_path)) as index:
        wheel = wheel_of(index.project("nometa-pkg"), "1.0")
        index.metadata("nometa-pkg", "1.0", wheel)
    app.clear_requests()
    with open_index(app, cache=Cache(tmp_path)) as index:
        wheel = wheel_of(index.project("nometa-pkg"), "1.0")
        assert index.metadata("nometa-pkg", "1.0", wheel).version == Version("1.0")
    assert app.requests == []


def test_a_redirected_page_gives_the_same_file_urls_from_the_cache(
    make_index_app: MakeApp, tmp_path: Path
) -> None:
    app = make_index_app()

    def mirror(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ["PATH_INFO"]
        if path.startswith("/simple/"):
            start_response("302 Found", [("Location", f"/mirror{path}")])
            return [b""]
        if path.startswith("/mirror/"):
            environ = {**environ, "PATH_INFO": path[len("/mirror") :]}
            return app(environ, start_response)
        start_response("404 Not Found", [])
        return [b""]

    with open_index(mirror, cache=Cache(tmp_path)) as index:
        fetched = page_view(index.project("leaf-a"))
    with open_index(mirror, cache=Cache(tmp_path)) as index:
        cached = page_view(index.project("leaf-a"))
    assert fetched["1.0"]["leaf_a-1.0.tar.gz"][0] == f"{BASE}/mirror/files/leaf_a-1.0.tar.gz"
    assert cached == fetched


def test_metadata_prefetch_calls_back(make_index_app: MakeApp) -> None:
    app = make_index_app(advertise_metadata=True)
    done = threading.Event()
    got: list[Any] = []
    with open_index(app) as index:
        wheel = wheel_of(index.project("leaf-b"), "2.0")

        def then(meta: Any) -> None:
            got.append(meta)
            done.set()

        index.prefetch_metadata("leaf-b", "2.0", wheel, then)
        assert done.wait(10)
        assert got == [index.metadata("leaf-b", "2.0", wheel)]
    assert gets(app, "/files/") == ["/files/leaf_b-2.0-py3-none-any.whl.metadata"]


def advertise_without_hashes(body: bytes) -> bytes:
    """A JSON page whose metadata files are announced as ``true``, with no hash."""
    page = json.loads(body)
    for entry in page["files"]:
        if "core-metadata" in entry:
            entry["core-metadata"] = entry["dist-info-metadata"] = True
    return json.dumps(page).encode()


def test_wrong_metadata_is_a_metadata_error(make_index_app: MakeApp) -> None:
    app = make_index_app(advertise_metadata=True)
    path = "/files/leaf_a-2.0-py3-none-any.whl.metadata"
    unhashed = AlterBody(app, "/simple/leaf-a/", advertise_without_hashes)
    renamed = AlterBody(unhashed, path, lambda body: body.replace(b"Version: 2.0", b"Version: 9.0"))
    with open_index(renamed) as index:
        wheel = wheel_of(index.project("leaf-a"), "2.0")
        with pytest.raises(MetadataError, match="Version") as info:
            index.metadata("leaf-a", "2.0", wheel)
    assert info.value.package == "leaf-a"


def test_canonical_names_of_pages_are_used_for_cache_keys(
    make_index_app: MakeApp, tmp_path: Path
) -> None:
    app = make_index_app()
    with open_index(app, cache=Cache(tmp_path)) as index:
        index.project("Foo.Bar")
    assert Cache(tmp_path).get_page(f"{SIMPLE}{canonicalize_name('Foo.Bar')}/") is not None


# -- the hedge between a .metadata file and range requests -----------------------------

SAFETY = 30.0  # seconds; only reached when the code under test is broken


class HoldMetadata:
    """Holds the ``.metadata`` answer of one wheel until a range request for that
    wheel arrived, then answers it with ``metadata`` (default: the real file).

    Deterministic: nothing depends on how fast anything runs. If no range request
    comes within ``SAFETY`` seconds the hold gives up and ``timed_out`` is set, so
    a broken hedge fails the test instead of hanging it."""

    def __init__(self, app: WSGIApp, wheel_path: str, metadata: bytes | None = None) -> None:
        self.app = app
        self.wheel_path = wheel_path
        self.metadata = metadata
        self.range_seen = threading.Event()
        self.metadata_seen = threading.Event()
        self.timed_out = False

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        if path == self.wheel_path and "HTTP_RANGE" in environ:
            self.range_seen.set()
        if path == self.wheel_path + ".metadata":
            self.metadata_seen.set()
            if not self.range_seen.wait(SAFETY):
                self.timed_out = True
            if self.metadata is not None:
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [self.metadata]
        return self.app(environ, start_response)


def test_a_held_metadata_file_is_overtaken_by_the_range_read(make_index_app: MakeApp) -> None:
    app = make_index_app()  # metadata files exist but are not advertised: hedge
    wheel_path = "/files/leaf_a-2.0-py3-none-any.whl"
    # Were this answer used, the metadata would say the wrong version and fail.
    held = HoldMetadata(app, wheel_path, b"Metadata-Version: 2.1\nName: leaf-a\nVersion: 9.0\n")
    with open_index(held, hedge_after=0.0) as index:
        wheel = wheel_of(index.project("leaf-a"), "2.0")
        meta = index.metadata("leaf-a", "2.0", wheel)
    # The .metadata request was held until the range read won, or, not started
    # by then, cancelled (see test_index_prefetch.py); closing waited for it.
    assert meta.version == Version("2.0")
    assert not held.timed_out
    assert held.range_seen.is_set()
    paths = gets(app, "/files/")
    assert paths.count(wheel_path) == 1  # the range read: tail and members in one
    assert [r.headers.get("range") for r in app.requests_for(wheel_path)] == ["bytes=-65536"]


def test_a_quick_metadata_file_needs_no_range_read(make_index_app: MakeApp) -> None:
    app = make_index_app()
    with open_index(app, hedge_after=60.0) as index:
        wheel = wheel_of(index.project("leaf-a"), "2.0")
        meta = index.metadata("leaf-a", "2.0", wheel)
    assert meta.version == Version("2.0")
    assert gets(app, "/files/") == ["/files/leaf_a-2.0-py3-none-any.whl.metadata"]


# -- pages from the cache are not parsed again; entries are written at close -------------


def _no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> ProjectPage:
        raise AssertionError("a cached JSON page was parsed again")

    monkeypatch.setattr("reqlock.index.index.parse_project_page", refuse)


@pytest.mark.parametrize("validators", [False, True], ids=["fresh", "revalidated-304"])
def test_a_cached_json_page_is_read_from_its_spans(
    make_index_app: MakeApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, validators: bool
) -> None:
    app = make_index_app(validators=validators)
    cache = Cache(tmp_path)
    with open_index(app, cache=cache) as index:
        first = page_view(index.project("leaf-a"))
        digests = index.pages_read()
    stored = cache.get_page(f"{SIMPLE}leaf-a/")
    assert stored is not None
    assert stored.offsets  # a JSON page: where its entries lie was kept
    _no_parsing(monkeypatch)
    with open_index(app, cache=cache, ttl=0.0 if validators else 600.0) as index:
        assert page_view(index.project("leaf-a")) == first
        # The same digest as the page first read: a remembered lock stays valid.
        assert index.pages_read() == digests
    assert len(app.requests_for("/simple/leaf-a/")) == (2 if validators else 1)


def test_an_html_page_from_the_cache_is_parsed_again(
    make_index_app: MakeApp, tmp_path: Path
) -> None:
    app = make_index_app(formats=("html",))
    cache = Cache(tmp_path)
    with open_index(app, cache=cache) as index:
        first = page_view(index.project("leaf-a"))
    stored = cache.get_page(f"{SIMPLE}leaf-a/")
    assert stored is not None
    assert stored.offsets is None
    with open_index(app, cache=cache) as index:
        assert page_view(index.project("leaf-a")) == first
    assert len(app.requests_for("/simple/leaf-a/")) == 1


@pytest.mark.parametrize("formats", [("json",), ("html",)])
def test_the_index_writes_its_cache_entries_when_it_closes(
    make_index_app: MakeApp, tmp_path: Path, formats: tuple[str, ...]
) -> None:
    app = make_index_app(formats=formats)
    with open_index(app, cache=Cache(tmp_path)) as index:
        page = index.project("leaf-a")
        index.metadata("leaf-a", "1.0", wheel_of(page, "1.0"))
        early = {p.parent.name for p in tmp_path.rglob("*") if p.is_file()}
        # A JSON page is stored at once, to be read from the file (mapped) rather
        # than kept in memory; everything else waits for the index to close.
        assert early == ({"pages-v2"} if formats == ("json",) else set())
    written = {p.parent.name for p in tmp_path.rglob("*") if p.is_file()}
    assert {"pages-v2", "metadata"} <= written
    app.clear_requests()
    with open_index(app, cache=Cache(tmp_path)) as index:
        index.metadata("leaf-a", "1.0", wheel_of(index.project("leaf-a"), "1.0"))
    assert app.requests == []
