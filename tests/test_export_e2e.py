"""End to end: lock from the fake index on 127.0.0.1, then let real installers
consume reqlock's output in fresh virtual environments:

* ``export_requirements`` for the running interpreter, installed by pip with
  ``--require-hashes --no-deps``;
* a multi-target ``pylock.toml`` (this interpreter and two other platforms) installed
  by ``pip install -r pylock.toml`` and, when available, ``uv pip install``.

Each must install exactly the lock's selection for this interpreter.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from packaging.pylock import Pylock
from packaging.utils import canonicalize_name, parse_wheel_filename

from reqlock import lock
from reqlock.deploy.export import export_requirements
from reqlock.lockfile import read_lock
from reqlock.locking.api import LockResult
from reqlock.targets import Target, current, environment_marker, parse_target
from tests.fakeindex.pipcheck import Venv
from tests.lockapi import with_options

pytestmark = pytest.mark.e2e

# Wheels with platform tags, abi3, markers, extras, a name to normalize and two
# packages this interpreter installs from an sdist (win-only's only wheel is for
# Windows; sdist-static has nothing else).
REQUIREMENTS = """\
plat-pkg
abi3-pkg
markers-top
extras-a[all]
sdist-static
win-only
Foo.Bar
"""

# Other platforms for the multi-target lock; two whose marker differs from ours.
OTHERS = (
    "windows-amd64-py3.12",
    "macos-arm64-py3.13",
    "linux-aarch64-py3.12",
    "macos-x86_64-py3.10",
)


def _installed(venv: Venv, env: dict[str, str]) -> dict[str, str]:
    script = (
        "import json, importlib.metadata as m;"
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    out = subprocess.run(
        [str(venv.python), "-c", script],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    ).stdout
    found = {str(canonicalize_name(k)): v for k, v in json.loads(out).items()}
    found.pop("pip", None)
    return found


def _selection(lock_model: Pylock, target: Target) -> dict[str, str]:
    return {
        str(p.name): str(p.version)
        for p, _ in lock_model.select(environment=dict(target.environment), tags=list(target.tags))
    }


def _pip(venv: Venv, env: dict[str, str], *args: str) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--isolated",
            "--python",
            str(venv.python),
            "install",
            "--no-input",
            "--no-cache-dir",
            "--disable-pip-version-check",
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _multi_targets() -> list[Target]:
    here = current()
    ours = str(environment_marker(here))
    others = [parse_target(s) for s in OTHERS]
    others = [t for t in others if str(environment_marker(t)) != ours]
    return [here, *others[:2]]


def _lock(tmp_path: Path, index_url: str, targets: list[Target]) -> tuple[LockResult, Path]:
    req = tmp_path / "requirements.txt"
    req.write_text(REQUIREMENTS)
    result = lock([req], **with_options(index_url=index_url, targets=targets, no_cache=True))
    path = tmp_path / "pylock.toml"
    assert result.write(path)
    return result, path


@pytest.mark.parametrize("kind", ["current-only", "multi-target"])
def test_exported_requirements_install_exactly_the_selection(
    kind: str,
    tmp_path: Path,
    index_url: str,
    make_venv: Callable[..., Venv],
    isolated_pip_env: dict[str, str],
) -> None:
    here = current()
    targets = [here] if kind == "current-only" else _multi_targets()
    _, path = _lock(tmp_path, index_url, targets)
    lock_model = read_lock(path)
    expected = _selection(lock_model, here)
    assert {"plat-pkg", "abi3-pkg", "sdist-static", "win-only", "foo-bar"} <= set(expected)

    text = export_requirements(lock_model, target=here)
    lines = [line.strip() for line in text.splitlines()]
    # Every selected package pinned once, with the hashes of the files this
    # interpreter may use and of no other file.
    pinned = {
        line.split("==")[0]: line.split("==")[1].rstrip(" \\")
        for line in lines
        if "==" in line and not line.startswith(("#", "--"))
    }
    assert pinned == expected
    supported = set(here.tags)
    for package in lock_model.packages:
        for wheel in package.wheels or ():
            usable = bool(parse_wheel_filename(wheel.filename)[3] & supported)
            selected = expected.get(str(package.name)) == str(package.version)
            assert (f"--hash=sha256:{wheel.hashes['sha256']}" in text) == (usable and selected)
    exported = tmp_path / "exported.txt"
    exported.write_text(text)
    where = (
        []
        if any(line.startswith("--index-url") for line in lines)
        else [
            "--index-url",
            index_url,
        ]
    )
    assert f"--index-url {index_url}" in lines  # the lock's index travels with it

    venv = make_venv(with_pip=False)
    _pip(venv, isolated_pip_env, "--require-hashes", "--no-deps", *where, "-r", str(exported))
    assert _installed(venv, isolated_pip_env) == expected


def test_pip_installs_this_targets_part_of_a_multi_target_lock(
    tmp_path: Path,
    index_url: str,
    make_venv: Callable[..., Venv],
    isolated_pip_env: dict[str, str],
) -> None:
    targets = _multi_targets()
    assert len(targets) == 3
    result, path = _lock(tmp_path, index_url, targets)
    lock_model = read_lock(path)
    expected = _selection(lock_model, current())
    everything = {str(p.name) for p in lock_model.packages}
    assert everything - set(expected)  # other targets' packages are in the file
    assert len(lock_model.environments or ()) == 3

    venv = make_venv(with_pip=False)
    _pip(venv, isolated_pip_env, "-r", str(path))
    assert _installed(venv, isolated_pip_env) == expected
    # ... which is what this interpreter's own resolution chose.
    assert expected == {str(n): str(p.version) for n, p in result.resolutions[0].pins.items()}


def _find_uv() -> str | None:
    beside = Path(sys.executable).parent / ("uv.exe" if sys.platform == "win32" else "uv")
    if beside.exists():
        return str(beside)
    return shutil.which("uv")


def test_uv_installs_this_targets_part_of_a_multi_target_lock(
    tmp_path: Path,
    index_url: str,
    make_venv: Callable[..., Venv],
    isolated_pip_env: dict[str, str],
) -> None:
    uv = _find_uv()
    if uv is None:
        pytest.skip("uv is neither on PATH nor next to the running interpreter")
    _, path = _lock(tmp_path, index_url, _multi_targets())
    expected = _selection(read_lock(path), current())
    venv = make_venv(with_pip=False)
    proc = subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--no-config",
            "--cache-dir",
            str(tmp_path / "uv-cache"),
            "--python",
            str(venv.python),
            "-r",
            str(path),
        ],
        capture_output=True,
        text=True,
        env=isolated_pip_env,
        check=False,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _installed(venv, isolated_pip_env) == expected
