"""The fake index itself: built files, pages, file serving, and real pip against it."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from email.parser import BytesParser
from pathlib import Path

import httpx
import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.fakeindex import (
    CASES_DIR,
    UNIVERSE_TOML,
    Case,
    FakeIndexApp,
    Universe,
    build_sdist,
    build_universe,
    build_wheel,
    load_cases,
    serve,
)
from tests.fakeindex.pipcheck import Venv, pip_resolve

JSON = "application/vnd.pypi.simple.v1+json"
BASE = "http://fakeindex"


def client(app: FakeIndexApp) -> httpx.Client:
    return httpx.Client(transport=httpx.WSGITransport(app=app), base_url=BASE)


def project_json(app: FakeIndexApp, name: str) -> dict[str, object]:
    with client(app) as c:
        response = c.get(f"/simple/{name}/", headers={"Accept": JSON})
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON
    data = response.json()
    assert isinstance(data, dict)
    return data


def files_by_name(data: dict[str, object]) -> dict[str, dict[str, object]]:
    files = data["files"]
    assert isinstance(files, list)
    return {f["filename"]: f for f in files}


# -- builder -------------------------------------------------------------------------


def test_wheel_is_deterministic_with_a_correct_record(tmp_path: Path) -> None:
    tag = "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"
    kwargs: dict[str, object] = {
        "tag": tag,
        "requires_dist": ["leaf-a>=1"],
        "files": {"foo_bar/data.txt": b"data"},
    }
    first = build_wheel(tmp_path / "a", "Foo.Bar", "1.0", **kwargs)  # type: ignore[arg-type]
    second = build_wheel(tmp_path / "b", "Foo.Bar", "1.0", **kwargs)  # type: ignore[arg-type]
    assert first.name == f"foo_bar-1.0-{tag}.whl"
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        names = archive.namelist()
        assert "foo_bar/__init__.py" in names
        wheel = archive.read("foo_bar-1.0.dist-info/WHEEL").decode()
        assert "Root-Is-Purelib: false" in wheel
        assert "Tag: cp311-cp311-manylinux_2_17_x86_64" in wheel
        assert "Tag: cp311-cp311-manylinux2014_x86_64" in wheel
        record = archive.read("foo_bar-1.0.dist-info/RECORD").decode()
        rows = list(csv.reader(io.StringIO(record)))
        assert {row[0] for row in rows} == set(names)
        for path, digest, size in rows:
            if path.endswith("RECORD"):
                assert digest == size == ""
                continue
            data = archive.read(path)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == "sha256=" + expected.decode()
            assert int(size) == len(data)


def _pkg_info(sdist: Path) -> str:
    with tarfile.open(sdist) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith("/PKG-INFO"))
        extracted = archive.extractfile(member)
        assert extracted is not None
        return extracted.read().decode()


def test_sdists_are_deterministic_and_static_or_dynamic(tmp_path: Path) -> None:
    static = build_sdist(tmp_path / "a", "My.Pkg", "1.0", requires_dist=["leaf-a<2"])
    again = build_sdist(tmp_path / "b", "My.Pkg", "1.0", requires_dist=["leaf-a<2"])
    assert static.name == "my_pkg-1.0.tar.gz"
    assert static.read_bytes() == again.read_bytes()
    info = BytesParser().parsebytes(_pkg_info(static).encode())
    assert Version(info["Metadata-Version"]) >= Version("2.2")
    assert info.get_all("Requires-Dist") == ["leaf-a<2"]
    assert info.get_all("Dynamic") is None

    dynamic = build_sdist(tmp_path / "c", "My.Pkg", "1.0", requires_dist=["x"], static=False)
    info = BytesParser().parsebytes(_pkg_info(dynamic).encode())
    assert info.get_all("Dynamic") == ["Requires-Dist"]
    assert info.get_all("Requires-Dist") is None
    with tarfile.open(dynamic) as archive:
        assert {m.mtime for m in archive.getmembers()} == {315532800}
        assert "my_pkg-1.0/_backend/fake_backend.py" in archive.getnames()


def test_universe_builds_once_and_is_reused(universe: Universe) -> None:
    again = build_universe(UNIVERSE_TOML, universe.root)
    assert [f.sha256 for f in again.files()] == [f.sha256 for f in universe.files()]
    assert universe.project("Foo.Bar").display_name == "Foo.Bar"
    assert len(universe.projects) >= 25


def test_cases_name_real_releases(resolution_cases: list[Case], universe: Universe) -> None:
    assert len(resolution_cases) >= 15
    for case in resolution_cases:
        for name, version in (case.expected or {}).items():
            assert name == canonicalize_name(name), case.name
            assert version in universe.projects[name].releases, case.name


# -- pages ---------------------------------------------------------------------------


def test_json_page(index_app: FakeIndexApp, universe: Universe) -> None:
    data = project_json(index_app, "yanked-pkg")
    assert data["meta"] == {"api-version": "1.1"}
    assert data["name"] == "yanked-pkg"
    assert data["versions"] == ["1.0", "1.1", "1.2", "2.0"]
    files = data["files"]
    assert isinstance(files, list)
    assert [f["filename"] for f in files] == sorted(f["filename"] for f in files)
    by_name = files_by_name(data)
    wheel = by_name["yanked_pkg-2.0-py3-none-any.whl"]
    on_disk = universe.root / "yanked_pkg-2.0-py3-none-any.whl"
    assert wheel["url"] == "../../files/yanked_pkg-2.0-py3-none-any.whl"
    assert wheel["hashes"] == {"sha256": hashlib.sha256(on_disk.read_bytes()).hexdigest()}
    assert wheel["size"] == on_disk.stat().st_size
    assert wheel["yanked"] == "broken build, use 1.1"
    assert wheel["upload-time"] == "2024-04-05T10:00:00Z"
    assert wheel["requires-python"] is None
    assert "core-metadata" not in wheel
    assert by_name["yanked_pkg-1.2-py3-none-any.whl"]["yanked"] is True
    assert by_name["yanked_pkg-1.1.tar.gz"]["yanked"] is False
    rp = files_by_name(project_json(index_app, "rp-file"))
    assert rp["rp_file-2.0-py3-none-any.whl"]["requires-python"] == ">=3.12"


def test_json_page_options(make_index_app: Callable[..., FakeIndexApp]) -> None:
    app = make_index_app(advertise_metadata=True, upload_times=False)
    by_name = files_by_name(project_json(app, "nometa-pkg"))
    advertised = by_name["nometa_pkg-0.9-py3-none-any.whl"]
    assert "upload-time" not in advertised
    with client(app) as c:
        metadata = c.get("/files/nometa_pkg-0.9-py3-none-any.whl.metadata").content
    assert advertised["core-metadata"] == {"sha256": hashlib.sha256(metadata).hexdigest()}
    assert "core-metadata" not in by_name["nometa_pkg-1.0-py3-none-any.whl"]


def test_html_page(make_index_app: Callable[..., FakeIndexApp]) -> None:
    app = make_index_app(advertise_metadata=True)
    with client(app) as c:
        default = c.get("/simple/rp-pkg/")
        asked = c.get("/simple/rp-pkg/", headers={"Accept": "text/html"})
        yanked = c.get("/simple/yanked-pkg/").text
    assert default.headers["content-type"] == "text/html"
    assert default.text == asked.text
    html = default.text
    assert 'data-requires-python="&gt;=3.99"' in html
    assert 'href="../../files/rp_pkg-1.0-py3-none-any.whl#sha256=' in html
    assert "data-core-metadata=" in html
    assert 'data-yanked="broken build, use 1.1"' in yanked
    assert 'data-yanked=""' in yanked


def test_content_negotiation(make_index_app: Callable[..., FakeIndexApp]) -> None:
    both = "application/vnd.pypi.simple.v1+json, text/html;q=0.01"
    with client(make_index_app()) as c:
        assert c.get("/simple/", headers={"Accept": both}).json()["projects"]
        html_first = "application/vnd.pypi.simple.v1+json;q=0.1, text/html"
        assert c.get("/simple/", headers={"Accept": html_first}).text.startswith("<!DOCTYPE")
    with client(make_index_app(formats=("html",))) as c:
        response = c.get("/simple/leaf-a/", headers={"Accept": JSON})
        assert response.headers["content-type"] == "text/html"
    with client(make_index_app(formats=("json",))) as c:
        assert c.get("/simple/leaf-a/", headers={"Accept": "text/html"}).status_code == 406
        assert c.get("/simple/leaf-a/").headers["content-type"] == JSON


def test_redirects_and_not_found(index_app: FakeIndexApp) -> None:
    with client(index_app) as c:
        for path in ("/simple/Foo.Bar/", "/simple/FOO_bar/", "/simple/foo-bar"):
            response = c.get(path)
            assert response.status_code == 301, path
            assert response.headers["location"] == "/simple/foo-bar/"
        followed = c.get("/simple/Foo.Bar/", headers={"Accept": JSON}, follow_redirects=True)
        assert followed.json()["name"] == "foo-bar"
        assert c.get("/simple").status_code == 301
        assert c.get("/simple/does-not-exist/").status_code == 404
        assert c.get("/files/nothing.whl").status_code == 404


def test_validators(make_index_app: Callable[..., FakeIndexApp]) -> None:
    with client(make_index_app()) as c:
        assert "etag" not in c.get("/simple/leaf-a/").headers
    with client(make_index_app(validators=True)) as c:
        etag = c.get("/simple/leaf-a/").headers["etag"]
        again = c.get("/simple/leaf-a/", headers={"If-None-Match": etag})
        assert again.status_code == 304


# -- files ---------------------------------------------------------------------------


def test_head_and_ranges(make_index_app: Callable[..., FakeIndexApp], universe: Universe) -> None:
    name = "nometa_pkg-1.0-py3-none-any.whl"
    data = (universe.root / name).read_bytes()
    app = make_index_app()
    with client(app) as c:
        head = c.head(f"/files/{name}")
        assert head.status_code == 200
        assert head.headers["content-length"] == str(len(data))
        assert head.headers["accept-ranges"] == "bytes"
        assert head.content == b""
        part = c.get(f"/files/{name}", headers={"Range": "bytes=10-19"})
        assert part.status_code == 206
        assert part.content == data[10:20]
        assert part.headers["content-range"] == f"bytes 10-19/{len(data)}"
        tail = c.get(f"/files/{name}", headers={"Range": "bytes=-100"})
        assert tail.status_code == 206
        assert tail.content == data[-100:]
        beyond = c.get(f"/files/{name}", headers={"Range": f"bytes={len(data)}-"})
        assert beyond.status_code == 416
    assert [(r.method, r.headers.get("range")) for r in app.requests_for("/files/")] == [
        ("HEAD", None),
        ("GET", "bytes=10-19"),
        ("GET", "bytes=-100"),
        ("GET", f"bytes={len(data)}-"),
    ]
    with client(make_index_app(ranges=False)) as c:
        whole = c.get(f"/files/{name}", headers={"Range": "bytes=0-9"})
        assert whole.status_code == 200
        assert whole.content == data
        assert "accept-ranges" not in whole.headers


def test_metadata_files(index_app: FakeIndexApp, universe: Universe) -> None:
    with client(index_app) as c:
        served = c.get("/files/leaf_a-2.0-py3-none-any.whl.metadata")
        assert served.status_code == 200
        with zipfile.ZipFile(universe.root / "leaf_a-2.0-py3-none-any.whl") as archive:
            assert served.content == archive.read("leaf_a-2.0.dist-info/METADATA")
        assert c.get("/files/nometa_pkg-1.0-py3-none-any.whl.metadata").status_code == 404
        assert c.get("/files/nometa_pkg-0.9-py3-none-any.whl.metadata").status_code == 200
        assert c.get("/files/leaf_a-2.0.tar.gz.metadata").status_code == 404


def test_auth_and_faults(make_index_app: Callable[..., FakeIndexApp]) -> None:
    app = make_index_app(require_auth=("user", "secret"))
    with client(app) as c:
        denied = c.get("/simple/leaf-a/")
        assert denied.status_code == 401
        assert denied.headers["www-authenticate"].startswith("Basic")
        assert c.get("/simple/leaf-a/", auth=("user", "wrong")).status_code == 401
        assert c.get("/simple/leaf-a/", auth=("user", "secret")).status_code == 200
    app = make_index_app()
    app.inject_faults("/simple/leaf-a/", [503, 429])
    with client(app) as c:
        statuses = [c.get("/simple/leaf-a/").status_code for _ in range(3)]
    assert statuses == [503, 429, 200]


# -- over the network, with real pip -------------------------------------------------


def test_served_on_localhost(index_base: str) -> None:
    response = httpx.get(f"{index_base}/simple/leaf-a/", headers={"Accept": JSON})
    assert response.status_code == 200
    url = httpx.URL(f"{index_base}/simple/leaf-a/").join(response.json()["files"][0]["url"])
    assert url.path.startswith("/files/leaf_a-")
    assert httpx.get(url).status_code == 200


def test_pip_installs_from_the_served_index(
    make_index_app: Callable[..., FakeIndexApp],
    isolated_pip_env: dict[str, str],
    tmp_path: Path,
) -> None:
    app = make_index_app(formats=("html",))
    with serve(app) as base:
        done = subprocess.run(
            [
                *(sys.executable, "-m", "pip", "install", "--isolated", "--no-cache-dir"),
                *("--no-deps", "--target", str(tmp_path / "target")),
                *("--index-url", f"{base}/simple/"),
                *("Foo.Bar==1.0", "plat-pkg", "nometa-pkg"),
            ],
            env=isolated_pip_env,
            capture_output=True,
            text=True,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    installed = {p.name for p in (tmp_path / "target").iterdir()}
    assert {"foo_bar", "foo_bar-1.0.dist-info", "plat_pkg-1.0.dist-info"} <= installed
    assert (tmp_path / "target" / "nometa_pkg" / "_padding.bin").stat().st_size == 262144
    fetched = {r.path for r in app.requests_for("/files/")}
    assert "/files/plat_pkg-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl" in (
        fetched
    )


def test_pip_builds_dynamic_sdist_metadata_offline(
    universe: Universe, isolated_pip_env: dict[str, str], tmp_path: Path
) -> None:
    sdist = universe.root / "sdist_dynamic-1.0.tar.gz"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--isolated", "--no-cache-dir"),
            *("--no-index", "--dry-run", "--no-deps", "--ignore-installed"),
            *("--report", str(tmp_path / "report.json"), str(sdist)),
        ],
        env=isolated_pip_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    (item,) = report["install"]
    assert item["metadata"]["requires_dist"] == ["leaf-b<2"]


@pytest.mark.parametrize("case", load_cases(CASES_DIR), ids=lambda c: c.name)
def test_case_agrees_with_pip(case: Case, index_url: str, isolated_pip_env: dict[str, str]) -> None:
    """Each hand-derived case is what real pip resolves too (or a noted difference)."""
    if case.pip is not None:
        pytest.skip(f"pip differs: {case.pip}")
    outcome = pip_resolve(
        case.files, index_url, pre=bool(case.options.get("pre")), env=isolated_pip_env
    )
    if case.expected is not None:
        assert outcome.pins == case.expected, outcome.output
    else:
        assert outcome.pins is None
        assert case.error is not None
        for word in case.error:
            assert word in outcome.output


def test_make_venv(make_venv: Callable[..., Venv]) -> None:
    venv = make_venv(with_pip=False)
    done = subprocess.run(
        [str(venv.python), "-c", "import sys; print(sys.prefix != sys.base_prefix)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "True"
    assert not list(venv.root.glob("lib/python*/site-packages/pip"))
