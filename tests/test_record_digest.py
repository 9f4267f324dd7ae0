"""record: a digest of a wheel's RECORD that the installed RECORD reproduces.

The unit tests use hand-written RECORDs. The ``e2e`` tests build real wheels,
install them into fresh virtual environments with the venv's own pip, with this
environment's pip (``pip --python``, the version reqlock depends on) and with uv,
and check that an untouched install gives the wheel's digest and that tampering
that keeps RECORD consistent with the disk does not.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import random
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from reqlock.deploy.record import (
    DIGEST_PREFIX,
    IGNORED_DESCRIPTION,
    installed_record_digest,
    wheel_record_digest,
)

NAME = "demo_pkg"
VERSION = "1.0"
DIST_INFO = f"{NAME}-{VERSION}.dist-info"
DATA_DIR = f"{NAME}-{VERSION}.data"


def record_hash(data: bytes, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm, data).digest()
    return f"{algorithm}=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def wheel_digest(text: str) -> str:
    return wheel_record_digest(text, dist_info=DIST_INFO, data_dir=DATA_DIR)


def installed_digest(rows: list[tuple[str, str | None]]) -> str:
    return installed_record_digest(rows, dist_info=DIST_INFO)


H1, H2, H3 = (record_hash(data) for data in (b"one\n", b"two\n", b"three\n"))
BASE_RECORD = f"""\
{NAME}/__init__.py,{H1},4
{NAME}/core.py,{H2},4
{DIST_INFO}/METADATA,{H3},6
{DIST_INFO}/RECORD,,
"""
BASE_ROWS: list[tuple[str, str | None]] = [
    (f"{NAME}/__init__.py", H1),
    (f"{NAME}/core.py", H2),
    (f"{DIST_INFO}/METADATA", H3),
]


# --------------------------------------------------------------------------- unit


def test_digest_form_and_agreement() -> None:
    digest = wheel_digest(BASE_RECORD)
    assert digest.startswith(DIGEST_PREFIX)
    assert len(digest) == len(DIGEST_PREFIX) + 64
    assert installed_digest(BASE_ROWS) == digest
    assert installed_digest([]) != digest


def test_wheel_side_leaves_out_metadata_bytecode_and_prefix_files() -> None:
    extra = [
        f"{DIST_INFO}/RECORD.jws,{H1},4",
        f"{DIST_INFO}/RECORD.p7s,{H1},4",
        *(f"{DIST_INFO}/{name},{H1},4" for name in ("INSTALLER", "REQUESTED")),
        *(f"{DIST_INFO}/{name},{H1},4" for name in ("direct_url.json", "uv_cache.json")),
        f"{DIST_INFO}/uv_build.json,{H1},4",
        f"{NAME}/__pycache__/core.cpython-311.pyc,{H1},4",
        f"{DATA_DIR}/scripts/tool,{H1},4",
        f"{DATA_DIR}/data/share/x.txt,{H1},4",
        f"{DATA_DIR}/headers/demo.h,{H1},4",
        f"{DATA_DIR}/purelib/{NAME}/__pycache__/x.pyc,,",
    ]
    assert wheel_digest(BASE_RECORD + "\n".join(extra) + "\n") == wheel_digest(BASE_RECORD)


def test_installed_side_leaves_out_installer_files_bytecode_and_outside_paths() -> None:
    extra: list[tuple[str, str | None]] = [
        (f"{DIST_INFO}/RECORD", None),
        (f"{DIST_INFO}/INSTALLER", H1),
        (f"{DIST_INFO}/REQUESTED", H1),
        (f"{DIST_INFO}/direct_url.json", H1),
        (f"{DIST_INFO}/uv_cache.json", H1),
        (f"{DIST_INFO}/uv_build.json", H1),
        (f"{NAME}/__pycache__/core.cpython-311.pyc", None),
        ("__pycache__/extra_mod.cpython-311.pyc", ""),
        ("../../../bin/demo", H1),
        ("..\\..\\Scripts\\demo.exe", H1),
        ("/usr/share/demo/x.txt", H1),
        ("C:/Python/Scripts/tool", H1),
        ("C:\\Python\\Scripts\\tool", H1),
    ]
    assert installed_digest(BASE_ROWS + extra) == wheel_digest(BASE_RECORD)


@pytest.mark.parametrize(
    "path",
    [
        f"{NAME}/INSTALLER",  # only the .dist-info's own INSTALLER is the installer's
        "other-2.0.dist-info/INSTALLER",
        f"{DIST_INFO}/licenses/RECORD",
        f"{NAME}/legacy.pyc",  # shipped sourceless bytecode is code Python imports
        "..foo/bar.py",
    ],
)
def test_lookalikes_of_ignored_files_count(path: str) -> None:
    assert installed_digest([*BASE_ROWS, (path, H1)]) != installed_digest(BASE_ROWS)
    assert wheel_digest(BASE_RECORD + f"{path},{H1},4\n") == installed_digest(
        [*BASE_ROWS, (path, H1)]
    )


def test_purelib_and_platlib_files_map_to_their_installed_path() -> None:
    record = (
        BASE_RECORD
        + f"{DATA_DIR}/purelib/extra_mod.py,{H1},4\n"
        + f"{DATA_DIR}/platlib/{NAME}/_speedups.so,{H2},4\n"
    )
    rows = [*BASE_ROWS, ("extra_mod.py", H1), (f"{NAME}/_speedups.so", H2)]
    assert wheel_digest(record) == installed_digest(rows)
    # The mapping is by place, not by name: the data path itself is no installed path.
    assert installed_digest([*BASE_ROWS, (f"{DATA_DIR}/purelib/extra_mod.py", H1)]) != (
        wheel_digest(record)
    )


def test_order_line_endings_and_spelling_do_not_matter() -> None:
    lines = BASE_RECORD.splitlines()
    random.Random(7).shuffle(lines)
    assert wheel_digest("\r\n".join(lines)) == wheel_digest(BASE_RECORD)
    assert installed_digest(list(reversed(BASE_ROWS))) == installed_digest(BASE_ROWS)
    # './' prefixes, Windows separators and the algorithm's case are normalised.
    spelled = BASE_RECORD.replace(f"{NAME}/core.py,sha256", f".\\{NAME}\\core.py,SHA256")
    assert wheel_digest(spelled) == wheel_digest(BASE_RECORD)
    spelled_rows = [(f"./{NAME}/__init__.py", "SHA256=" + H1[7:]), *BASE_ROWS[1:]]
    assert installed_digest(spelled_rows) == installed_digest(BASE_ROWS)


def test_hash_values_are_compared_exactly() -> None:
    algorithm, value = H1.split("=")
    for other in (f"{algorithm}={value.swapcase()}", record_hash(b"one\n", "sha512")):
        assert installed_digest([(BASE_ROWS[0][0], other), *BASE_ROWS[1:]]) != (
            installed_digest(BASE_ROWS)
        )


def test_unhashed_rows_count_with_an_empty_hash() -> None:
    record = BASE_RECORD + f"{NAME}/data.bin,,\n"
    rows = [*BASE_ROWS, (f"{NAME}/data.bin", None)]
    assert wheel_digest(record) == installed_digest(rows)
    assert installed_digest([*BASE_ROWS, (f"{NAME}/data.bin", "")]) == installed_digest(rows)
    # A file whose hash was removed from the installed RECORD no longer matches.
    stripped = [(BASE_ROWS[0][0], None), *BASE_ROWS[1:]]
    assert installed_digest(stripped) != installed_digest(BASE_ROWS)


def test_paths_with_commas_quotes_or_newlines_cannot_pose_as_other_rows() -> None:
    one_row: list[tuple[str, str | None]] = [(f"a.py,{H1}\nb.py", H2)]
    two_rows: list[tuple[str, str | None]] = [("a.py", H1), ("b.py", H2)]
    assert installed_digest(one_row) != installed_digest(two_rows)
    assert installed_digest([(f"a.py,{H1}", "")]) != installed_digest([("a.py", H1)])
    record = f'"{NAME}/odd, ""name"".py",{H1},4\n'
    assert wheel_digest(record) == installed_digest([(f'{NAME}/odd, "name".py', H1)])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (f"{NAME}/x.py,{H1}", "expected 3 fields"),
        (f"{NAME}/x.py,{H1},4,extra", "expected 3 fields"),
        (f"{NAME}/x.py,sha256,4", "not algorithm=urlsafe-base64-nopad"),
        (f"{NAME}/x.py,{H1}=,4", "not algorithm=urlsafe-base64-nopad"),
        (f"{NAME}/x.py,sha256=ab+/cd,4", "not algorithm=urlsafe-base64-nopad"),
        (f"{NAME}/x.py,={H1[7:]},4", "not algorithm=urlsafe-base64-nopad"),
        (f"{NAME}/x.py,{H1},four", "is not a number"),
        (f",{H1},4", "empty path"),
        (f"../evil.py,{H1},4", "leaves the wheel"),
        (f"/etc/evil,{H1},4", "leaves the wheel"),
        (f"{DATA_DIR}/lib/x.py,{H1},4", "known"),
        (f"{DATA_DIR}/purelib/,{H1},4", "names no file"),
        (f'"{NAME}/x.py,{H1},4', "not CSV"),
    ],
)
def test_malformed_wheel_record_raises(line: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        wheel_digest(BASE_RECORD + line + "\n")
    assert "line 5" in str(info.value)


@pytest.mark.parametrize("name", ["", "a/b.dist-info", "a\\b.dist-info", ".."])
def test_directory_names_must_be_plain(name: str) -> None:
    with pytest.raises(ValueError, match="directory name"):
        wheel_record_digest(BASE_RECORD, dist_info=name, data_dir=DATA_DIR)
    with pytest.raises(ValueError, match="directory name"):
        wheel_record_digest(BASE_RECORD, dist_info=DIST_INFO, data_dir=name)
    with pytest.raises(ValueError, match="directory name"):
        installed_record_digest(BASE_ROWS, dist_info=name)


def test_ignored_description_names_every_exclusion() -> None:
    text = " ".join(IGNORED_DESCRIPTION)
    names = ("RECORD.jws", "RECORD.p7s", "INSTALLER", "REQUESTED", "direct_url.json")
    for word in (*names, "uv_cache.json", "uv_build.json", "__pycache__", "../", "scripts"):
        assert word in text


# --------------------------------------------------------------------------- e2e

MODULES = {
    f"{NAME}/__init__.py": b"from demo_pkg.core import main\n",
    f"{NAME}/core.py": b"from demo_pkg.util import greeting\n\n\n"
    b"def main():\n    print(greeting())\n",
    f"{NAME}/util.py": b"def greeting():\n    return 'hello'\n",
}


def wheel_members(modules: Mapping[str, bytes]) -> dict[str, bytes]:
    """Every member of the demo wheel but RECORD."""
    return {
        **modules,
        f"{DATA_DIR}/purelib/extra_mod.py": b"EXTRA = True\n",
        f"{DATA_DIR}/scripts/tool": b"#!python\nimport demo_pkg\ndemo_pkg.main()\n",
        f"{DATA_DIR}/data/share/x.txt": b"shared data\n",
        f"{DIST_INFO}/METADATA": (
            f"Metadata-Version: 2.1\nName: demo-pkg\nVersion: {VERSION}\n\n".encode()
        ),
        f"{DIST_INFO}/WHEEL": b"Wheel-Version: 1.0\nGenerator: handmade 1\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n",
        f"{DIST_INFO}/entry_points.txt": b"[console_scripts]\ndemo = demo_pkg.core:main\n",
    }


def build_wheel(directory: Path, modules: Mapping[str, bytes]) -> Path:
    """Write a real wheel with a correct RECORD; return its path."""
    members = wheel_members(modules)
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for path, data in members.items():
        writer.writerow([path, record_hash(data), len(data)])
    writer.writerow([f"{DIST_INFO}/RECORD", "", ""])
    directory.mkdir(parents=True, exist_ok=True)
    wheel = directory / f"{NAME}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in members.items():
            archive.writestr(path, data)
        archive.writestr(f"{DIST_INFO}/RECORD", record.getvalue())
    return wheel


def digest_of_wheel(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read(f"{DIST_INFO}/RECORD").decode("utf-8")
    return wheel_digest(text)


def read_rows(dist_info: Path) -> list[tuple[str, str | None]]:
    with (dist_info / "RECORD").open(newline="", encoding="utf-8") as f:
        return [(row[0], row[1] or None) for row in csv.reader(f) if row]


def write_rows(dist_info: Path, rows: list[tuple[str, str | None]], site: Path) -> None:
    """Rewrite RECORD as a careful attacker would: sizes of hashed files in
    site-packages from the disk, the other sizes as they were."""
    with (dist_info / "RECORD").open(newline="", encoding="utf-8") as f:
        old_sizes = {row[0]: row[2] for row in csv.reader(f) if row}
    with (dist_info / "RECORD").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        for path, hash_ in rows:
            inside = hash_ and not path.startswith("../")
            size = str((site / path).stat().st_size) if inside else old_sizes.get(path, "")
            writer.writerow([path, hash_ or "", size])


def rows_match_disk(site: Path, rows: list[tuple[str, str | None]]) -> bool:
    """What the inventory's RECORD check establishes before the digest is compared."""
    for path, hash_ in rows:
        if hash_ is None or path.startswith("../"):
            continue
        algorithm = hash_.partition("=")[0]
        if record_hash((site / path).read_bytes(), algorithm) != hash_:
            return False
    return True


