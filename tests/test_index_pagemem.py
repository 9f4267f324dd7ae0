"""What a lock keeps of index pages: offsets into the page, entries read from the
stored file (mapped) and let go of at once, and a malloc that returns big buffers."""

from __future__ import annotations

import json
import mmap
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from packaging.utils import NormalizedName
from packaging.version import Version

from reqlock.errors import IndexFetchError
from reqlock.index.cache import Cache
from reqlock.index.client import HttpClient
from reqlock.index.index import Index
from reqlock.index.memory import keep_big_buffers_apart
from reqlock.index.pagejson import Mapped, json_offsets, offsets_array
from reqlock.index.pages import ProjectPage, page_from_entries
from tests.fakeindex import FakeIndexApp

SIMPLE = "https://idx.example/simple/"
PAGE_URL = f"{SIMPLE}demo/"
DEMO = NormalizedName("demo")


def _entry(filename: str, **fields: Any) -> dict[str, Any]:
    return {
        "filename": filename,
        "url": f"https://files.example/{filename}",
        "hashes": {},
        **fields,
    }


BODY = json.dumps(
    {
        "meta": {"api-version": "1.1"},
        "files": [
            _entry("demo-1.0-py3-none-any.whl"),
            _entry("demo-1.0.tar.gz", **{"requires-python": ">=3.8"}),
            _entry("demo-2.0.tar.gz", yanked="broken"),
            _entry("other-1.0.tar.gz"),
        ],
    }
).encode()


def _view(page: ProjectPage) -> dict[str, tuple[object, ...]]:
    return {
        f.filename: (f.url, f.requires_python, f.yanked, f.yanked_reason)
        for files in page.releases().values()
        for f in files
    }


def _mapped(tmp_path: Path, data: bytes, offset: int = 0, name: str = "page") -> Mapped:
    path = tmp_path / name
    path.write_bytes(b"x" * offset + data)
    with open(path, "rb") as fh:
        return Mapped(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ), offset)


# -- offsets ---------------------------------------------------------------------------


def test_offsets_name_only_where_each_entry_lies() -> None:
    offsets = json_offsets(BODY.decode(), PAGE_URL, DEMO)
    assert set(offsets) == {"1.0", "2.0"}
    assert all(len(found) % 2 == 0 for found in offsets.values())
    first, end = offsets["1.0"][:2]
    assert json.loads(BODY[first:end])["filename"] == "demo-1.0-py3-none-any.whl"


@pytest.mark.parametrize("how", ["bytes", "mapped", "text"])
def test_a_page_from_offsets_has_the_files_of_the_parsed_page(tmp_path: Path, how: str) -> None:
    offsets = json_offsets(BODY.decode(), PAGE_URL, DEMO)
    source: Any = {"bytes": BODY, "mapped": _mapped(tmp_path, BODY, 7), "text": BODY.decode()}[how]
    page = page_from_entries(source, offsets, page_url=PAGE_URL, name=DEMO, index=SIMPLE)
    assert _view(page) == {
        "demo-1.0-py3-none-any.whl": (
            "https://files.example/demo-1.0-py3-none-any.whl",
            None,
            False,
            None,
        ),
        "demo-1.0.tar.gz": ("https://files.example/demo-1.0.tar.gz", ">=3.8", False, None),
        "demo-2.0.tar.gz": ("https://files.example/demo-2.0.tar.gz", None, True, "broken"),
    }
    # Filtered by file name, converted only when kept.
    wheels = page.files(Version("1.0"), lambda name: name.endswith(".whl"))
    assert [d.filename for d in wheels] == ["demo-1.0-py3-none-any.whl"]
    assert page.offsets() == offsets
    spans = page.spans()
    assert spans is not None
    assert spans["1.0"][::3] == ["demo-1.0-py3-none-any.whl", "demo-1.0.tar.gz"]


def test_offsets_that_point_at_no_entry_are_a_bad_page() -> None:
    page = page_from_entries(
        BODY,
        {"1.0": offsets_array([0, 5])},
        page_url=PAGE_URL,
        name=DEMO,
        index=SIMPLE,
    )
    with pytest.raises(IndexFetchError) as info:
        page.files(Version("1.0"))
    assert "not where it was" in str(info.value)


