"""End to end: lock a mix of direct references and index packages from the fake
index on 127.0.0.1, ``sync`` it into a fresh virtual environment with real pip,
and ``verify`` it: an editable project whose dependencies come from the index, a
git package, a local archive and a find-links wheel."""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from reqlock import lock
from reqlock.deploy.sync import sync
from reqlock.deploy.verify import verify
from tests.fakeindex.build import build_wheel
from tests.fakeindex.pipcheck import Venv
from tests.lockapi import with_options
from tests.test_sync_direct import BACKEND, git

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed"),
]


def project(where: Path, name: str, deps: list[str]) -> Path:
    """A source tree with static [project] metadata and a stdlib-only backend."""
    (where / name).mkdir(parents=True, exist_ok=True)
    (where / name / "__init__.py").write_text("VALUE = 1\n")
    (where / "backend.py").write_text(textwrap.dedent(BACKEND).format(name=name, version="0.1"))
    (where / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
        f'[project]\nname = "{name}"\nversion = "0.1"\n'
        "dependencies = [" + ", ".join(f'"{d}"' for d in deps) + "]\n"
    )
    return where


def test_lock_sync_verify_a_mix(
    tmp_path: Path, index_url: str, make_venv: Callable[..., Venv]
) -> None:
    project(tmp_path / "app", "appmod", ["leaf-a<2"])
    repo = project(tmp_path / "repo", "gitmod", ["leaf-b<2"])
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "one")
    build_wheel(tmp_path / "dist", "archived", "1.0")
    build_wheel(tmp_path / "wheels", "linked", "2.0")
    (tmp_path / "requirements.txt").write_text(
        "-e ./app\n"
        f"gitmod @ git+file://{repo}\n"
        "dist/archived-1.0-py3-none-any.whl\n"
        "--find-links wheels\n"
        "linked\n"
    )
    locks = tmp_path / "locks"
    locks.mkdir()
    result = lock(
        [tmp_path / "requirements.txt"],
        **with_options(
            index_url=index_url,
            lock_dir=locks,
            no_cache=True,
            environ={"NETRC": os.devnull},
        ),
    )
    path = locks / "pylock.toml"
    result.write(path)
    names = {p.name for p in result.pylock.packages}
    assert names == {"appmod", "gitmod", "archived", "linked", "leaf-a", "leaf-b"}
    venv = make_venv()
    done = sync(path, python=venv.python)
    assert done.report.ok, done.report
    again = verify(path, python=venv.python)
    assert again.ok, again


def test_pip_installs_a_lock_with_archives_and_find_links(
    tmp_path: Path,
    index_url: str,
    make_venv: Callable[..., Venv],
    isolated_pip_env: dict[str, str],
) -> None:
    import subprocess
    import sys

    build_wheel(tmp_path / "dist", "archived", "1.0", requires_dist=["leaf-a<2"])
    build_wheel(tmp_path / "wheels", "linked", "2.0")
    (tmp_path / "requirements.txt").write_text(
        "./dist/archived-1.0-py3-none-any.whl\n-f ./wheels\nlinked\n"
    )
    result = lock(
        [tmp_path / "requirements.txt"],
        **with_options(
            index_url=index_url, lock_dir=tmp_path, no_cache=True, environ={"NETRC": os.devnull}
        ),
    )
    path = tmp_path / "pylock.toml"
    result.write(path)
    venv = make_venv(with_pip=False)
    command = [sys.executable, "-m", "pip", "--isolated", "--python", str(venv.python)]
    proc = subprocess.run(
        [*command, "install", "--no-input", "-r", str(path)],
        capture_output=True,
        text=True,
        env=isolated_pip_env,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    report = verify(path, python=venv.python)
    assert report.ok, report