@dataclass(frozen=True)
class Install:
    installer: str
    site: Path  # site-packages of the venv
    build_b_site: Path  # the same installer's install of the other build


@dataclass(frozen=True)
class Wheels:
    a: Path
    b: Path  # same version and file names; util.py differs


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Wheels:
    root = tmp_path_factory.mktemp("record-wheels")
    changed = {**MODULES, f"{NAME}/util.py": b"def greeting():\n    return 'pwned'\n"}
    return Wheels(a=build_wheel(root / "a", MODULES), b=build_wheel(root / "b", changed))


def find_uv() -> str | None:
    beside = Path(sys.executable).with_name("uv")
    return str(beside) if beside.is_file() else shutil.which("uv")


def _install(installer: str, wheel: Path, root: Path, env: dict[str, str]) -> Path:
    """Make a fresh venv under ``root`` and install ``wheel``; return site-packages."""
    venv = [sys.executable, "-m", "venv", str(root)]
    if installer != "venv-pip":
        venv.append("--without-pip")  # nothing but the wheel in it, and faster
    subprocess.run(venv, check=True, env=env, capture_output=True)
    python = str(root / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python"))
    install = ["install", "--no-index", "--no-deps"]
    if installer == "venv-pip":  # the pip that ensurepip bundled into the venv
        command = [python, "-m", "pip", "--isolated", *install, "--no-cache-dir"]
    elif installer == "pip":  # this environment's pip, run against the venv
        command = [sys.executable, "-m", "pip", "--isolated", "--python", python, *install]
        command.append("--no-cache-dir")
    else:
        uv = find_uv()
        assert uv is not None
        command = [uv, "pip", *install, "--python", python]
        command += ["--cache-dir", str(root.parent / "uv-cache")]  # not the user's cache
    subprocess.run([*command, str(wheel)], check=True, env=env, capture_output=True)
    query = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    out = subprocess.run([python, "-c", query], check=True, env=env, capture_output=True)
    return Path(out.stdout.decode().strip())


@pytest.fixture(scope="session", params=["venv-pip", "pip", "uv"])
def install(
    request: pytest.FixtureRequest,
    wheels: Wheels,
    tmp_path_factory: pytest.TempPathFactory,
    isolated_pip_env: dict[str, str],
) -> Install:
    """Build A and build B of the demo wheel, each installed by one installer into a
    fresh venv: ``venv-pip`` is the venv's bundled pip, ``pip`` this environment's."""
    installer: str = request.param
    if installer == "uv" and find_uv() is None:
        pytest.skip("uv is not installed")
    root = tmp_path_factory.mktemp(f"record-{installer}")
    site_a = _install(installer, wheels.a, root / "venv-a", isolated_pip_env)
    site_b = _install(installer, wheels.b, root / "venv-b", isolated_pip_env)
    return Install(installer=installer, site=site_a, build_b_site=site_b)


@pytest.fixture
def tamperable(install: Install, tmp_path: Path) -> Path:
    """A private copy of the install's site-packages part of the demo distribution."""
    site = tmp_path / "site-packages"
    site.mkdir()
    for name in (NAME, DIST_INFO):
        shutil.copytree(install.site / name, site / name)
    shutil.copy2(install.site / "extra_mod.py", site / "extra_mod.py")
    return site


@pytest.mark.e2e
def test_untouched_install_reproduces_the_wheel_digest(install: Install, wheels: Wheels) -> None:
    rows = read_rows(install.site / DIST_INFO)
    assert rows_match_disk(install.site, rows)
    assert installed_digest(rows) == digest_of_wheel(wheels.a)
    # The exclusions were needed: the installer put scripts and data outside
    # site-packages and added files of its own.
    paths = {path for path, _ in rows}
    assert {"extra_mod.py", f"{DIST_INFO}/INSTALLER", f"{DIST_INFO}/RECORD"} <= paths
    assert any(path.startswith("../") and path.endswith("/demo") for path in paths)
    assert any(path.startswith("../") and path.endswith("/x.txt") for path in paths)
    assert f"{DATA_DIR}/purelib/extra_mod.py" not in paths
    if install.installer != "uv":  # pip compiles, and lists the bytecode without a hash
        assert any("__pycache__" in path for path in paths)


@pytest.mark.e2e
def test_rewriting_an_unchanged_record_keeps_the_digest(tamperable: Path, wheels: Wheels) -> None:
    # The control for the tampering tests: only the tampering changes the digest.
    dist_info = tamperable / DIST_INFO
    rows = read_rows(dist_info)
    write_rows(dist_info, rows, tamperable)
    assert read_rows(dist_info) == rows
    assert installed_digest(read_rows(dist_info)) == digest_of_wheel(wheels.a)


@pytest.mark.e2e
def test_what_installers_add_is_all_left_out(install: Install) -> None:
    paths = {path for path, _ in read_rows(install.site / DIST_INFO)}
    from_wheel = {path for path in wheel_members(MODULES) if not path.startswith(DATA_DIR)}
    from_wheel |= {"extra_mod.py", f"{DIST_INFO}/RECORD"}
    added = {p for p in paths - from_wheel if not p.startswith("../") and "__pycache__" not in p}
    names = ("INSTALLER", "REQUESTED", "direct_url.json", "uv_cache.json", "uv_build.json")
    assert added <= {f"{DIST_INFO}/{name}" for name in names}
    assert f"{DIST_INFO}/INSTALLER" in added


@pytest.mark.e2e
def test_edited_module_with_rehashed_row_is_detected(tamperable: Path, wheels: Wheels) -> None:
    dist_info = tamperable / DIST_INFO
    target = f"{NAME}/util.py"
    (tamperable / target).write_bytes(b"def greeting():\n    return 'pwned'\n")
    new_hash = record_hash((tamperable / target).read_bytes())
    rows = [(path, new_hash if path == target else hash_) for path, hash_ in read_rows(dist_info)]
    write_rows(dist_info, rows, tamperable)
    rows = read_rows(dist_info)
    assert rows_match_disk(tamperable, rows)  # the per-file check cannot see it
    assert installed_digest(rows) != digest_of_wheel(wheels.a)


@pytest.mark.e2e
def test_added_file_row_is_detected(tamperable: Path, wheels: Wheels) -> None:
    dist_info = tamperable / DIST_INFO
    evil = f"{NAME}/evil.py"
    (tamperable / evil).write_bytes(b"import os\n")
    rows = [*read_rows(dist_info), (evil, record_hash(b"import os\n"))]
    write_rows(dist_info, rows, tamperable)
    rows = read_rows(dist_info)
    assert rows_match_disk(tamperable, rows)
    assert installed_digest(rows) != digest_of_wheel(wheels.a)


@pytest.mark.e2e
@pytest.mark.parametrize("removal", ["row", "hash"])
def test_removed_row_or_hash_is_detected(tamperable: Path, wheels: Wheels, removal: str) -> None:
    dist_info = tamperable / DIST_INFO
    target = f"{NAME}/core.py"
    rows = read_rows(dist_info)
    if removal == "row":
        rows = [(path, hash_) for path, hash_ in rows if path != target]
    else:
        rows = [(path, None if path == target else hash_) for path, hash_ in rows]
    write_rows(dist_info, rows, tamperable)
    rows = read_rows(dist_info)
    assert rows_match_disk(tamperable, rows)
    assert installed_digest(rows) != digest_of_wheel(wheels.a)


@pytest.mark.e2e
def test_other_build_of_the_same_version_is_detected(install: Install, wheels: Wheels) -> None:
    rows = read_rows(install.build_b_site / DIST_INFO)
    assert rows_match_disk(install.build_b_site, rows)
    assert {path for path, _ in rows} == {path for path, _ in read_rows(install.site / DIST_INFO)}
    assert installed_digest(rows) == digest_of_wheel(wheels.b)
    assert installed_digest(rows) != digest_of_wheel(wheels.a)
