"""inventory: files no RECORD owns, and the digest of each installed RECORD."""

from __future__ import annotations

import os
import sys
import venv
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reqlock.deploy import inventory as inventory_module
from reqlock.deploy import inventory_dists, inventory_rows
from reqlock.deploy.inventory import UnownedFile, inventory
from reqlock.deploy.inventory_unowned import cached_source, find_unowned
from reqlock.deploy.record import installed_record_digest, wheel_record_digest
from tests.test_inventory import env_python, fake_install, record_hash, site_packages


@pytest.fixture
def env(tmp_path: Path) -> tuple[str, Path]:
    root = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(root)
    python = env_python(root)
    return python, site_packages(python)


def unowned(inv: inventory_module.Inventory) -> list[tuple[str, str]]:
    return [(item.path, item.kind) for item in inv.unowned]


# --------------------------------------------------------------------------- unowned files


def test_unowned_files_are_listed(env: tuple[str, Path], tmp_path: Path) -> None:
    python, site = env
    fake_install(
        site,
        "alpha",
        "1.0",
        {"alpha/mod.py": b"x = 1\n", "alpha/__pycache__/mod.cpython-311.pyc": b"owned"},
    )
    # Written by Python or the installer without a RECORD row: left out.
    (site / "alpha" / "__pycache__" / "__init__.cpython-311.opt-1.pyc").write_bytes(b"")
    (site / "alpha-1.0.dist-info" / "uv_cache.json").write_text("{}")
    (site / "alpha-1.0.dist-info" / "licenses").mkdir()
    (site / "alpha-1.0.dist-info" / "licenses" / "LICENSE").write_text("MIT\n")
    (site / "legacy-0.1-py3.11.egg-info").write_text("Name: legacy\nVersion: 0.1\n")
    # Dropped in: listed.
    (site / "alpha" / "evil.py").write_text("import os\n")
    (site / "alpha" / "data.txt").write_text("data\n")
    (site / "alpha" / "__pycache__" / "gone.cpython-311.pyc").write_bytes(b"")
    (site / "alpha" / "__pycache__" / "notes.txt").write_text("")
    (site / "evil.pth").write_text("import os\n")
    (site / "_speedups.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\x7fELF")
    (site / "stray.pyc").write_bytes(b"")
    (site / "nested").mkdir()
    (site / "nested" / "inner.pth").write_text("")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "hidden.py").write_text("")
    (site / "linked").symlink_to(outside, target_is_directory=True)
    (site / "not-a-package").symlink_to(outside, target_is_directory=True)

    inv = inventory(python)
    assert unowned(inv) == [
        ("_speedups.cpython-311-x86_64-linux-gnu.so", "importable"),
        ("alpha/__pycache__/gone.cpython-311.pyc", "other"),
        ("alpha/__pycache__/notes.txt", "other"),
        ("alpha/data.txt", "other"),
        ("alpha/evil.py", "importable"),
        ("evil.pth", "pth"),
        ("linked", "importable"),  # a symlink to a directory: a package, not followed
        ("nested/inner.pth", "other"),  # site reads only the top level
        ("not-a-package", "other"),
        ("stray.pyc", "importable"),
    ]
    assert {item.site for item in inv.unowned} == {str(site)}
    assert inv.problems == ()


def test_owned_paths_may_be_spelled_oddly(env: tuple[str, Path]) -> None:
    python, site = env
    dist_info = fake_install(site, "alpha", "1.0")
    (site / "alpha" / "extra.py").write_text("")
    (site / "top.py").write_text("")
    record = dist_info / "RECORD"
    record.write_text(
        record.read_text() + "./alpha/extra.py,,\n" + f"{site / 'alpha' / '..' / 'top.py'},,\n"
    )
    assert unowned(inventory(python)) == []


def test_files_owned_by_a_dist_elsewhere_on_the_path(env: tuple[str, Path], tmp_path: Path) -> None:
    python, site = env
    other = tmp_path / "other"
    dist_info = fake_install(other, "far", "1.0")
    (site / "far.pth").write_text(f"{other}\n")
    (site / "far_helper.py").write_text("")
    record = dist_info / "RECORD"
    record.write_text(record.read_text() + f"{site / 'far_helper.py'},,\n{site / 'far.pth'},,\n")
    inv = inventory(python)
    assert inv.get("far") is not None
    assert unowned(inv) == []


