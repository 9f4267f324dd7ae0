"""End to end: real wheels, a real virtual environment, real pip.

One environment (module scope) is synced from a lock of local files, then tampered
with in every way the issue lists, one at a time and all together. After each
tamper, verify must name the problem precisely (text and JSON), sync must repair
it, and verify must pass again. The environment has no pip of its own: sync runs
the test interpreter's pip with ``--python``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import venv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from packaging.tags import sys_tags

from reqlock.cli.main import main
from reqlock.deploy.sync import PipFailedError, _tail, plan_sync, sync
from reqlock.deploy.verify import verify
from reqlock.errors import SyncError
from reqlock.lockfile import read_lock
from tests.fakeindex.build import build_sdist, build_wheel
from tests.test_verify import HERE_MARKER, sha256_of

pytestmark = pytest.mark.e2e

SRC = str(Path(__file__).resolve().parent.parent / "src")


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def pip(python: str, *args: str) -> None:
    """Run the test interpreter's pip against ``python``, without machine config."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--isolated", "--python", python, *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# An in-tree PEP 517/660 backend, stdlib only, so that `pip install -e` works offline.
EDITABLE_BACKEND = """
import base64, hashlib, os, zipfile

NAME, VERSION = "zeta", "1.0"
ROOT = os.path.dirname(os.path.abspath(__file__))
DIST_INFO = NAME + "-" + VERSION + ".dist-info"
METADATA = "Metadata-Version: 2.1\\nName: zeta\\nVersion: 1.0\\n"
WHEEL = (
    "Wheel-Version: 1.0\\nGenerator: editable-test-backend\\n"
    "Root-Is-Purelib: true\\nTag: py3-none-any\\n"
)

def _hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()

def _wheel(directory, members):
    name = NAME + "-" + VERSION + "-py3-none-any.whl"
    members = list(members) + [
        (DIST_INFO + "/METADATA", METADATA.encode()),
        (DIST_INFO + "/WHEEL", WHEEL.encode()),
    ]
    rows = ["%s,%s,%d\\n" % (p, _hash(d), len(d)) for p, d in members]
    record = "".join(rows) + DIST_INFO + "/RECORD,,\\n"
    with zipfile.ZipFile(os.path.join(directory, name), "w") as z:
        for path, data in members + [(DIST_INFO + "/RECORD", record.encode())]:
            z.writestr(path, data)
    return name

def get_requires_for_build_wheel(config_settings=None):
    return []

def get_requires_for_build_editable(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    with open(os.path.join(ROOT, "zeta", "__init__.py"), "rb") as f:
        return _wheel(wheel_directory, [("zeta/__init__.py", f.read())])

def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory, [("zeta_editable.pth", (ROOT + "\\n").encode())])
"""


@dataclass
class World:
    root: Path
    python: str
    site: Path
    lock: Path
    wheels: Path
    extra: Path
    local: Path
    local_platform: Path
    editable: Path


LOCKED = {
    "alpha": "1.0",
    "beta": "2.0",
    "gamma": "0.5",  # sdist only: pip builds it
    "delta": "1.0",
    "epsilon": "1.0",
    "zeta": "1.0",
    "eta": "1.0",
    "theta": "1.0",
}


