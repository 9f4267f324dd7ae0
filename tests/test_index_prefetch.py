"""Work started ahead of need, and work dropped once nobody needs it: a hedged
``.metadata`` request that is still queued when the range read has answered is
never sent; a pinned release's RECORD digests are read while the resolver runs."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

import httpx
import pytest
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version

from reqlock.index.client import HttpClient
from reqlock.index.index import Index
from reqlock.index.metadata import DistMetadata
from reqlock.index.once import Cancelled, Once
from reqlock.index.pages import DistFile, ProjectPage
from reqlock.locking.crawl import Crawler
from reqlock.locking.rules import FileRules
from reqlock.targets import parse_target
from tests.fakeindex import FakeIndexApp

SIMPLE = "https://idx.example/simple/"
SAFETY = 30.0  # seconds; only reached when the code under test is broken
WSGIApp = Callable[[dict[str, Any], Any], Iterable[bytes]]


# -- Once.cancel -----------------------------------------------------------------------


def test_a_cancelled_unit_never_runs() -> None:
    ran: list[int] = []
    once: Once[int] = Once(lambda: ran.append(1) or 1)
    seen: list[int] = []
    once.then(seen.append)
    assert once.cancel()
    once.run()
    assert ran == []
    assert seen == []
    assert once.done()
    with pytest.raises(Cancelled):
        once.result()


def test_a_unit_that_ran_cannot_be_cancelled() -> None:
    once = Once(lambda: 7)
    once.run()
    assert not once.cancel()
    assert once.result() == 7


# -- the hedge: a queued .metadata request is dropped -------------------------------------


class Gate:
    """Holds every request for ``path`` until :attr:`open` is set; :attr:`entered`
    says one is being held."""

    def __init__(self, app: WSGIApp, path: str) -> None:
        self.app = app
        self.path = path
        self.entered = threading.Event()
        self.open = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == self.path:
            self.entered.set()
            self.open.wait(SAFETY)
        return self.app(environ, start_response)


def test_a_metadata_request_still_queued_when_the_range_read_answers_is_never_sent(
    make_index_app: Callable[..., FakeIndexApp],
) -> None:
    app = make_index_app()  # metadata files exist but are not advertised: hedge
    gate = Gate(app, "/simple/leaf-b/")
    http = HttpClient(transport=httpx.WSGITransport(app=gate), backoff=0.0)
    index = Index([SIMPLE], http=http, hedge_after=0.0, max_workers=1)
    try:
        page = index.project("leaf-a")  # in this thread: the one worker is free
        index.prefetch_project("leaf-b")  # ... and now busy, held at the gate
        assert gate.entered.wait(SAFETY)
        (wheel,) = [f for f in page.files(Version("2.0")) if f.is_wheel]
        meta = index.metadata("leaf-a", "2.0", wheel)
        # Queued after the hedge's .metadata request: once this page is in, the
        # one worker has been past that request (run it, or found it cancelled).
        after = threading.Event()
        index.prefetch_project("extras-a", then=lambda page: after.set())
        gate.open.set()
        assert after.wait(SAFETY)
    finally:
        gate.open.set()
        index.close()
    assert meta.version == Version("2.0")
    wheel_path = "/files/leaf_a-2.0-py3-none-any.whl"
    assert [r.headers.get("range") for r in app.requests_for(wheel_path)] == ["bytes=-65536"]
    assert app.requests_for(wheel_path + ".metadata") == []


# -- the crawler: RECORD digests of a pinned release -------------------------------------

LINUX = parse_target("linux-x86_64-py3.11")


def _file(filename: str) -> DistFile:
    return DistFile(filename=filename, url=f"memory://{filename}", hashes={"sha256": "0" * 64})


PAGE = ProjectPage(
    name=NormalizedName("p"),
    index="memory://",
    files_by_version={
        "1.0": [
            _file("p-1.0-py3-none-any.whl"),
            _file("p-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"),
            _file("p-1.0-cp311-cp311-win_amd64.whl"),
            _file("p-1.0.tar.gz"),
        ],
        "2.0": [_file("p-2.0-py3-none-any.whl")],
    },
)
META = DistMetadata(
    name=NormalizedName("p"),
    version=Version("1.0"),
    requires_dist=(),
    requires_python=None,
    provides_extras=frozenset(),
)


class _Source:
    """Answers at once, and records what was asked for."""

    def __init__(self, *, records: bool = True) -> None:
        self.calls: list[str] = []
        if records:
            self.prefetch_record = self._prefetch_record

    def project(self, name: str) -> ProjectPage:
        return PAGE

    def metadata(self, name: str, version: str, dist: DistFile) -> DistMetadata:
        return META

    def metadata_if_known(self, dist: DistFile) -> DistMetadata | None:
        return None

    def prefetch_project(
        self, name: str, then: Callable[[ProjectPage], None] | None = None
    ) -> None:
        self.calls.append(f"page {name}")
        if then is not None:
            then(PAGE)

    def prefetch_metadata(
        self,
        name: str,
        version: str,
        dist: DistFile,
        then: Callable[[DistMetadata], None] | None = None,
    ) -> None:
        self.calls.append(f"metadata {dist.filename}")
        if then is not None:
            then(META)

    def _prefetch_record(self, dist: DistFile, package: str) -> None:
        self.calls.append(f"record {dist.filename}")


def test_a_pinned_release_has_its_wheels_records_read_after_its_metadata() -> None:
    source = _Source()
    Crawler(source, FileRules(LINUX), lambda meta, extras: ()).crawl(
        "p", frozenset(), SpecifierSet("==1.0")
    )
    metadata = "metadata p-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"
    assert source.calls[:2] == ["page p", metadata]
    # The wheels the lock holds for this target: not the Windows one, not the sdist.
    assert sorted(source.calls[2:]) == [
        "record p-1.0-cp311-cp311-manylinux_2_17_x86_64.whl",
        "record p-1.0-py3-none-any.whl",
    ]


@pytest.mark.parametrize("spec", ["", ">=1.0", "==1.*"])
def test_an_unpinned_guess_reads_no_record(spec: str) -> None:
    source = _Source()
    Crawler(source, FileRules(LINUX), lambda meta, extras: ()).crawl(
        "p", frozenset(), SpecifierSet(spec)
    )
    assert [c for c in source.calls if c.startswith("record")] == []


def test_a_source_without_records_is_crawled_as_before() -> None:
    source = _Source(records=False)
    Crawler(source, FileRules(LINUX), lambda meta, extras: ()).crawl(
        "p", frozenset(), SpecifierSet("==1.0")
    )
    assert source.calls == ["page p", "metadata p-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"]