def test_the_walk_is_bounded(env: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    python, site = env
    for index in range(5):
        (site / f"stray{index}.py").write_text("")
    monkeypatch.setattr(inventory_module, "_WALK_LIMIT", 3)
    inv = inventory(python)
    assert inv.unowned == ()
    assert [(p.package, p.path) for p in inv.problems] == [(None, str(site))]
    assert "stopped looking for unowned files after 3 entries" in inv.problems[0].detail


@pytest.mark.skipif(sys.platform != "linux", reason="names of any bytes")
def test_an_undecodable_file_name_comes_back_as_it_is(env: tuple[str, Path]) -> None:
    python, site = env
    # Escaped in the script's JSON, read back by the parent as the same str.
    name = os.fsdecode(b"stray\xff\x01.py")
    (site / name).write_bytes(b"")
    inv = inventory(python)
    assert (name, "importable") in unowned(inv)


def test_find_unowned_nested_sites_and_prefixes(tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    site = prefix / "Lib" / "site-packages"
    site.mkdir(parents=True)
    (site / "mod.py").write_text("")
    (prefix / "top.pth").write_text("")
    (prefix / "python.exe").write_text("")
    (prefix / "Scripts").mkdir()
    (prefix / "Scripts" / "tool.exe").write_text("")
    # As on Windows: the prefix itself is a site directory, and holds the other one.
    found, problems = find_unowned(
        [str(prefix), str(site)], [], set(), prefixes=(str(prefix), str(prefix))
    )
    assert found == [
        [str(prefix), "python.exe", "other"],
        [str(prefix), "top.pth", "pth"],
        [str(site), "mod.py", "importable"],
    ]
    assert problems == []
    # A site directory gone meanwhile is a problem, not a crash.
    found, problems = find_unowned([str(tmp_path / "gone")], [], set())
    assert found == []
    assert [p["path"] for p in problems] == [str(tmp_path / "gone")]


@pytest.mark.skipif(os.name == "nt" or os.geteuid() == 0, reason="root lists anything")
def test_unlistable_directory_is_a_problem(env: tuple[str, Path]) -> None:
    python, site = env
    locked = site / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        inv = inventory(python)
    finally:
        locked.chmod(0o755)
    assert [p.path for p in inv.problems] == [str(locked)]
    assert "cannot list it" in inv.problems[0].detail


def test_cached_source() -> None:
    assert cached_source("mod.cpython-311.pyc") == "mod"
    assert cached_source("mod.cpython-311.opt-2.pyc") == "mod"
    assert cached_source("mod.pyc") is None
    assert cached_source("a.b.c.d.pyc") is None
    assert cached_source("mod.cpython-311.py") is None


def test_unowned_file_fields() -> None:
    item = UnownedFile(path="a/b.py", site="/s", kind="importable")
    assert (item.path, item.site, item.kind) == ("a/b.py", "/s", "importable")


# --------------------------------------------------------------------------- RECORD digest


def _rows(record: Path) -> list[tuple[str, str]]:
    rows = []
    for line in record.read_text().splitlines():
        path, hash_field, _ = line.split(",")
        rows.append((path, hash_field))
    return rows


@pytest.mark.parametrize("check_files", [False, True])
def test_record_digest(env: tuple[str, Path], check_files: bool) -> None:
    python, site = env
    files = {"alpha/mod.py": b"x = 1\n", "alpha/__pycache__/mod.cpython-311.pyc": b"bytecode"}
    dist_info = fake_install(site, "alpha", "1.0", files)
    inv = inventory(python, check_files=check_files)
    alpha = inv.get("alpha")
    assert alpha is not None
    record = dist_info / "RECORD"
    assert alpha.record_digest == installed_record_digest(_rows(record), dist_info=dist_info.name)
    # And it is the digest of the wheel the files came from.
    wheel_rows = [
        f"{path},{record_hash(data)},{len(data)}"
        for path, data in {
            "alpha/__init__.py": (site / "alpha" / "__init__.py").read_bytes(),
            **files,
            "alpha-1.0.dist-info/METADATA": (dist_info / "METADATA").read_bytes(),
            "alpha-1.0.dist-info/WHEEL": (dist_info / "WHEEL").read_bytes(),
        }.items()
    ]
    wheel_record = "\n".join([*wheel_rows, "alpha-1.0.dist-info/RECORD,,"]) + "\n"
    expected = wheel_record_digest(
        wheel_record, dist_info="alpha-1.0.dist-info", data_dir="alpha-1.0.data"
    )
    assert alpha.record_digest == expected


def test_record_digest_with_quoted_rows(env: tuple[str, Path]) -> None:
    python, site = env
    dist_info = fake_install(site, "alpha", "1.0")
    record = dist_info / "RECORD"
    rows = [*_rows(record), ("alpha/with,comma.py", "")]
    record.write_text(record.read_text() + '"alpha/with,comma.py",,\n')
    (site / "alpha" / "with,comma.py").write_text("")
    alpha = inventory(python).get("alpha")
    assert alpha is not None
    assert alpha.record_digest == installed_record_digest(rows, dist_info=dist_info.name)


def test_no_record_digest_without_a_usable_record(env: tuple[str, Path]) -> None:
    python, site = env
    fake_install(site, "good", "1.0")
    (fake_install(site, "norecord", "1.0") / "RECORD").unlink()
    garbage = fake_install(site, "garbage", "1.0") / "RECORD"
    garbage.write_text(garbage.read_text() + "two,fields\n")
    binary = fake_install(site, "binary", "1.0") / "RECORD"
    binary.write_bytes(binary.read_bytes() + b"\xff,,\n")
    (site / "legacy-0.1.egg-info").write_text("Name: legacy\nVersion: 0.1\n")
    inv = inventory(python)
    digests = {str(dist.name): dist.record_digest for dist in inv.dists}
    assert digests.pop("good") is not None
    assert digests == {"binary": None, "garbage": None, "legacy": None, "norecord": None}


_PATH_PARTS = ["a", "b.py", "\\", "c\\d", "é", "\n"]  # plain ones, and the odd ones:
_ODD_PARTS = [".", "..", "", ".x"]


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(["/site", "/", "//net/site", "/a b/site-packages"]),
    st.lists(
        st.tuples(
            st.sampled_from(["", "", "", "/"]),  # now and then an absolute path
            st.lists(st.sampled_from(_PATH_PARTS + _ODD_PARTS), min_size=1, max_size=4),
        ).map(lambda parts: parts[0] + "/".join(parts[1])),
        max_size=8,
    ),
)
def test_owned_paths_are_those_owned_path_gives(location: str, paths: list[str]) -> None:
    # Plain RECORD paths are joined by concatenation, the whole list at once when
    # it can; each must give the key owned_path gives (the one the walk builds).
    expected = [inventory_dists.owned_path(location, path) for path in paths]
    assert inventory_dists.owned_paths(location, paths) == expected


def test_owned_paths_of_a_plain_record() -> None:
    paths = ["a/b.py", "a-1.0.dist-info/RECORD", "é/\\x"]
    expected = ["/site/a/b.py", "/site/a-1.0.dist-info/RECORD", "/site/é/\\x"]
    assert inventory_dists.owned_paths("/site", paths) == expected
    assert inventory_dists.owned_paths("/", paths) == [p.replace("/site", "") for p in expected]


def _rows_by_split(text: str) -> list[tuple[str, str]] | None:
    # How record_rows split quote-free RECORDs before it used partition.
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    pairs = []
    for row in (line.split(",") for line in lines):
        if len(row) == 1 and not row[0].strip():
            continue
        if len(row) != 3:
            return None
        pairs.append((row[0], row[1]))
    return pairs


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="a,\r\n \t\x00=", max_size=40))
def test_record_rows_split_quote_free_text_as_before(text: str) -> None:
    assert inventory_rows.record_rows(text) == _rows_by_split(text)