def test_version_objects_are_shared_between_pages() -> None:
    pages = [
        page_from_entries(None, {"1.0": []}, page_url=PAGE_URL, name=NormalizedName(n), index="")
        for n in ("a", "b")
    ]
    (first,), (second,) = (list(p.versions()) for p in pages)
    assert first == Version("1.0")
    assert first is second


# -- mapped bytes ------------------------------------------------------------------------


class _FakeMapping:
    """An mmap's reading surface that records what is handed back."""

    def __init__(self, size: int) -> None:
        self.data = bytes(range(256)) * (size // 256)
        self.released: list[tuple[int, int]] = []

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, key: slice) -> bytes:
        return self.data[key]

    def madvise(self, option: int, start: int, length: int) -> None:
        assert option == mmap.MADV_DONTNEED
        self.released.append((start, length))


@pytest.mark.skipif(not hasattr(mmap, "MADV_DONTNEED"), reason="no madvise here")
def test_reading_mapped_bytes_hands_back_every_window_it_touched() -> None:
    window = 2 << 20
    fake = _FakeMapping(5 * window)
    body = Mapped(fake, 100)  # type: ignore[arg-type]
    assert len(body) == 5 * window - 100
    assert body.read(10, 20) == fake.data[110:120]
    assert fake.released[-1] == (0, window)
    # A read across a window boundary releases both windows.
    start = window - 100 - 5
    assert body.read(start, start + 10) == fake.data[window - 5 : window + 5]
    assert fake.released[-1] == (0, 2 * window)
    # The last window ends with the mapping.
    assert body.read(len(body) - 3, len(body)) == fake.data[-3:]
    assert fake.released[-1] == (4 * window, window)
    with pytest.raises(ValueError, match="outside"):
        body.read(0, len(body) + 1)


def test_mapped_bytes_compare_and_view_as_the_bytes(tmp_path: Path) -> None:
    body = _mapped(tmp_path, b"hello", 3)
    assert body == b"hello"
    assert body == _mapped(tmp_path, b"hello", name="other")
    assert body != b"hellO"
    assert body != "hello"
    assert bytes(body.view()) == b"hello"


# -- the index reads pages from the cache's files -----------------------------------------


def _index(app: FakeIndexApp, cache: Cache | None) -> Index:
    http = HttpClient(transport=httpx.WSGITransport(app=app), backoff=0.0)
    return Index([SIMPLE], http=http, cache=cache, hedge_after=None)


def _source(page: ProjectPage) -> object:
    return page._source  # what the page reads its entries from


@pytest.mark.skipif(os.name != "posix", reason="pages are mapped on POSIX only")
def test_a_fetched_page_is_read_from_its_stored_file_and_a_cached_one_too(
    make_index_app: Any, tmp_path: Path
) -> None:
    app = make_index_app()
    cache = Cache(tmp_path)
    with _index(app, cache) as index:
        page = index.project("leaf-a")
        assert page.offsets()  # a JSON page
        assert isinstance(_source(page), Mapped)  # not the bytes that came in
        first = _view(page)
    with _index(app, cache) as index:
        again = index.project("leaf-a")
        assert isinstance(_source(again), Mapped)
        assert _view(again) == first
    assert len(app.requests_for("/simple/leaf-a/")) == 1


def test_without_a_cache_a_page_reads_its_bytes_in_memory(make_index_app: Any) -> None:
    with _index(make_index_app(), None) as index:
        page = index.project("leaf-a")
        assert isinstance(_source(page), memoryview)
        assert page.files(Version("2.0"))


def test_big_buffers_are_kept_apart_where_there_is_glibc() -> None:
    glibc = bool(getattr(os, "confstr_names", {}).get("CS_GNU_LIBC_VERSION")) and bool(
        os.confstr("CS_GNU_LIBC_VERSION")
    )
    assert keep_big_buffers_apart() is glibc
    assert keep_big_buffers_apart() is glibc  # once per process; asking again is free
