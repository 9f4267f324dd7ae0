"""End to end: lock from the fake index on 127.0.0.1, install the lock with real pip
into a fresh virtual environment, and compare what got installed with the lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from packaging.pylock import Pylock

from reqlock import lock
from reqlock.lockfile import read_lock
from tests.fakeindex.pipcheck import Venv
from tests.lockapi import with_options

pytestmark = pytest.mark.e2e

REQUIREMENTS = """\
# one of each kind: extras, markers, sdist-only (static), no .metadata file
extras-a[all]
markers-top
sdist-static
nometa-pkg
Foo.Bar
"""


def _installed(venv: Venv, env: dict[str, str]) -> dict[str, str]:
    script = (
        "import json, importlib.metadata as m;"
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    out = subprocess.run(
        [str(venv.python), "-c", script], check=True, capture_output=True, text=True, env=env
    ).stdout
    from packaging.utils import canonicalize_name

    found = {canonicalize_name(k): v for k, v in json.loads(out).items()}
    found.pop("pip", None)
    return found


def test_lock_then_pip_installs_exactly_the_lock(
    tmp_path: Path,
    index_url: str,
    make_venv: Callable[..., Venv],
    isolated_pip_env: dict[str, str],
) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text(REQUIREMENTS)
    result = lock([req], **with_options(index_url=index_url, cache_dir=tmp_path / "cache"))
    out = tmp_path / "pylock.toml"
    assert result.write(out)
    assert not result.write(out)  # the same lock again: the file is left alone

    locked = {p.name: str(p.version) for p in read_lock(out).packages}
    assert locked["extras-a"] == "1.0"
    assert "sdist-static" in locked

    venv = make_venv(with_pip=False)
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
            "-r",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=isolated_pip_env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert _installed(venv, isolated_pip_env) == locked


def test_lock_is_deterministic_and_valid(tmp_path: Path, index_url: str) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text(REQUIREMENTS)
    first = lock([req], **with_options(index_url=index_url, cache_dir=tmp_path / "c1")).to_toml()
    second = lock([req], **with_options(index_url=index_url, no_cache=True)).to_toml()
    assert first == second
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    lock_model = Pylock.from_dict(tomllib.loads(first))
    assert lock_model.created_by == "reqlock"
    assert lock_model.environments is not None
    assert len(lock_model.environments) == 1
    # Every file carries a sha256, size, upload time and a URL on the index host.
    for package in lock_model.packages:
        assert package.index == index_url
        for dist in [*(package.wheels or ()), *([package.sdist] if package.sdist else [])]:
            assert dist.hashes.get("sha256")
            assert dist.size
            assert dist.upload_time
            assert dist.url
            assert dist.url.startswith(index_url.rsplit("/simple/", 1)[0])


def test_two_processes_with_different_hash_seeds_write_the_same_bytes(
    tmp_path: Path, index_url: str
) -> None:
    """Determinism across processes: set and dict orders that depend on
    PYTHONHASHSEED must never reach the lock."""
    req = tmp_path / "requirements.txt"
    req.write_text(REQUIREMENTS)
    outputs = []
    for seed in ("1", "4242"):
        out = tmp_path / f"pylock.{seed}.toml"
        env = {**os.environ, "PYTHONHASHSEED": seed, "NETRC": os.devnull}
        subprocess.run(
            [
                sys.executable,
                "-m",
                "reqlock",
                "lock",
                str(req),
                "-o",
                str(out),
                "-i",
                index_url,
                "--no-cache",
                "--target",
                "linux-x86_64-py3.12",
                "--target",
                "windows-amd64-py3.11",
            ],
            check=True,
            capture_output=True,
            env=env,
        )
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