def _write_lock(path: Path, wheels: Path) -> None:
    packages: list[dict[str, Any]] = []
    for name, version in sorted(LOCKED.items()):
        entry: dict[str, Any] = {"name": name, "version": version}
        if name == "gamma":
            sdist = wheels / f"gamma-{version}.tar.gz"
            entry["sdist"] = {"url": sdist.as_uri(), "hashes": {"sha256": sha256_of(sdist)}}
        else:
            wheel = wheels / f"{name}-{version}-py3-none-any.whl"
            entry["wheels"] = [{"url": wheel.as_uri(), "hashes": {"sha256": sha256_of(wheel)}}]
        if name == "beta":
            entry["dependencies"] = [{"name": "alpha"}]
        packages.append(entry)
    data = {
        "lock-version": "1.0",
        "created-by": "reqlock-tests",
        "environments": [HERE_MARKER],
        "requires-python": ">=3.8",
        "packages": packages,
    }
    path.write_text(tomli_w.dumps(data), encoding="utf-8")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("e2e")
    wheels, extra, local, local_platform = (root / d for d in ("wheels", "extra", "local", "plat"))
    for name, version in LOCKED.items():
        if name == "gamma":
            build_sdist(wheels, name, version)
        else:
            build_wheel(wheels, name, version, files={f"{name}/util.py": b"VALUE = 1\n"})
    build_wheel(wheels, "epsilon", "0.9")
    build_wheel(extra, "intruder", "1.0")
    build_wheel(local, "eta", "1.0", files={"eta/util.py": b"VALUE = 'built here'\n"})
    native = str(next(iter(sys_tags())))
    build_wheel(local_platform, "theta", "1.0", tag=native)
    editable = root / "zeta-src"
    (editable / "zeta").mkdir(parents=True)
    (editable / "zeta" / "__init__.py").write_text("VALUE = 'editable'\n")
    (editable / "editable_backend.py").write_text(textwrap.dedent(EDITABLE_BACKEND))
    (editable / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "editable_backend"\nbackend-path = ["."]\n'
    )
    lock = root / "pylock.toml"
    _write_lock(lock, wheels)

    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(env_dir)
    python = str(env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    result = sync(lock, python=python)
    assert result.changed
    assert sorted(c.name for c in result.plan.install) == sorted(LOCKED)
    assert result.report.ok, result.report.render()
    return World(root, python, site, lock, wheels, extra, local, local_platform, editable)


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------- tampers


def edit_py(w: World) -> None:
    path = w.site / "alpha" / "util.py"
    path.write_text(path.read_text() + "HACKED = True\n")


def delete_py(w: World) -> None:
    (w.site / "beta" / "util.py").unlink()


def install_extra(w: World) -> None:
    pip(w.python, "install", "--no-deps", "--no-index", "--find-links", str(w.extra), "intruder")


def downgrade(w: World) -> None:
    pip(
        w.python,
        "install",
        "--no-deps",
        "--no-index",
        "--find-links",
        str(w.wheels),
        "epsilon==0.9",
    )


def uninstall(w: World) -> None:
    pip(w.python, "uninstall", "-y", "delta")


def editable(w: World) -> None:
    pip(w.python, "install", "--no-deps", "--no-build-isolation", "-e", str(w.editable))


def local_wheel(w: World) -> None:
    wheel = w.local / "eta-1.0-py3-none-any.whl"
    pip(w.python, "install", "--no-deps", "--force-reinstall", str(wheel))


def local_build(w: World) -> None:
    pip(
        w.python,
        "install",
        "--no-deps",
        "--force-reinstall",
        "--no-index",
        "--find-links",
        str(w.local_platform),
        "theta==1.0",
    )


def record_garbage(w: World) -> None:
    record = w.site / "alpha-1.0.dist-info" / "RECORD"
    record.write_text(record.read_text() + "this line is, not, a, record row\n")


Expected = list[tuple[str, str | None, str | None]]
TAMPERS: dict[str, tuple[Callable[[World], None], Expected]] = {
    "edit-py": (edit_py, [("file-modified", "alpha", "alpha/util.py")]),
    "delete-py": (delete_py, [("file-missing", "beta", "beta/util.py")]),
    "extra-package": (install_extra, [("unexpected", "intruder", None)]),
    "downgrade": (downgrade, [("version-mismatch", "epsilon", None)]),
    "uninstall": (uninstall, [("missing", "delta", None)]),
    "editable": (editable, [("direct-url", "zeta", None)]),
    "local-wheel": (local_wheel, [("file-not-in-lock", "eta", None)]),
    "local-build": (local_build, [("file-not-in-lock", "theta", None)]),
    # A RECORD that cannot be read owns no file: alpha's files are reported as well.
    "record-garbage": (
        record_garbage,
        [
            ("broken-install", "alpha", None),
            ("unowned-file", None, "alpha/__init__.py"),
            ("unowned-file", None, "alpha/util.py"),
        ],
    ),
}


def _check_and_repair(w: World, capsys: pytest.CaptureFixture[str], expected: Expected) -> None:
    code, out, _ = run_cli(capsys, "verify", str(w.lock), "--python", w.python, "--json")
    assert code == 1, out
    report = json.loads(out)
    got = sorted((p["kind"], p["package"] or "", p["path"] or "") for p in report["problems"])
    want = [(kind, package or "", path or "") for kind, package, path in expected]
    # Paths are compared where the expectation names one.
    got = [(k, n, p if (k, n, p) in want else "") for k, n, p in got]
    assert got == sorted(want), report["problems"]
    for kind, package, path in expected:
        if path is not None:
            assert any(
                p["kind"] == kind and p["package"] == package and p["path"] == path
                for p in report["problems"]
            )
    code, text, _ = run_cli(capsys, "verify", str(w.lock), "--python", w.python)
    assert code == 1
    for kind, package, path in expected:
        assert f"\n{kind} (" in text
        assert f"  {package or path}" in text

    dry = sync(w.lock, python=w.python, dry_run=True)
    assert not dry.changed
    assert not dry.plan.empty
    assert not verify(w.lock, python=w.python).ok  # the dry run changed nothing

    code, out, err = run_cli(capsys, "sync", str(w.lock), "--python", w.python)
    assert code == 0, out + err
    report_after = verify(w.lock, python=w.python)
    assert report_after.ok, report_after.render()


@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_each_tamper_is_found_and_repaired(
    world: World, capsys: pytest.CaptureFixture[str], tamper: str
) -> None:
    apply, expected = TAMPERS[tamper]
    assert verify(world.lock, python=world.python).ok  # a clean start
    apply(world)
    _check_and_repair(world, capsys, expected)


def test_all_tampers_together(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    expected: Expected = []
    for name in sorted(TAMPERS):
        if name == "record-garbage":
            continue  # alpha is edited already; one repair covers both
        apply, problems = TAMPERS[name]
        apply(world)
        expected.extend(problems)
    result = sync(world.lock, python=world.python, dry_run=True)
    plan = result.plan
    assert [c.name for c in plan.install] == ["delta"]
    assert [c.name for c in plan.downgrade] == []
    assert [c.name for c in plan.upgrade] == ["epsilon"]
    assert [c.name for c in plan.remove] == ["intruder"]
    assert [c.name for c in plan.reinstall] == ["alpha", "beta", "eta", "theta", "zeta"]
    _check_and_repair(world, capsys, expected)


# --------------------------------------------------------------------------- the rest


def test_clean_environment_verifies_with_and_without_files(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, "verify", str(world.lock), "--python", world.python)
    assert code == 0
    assert f"matches {world.lock}: {len(LOCKED)} packages as locked" in out
    code, out, _ = run_cli(
        capsys, "verify", str(world.lock), "--python", world.python, "--no-files", "--json"
    )
    assert code == 0
    assert json.loads(out)["checked_files"] is False
    code, out, _ = run_cli(capsys, "sync", str(world.lock), "--python", world.python)
    assert (code, out) == (0, "nothing to do: the environment matches the lock\n")


def test_export_installs_unchanged(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = world.root / "requirements.txt"
    code, _, _ = run_cli(capsys, "export", str(world.lock), "-o", str(out_file))
    assert code == 0
    env_dir = world.root / "venv-export"
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(env_dir)
    python = str(env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))
    pip(python, "install", "--require-hashes", "--no-deps", "-r", str(out_file))
    assert verify(world.lock, python=python).ok


def test_lock_for_another_platform_exits_2(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    other = world.root / "pylock.win.toml"
    other.write_text(
        world.lock.read_text()
        .replace(HERE_MARKER, "sys_platform == 'win32'")
        .replace(HERE_MARKER.replace("'", '"'), "sys_platform == 'win32'")
    )
    code, out, err = run_cli(capsys, "verify", str(other), "--python", world.python)
    assert code == 2
    assert out == ""
    assert "is not for this interpreter: it covers sys_platform == " in err
    assert f"sys_platform {sys.platform}" in err


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('lock-version = "1.0"\ncreated-by = "x"\npackages = [\n', "not valid TOML"),
        ('lock-version = "2.0"\ncreated-by = "x"\npackages = []\n', "lock-version 2.0 is not"),
        ('lock-version = "1.0"\ncreated-by = "x"\n[[packages]]\nname = "A"\n', "packages[0]"),
    ],
)
def test_bad_lock_exits_2(
    world: World, capsys: pytest.CaptureFixture[str], text: str, words: str
) -> None:
    bad = world.root / "bad.toml"
    bad.write_text(text)
    for command in ("verify", "sync", "export"):
        code, _out, err = (
            run_cli(capsys, command, str(bad), "--python", world.python)
            if (command != "export")
            else run_cli(capsys, command, str(bad))
        )
        assert code == 2
        assert words in err
        assert err.startswith("error: ")
        assert "Traceback" not in err


def test_missing_interpreter_exits_2(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(world.root / "nowhere" / "python")
    code, _, err = run_cli(capsys, "verify", str(world.lock), "--python", missing)
    assert code == 2
    assert err == f"error: {missing}: no such interpreter\n"


def test_pip_failure_names_pip_error_and_attaches_report(world: World) -> None:
    lock = world.root / "pylock.badhash.toml"
    lock.write_text(
        world.lock.read_text().replace(
            sha256_of(world.wheels / "beta-2.0-py3-none-any.whl"), "0" * 64
        )
    )
    env_dir = world.root / "venv-badhash"
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(env_dir)
    with pytest.raises(PipFailedError) as info:
        sync(lock, python=str(env_dir))
    error = info.value
    assert isinstance(error, SyncError)
    assert error.returncode != 0
    assert "pip failed to install" in str(error)
    assert "pip: ERROR" in error.output
    assert "HASH" in error.output.upper()
    assert error.report is not None
    assert not error.report.ok


def test_credentials_are_redacted_from_pip_output() -> None:
    output = "Looking in indexes: https://user:s3cret@mirror.example/simple\nERROR: no luck at https://tok@h/x\n"
    tail = _tail(output)
    assert "s3cret" not in tail
    assert "tok@" not in tail
    assert "https://****@mirror.example/simple" not in tail  # only the ERROR lines are kept
    assert "pip: ERROR: no luck at https://****@h/x" in tail


def test_plan_keeps_protected_distributions(world: World) -> None:
    pip(
        world.python,
        "install",
        "--no-deps",
        "--no-index",
        "--find-links",
        str(world.extra),
        "intruder",
    )
    try:
        report = verify(read_lock(world.lock), python=world.python)
        plan = plan_sync(report, protected=["Intruder"])
        assert plan.remove == ()
        assert [c.name for c in plan.kept] == ["intruder"]
        assert "keep (needed by reqlock itself) (1):" in plan.render()
    finally:
        assert sync(world.lock, python=world.python).report.ok


def test_own_runtime_protects_reqlock_and_its_dependencies() -> None:
    from reqlock.deploy.sync import _own_runtime

    own = _own_runtime()
    assert {"reqlock", "pip", "packaging", "httpx", "resolvelib"} <= own


def test_unexportable_lock_changes_nothing(world: World) -> None:
    from reqlock.errors import LockFileError

    lock = world.root / "pylock.vcs.toml"
    lock.write_text(
        world.lock.read_text()
        + '\n[[packages]]\nname = "fromgit"\nversion = "1.0"\n'
        + '[packages.vcs]\ntype = "git"\nurl = "https://git.example/x.git"\ncommit-id = "abc"\n'
    )
    pip(
        world.python,
        "install",
        "--no-deps",
        "--no-index",
        "--find-links",
        str(world.extra),
        "intruder",
    )
    try:
        # A vcs entry installs now (second pip step); this one's commit-id is no
        # full hash, so it is refused before anything changes.
        with pytest.raises(LockFileError, match=r"vcs\.commit-id.*not a full git commit hash"):
            sync(lock, python=world.python)
        # Nothing was removed before the refusal.
        assert [p.package for p in verify(world.lock, python=world.python).problems] == ["intruder"]
    finally:
        assert sync(world.lock, python=world.python).report.ok
