"""End to end: tampering that only the deep checks catch, with real venvs and pip.

The lock here stores the RECORD digest of each wheel (``[packages.tool.reqlock]
records``), computed from the real wheel files with ``wheel_record_digest``: a
lock written by hand for the test, as the lock side writes them. One environment
is synced from it once (module scope); each test tampers with a copy of it, so
the tampers neither see nor undo each other. Every tamper must make verify exit
1 naming the package or file, one at a time and all together.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import shutil
import subprocess
import sys
import textwrap
import venv
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from reqlock.cli.main import main
from reqlock.deploy.record import wheel_record_digest
from reqlock.deploy.sync import sync
from reqlock.deploy.verify import Report, verify
from reqlock.errors import SyncError
from tests.fakeindex.build import build_sdist, build_wheel
from tests.test_sync_e2e import EDITABLE_BACKEND, pip
from tests.test_verify import HERE_MARKER, sha256_of

pytestmark = pytest.mark.e2e

UTIL = b"VALUE = 1\n"


@dataclass(frozen=True)
class Golden:
    root: Path
    venv: Path
    lock: Path  # with RECORD digests
    plain: Path  # the same lock without them, as pip or uv write it
    wheels: Path
    other: Path  # other builds and versions of the locked packages


@dataclass(frozen=True)
class Env:
    python: str
    site: Path


def record_digest(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        record = next(n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
        dist_info = record.split("/")[0]
        text = archive.read(record).decode()
    data_dir = dist_info.removesuffix(".dist-info") + ".data"
    return wheel_record_digest(text, dist_info=dist_info, data_dir=data_dir)


def _write_lock(path: Path, wheels: Path, *, records: bool, edit: str | None = None) -> None:
    packages: list[dict[str, Any]] = []
    for name, version in (("alpha", "1.0"), ("beta", "2.0")):
        wheel = wheels / f"{name}-{version}-py3-none-any.whl"
        sdist = wheels / f"{name}-{version}.tar.gz"
        digest = "0" * 64 if edit == name else sha256_of(wheel)
        entry: dict[str, Any] = {
            "name": name,
            "version": version,
            "wheels": [{"url": wheel.as_uri(), "hashes": {"sha256": digest}}],
            "sdist": {"url": sdist.as_uri(), "hashes": {"sha256": sha256_of(sdist)}},
        }
        if records:
            entry["tool"] = {"reqlock": {"records": {wheel.name: record_digest(wheel)}}}
        packages.append(entry)
    data = {
        "lock-version": "1.0",
        "created-by": "reqlock-tests",
        "environments": [HERE_MARKER],
        "packages": packages,
    }
    path.write_text(tomli_w.dumps(data), encoding="utf-8")


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Golden:
    root = tmp_path_factory.mktemp("tamper")
    wheels, other = root / "wheels", root / "other"
    for name, version in (("alpha", "1.0"), ("beta", "2.0")):
        build_wheel(wheels, name, version, files={f"{name}/util.py": UTIL})
        build_sdist(wheels, name, version)
    build_wheel(other, "alpha", "0.9", files={"alpha/util.py": UTIL})
    build_wheel(other, "intruder", "1.0")
    lock, plain = root / "pylock.toml", root / "pylock.plain.toml"
    _write_lock(lock, wheels, records=True)
    _write_lock(plain, wheels, records=False)
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=sys.platform != "win32").create(env_dir)
    result = sync(lock, python=str(env_dir))
    assert result.report.ok, result.report.render()
    assert result.plan.builds == ()  # every package came from its locked wheel
    report = verify(lock, python=str(env_dir))
    assert report.ok
    assert report.not_checked == ()  # every check ran
    return Golden(root, env_dir, lock, plain, wheels, other)


@pytest.fixture
def env(golden: Golden, tmp_path: Path) -> Env:
    """A private copy of the synced environment (the interpreter is a symlink)."""
    root = tmp_path / "venv"
    shutil.copytree(golden.venv, root, symlinks=True)
    python = root / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return Env(str(python), Path(site))


def check(
    capsys: pytest.CaptureFixture[str], lock: Path, env: Env, *options: str
) -> tuple[int, dict[str, Any], str]:
    """verify on the command line, as JSON and as text: (exit status, JSON, text)."""
    code = main(["verify", str(lock), "--python", env.python, "--json", *options])
    data = json.loads(capsys.readouterr().out)
    again = main(["verify", str(lock), "--python", env.python, *options])
    text = capsys.readouterr().out
    assert again == code
    return code, data, text


def found(data: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    """(kind, package, path) of each problem; the path only for file-level kinds."""
    file_kinds = {"file-modified", "file-missing", "unowned-file", "pth-import"}
    return sorted(
        (p["kind"], p["package"], p["path"] if p["kind"] in file_kinds else None)
        for p in data["problems"]
    )


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def rewrite_record(env: Env, dist_info: str, path: str, data: bytes | None) -> None:
    """Make RECORD agree with the disk again: the row of ``path`` gets the hash and
    size of ``data``, or is dropped (``None``)."""
    record = env.site / dist_info / "RECORD"
    rows = list(csv.reader(io.StringIO(record.read_text())))
    kept = [row for row in rows if row[0] != path]
    if data is not None:
        kept.append([path, _record_hash(data), str(len(data))])
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(kept)
    record.write_text(out.getvalue())


# --------------------------------------------------------------------------- one at a time


def test_file_edit_is_file_modified(
    golden: Golden, env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    (env.site / "alpha" / "util.py").write_bytes(b"VALUE = 'hacked'\n")
    code, data, text = check(capsys, golden.lock, env)
    assert code == 1
    assert found(data) == [("file-modified", "alpha", "alpha/util.py")]
    assert "alpha: alpha/util.py (" in text


def test_file_edit_with_record_rewritten_is_a_record_mismatch(
    golden: Golden, env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    hacked = b"VALUE = 'hacked'\n"
    (env.site / "alpha" / "util.py").write_bytes(hacked)
    rewrite_record(env, "alpha-1.0.dist-info", "alpha/util.py", hacked)
    code, data, text = check(capsys, golden.lock, env)
    assert code == 1
    assert found(data) == [("record-mismatch", "alpha", None)]
    assert "alpha: files differ from the locked wheel alpha-1.0-py3-none-any.whl" in text
    # A lock without digests cannot see it, and says so.
    code, data, text = check(capsys, golden.plain, env)
    assert code == 0
    assert data["not_checked"][0]["check"] == "record-digest"
    assert data["not_checked"][0]["packages"] == ["alpha", "beta"]
    assert "not checked: RECORD digests: the lock has none for 2 packages" in text


def test_added_file_is_unowned(
    golden: Golden, env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    (env.site / "alpha" / "evil.py").write_text("import os\n")
    code, data, text = check(capsys, golden.lock, env)
    assert code == 1
    assert found(data) == [("unowned-file", None, "alpha/evil.py")]
    assert "  alpha/evil.py: " in text
    allowed = verify(golden.lock, python=env.python, allow_unowned=["alpha/*.py"])
    assert allowed.ok
    assert allowed.allow_unowned == ("alpha/*.py",)


@pytest.mark.parametrize("with_record", [False, True], ids=["file-only", "and-record-row"])
def test_removed_file(
    golden: Golden, env: Env, capsys: pytest.CaptureFixture[str], with_record: bool
) -> None:
    (env.site / "beta" / "util.py").unlink()
    if with_record:
        rewrite_record(env, "beta-2.0.dist-info", "beta/util.py", None)
    code, data, _ = check(capsys, golden.lock, env)
    assert code == 1
    expected = (
        ("record-mismatch", "beta", None)
        if with_record
        else ("file-missing", "beta", "beta/util.py")
    )
    assert found(data) == [expected]


def test_pth_file_is_reported_never_run_and_stops_sync(
    golden: Golden, env: Env, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    marker = tmp_path / "the-pth-ran"
    (env.site / "evil.pth").write_text(f"import os; open({str(marker)!r}, 'w').close()\n")
    code, data, text = check(capsys, golden.lock, env)
    assert code == 1
    assert found(data) == [("pth-import", None, "evil.pth"), ("unowned-file", None, "evil.pth")]
    assert "  evil.pth: " in text
    assert not marker.exists(), "verify ran the .pth file"
    # Nothing for pip to do: sync changes nothing and says what is left to a person.
    result = sync(golden.lock, python=env.python)
    assert not result.changed
    assert not result.ok
    assert {p.path for p in result.plan.manual} == {"evil.pth"}
    # With something to repair, pip would start the interpreter, which would run
    # the .pth file: refused before anything changes, exit 2.
    # (Not with pip --python: that starts the interpreter, and the .pth would run.)
    for name in ("beta", "beta-2.0.dist-info"):
        shutil.rmtree(env.site / name)
    with pytest.raises(SyncError, match=r"evil\.pth"):
        sync(golden.lock, python=env.python)
    assert main(["sync", str(golden.lock), "--python", env.python]) == 2
    assert "evil.pth" in capsys.readouterr().err
    assert not marker.exists(), "sync ran the .pth file"


def test_downgrade_is_a_version_mismatch(
    golden: Golden, env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    pip(
        env.python,
        "install",
        "--no-deps",
        "--no-index",
        "--find-links",
        str(golden.other),
        "alpha==0.9",
    )
    code, data, text = check(capsys, golden.lock, env)
    assert code == 1
    assert found(data) == [("version-mismatch", "alpha", None)]
    assert "alpha: locked 1.0, installed 0.9" in text


def test_another_build_of_the_same_version_is_a_record_mismatch(
    golden: Golden, env: Env, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Same name, version and tags; other content. From --find-links pip writes no
    # direct_url.json, so nothing but the RECORD digest tells it from the locked one.
    builds = tmp_path / "rebuilt"
    build_wheel(builds, "alpha", "1.0", files={"alpha/util.py": b"VALUE = 2\n"})
    pip(
        env.python,
        "install",
        "--no-deps",
        "--force-reinstall",
        "--no-index",
        "--find-links",
        str(builds),
        "alpha==1.0",
    )
    code, data, _ = check(capsys, golden.lock, env)
    assert code == 1
    assert found(data) == [("record-mismatch", "alpha", None)]
    assert check(capsys, golden.plain, env)[0] == 0  # invisible without digests


def test_editable_install_is_a_direct_url(
    golden: Golden, env: Env, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = tmp_path / "alpha-src"
    (source / "alpha").mkdir(parents=True)
    (source / "alpha" / "__init__.py").write_text("VALUE = 'editable'\n")
    (source / "editable_backend.py").write_text(
        textwrap.dedent(EDITABLE_BACKEND).replace("zeta", "alpha")
    )
    (source / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "editable_backend"\nbackend-path = ["."]\n'
    )
    pip(env.python, "install", "--no-deps", "--no-build-isolation", "-e", str(source))
    code, data, text = check(capsys, golden.lock, env)
    assert code == 1
    assert found(data) == [("direct-url", "alpha", None)]
    assert "alpha: installed from an editable directory" in text


def test_lock_hash_edited_fails_before_anything_changes(
    golden: Golden, env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    # Something to install (beta) and something to remove (intruder), so that a
    # sync that went ahead would change the environment.
    pip(env.python, "uninstall", "-y", "beta")
    pip(
        env.python,
        "install",
        "--no-deps",
        "--no-index",
        "--find-links",
        str(golden.other),
        "intruder",
    )
    before = verify(golden.lock, python=env.python)
    assert [(p.kind, p.package) for p in before.problems] == [
        ("missing", "beta"),
        ("unexpected", "intruder"),
    ]
    edited = golden.root / "pylock.edited.toml"
    _write_lock(edited, golden.wheels, records=True, edit="beta")
    code = main(["sync", str(edited), "--python", env.python])
    err = capsys.readouterr().err
    assert code == 2
    assert "beta" in err
    assert "beta-2.0-py3-none-any.whl" in err  # pip's hash error names the file
    assert "HASHES" in err
    after = verify(golden.lock, python=env.python)
    assert after.problems == before.problems  # nothing installed, nothing removed
    assert not any(p.name.startswith("beta") for p in env.site.iterdir())


# --------------------------------------------------------------------------- together


def test_all_tampers_together(
    golden: Golden, env: Env, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    hacked = b"VALUE = 'hacked'\n"
    (env.site / "alpha" / "util.py").write_bytes(hacked)
    rewrite_record(env, "alpha-1.0.dist-info", "alpha/util.py", hacked)
    (env.site / "alpha" / "evil.py").write_text("import os\n")
    (env.site / "beta" / "util.py").unlink()
    pip(
        env.python,
        "install",
        "--no-deps",
        "--no-index",
        "--find-links",
        str(golden.other),
        "intruder",
    )
    code, data, _ = check(capsys, golden.lock, env)
    assert code == 1
    assert found(data) == [
        ("file-missing", "beta", "beta/util.py"),
        ("record-mismatch", "alpha", None),
        ("unexpected", "intruder", None),
        ("unowned-file", None, "alpha/evil.py"),
    ]
    result = sync(golden.lock, python=env.python)
    assert [c.name for c in result.plan.reinstall] == ["alpha", "beta"]
    assert [c.name for c in result.plan.remove] == ["intruder"]
    assert [p.path for p in result.plan.manual] == ["alpha/evil.py"]
    assert "cannot repair, fix by hand (1):\n  alpha/evil.py: " in result.plan.render()
    # sync repaired everything it can; an unowned file is left to a person.
    assert not result.ok
    assert [(p.kind, p.path) for p in result.report.problems] == [("unowned-file", "alpha/evil.py")]
    (env.site / "alpha" / "evil.py").unlink()
    final: Report = verify(golden.lock, python=env.python)
    assert final.ok, final.render()
    assert final.not_checked == ()


def test_a_normal_sync_leaves_nothing_to_do(golden: Golden, env: Env) -> None:
    result = sync(golden.lock, python=env.python)
    assert result.plan.empty
    assert not result.changed
    assert result.ok


def test_sync_reports_an_sdist_build(golden: Golden, tmp_path: Path) -> None:
    """The lock has no wheel for this interpreter: pip builds the sdist, and sync says so."""
    sdist = golden.wheels / "beta-2.0.tar.gz"
    lock = tmp_path / "pylock.toml"
    lock.write_text(
        tomli_w.dumps(
            {
                "lock-version": "1.0",
                "created-by": "reqlock-tests",
                "packages": [
                    {
                        "name": "beta",
                        "version": "2.0",
                        "sdist": {"url": sdist.as_uri(), "hashes": {"sha256": sha256_of(sdist)}},
                    }
                ],
            }
        )
    )
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=sys.platform != "win32").create(env_dir)
    dry = sync(lock, python=str(env_dir), dry_run=True)
    assert dry.built_from_sdist == ("beta",)
    assert "note: building beta 2.0 from its sdist" in dry.plan.render()
    result = sync(lock, python=str(env_dir))
    assert result.ok, result.report.render()
    assert [n.packages for n in result.report.not_checked] == [("beta",)]
