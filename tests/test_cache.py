"""cache.py: index pages with freshness, content-checked blobs, atomic writes."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from reqlock.index.cache import Cache, CachedPage, default_cache_dir
from reqlock.index.pagejson import Mapped, offsets_array

URL = "https://idx.example/simple/demo/"
KEY = hashlib.sha256(b"a distribution").hexdigest()


def page(**fields: object) -> CachedPage:
    values: dict[str, object] = {
        "url": URL,
        "content_type": "application/vnd.pypi.simple.v1+json",
        "body": b'{"meta": {"api-version": "1.1"}, "files": []}',
        "fetched": 1_700_000_000.5,
    }
    values.update(fields)
    return CachedPage(**values)  # type: ignore[arg-type]


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def only_file(root: Path) -> Path:
    (path,) = files_under(root)
    return path


# -- pages ---------------------------------------------------------------------------


def test_page_round_trip_keeps_every_field(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    stored = page(etag='"abc"', last_modified="Tue, 01 Oct 2024 10:00:00 GMT", max_age=60.0)
    cache.put_page(stored)
    assert cache.get_page(URL) == stored
    assert cache.get_page(URL + "other/") is None


def test_page_round_trip_with_optional_fields_missing(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    stored = page(body=b"")
    cache.put_page(stored)
    assert cache.get_page(URL) == stored


def test_put_page_overwrites(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.put_page(page(body=b"old"))
    cache.put_page(page(body=b"new", etag='"2"'))
    got = cache.get_page(URL)
    assert got is not None
    assert got.body == b"new"
    assert got.etag == '"2"'
    assert len(files_under(tmp_path)) == 1


def test_an_entry_moved_to_another_url_is_not_served(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    other = "https://idx.example/simple/other/"
    cache.put_page(page())
    cache.put_page(page(url=other))
    # Put the page of URL where the page of `other` should be.
    paths = {p.read_bytes().split(b"\n", 1)[0]: p for p in files_under(tmp_path)}
    (mine,) = [p for h, p in paths.items() if URL.encode() in h]
    (theirs,) = [p for h, p in paths.items() if other.encode() in h]
    theirs.write_bytes(mine.read_bytes())
    assert cache.get_page(other) is None
    assert not theirs.exists()
    assert cache.get_page(URL) is not None


@pytest.mark.parametrize(
    ("fetched_ago", "ttl", "max_age", "fresh"),
    [
        (10, 600, None, True),
        (599, 600, None, True),
        (600, 600, None, False),
        (10, 0, None, False),
        (10, 600, 5.0, False),  # the server's max-age wins over our ttl...
        (10, 5, 60.0, True),  # ...both ways
        (10, 600, 0.0, False),  # no-cache / no-store
        (-30, 600, None, False),  # fetched "in the future": the clock moved
    ],
)
def test_freshness(fetched_ago: float, ttl: float, max_age: float | None, fresh: bool) -> None:
    now = 1_800_000_000.0
    entry = page(fetched=now - fetched_ago, max_age=max_age)
    assert entry.is_fresh(ttl, now=now) is fresh


def test_freshness_uses_the_clock_by_default() -> None:
    import time

    assert page(fetched=time.time() - 5).is_fresh(60)
    assert not page(fetched=time.time() - 120).is_fresh(60)


def _truncate(data: bytes) -> bytes:
    return data[:-1]


def _flip_last(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


def _garbage_header(data: bytes) -> bytes:
    return b"{not json" + data[data.index(b"\n") :]


def _no_newline(data: bytes) -> bytes:
    return data[: data.index(b"\n")]


def _empty(data: bytes) -> bytes:
    return b""


def _header_missing_field(data: bytes) -> bytes:
    header, _, body = data.partition(b"\n")
    return header.replace(b'"fetched"', b'"fetchedX"') + b"\n" + body


def _not_utf8_header(data: bytes) -> bytes:
    return b"\xff\xfe" + data


CORRUPTIONS: list[Callable[[bytes], bytes]] = [
    _truncate,
    _flip_last,
    _garbage_header,
    _no_newline,
    _empty,
    _header_missing_field,
    _not_utf8_header,
]


@pytest.mark.parametrize("corrupt", CORRUPTIONS, ids=lambda f: f.__name__.strip("_"))
def test_a_corrupted_page_is_discarded(tmp_path: Path, corrupt: Callable[[bytes], bytes]) -> None:
    cache = Cache(tmp_path)
    cache.put_page(page())
    path = only_file(tmp_path)
    path.write_bytes(corrupt(path.read_bytes()))
    assert cache.get_page(URL) is None
    assert not path.exists()
    # And the next write works again.
    cache.put_page(page())
    assert cache.get_page(URL) == page()


@pytest.mark.parametrize("header", [b"[1, 2]", b"42", b'"text"', b"null"])
def test_a_page_whose_header_is_not_an_object_is_discarded(tmp_path: Path, header: bytes) -> None:
    cache = Cache(tmp_path)
    cache.put_page(page())
    path = only_file(tmp_path)
    body = path.read_bytes().partition(b"\n")[2]
    path.write_bytes(header + b"\n" + body)
    assert cache.get_page(URL) is None
    assert not path.exists()


# -- blobs ---------------------------------------------------------------------------


def test_blob_round_trip(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    data = b"Metadata-Version: 2.3\nName: demo\n\nbody\n\x00\xff"
    cache.put_blob("metadata", KEY, data)
    assert cache.get_blob("metadata", KEY) == data
    assert cache.get_blob("dist", KEY) is None  # kinds are separate
    assert cache.get_blob("metadata", "0" * 64) is None
    cache.put_blob("metadata", KEY, b"")
    assert cache.get_blob("metadata", KEY) == b""


@pytest.mark.parametrize("corrupt", CORRUPTIONS[:5], ids=lambda f: f.__name__.strip("_"))
def test_a_corrupted_blob_is_discarded(tmp_path: Path, corrupt: Callable[[bytes], bytes]) -> None:
    cache = Cache(tmp_path)
    cache.put_blob("metadata", KEY, b"Name: demo\nVersion: 1.0\n")
    path = only_file(tmp_path)
    path.write_bytes(corrupt(path.read_bytes()))
    assert cache.get_blob("metadata", KEY) is None
    assert not path.exists()


def test_a_blob_with_extra_bytes_is_discarded(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.put_blob("dist", KEY, b"abc")
    path = only_file(tmp_path)
    path.write_bytes(path.read_bytes() + b"d")
    assert cache.get_blob("dist", KEY) is None


@pytest.mark.parametrize("key", ["", "../../etc/passwd", "ab/cd", "a b"])
def test_blob_keys_must_be_plain(tmp_path: Path, key: str) -> None:
    cache = Cache(tmp_path)
    with pytest.raises(ValueError, match="bad cache key"):
        cache.put_blob("dist", key, b"x")
    with pytest.raises(ValueError, match="bad cache key"):
        cache.get_blob("dist", key)
    assert files_under(tmp_path) == []


def test_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    for i in range(5):
        cache.put_page(page(url=f"{URL}{i}/", body=b"x" * i))
        cache.put_blob("metadata", f"{i:064x}", b"y" * i)
        cache.put_blob("metadata", f"{i:064x}", b"z" * i)
    names = [p.name for p in files_under(tmp_path)]
    assert len(names) == 10
    assert not [n for n in names if n.startswith(".tmp")]


def test_a_failed_rename_leaves_no_temporary_file_and_does_not_raise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = Cache(tmp_path)
    cache.put_blob("dist", KEY, b"old")

    def refuse(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)  # what the cache renames with
    cache.put_blob("dist", KEY, b"new")
    cache.put_page(page())
    monkeypatch.undo()
    assert cache.get_blob("dist", KEY) == b"old"
    assert cache.get_page(URL) is None
    assert [p.name for p in files_under(tmp_path)] == [KEY]


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores permissions"
)
def test_a_read_only_cache_dir_only_costs_speed(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    root.mkdir()
    root.chmod(0o500)
    try:
        cache = Cache(root)
        cache.put_page(page())
        assert cache.get_page(URL) is None
    finally:
        root.chmod(0o700)


# -- where the cache lives -----------------------------------------------------------


def test_default_cache_dir_prefers_reqlock_cache_dir(tmp_path: Path) -> None:
    env = {"REQLOCK_CACHE_DIR": str(tmp_path / "mine"), "XDG_CACHE_HOME": str(tmp_path)}
    assert default_cache_dir(env) == tmp_path / "mine"


def test_default_cache_dir_uses_xdg_cache_home(tmp_path: Path) -> None:
    env = {"REQLOCK_CACHE_DIR": "", "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    assert default_cache_dir(env) == tmp_path / "xdg" / "reqlock"


def test_default_cache_dir_falls_back_to_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir({}) == tmp_path / ".cache" / "reqlock"
    assert default_cache_dir({"XDG_CACHE_HOME": ""}) == tmp_path / ".cache" / "reqlock"


def test_default_cache_dir_reads_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQLOCK_CACHE_DIR", str(tmp_path / "env"))
    assert default_cache_dir() == tmp_path / "env"
    monkeypatch.delenv("REQLOCK_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "reqlock"


def test_a_fifo_in_the_cache_is_a_miss_not_a_hang(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.put_blob("metadata", "k" * 64, b"data")
    (entry,) = [p for p in tmp_path.rglob("*") if p.is_file()]
    entry.unlink()
    os.mkfifo(entry)
    assert cache.get_blob("metadata", "k" * 64) is None


# -- where each release's entries lie (JSON pages) -------------------------------------

OFFSETS = {"1.0": offsets_array([0, 10, 20, 30]), "2.0": offsets_array([10, 20])}
BODY = b'{"files": [1, 2, 3, 4, 5, 6, 7, 8, 9]}'


def test_offsets_are_kept_with_the_page_and_its_digest(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.put_page(page(body=BODY, offsets=OFFSETS))
    got = cache.get_page(URL)
    assert got is not None
    assert got.offsets == OFFSETS
    assert got.body == BODY
    assert got.digest() == "sha256:" + hashlib.sha256(BODY).hexdigest()
    assert cache.page_digest(URL, None) == got.digest()
    cache.put_page(page(body=b"", missing=True))
    assert cache.page_digest(URL, None) == "missing"


def _rewrite_offsets(path: Path, offsets: bytes) -> None:
    """Replace the offsets line of a stored page, its header hash made to match."""
    import json

    header_line, _, rest = path.read_bytes().partition(b"\n")
    _, _, body = rest.partition(b"\n")
    header = json.loads(header_line)
    header["spans_sha256"] = hashlib.sha256(offsets).hexdigest()
    path.write_bytes(json.dumps(header).encode() + b"\n" + offsets + b"\n" + body)


@pytest.mark.parametrize(
    "offsets",
    [
        b'{"1.0": [0, 99999]}',
        b'{"1.0": [0]}',
        b'{"1.0": "0-10"}',
        b"[0, 10]",
        b'{"1.0": [-1, 2]}',
        b'{"1.0": [5, 2]}',
        b'{"1.0": [0, 2.5]}',
        b'{"1.0": [true, 2]}',
        b'{"1.0": ["demo-1.0.tar.gz", 0, 10]}',
    ],
    ids=[
        "past-the-end",
        "not-pairs",
        "not-a-list",
        "not-a-mapping",
        "negative",
        "backwards",
        "float",
        "bool",
        "old-spans",
    ],
)
def test_offsets_that_do_not_fit_the_body_discard_the_page(tmp_path: Path, offsets: bytes) -> None:
    cache = Cache(tmp_path)
    cache.put_page(page(body=BODY, offsets=OFFSETS))
    path = only_file(tmp_path)
    _rewrite_offsets(path, offsets)
    assert cache.get_page(URL) is None
    assert not path.exists()


def test_altered_offsets_discard_the_page(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.put_page(page(body=BODY, offsets=OFFSETS))
    path = only_file(tmp_path)
    path.write_bytes(path.read_bytes().replace(b'"2.0":[10,20]', b'"2.0":[10,21]'))
    assert cache.get_page(URL) is None


@pytest.mark.parametrize("tag", [b"", b"spans-1\n"], ids=["untagged", "spans-1"])
def test_a_page_stored_in_an_old_layout_is_neither_read_nor_discarded(
    tmp_path: Path, tag: bytes
) -> None:
    old = tmp_path / "pages-v2" / hashlib.sha256(tag + URL.encode()).hexdigest()
    old.parent.mkdir(parents=True)
    old.write_bytes(b'{"url": "' + URL.encode() + b'"}\n' + BODY)
    cache = Cache(tmp_path)
    assert cache.get_page(URL) is None
    assert old.exists()
    cache.put_page(page())
    assert cache.get_page(URL) == page()
    assert old.exists()


# -- pages read from their stored file (mapped) -------------------------------------------


def test_a_page_stored_mapped_is_read_from_its_file(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.hold()  # a mapped page is written at once all the same
    view = cache.put_page(page(body=BODY, offsets=OFFSETS), mapped=True)
    path = only_file(tmp_path)
    assert isinstance(view, Mapped)
    assert view == BODY
    assert view.read(1, 8) == BODY[1:8]
    assert len(view) == len(BODY)
    got = cache.get_page(URL, mapped=True)
    assert got is not None
    assert isinstance(got.body, Mapped)
    assert got == page(body=BODY, offsets=OFFSETS)
    # Another process puts a newer page in place: what was mapped is unchanged.
    Cache(tmp_path).put_page(page(body=BODY.replace(b"1", b"0"), offsets=OFFSETS))
    assert view == BODY
    assert got.body == BODY
    assert path.read_bytes().endswith(BODY.replace(b"1", b"0"))
    cache.release()


@pytest.mark.parametrize(
    "stored",
    [
        page(body=BODY),  # no offsets: an HTML page, parsed again from its bytes
        page(body='{"files": ["caf\u00e9"]}'.encode(), offsets={"1.0": offsets_array([11, 18])}),
    ],
    ids=["no-offsets", "not-ascii"],
)
def test_only_ascii_json_pages_are_mapped(tmp_path: Path, stored: CachedPage) -> None:
    cache = Cache(tmp_path)
    cache.put_page(stored)
    got = cache.get_page(URL, mapped=True)
    assert got == stored
    assert got is not None
    assert isinstance(got.body, bytes)


def test_a_mapped_page_is_checked_like_any_other(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.put_page(page(body=BODY, offsets=OFFSETS), mapped=True)
    path = only_file(tmp_path)
    path.write_bytes(path.read_bytes()[:-1] + b"!")
    assert cache.get_page(URL, mapped=True) is None
    assert not path.exists()


def test_a_page_that_cannot_be_stored_mapped_gives_no_view(tmp_path: Path) -> None:
    (tmp_path / "pages-v2").write_bytes(b"a file where the directory should be")
    cache = Cache(tmp_path)
    assert cache.put_page(page(body=BODY, offsets=OFFSETS), mapped=True) is None
    assert cache.put_page(page(body=b"", missing=True), mapped=True) is None


def test_storing_a_page_mapped_replaces_what_is_held_for_it(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.hold()
    cache.put_page(page(body=b"held"))
    cache.put_page(page(body=BODY, offsets=OFFSETS), mapped=True)
    cache.release()
    assert Cache(tmp_path).get_page(URL) == page(body=BODY, offsets=OFFSETS)


# -- writes held until released ---------------------------------------------------------


def test_held_writes_are_read_back_and_written_at_release(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.hold()
    cache.put_page(page(body=BODY, offsets=OFFSETS))
    cache.put_blob("metadata", KEY, b"Name: demo\n")
    assert files_under(tmp_path) == []
    assert cache.get_page(URL) == page(body=BODY, offsets=OFFSETS)
    assert cache.page_digest(URL, None) == "sha256:" + hashlib.sha256(BODY).hexdigest()
    assert cache.get_blob("metadata", KEY) == b"Name: demo\n"
    assert Cache(tmp_path).get_blob("metadata", KEY) is None  # not on disk yet
    cache.release()
    assert len(files_under(tmp_path)) == 2
    fresh = Cache(tmp_path)
    assert fresh.get_page(URL) == page(body=BODY, offsets=OFFSETS)
    assert fresh.get_blob("metadata", KEY) == b"Name: demo\n"


def test_only_the_last_release_writes(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.hold()
    cache.hold()
    cache.put_blob("metadata", KEY, b"one")
    cache.release()
    assert files_under(tmp_path) == []
    cache.release()
    assert Cache(tmp_path).get_blob("metadata", KEY) == b"one"
    cache.release()  # one release too many changes nothing
    cache.put_blob("metadata", KEY, b"two")  # not held: written at once
    assert Cache(tmp_path).get_blob("metadata", KEY) == b"two"


def test_writes_beyond_the_held_limit_go_to_disk_and_the_newest_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("reqlock.index.cache._MAX_PENDING_BYTES", 200)
    cache = Cache(tmp_path)
    cache.hold()
    cache.put_blob("dist", KEY, b"small")
    cache.put_blob("dist", KEY, b"x" * 500)  # too large to hold: written now
    assert Cache(tmp_path).get_blob("dist", KEY) == b"x" * 500
    cache.put_blob("metadata", KEY, b"y" * 500)
    cache.put_blob("metadata", KEY, b"held")  # the newer, smaller one is held
    cache.release()
    fresh = Cache(tmp_path)
    assert fresh.get_blob("dist", KEY) == b"x" * 500  # the older held one was dropped
    assert fresh.get_blob("metadata", KEY) == b"held"


def test_a_temporary_name_left_by_a_dead_process_is_stepped_around(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import itertools

    monkeypatch.setattr("reqlock.index.cache._TEMP_NUMBERS", itertools.count(7))
    cache = Cache(tmp_path)
    path = tmp_path / "blobs-v2" / "metadata" / KEY
    path.parent.mkdir(parents=True)
    stale = path.parent / f".{KEY}.{os.getpid()}.7.tmp"
    stale.write_bytes(b"half an entry")
    cache.put_blob("metadata", KEY, b"whole")
    assert cache.get_blob("metadata", KEY) == b"whole"
    assert stale.read_bytes() == b"half an entry"
    assert sorted(p.name for p in files_under(tmp_path)) == sorted([KEY, stale.name])
