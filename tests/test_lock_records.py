"""RECORD digests at lock time: ``Index.record_digest`` and ``build_pylock(record_of=)``.

Wheels are served by the fake index, either the shared universe or a universe of
hand-made wheels (odd directory names, no RECORD, a broken RECORD) built here.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from packaging.pylock import Pylock
from packaging.utils import canonicalize_name
from packaging.version import Version

from reqlock.deploy import sources
from reqlock.deploy.record import wheel_record_digest
from reqlock.errors import IndexFetchError
from reqlock.index.cache import Cache
from reqlock.index.client import HttpClient
from reqlock.index.index import Index
from reqlock.index.pages import DistFile
from reqlock.locking.pylock import build_pylock, to_toml
from reqlock.locking.requirements import parse_requirement_strings
from reqlock.locking.resolution import Pin, Resolution
from reqlock.locking.resolve import resolve
from reqlock.progress import Reporter
from reqlock.targets import current
from tests.fakeindex import DistFile as FakeFile
from tests.fakeindex import FakeIndexApp, IndexOptions, Project, Release, Universe
from tests.fakeindex.pipcheck import Venv
from tests.test_index import AlterBody, flip_middle, forbidden_build, wheel_of

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

BASE = "http://fakeindex"
SIMPLE = f"{BASE}/simple/"
MakeApp = Callable[..., FakeIndexApp]


# -- helpers -------------------------------------------------------------------------


@contextmanager
def open_index(app: Any, **kw: Any) -> Iterator[Index]:
    kw.setdefault("hedge_after", None)  # request logs must not depend on timing
    kw.setdefault("builder", forbidden_build)
    http = HttpClient(transport=httpx.WSGITransport(app=app), backoff=0.0, retries=0)
    index = Index([SIMPLE], http=http, **kw)
    try:
        yield index
    finally:
        index.close()


def record_text(members: Sequence[tuple[str, bytes]], record: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for path, data in members:
        digest = hashlib.sha256(data).digest()
        value = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        writer.writerow([path, f"sha256={value}", str(len(data))])
    writer.writerow([record, "", ""])
    return out.getvalue()


def zip_bytes(members: Sequence[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in members:
            archive.writestr(zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


def wheel_bytes(
    dist_info: str,
    name: str,
    version: str,
    *,
    files: Sequence[tuple[str, bytes]] = (),
    record: str | bytes | None = "",
) -> bytes:
    """A wheel with METADATA, ``files`` and a RECORD: correct when ``record`` is
    ``""``, absent when None, else exactly the given text."""
    metadata = f"Metadata-Version: 2.3\nName: {name}\nVersion: {version}\n".encode()
    members = [*files, (f"{dist_info}/METADATA", metadata), (f"{dist_info}/WHEEL", b"x")]
    if record == "":
        record = record_text(members, f"{dist_info}/RECORD")
    if record is not None:
        raw = record.encode() if isinstance(record, str) else record
        members.append((f"{dist_info}/RECORD", raw))
    return zip_bytes(members)


def universe_of(root: Path, wheels: dict[str, bytes], *, serve_metadata: bool = True) -> Universe:
    """A universe with one release per project, of the given wheels (by file name)."""
    releases: dict[tuple[str, str], list[FakeFile]] = {}
    for filename, data in wheels.items():
        project, version = filename.split("-")[:2]
        path = root / filename
        path.write_bytes(data)
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            meta = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            metadata = archive.read(meta)
        releases.setdefault((str(canonicalize_name(project)), version), []).append(
            FakeFile(
                filename=filename,
                project=str(canonicalize_name(project)),
                version=version,
                kind="wheel",
                tag="py3-none-any",
                path=path,
                sha256=hashlib.sha256(data).hexdigest(),
                size=len(data),
                upload_time="2024-01-01T00:00:00Z",
                requires_python=None,
                yanked=False,
                metadata=metadata,
                serve_metadata=serve_metadata,
            )
        )
    projects = {
        name: Project(
            name=name,
            display_name=name,
            purpose="test",
            releases={
                version: Release(
                    version=version,
                    requires_dist=(),
                    requires_python=None,
                    provides_extras=(),
                    upload_time="2024-01-01T00:00:00Z",
                    yanked=False,
                    files=tuple(files),
                )
            },
        )
        for (name, version), files in releases.items()
    }
    return Universe(root=root, projects=projects)


def wheel_requests(app: FakeIndexApp, filename: str) -> list[str]:
    """The GETs of a wheel itself (not its .metadata), with their Range headers."""
    return [
        r.headers.get("range", "whole")
        for r in app.requests_for(f"/files/{filename}")
        if r.path == f"/files/{filename}" and r.method == "GET"
    ]


def locked_records(package: Any) -> dict[str, str]:
    """``package.tool["reqlock"]["records"]`` (a list in the order of the wheels),
    checked for shape, by wheel name as ``reqlock.deploy.sources`` reads it back."""
    if package.tool is None:
        return {}
    records = package.tool["reqlock"]["records"]
    assert isinstance(records, list)
    assert len(records) == len(package.wheels)
    for digest in records:
        assert digest == "" or re.fullmatch("sha256:[0-9a-f]{64}", digest), digest
    by_name = dict(sources.locked_records(package))
    assert list(by_name.values()) == [d for d in records if d]
    return by_name


def the_wheel(index: Index, project: str, version: str) -> DistFile:
    return wheel_of(index.project(project), version)


def wheel_named(index: Index, project: str, filename: str) -> DistFile:
    page = index.project(project)
    (wheel,) = [f for v in page.versions() for f in page.files(v) if f.filename == filename]
    return wheel


FOO_INFO = "Foo.Bar-1.0.dist-info"
FOO_WHEEL = "foo_bar-1.0-py3-none-any.whl"
FOO_OTHER = "foo_bar-1.0-py2.py3-none-any.whl"  # another build, sorted before FOO_WHEEL
FOO_BROKEN = "foo_bar-1.0-cp311-none-any.whl"  # no RECORD
FOO_FILES = (
    ("foo_bar/__init__.py", b"x = 1\n"),
    ("Foo.Bar-1.0.data/purelib/extra.py", b"y = 2\n"),
    ("Foo.Bar-1.0.data/scripts/tool", b"#!python\n"),
)


@pytest.fixture
def odd_app(tmp_path: Path) -> FakeIndexApp:
    """Wheels of every shape: directory names unlike the project name, no RECORD,
    a malformed RECORD, a RECORD that is not UTF-8, two .dist-info directories."""
    wheels = {
        FOO_WHEEL: wheel_bytes(FOO_INFO, "Foo.Bar", "1.0", files=FOO_FILES),
        FOO_OTHER: wheel_bytes(FOO_INFO, "Foo.Bar", "1.0", files=FOO_FILES[:1]),
        FOO_BROKEN: wheel_bytes(FOO_INFO, "Foo.Bar", "1.0", record=None),
        "norecord-1.0-py3-none-any.whl": wheel_bytes(
            "norecord-1.0.dist-info", "norecord", "1.0", record=None
        ),
        "badrecord-1.0-py3-none-any.whl": wheel_bytes(
            "badrecord-1.0.dist-info", "badrecord", "1.0", record="a,b\n"
        ),
        "latin-1.0-py3-none-any.whl": wheel_bytes(
            "latin-1.0.dist-info", "latin", "1.0", record=b"caf\xe9.py,,\n"
        ),
        "twoinfo-1.0-py3-none-any.whl": wheel_bytes(
            "twoinfo-1.0.dist-info",
            "twoinfo",
            "1.0",
            files=[("other-1.0.dist-info/RECORD", b"")],
        ),
    }
    return FakeIndexApp(universe_of(tmp_path, wheels), IndexOptions())


# -- Index.record_digest ---------------------------------------------------------------


def test_the_digest_uses_the_directory_names_the_wheel_has(odd_app: FakeIndexApp) -> None:
    with open_index(odd_app) as index:
        digest = index.record_digest(wheel_named(index, "foo-bar", FOO_WHEEL), package="foo-bar")
    with zipfile.ZipFile(odd_app.universe.root / FOO_WHEEL) as archive:
        text = archive.read(f"{FOO_INFO}/RECORD").decode()
    assert digest == wheel_record_digest(text, dist_info=FOO_INFO, data_dir="Foo.Bar-1.0.data")
    # Names rebuilt from the project name would give another digest.
    assert digest != wheel_record_digest(
        text, dist_info="foo_bar-1.0.dist-info", data_dir="foo_bar-1.0.data"
    )


@pytest.mark.parametrize(
    ("project", "why"),
    [
        ("norecord", "no norecord-1.0.dist-info/RECORD"),
        ("badrecord", "malformed"),
        ("latin", "not UTF-8"),
        ("twoinfo", "several .dist-info directories"),
    ],
)
def test_a_wheel_without_a_usable_record_gets_no_digest_and_a_warning(
    odd_app: FakeIndexApp, tmp_path: Path, project: str, why: str
) -> None:
    filename = f"{project}-1.0-py3-none-any.whl"
    for _ in range(2):  # fetched, then from the cache: the same outcome and warning
        reporter = Reporter()
        with open_index(odd_app, reporter=reporter, cache=Cache(tmp_path / "c")) as index:
            wheel = the_wheel(index, project, "1.0")
            assert index.record_digest(wheel, package=project) is None
            assert index.record_digest(wheel, package=project) is None
        (warning,) = reporter.warnings
        assert filename in warning
        assert why in warning
    assert len(wheel_requests(odd_app, filename)) == 1


def test_one_range_request_per_wheel_whose_metadata_came_from_a_metadata_file(
    make_index_app: MakeApp, tmp_path: Path
) -> None:
    app = make_index_app(advertise_metadata=True)
    with open_index(app, cache=Cache(tmp_path)) as index:
        wheel = the_wheel(index, "leaf-a", "2.0")
        index.metadata("leaf-a", "2.0", wheel)
        assert wheel_requests(app, wheel.filename) == []  # the .metadata file sufficed
        digest = index.record_digest(wheel, package="leaf-a")
        assert digest is not None
        assert digest.startswith("sha256:")
        assert index.record_digest(wheel, package="leaf-a") == digest
    assert wheel_requests(app, wheel.filename) == ["bytes=-65536"]
    # Cached for good under the wheel's sha256: no request the next time.
    app.clear_requests()
    with open_index(app, cache=Cache(tmp_path)) as index:
        assert index.record_digest(the_wheel(index, "leaf-a", "2.0"), package="leaf-a") == digest
    assert wheel_requests(app, wheel.filename) == []


def test_no_request_more_when_metadata_came_by_range_requests(make_index_app: MakeApp) -> None:
    app = make_index_app()
    with open_index(app) as index:
        wheel = the_wheel(index, "nometa-pkg", "1.0")
        index.metadata("nometa-pkg", "1.0", wheel)
        before = wheel_requests(app, wheel.filename)
        digest = index.record_digest(wheel, package="nometa-pkg")
    assert digest is not None
    assert before == ["bytes=-65536"]
    assert wheel_requests(app, wheel.filename) == before


def test_a_server_without_ranges_gives_the_digest_from_the_checked_wheel(
    make_index_app: MakeApp, tmp_path: Path
) -> None:
    with open_index(make_index_app()) as index:
        expected = index.record_digest(the_wheel(index, "leaf-a", "2.0"), package="leaf-a")
    app = make_index_app(ranges=False)
    with open_index(app, cache=Cache(tmp_path)) as index:
        wheel = the_wheel(index, "leaf-a", "2.0")
        assert index.record_digest(wheel, package="leaf-a") == expected
    assert wheel_requests(app, wheel.filename) == ["bytes=-65536"]  # answered in full
    assert Cache(tmp_path).get_blob("dist", wheel.sha256 or "") is not None


def test_an_altered_wheel_is_an_error_not_a_missing_digest(make_index_app: MakeApp) -> None:
    app = make_index_app(ranges=False)
    altered = AlterBody(app, "/files/leaf_a-2.0-py3-none-any.whl", flip_middle)
    with open_index(altered) as index, pytest.raises(IndexFetchError, match="sha256"):
        index.record_digest(the_wheel(index, "leaf-a", "2.0"), package="leaf-a")


def test_an_unreachable_wheel_gives_a_warning_and_is_asked_again_later(
    make_index_app: MakeApp, tmp_path: Path
) -> None:
    app = make_index_app()
    path = "/files/leaf_a-2.0-py3-none-any.whl"
    app.inject_faults(path, [503])
    reporter = Reporter()
    with open_index(app, cache=Cache(tmp_path), reporter=reporter) as index:
        assert index.record_digest(the_wheel(index, "leaf-a", "2.0"), package="leaf-a") is None
        assert index.records_incomplete()
    assert "could not be fetched" in reporter.warnings[0]
    with open_index(app, cache=Cache(tmp_path)) as index:
        assert index.record_digest(the_wheel(index, "leaf-a", "2.0"), package="leaf-a")
        assert not index.records_incomplete()


def test_a_lock_missing_a_digest_for_a_passing_reason_is_not_remembered(
    make_index_app: MakeApp, tmp_path: Path
) -> None:
    """Else the warm re-lock would return the degraded lock until a page changed."""
    from reqlock import Options, lock

    app = make_index_app(advertise_metadata=True)  # metadata from .metadata files
    app.inject_faults("/files/leaf_a-2.0-py3-none-any.whl", [503])
    options = Options(
        index_url="http://fakeindex/simple/",
        allow_insecure_hosts=["fakeindex"],
        cache_dir=tmp_path,
        http_retries=0,
        http_backoff=0.0,
        hedge_after=-1,
    )
    run: dict[str, Any] = {
        "requirements": ["leaf-a"],
        "options": options,
        "environ": {},
        "transport": httpx.WSGITransport(app=app),
    }
    first = lock(**run, reporter=Reporter())
    assert "records = [" not in first.to_toml()
    second = lock(**run, reporter=Reporter())
    assert 'records = [\n    "sha256:' in second.to_toml()


def test_offline_without_a_cached_digest_warns(make_index_app: MakeApp, tmp_path: Path) -> None:
    with open_index(make_index_app(), cache=Cache(tmp_path)) as index:
        the_wheel(index, "leaf-a", "2.0")  # the page only
    reporter = Reporter()
    with open_index(None, cache=Cache(tmp_path), offline=True, reporter=reporter) as index:
        assert index.record_digest(the_wheel(index, "leaf-a", "2.0"), package="leaf-a") is None
    assert "--offline" in reporter.warnings[0]


def test_an_sdist_has_no_digest_and_no_warning(make_index_app: MakeApp) -> None:
    app = make_index_app()
    reporter = Reporter()
    with open_index(app, reporter=reporter) as index:
        (sdist,) = index.project("sdist-static").files(Version("1.0"))
        index.prefetch_record(sdist, "sdist-static")
        assert index.record_digest(sdist, package="sdist-static") is None
    assert reporter.warnings == []
    assert app.requests_for("/files/") == []


# -- the lock --------------------------------------------------------------------------


def lock_text(index: Index, requirements: Sequence[str], *, records: bool = True) -> str:
    """What ``reqlock.lock`` writes, with RECORD digests (see the api.py change)."""
    resolution = resolve(
        parse_requirement_strings(list(requirements)), index=index, target=current()
    )
    for pin in resolution.pins.values():
        for dist in pin.files:
            index.prefetch_record(dist, pin.name)
    lock = build_pylock(
        [resolution],
        sha256_of=lambda dist, package: index.sha256(dist, package=package),
        record_of=(lambda d, p: index.record_digest(d, package=p)) if records else None,
    )
    return to_toml(lock)


REQUIREMENTS = ("leaf-a", "nometa-pkg", "sdist-static", "Foo.Bar", "extras-a[all]")


def test_the_lock_holds_a_digest_per_wheel_at_one_request_at_most_each(
    make_index_app: MakeApp,
) -> None:
    app = make_index_app()
    with open_index(app) as index:
        text = lock_text(index, REQUIREMENTS)
    lock = Pylock.from_dict(tomllib.loads(text))
    wheels = 0
    for package in lock.packages:
        records = locked_records(package)
        names = sorted(w.filename for w in package.wheels or ())
        assert sorted(records) == names
        assert list(records) == names  # written sorted
        wheels += len(names)
        for name in names:
            # The page and metadata requests are the resolver's; the lock adds
            # at most one range request per wheel.
            with_meta = app.requests_for(f"/files/{name}.metadata")
            assert len(wheel_requests(app, name)) <= 1, (name, with_meta)
        if not names:
            assert package.tool is None  # an sdist-only package: no tool table
    assert wheels >= 4
    assert "\n[packages.tool.reqlock]\nrecords = [\n" in text


def test_without_record_of_the_lock_is_unchanged(make_index_app: MakeApp) -> None:
    with open_index(make_index_app()) as index:
        with_records = lock_text(index, REQUIREMENTS)
        without = lock_text(index, REQUIREMENTS, records=False)
    assert "records" not in without
    stripped = "\n\n".join(
        block
        for block in with_records.split("\n\n")
        if not block.startswith("[packages.tool.reqlock]")
    )
    assert stripped == without


def test_records_are_sorted_by_wheel_name_and_missing_ones_left_out(
    odd_app: FakeIndexApp,
) -> None:
    reporter = Reporter()
    with open_index(odd_app, reporter=reporter) as index:
        wheels = [wheel_named(index, "foo-bar", n) for n in (FOO_WHEEL, FOO_BROKEN, FOO_OTHER)]
        pin = Pin(
            name=canonicalize_name("foo-bar"),
            version=Version("1.0"),
            files=tuple(wheels),
            metadata=index.metadata("foo-bar", "1.0", wheels[0]),
            dependencies=(),
            index=SIMPLE,
        )
        resolution = Resolution(target=current(), pins={pin.name: pin}, roots=(pin.name,))
        lock = build_pylock(
            [resolution],
            sha256_of=lambda dist, package: index.sha256(dist, package=package),
            record_of=lambda d, p: index.record_digest(d, package=p),
        )
        expected = {
            n: index.record_digest(wheel_named(index, "foo-bar", n), package="foo-bar")
            for n in (FOO_OTHER, FOO_WHEEL)
        }
    tool = lock.packages[0].tool
    # In the order of the wheels (by name); "" for the one whose RECORD is unreadable.
    by_order = sorted((FOO_WHEEL, FOO_BROKEN, FOO_OTHER))
    assert tool == {"reqlock": {"records": [expected.get(n, "") for n in by_order]}}
    assert sources.locked_records(lock.packages[0]) == expected
    assert len(set(expected.values())) == 2  # different files, different digests
    (warning,) = reporter.warnings
    assert FOO_BROKEN in warning
    assert "foo-bar" in warning
    text = to_toml(lock)
    assert Pylock.from_dict(tomllib.loads(text)).packages[0].tool == tool


@pytest.mark.e2e
def test_pip_installs_a_lock_with_records(
    tmp_path: Path,
    index_url: str,
    make_venv: Callable[..., Venv],
    isolated_pip_env: dict[str, str],
) -> None:
    http = HttpClient(backoff=0.0)
    index = Index([index_url], http=http, hedge_after=None, builder=forbidden_build)
    with index:
        text = lock_text(index, ("leaf-a", "nometa-pkg"))
    assert "\n[packages.tool.reqlock]\nrecords = [" in text
    out = tmp_path / "pylock.toml"
    out.write_text(text)
    venv = make_venv(with_pip=False)
    command = [sys.executable, "-m", "pip", "--isolated", "--python", str(venv.python)]
    proc = subprocess.run(
        [*command, "install", "--no-input", "-r", str(out)],
        capture_output=True,
        text=True,
        env=isolated_pip_env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "tool" not in proc.stderr


def test_a_wheel_without_an_index_hash_is_downloaded_once_for_hash_and_record(
    make_index_app: MakeApp,
) -> None:
    app = make_index_app()

    def no_hashes(body: bytes) -> bytes:
        page = json.loads(body)
        for entry in page["files"]:
            entry["hashes"] = {}
        return json.dumps(page).encode()

    wheel_path = "/files/leaf_a-2.0-py3-none-any.whl"
    with open_index(AlterBody(app, "/simple/leaf-a/", no_hashes)) as index:
        wheel = the_wheel(index, "leaf-a", "2.0")
        assert wheel.sha256 is None
        index.prefetch_record(wheel, "leaf-a")
        sha = index.sha256(wheel, package="leaf-a")
        digest = index.record_digest(wheel, package="leaf-a")
    assert sha == hashlib.sha256((app.universe.root / wheel.filename).read_bytes()).hexdigest()
    assert digest is not None
    assert wheel_requests(app, wheel.filename) == ["whole"]
    assert gets_of(app, wheel_path) == [wheel_path]


def gets_of(app: FakeIndexApp, path: str) -> list[str]:
    return [r.path for r in app.requests_for(path) if r.path == path and r.method == "GET"]
