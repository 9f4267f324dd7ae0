"""inventory: what an interpreter has, tags from facts, RECORD parsing and checks."""

from __future__ import annotations

import ast
import base64
import hashlib
import os
import stat
import subprocess
import sys
import venv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.tags import Tag, sys_tags

from reqlock.deploy import inventory_script as _inventory_script
from reqlock.deploy.inventory import check_files, inventory, parse_record, tags_from_facts
from reqlock.errors import InventoryError

# --------------------------------------------------------------------------- helpers


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def fake_install(
    site: Path,
    name: str,
    version: str,
    files: Mapping[str, bytes] | None = None,
    *,
    tag: str = "py3-none-any",
    extra: Mapping[str, bytes] | None = None,
) -> Path:
    """Lay out an installed distribution by hand, with a correct RECORD."""
    dist = name.replace("-", "_")
    dist_info = site / f"{dist}-{version}.dist-info"
    dist_info.mkdir(parents=True)
    contents = {f"{dist}/__init__.py": f"VERSION = {version!r}\n".encode(), **(files or {})}
    meta = {
        "METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nbody\n".encode(),
        "WHEEL": f"Wheel-Version: 1.0\nGenerator: handmade 1\nTag: {tag}\n".encode(),
        "INSTALLER": b"pip\n",
        **(extra or {}),
    }
    rows = []
    for rel, data in contents.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_bytes(data)
        rows.append(f"{rel},{record_hash(data)},{len(data)}")
    for rel, data in meta.items():
        (dist_info / rel).write_bytes(data)
        rows.append(f"{dist_info.name}/{rel},{record_hash(data)},{len(data)}")
    rows.append(f"{dist_info.name}/RECORD,,")
    (dist_info / "RECORD").write_text("\n".join(rows) + "\n")
    return dist_info


@pytest.fixture(scope="module")
def bare_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment without pip: nothing installed at all."""
    root = tmp_path_factory.mktemp("bare") / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(root)
    return root


def env_python(root: Path) -> str:
    return str(root / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))


def site_packages(python: str) -> Path:
    out = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


@pytest.fixture
def env(tmp_path: Path) -> tuple[str, Path]:
    root = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(root)
    python = env_python(root)
    return python, site_packages(python)


# --------------------------------------------------------------------------- tags


def test_tags_equal_sys_tags_of_the_interpreter() -> None:
    inv = inventory(sys.executable)
    assert inv.tags == tuple(sys_tags())
    assert inv.environment["python_full_version"] == ".".join(map(str, sys.version_info[:3]))


def _facts(**overrides: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "implementation": "cpython",
        "version": [3, 12],
        "py_version_nodot": "312",
        "ext_suffix": ".cpython-312-x86_64-linux-gnu.so",
        "py_debug": 0,
        "py_gil_disabled": 0,
        "with_pymalloc": 1,
        "has_refcount": False,
        "extension_suffixes": [".cpython-312-x86_64-linux-gnu.so", ".abi3.so", ".so"],
        "maxunicode": 0x10FFFF,
        "system": "Linux",
        "sysconfig_platform": "linux-x86_64",
        "pointer_size": 8,
        "elf": {"class": 64, "order": "lsb", "machine": 62, "flags": 0, "interpreter": "/lib"},
        "glibc": "2.31",
        "musl": None,
    }
    facts.update(overrides)
    return facts


def _strs(facts: Mapping[str, Any]) -> list[str]:
    return [str(tag) for tag in tags_from_facts(facts)]


def test_glibc_linux_tags() -> None:
    tags = _strs(_facts())
    assert tags[0] == "cp312-cp312-linux_x86_64"
    assert tags[1] == "cp312-cp312-manylinux_2_31_x86_64"
    for expected in (
        "cp312-cp312-manylinux2014_x86_64",
        "cp312-cp312-manylinux_2_5_x86_64",
        "cp312-cp312-manylinux1_x86_64",
        "cp312-abi3-manylinux_2_17_x86_64",
        "cp32-abi3-linux_x86_64",
        "py3-none-manylinux_2_28_x86_64",
        "cp312-none-any",
    ):
        assert expected in tags
    assert "cp312-cp312-manylinux_2_32_x86_64" not in tags
    assert tags[-1] == "py30-none-any"
    assert not any("musllinux" in t for t in tags)


def test_musl_linux_tags() -> None:
    tags = _strs(_facts(glibc=None, musl=[1, 2]))
    assert "cp312-cp312-musllinux_1_2_x86_64" in tags
    assert "cp312-cp312-musllinux_1_0_x86_64" in tags
    assert not any("manylinux" in t for t in tags)


def test_32bit_interpreter_on_64bit_kernel() -> None:
    elf = {"class": 32, "order": "lsb", "machine": 3, "flags": 0, "interpreter": "/lib/ld"}
    tags = _strs(_facts(pointer_size=4, elf=elf))
    assert tags[0] == "cp312-cp312-linux_i686"
    assert "cp312-cp312-manylinux2010_i686" in tags


def test_armv8l_with_hard_float_also_takes_armv7l() -> None:
    elf = {"class": 32, "order": "lsb", "machine": 40, "flags": 0x05000400, "interpreter": "/l"}
    tags = _strs(_facts(sysconfig_platform="linux-aarch64", pointer_size=4, elf=elf))
    assert tags[:2] == ["cp312-cp312-linux_armv8l", "cp312-cp312-linux_armv7l"]
    assert "cp312-cp312-manylinux_2_17_armv7l" in tags
    soft = {**elf, "flags": 0x05000000}
    tags = _strs(_facts(sysconfig_platform="linux-aarch64", pointer_size=4, elf=soft))
    assert not any("manylinux" in t for t in tags)


def test_macos_windows_and_other_interpreters() -> None:
    mac = _strs(
        _facts(
            system="Darwin",
            sysconfig_platform="macosx-11.0-arm64",
            mac={"release": "14.2", "machine": "arm64"},
        )
    )
    assert mac[0] == "cp312-cp312-macosx_14_0_arm64"
    assert "cp312-cp312-macosx_10_16_universal2" in mac
    win = _strs(_facts(system="Windows", sysconfig_platform="win-amd64"))
    assert win[0] == "cp312-cp312-win_amd64"
    pypy = _strs(
        _facts(
            implementation="pypy",
            version=[3, 10],
            py_version_nodot="310",
            ext_suffix=".pypy310-pp73-x86_64-linux-gnu.so",
        )
    )
    assert pypy[0] == "pp310-pypy310_pp73-linux_x86_64"
    assert "pp3-none-any" in pypy
    debug = _strs(_facts(py_debug=1))
    assert debug[0] == "cp312-cp312d-linux_x86_64"
    assert "cp312-cp312-linux_x86_64" in debug
    threaded = _strs(_facts(version=[3, 13], py_version_nodot="313", py_gil_disabled=1))
    assert threaded[0] == "cp313-cp313t-linux_x86_64"
    assert not any("-abi3-" in t for t in threaded)


# --------------------------------------------------------------------------- inventory


def test_inventory_of_an_environment(env: tuple[str, Path]) -> None:
    python, site = env
    fake_install(site, "Alpha.Pkg", "1.0")
    fake_install(
        site,
        "beta",
        "2.0",
        extra={"direct_url.json": b'{"url": "file:///src/beta", "dir_info": {"editable": true}}'},
    )
    inv = inventory(python)
    assert [d.name for d in inv.dists] == ["alpha-pkg", "beta"]
    alpha = inv.get("ALPHA_pkg")
    assert alpha is not None
    assert alpha.raw_name == "Alpha.Pkg"
    assert alpha.version == "1.0"
    assert alpha.wheel_tags == frozenset({Tag("py3", "none", "any")})
    assert alpha.wheel_generator == "handmade 1"
    assert alpha.installer == "pip"
    assert alpha.record is not None
    assert alpha.record.endswith("RECORD")
    beta = inv.get("beta")
    assert beta is not None
    assert beta.direct_url == {
        "url": "file:///src/beta",
        "dir_info": {"editable": True},
    }
    assert inv.problems == ()
    assert inv.file_issues is None
    assert os.path.samefile(inv.python, python) or inv.python.endswith("python")


def test_broken_installs_are_data_not_crashes(env: tuple[str, Path], tmp_path: Path) -> None:
    python, site = env
    fake_install(site, "good", "1.0")
    (site / "nometa-1.0.dist-info").mkdir()
    (site / "nometa-1.0.dist-info" / "RECORD").write_text("")
    norecord = fake_install(site, "norecord", "1.0")
    (norecord / "RECORD").unlink()
    garbage = fake_install(site, "garbage", "1.0")
    (garbage / "METADATA").write_bytes(b"\x00\xff\xfe binary \x80\n")
    badurl = fake_install(site, "badurl", "1.0", extra={"direct_url.json": b"{not json"})
    assert badurl.exists()
    fake_install(site, "badtag", "1.0", tag="not-a-valid-tag-at-all")
    (site / "legacy-0.1-py3.11.egg-info").write_text(
        "Metadata-Version: 1.0\nName: legacy\nVersion: 0.1\n"
    )
    other = tmp_path / "elsewhere"
    fake_install(other, "good", "0.5")
    (site / "zz-elsewhere.pth").write_text(str(other) + "\n")

    inv = inventory(python)
    details = {(p.package, p.detail) for p in inv.problems}
    assert ("nometa", "no METADATA file") in details
    assert ("norecord", "no RECORD file") in details
    assert any(name == "garbage" and "METADATA" in d for name, d in details)
    assert any(name == "badurl" and "direct_url.json is not JSON" in d for name, d in details)
    assert any(name == "badtag" and "bad tag" in d for name, d in details)
    duplicate = [d for n, d in details if n == "good"]
    assert len(duplicate) == 1
    assert "installed 2 times" in duplicate[0]
    good = inv.get("good")
    assert good is not None
    assert good.version == "1.0"
    legacy = inv.get("legacy")
    assert legacy is not None
    assert legacy.format == "egg-info"
    assert legacy.wheel_tags is None
    nometa = inv.get("nometa")
    assert nometa is not None
    assert nometa.version == "1.0"


def test_current_directory_is_not_part_of_the_environment(
    env: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python, _ = env
    cwd = tmp_path / "project"
    fake_install(cwd, "checkout", "0.0")
    monkeypatch.chdir(cwd)
    assert inventory(python).get("checkout") is None


def test_venv_directory_is_accepted(bare_env: Path) -> None:
    assert inventory(bare_env).dists == ()


@pytest.mark.parametrize(
    ("content", "mode", "match"),
    [
        (None, 0o755, "no such interpreter"),
        ("#!/bin/sh\necho hello\n", 0o755, "not JSON"),
        ("#!/bin/sh\necho 'boom: it broke' >&2\nexit 3\n", 0o755, "boom: it broke"),
        ("#!/bin/sh\necho '{\"schema\": 99}'\n", 0o755, "data reqlock cannot read"),
        ("#!/bin/sh\necho '{\"schema\": 1}'\n", 0o755, "data reqlock cannot read"),
        ("just text", 0o644, "cannot run it"),
    ],
)
@pytest.mark.skipif(os.name == "nt", reason="POSIX shell scripts")
def test_bad_interpreters(tmp_path: Path, content: str | None, mode: int, match: str) -> None:
    fake = tmp_path / "python"
    if content is not None:
        fake.write_text(content)
        fake.chmod(mode)
    with pytest.raises(InventoryError, match=match) as info:
        inventory(str(fake))
    message = str(info.value)
    assert str(fake) in message
    assert "\n" not in message


def test_directory_without_python(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="no Python interpreter in it"):
        inventory(tmp_path)


def test_script_is_python38_syntax() -> None:
    here = Path(_inventory_script.__file__).parent
    for part in _inventory_script.PARTS:
        ast.parse((here / f"{part}.py").read_text(), feature_version=(3, 8))
    source = _inventory_script.script_source()
    ast.parse(source, feature_version=(3, 8))
    # One program: one __future__ import, first; the parts' own are stripped.
    assert source.startswith("from __future__ import annotations\n")
    lines = source.splitlines()
    assert lines.count("from __future__ import annotations") == 1


def test_script_parts_define_distinct_names() -> None:
    # The parts run as one namespace: a name defined twice would silently win.
    here = Path(_inventory_script.__file__).parent
    owners: dict[str, str] = {}
    for part in _inventory_script.PARTS:
        for node in ast.parse((here / f"{part}.py").read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names = [node.target.id]
            else:
                continue
            for name in names:
                if name not in {"TYPE_CHECKING", "__all__"}:
                    assert owners.setdefault(name, part) == part, (name, owners[name], part)


def test_public_names_stay_importable() -> None:
    from reqlock.deploy import inventory as module

    for name in (
        "inventory",
        "Inventory",
        "InstalledDist",
        "InventoryProblem",
        "FileIssue",
        "RecordEntry",
        "UnownedFile",
        "tags_from_facts",
        "parse_record",
        "check_files",
        "start_inventory",
        "resolve_python",
    ):
        assert name in module.__all__
        assert hasattr(module, name)
    # Used under these names by verify, sync and the command line.
    assert module._start is module.start_inventory
    assert module._resolve_python is module.resolve_python
    assert module._Pending is not None


def test_script_json_encoder_round_trips() -> None:
    import json

    value = {"a": [1, True, None, False, 'x"\\\n\t\x01é\U0001f600'], "b": {"c": "\udcff"}, "d": []}
    assert json.loads(_inventory_script.dumps(value)) == value


# --------------------------------------------------------------------------- RECORD


def test_parse_record_rows_and_errors() -> None:
    digest = record_hash(b"data")
    text = (
        f"pkg/__init__.py,{digest},4\n"
        '"pkg/with,comma.py",,\n'
        "pkg-1.0.dist-info/RECORD,,\n"
        "only-one-field\n"
        "a,b\n"
        "x.py,md5=abc,1\n"
        "y.py,sha256=!!!,1\n"
        "z.py,sha256=AAAA,1\n"
        f"w.py,{digest},-3\n"
        ",,\n"
        "\n"
    )
    entries, errors = parse_record(text)
    assert [e.path for e in entries] == [
        "pkg/__init__.py",
        "pkg/with,comma.py",
        "pkg-1.0.dist-info/RECORD",
    ]
    assert entries[0].algorithm == "sha256"
    assert entries[0].digest == hashlib.sha256(b"data").digest()
    assert entries[0].size == 4
    assert entries[1].digest is None
    assert entries[1].size is None
    assert errors == (
        "line 4: expected 3 fields (path,hash,size), got 1",
        "line 5: expected 3 fields (path,hash,size), got 2",
        "line 6: unsupported hash 'md5=abc'",
        "line 7: sha256 hash has the wrong length",
        "line 8: sha256 hash has the wrong length",
        "line 9: size '-3' is not a number",
        "line 10: empty or invalid path",
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_fuzz_parse_record_never_raises(text: str) -> None:
    entries, errors = parse_record(text)
    assert all(isinstance(e, str) and e.startswith("line ") for e in errors)
    for entry in entries:
        assert entry.path


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a.py", "../x", "/etc/hostname", "dir", "", "a\0b", "é.py", '"q"']),
            st.sampled_from(["", "sha256=", record_hash(b"x"), "sha512=AAAA", "=", "sha256"]),
            st.sampled_from(["", "1", "0", "x", "999999999999"]),
        ),
        max_size=6,
    )
)
def test_fuzz_check_dist_never_raises(rows: list[tuple[str, str, str]]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp)
        (site / "a.py").write_bytes(b"x")
        (site / "dir").mkdir()
        record = site / "p-1.dist-info" / "RECORD"
        record.parent.mkdir()
        record.write_text("\n".join(",".join(row) for row in rows))
        issues = _inventory_script.check_dist(str(record.parent), str(site), str(record))
        assert all(issue["kind"] in {"modified", "missing", "record"} for issue in issues)


def test_file_checks(env: tuple[str, Path]) -> None:
    python, site = env
    fake_install(site, "alpha", "1.0", {"alpha/mod.py": b"x = 1\n", "alpha/big.py": b"y" * 100})
    fake_install(site, "beta", "1.0", {"beta/__pycache__/m.cpython-311.pyc": b"bytecode"})
    fake_install(site, "gamma", "1.0")
    (site / "alpha" / "mod.py").write_bytes(b"x = 2\n")  # same size, other content
    (site / "alpha" / "big.py").write_bytes(b"y" * 99)
    (site / "alpha" / "__init__.py").unlink()
    (site / "beta" / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"recompiled")
    gamma_record = site / "gamma-1.0.dist-info" / "RECORD"
    gamma_record.write_text(gamma_record.read_text() + "garbage line\n")

    inv = inventory(python, check_files=True)
    assert inv.file_issues is not None
    found = [(i.package, i.kind, i.path) for i in inv.file_issues]
    assert found == [
        ("alpha", "missing", "alpha/__init__.py"),
        ("alpha", "modified", "alpha/big.py"),
        ("alpha", "modified", "alpha/mod.py"),
        ("gamma", "record", str(gamma_record)),
    ]
    issues = {i.path: i for i in inv.file_issues}
    assert issues["alpha/big.py"].detail == "size 99 bytes, RECORD says 100"
    assert issues["alpha/mod.py"].actual == record_hash(b"x = 2\n")
    assert issues["alpha/mod.py"].expected == record_hash(b"x = 1\n")
    assert "line" in issues[str(gamma_record)].detail
    # The same answer in this process, and with the work split differently.
    assert check_files(inv.dists) == inv.file_issues


@pytest.mark.skipif(os.name == "nt" or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file_is_reported(env: tuple[str, Path]) -> None:
    python, site = env
    fake_install(site, "alpha", "1.0")
    target = site / "alpha" / "__init__.py"
    target.chmod(0)
    try:
        inv = inventory(python, check_files=True)
    finally:
        target.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert inv.file_issues
    assert "cannot read" in inv.file_issues[0].detail


def test_shares_split_every_distribution_once(tmp_path: Path) -> None:
    dists = []
    for i in range(7):
        record = tmp_path / f"d{i}" / "RECORD"
        record.parent.mkdir()
        record.write_text("x" * (i * 10))
        dists.append({"path": str(record.parent), "record": str(record)})
    shares = [_inventory_script.share_of(dists, k, 3) for k in range(3)]
    paths = sorted(d["path"] for share in shares for d in share)
    assert paths == sorted(d["path"] for d in dists)
    assert all(shares)


def test_skipped_distributions_are_not_hashed(env: tuple[str, Path]) -> None:
    python, site = env
    fake_install(site, "skip_me", "1.0")
    fake_install(site, "check-me", "1.0")
    (site / "skip_me" / "__init__.py").write_text("changed")
    (site / "check_me" / "__init__.py").write_text("changed")
    inv = inventory(python, check_files=True, skip_files_of=["Skip.Me"])
    assert inv.file_issues is not None
    assert [i.package for i in inv.file_issues] == ["check-me"]


def test_allowing_a_locked_package_does_not_skip_its_files(env: tuple[str, Path]) -> None:
    from reqlock.deploy.verify import verify
    from tests.test_verify import make_lock, package

    python, site = env
    fake_install(site, "alpha", "1.0")
    (site / "alpha" / "__init__.py").write_text("changed")
    lock = make_lock([package("alpha", "1.0")])
    report = verify(lock, python=python, allow_extra=["alpha"])
    assert [(p.kind, p.package) for p in report.problems] == [("file-modified", "alpha")]
