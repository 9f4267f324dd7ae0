"""sync and verify of vcs and directory packages.

The first part compares hand-made inventories (no I/O but symlinks): a directory
package has no version, paths are resolved against the lock's directory and
compared as real paths, commits, subdirectories and the editable flag must match.

The second part (``e2e``) syncs fresh virtual environments with real pip, offline:
git repositories made in the test (``file://`` URLs), project directories with a
tiny in-tree PEP 517/660 backend (``requires = []``, so that pip's isolated build
needs no index), an archive and a wheel. Each test builds its own sources and
environment, so none depends on another or on timing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
import venv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from packaging.pylock import Pylock
from packaging.utils import canonicalize_name

from reqlock.cli.main import main
from reqlock.deploy.inventory import InstalledDist
from reqlock.deploy.plan import Change, SyncPlan, Unhashed, plan_sync
from reqlock.deploy.sync import PipFailedError, sync
from reqlock.deploy.verify import Report, compare, select_expected, verify
from reqlock.errors import LockFileError
from tests.fakeindex.build import build_sdist, build_wheel
from tests.test_sync_e2e import pip
from tests.test_verify import HERE_ENV, HERE_TAGS, installed, inventory_of, lock_dict, sha256_of

COMMIT = "0123456789abcdef0123456789abcdef01234567"
OTHER_COMMIT = "89abcdef0123456789abcdef0123456789abcdef"


# --------------------------------------------------------------------------- verify, by hand


def report_for(
    packages: Sequence[Mapping[str, Any]], *dists: InstalledDist, lock_dir: Path | None = None
) -> Report:
    lock = Pylock.from_dict(lock_dict(packages))
    selection = select_expected(lock, environment=HERE_ENV, tags=HERE_TAGS)
    return compare(selection, inventory_of(*dists), lock_name="pylock.toml", lock_dir=lock_dir)


def found(report: Report) -> list[tuple[str, str | None]]:
    return [(p.kind, p.package) for p in report.problems]


def dir_entry(path: str, *, editable: bool | None = None, sub: str | None = None) -> dict[str, Any]:
    directory: dict[str, Any] = {"path": path}
    if editable is not None:
        directory["editable"] = editable
    if sub is not None:
        directory["subdirectory"] = sub
    return {"name": "dirpkg", "directory": directory}


def vcs_entry(url: str, *, sub: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": "git", "url": url, "commit-id": COMMIT}
    if sub is not None:
        entry["subdirectory"] = sub
    return {"name": "gitpkg", "version": "1.0", "vcs": entry}


def from_dir(version: str, url: str, *, editable: bool = False, **extra: Any) -> InstalledDist:
    info = {"editable": True} if editable else {}
    return installed("dirpkg", version, direct_url={"url": url, "dir_info": info, **extra})


def from_git(url: str, commit: str = COMMIT, **extra: Any) -> InstalledDist:
    direct = {"url": url, "vcs_info": {"vcs": "git", "commit_id": commit}, **extra}
    return installed("gitpkg", "1.0", direct_url=direct)


def test_directory_without_version_matches_any_installed_version(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    url = (tmp_path / "src").as_uri()
    report = report_for(
        [dir_entry("src", editable=True)], from_dir("0.3", url, editable=True), lock_dir=tmp_path
    )
    assert report.ok, report.render()
    assert report.expected == {"dirpkg": None}
    assert "1 package as locked" in report.render()


def test_missing_directory_package_is_reported_without_a_version(tmp_path: Path) -> None:
    report = report_for([dir_entry("src", editable=True)], lock_dir=tmp_path)
    assert found(report) == [("missing", "dirpkg")]
    assert report.problems[0].detail == "locked editable directory src, not installed"
    assert report.problems[0].expected is None
    plan = plan_sync(report)
    assert [(c.name, c.locked) for c in plan.install] == [("dirpkg", None)]
    assert "  dirpkg (missing)\n" in plan.render()


def test_relative_path_is_resolved_against_the_lock_dir_as_a_real_path(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "work" / "pkg").mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    installed_url = (real / "work" / "pkg").as_uri()
    # The lock read through a symlink; pip recorded the real path.
    ok = report_for([dir_entry("work", sub="pkg")], from_dir("1", installed_url), lock_dir=link)
    assert ok.ok, ok.render()
    # And the other way round.
    via_link = (link / "work" / "pkg").as_uri()
    assert report_for([dir_entry("work/pkg")], from_dir("1", via_link), lock_dir=real).ok
    # pip's own spelling of a subdirectory: the directory plus "subdirectory".
    split = from_dir("1", (real / "work").as_uri(), subdirectory="pkg")
    assert report_for([dir_entry("work", sub="pkg")], split, lock_dir=real).ok


def test_other_path_and_other_editable_flag_are_direct_url(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "elsewhere").mkdir()
    here = (tmp_path / "src").as_uri()
    moved = report_for(
        [dir_entry("src")], from_dir("1", (tmp_path / "elsewhere").as_uri()), lock_dir=tmp_path
    )
    assert found(moved) == [("direct-url", "dirpkg")]
    flipped = report_for([dir_entry("src")], from_dir("1", here, editable=True), lock_dir=tmp_path)
    assert found(flipped) == [("direct-url", "dirpkg")]
    assert "locked directory src, installed from an editable directory" in flipped.render()
    unflipped = report_for(
        [dir_entry("src", editable=True)], from_dir("1", here), lock_dir=tmp_path
    )
    assert "locked editable directory src, installed from a local directory" in unflipped.render()
    from_index = report_for([dir_entry("src")], installed("dirpkg", "1"), lock_dir=tmp_path)
    assert found(from_index) == [("direct-url", "dirpkg")]


def test_vcs_commit_repository_and_subdirectory_must_match(tmp_path: Path) -> None:
    url = "https://git.example/r.git"
    assert report_for([vcs_entry(url)], from_git(url)).ok
    assert report_for([vcs_entry(url, sub="py/")], from_git(url, subdirectory="py")).ok
    other = report_for([vcs_entry(url)], from_git(url, OTHER_COMMIT))
    assert found(other) == [("direct-url", "gitpkg")]
    assert other.problems[0].actual == f"{url}@{OTHER_COMMIT}"
    assert "installed from a git checkout" in other.problems[0].detail
    assert found(report_for([vcs_entry(url, sub="py")], from_git(url))) == [
        ("direct-url", "gitpkg")
    ]
    assert found(report_for([vcs_entry(url)], from_git(url, subdirectory="py"))) == [
        ("direct-url", "gitpkg")
    ]
    assert found(report_for([vcs_entry(url)], from_git("https://git.example/fork.git"))) == [
        ("direct-url", "gitpkg")
    ]
    (tmp_path / "repo").mkdir()
    local = (tmp_path / "repo").as_uri()
    assert report_for([vcs_entry(local)], from_git(local + "/")).ok


def test_plan_names_the_unhashed_installs() -> None:
    git_name, dir_name = canonicalize_name("gitpkg"), canonicalize_name("dirpkg")
    plan = SyncPlan(
        install=(
            Change(name=git_name, installed=None, locked="1.0", reason="missing"),
            Change(name=dir_name, installed=None, locked=None, reason="missing"),
        ),
        unhashed=(
            Unhashed(name=git_name, kind="vcs", source=f"git+file:///r@{COMMIT}"),
            Unhashed(name=dir_name, kind="directory", source="/srv/d", editable=True),
        ),
    )
    assert plan.render() == (
        "install (2):\n"
        "  gitpkg 1.0 (missing)\n"
        "  dirpkg (missing)\n"
        f"note: gitpkg installs without a hash check, pinned by commit: git+file:///r@{COMMIT}\n"
        "note: dirpkg installs without a hash check, from the directory /srv/d (editable)\n"
    )


# --------------------------------------------------------------------------- real pip

# An in-tree PEP 517/660 backend, stdlib only: pip's isolated build installs
# nothing for it (requires = []), so everything works offline.
BACKEND = """
import base64, hashlib, os, zipfile

NAME, VERSION = {name!r}, {version!r}
ROOT = os.path.dirname(os.path.abspath(__file__))
DIST_INFO = NAME + "-" + VERSION + ".dist-info"

def _hash(data):
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

def _wheel(directory, members):
    metadata = "Metadata-Version: 2.1\\nName: %s\\nVersion: %s\\n" % (NAME, VERSION)
    wheel = "Wheel-Version: 1.0\\nGenerator: t\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
    members = list(members) + [
        (DIST_INFO + "/METADATA", metadata.encode()),
        (DIST_INFO + "/WHEEL", wheel.encode()),
    ]
    rows = "".join("%s,%s,%d\\n" % (p, _hash(d), len(d)) for p, d in members)
    rows += DIST_INFO + "/RECORD,,\\n"
    name = NAME + "-" + VERSION + "-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(directory, name), "w") as z:
        for path, data in members + [(DIST_INFO + "/RECORD", rows.encode())]:
            z.writestr(path, data)
    return name

def get_requires_for_build_wheel(config_settings=None):
    return []

def get_requires_for_build_editable(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    with open(os.path.join(ROOT, NAME, "__init__.py"), "rb") as f:
        return _wheel(wheel_directory, [(NAME + "/__init__.py", f.read())])

def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory, [(NAME + "_editable.pth", (ROOT + "\\n").encode())])
"""
PYPROJECT = '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def make_project(where: Path, name: str, version: str, value: str) -> Path:
    (where / name).mkdir(parents=True, exist_ok=True)
    (where / name / "__init__.py").write_text(f"VALUE = {value!r}\n")
    (where / "backend.py").write_text(textwrap.dedent(BACKEND).format(name=name, version=version))
    (where / "pyproject.toml").write_text(PYPROJECT)
    return where


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    options = ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    proc = subprocess.run(
        ["git", *options, *args], cwd=repo, capture_output=True, text=True, env=env, check=True
    )
    return proc.stdout.strip()


@dataclass
class World:
    """One test's sources, lock directory and empty environment."""

    root: Path
    python: str
    repo: Path
    commits: tuple[str, str]  # the locked commit, then another of the same version

    def lock(self, *names: str, **override: Mapping[str, Any]) -> Path:
        entries = {name: {**ENTRIES[name](self), **override.get(name, {})} for name in names}
        data = lock_dict(list(entries.values()))
        Pylock.from_dict(data)  # a valid PEP 751 lock, as the lock side writes it
        path = self.root / "pylock.toml"
        path.write_text(tomli_w.dumps(data), encoding="utf-8")
        return path

    def value(self, module: str) -> str:
        code = f"import {module}; print({module}.VALUE)"
        proc = subprocess.run([self.python, "-c", code], capture_output=True, text=True, check=True)
        return proc.stdout.strip()

    def direct_url(self, name: str) -> dict[str, Any]:
        code = (
            "import importlib.metadata as m, sys; "
            f"sys.stdout.write(m.distribution({name!r}).read_text('direct_url.json'))"
        )
        proc = subprocess.run([self.python, "-c", code], capture_output=True, text=True, check=True)
        data: dict[str, Any] = json.loads(proc.stdout)
        return data


ENTRIES: dict[str, Any] = {
    "gitpkg": lambda w: {
        "name": "gitpkg",
        "version": "1.0",
        "vcs": {
            "type": "git",
            "url": w.repo.as_uri(),
            "requested-revision": "main",
            "commit-id": w.commits[0],
            "subdirectory": "py",
        },
    },
    # PEP 751: no version for directories.
    "editpkg": lambda w: {
        "name": "editpkg",
        "directory": {"path": "work/editpkg", "editable": True},
    },
    "dirpkg": lambda w: {
        "name": "dirpkg",
        "directory": {"path": "work", "editable": False, "subdirectory": "dirpkg"},
    },
    "archpkg": lambda w: {
        "name": "archpkg",
        "version": "1.0",
        "archive": {
            "path": "dist/archpkg-1.0.tar.gz",
            "size": (w.root / "dist" / "archpkg-1.0.tar.gz").stat().st_size,
            "hashes": {"sha256": sha256_of(w.root / "dist" / "archpkg-1.0.tar.gz")},
        },
    },
    "plain": lambda w: {
        "name": "plain",
        "version": "1.0",
        "wheels": [
            {
                "url": (w.root / "wheels" / "plain-1.0-py3-none-any.whl").as_uri(),
                "hashes": {"sha256": sha256_of(w.root / "wheels" / "plain-1.0-py3-none-any.whl")},
            }
        ],
    },
}


@pytest.fixture
def world(tmp_path: Path) -> World:
    root = tmp_path / "project"
    repo = root / "repo"
    make_project(repo / "py", "gitpkg", "1.0", "one")
    git(repo, "-c", "init.defaultBranch=main", "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "one")
    first = git(repo, "rev-parse", "HEAD")
    (repo / "py" / "gitpkg" / "__init__.py").write_text("VALUE = 'two'\n")
    git(repo, "commit", "-q", "-a", "-m", "two")
    second = git(repo, "rev-parse", "HEAD")
    make_project(root / "work" / "editpkg", "editpkg", "0.1", "edit")
    make_project(root / "work" / "dirpkg", "dirpkg", "0.2", "dir")
    build_sdist(root / "dist", "archpkg", "1.0")
    build_wheel(root / "wheels", "plain", "1.0")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(env_dir)
    python = str(env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))
    return World(root=root, python=python, repo=repo, commits=(first, second))


def problems(w: World, lock: Path, capsys: pytest.CaptureFixture[str]) -> list[tuple[str, str]]:
    code = main(["verify", str(lock), "--python", w.python, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == (0 if not report["problems"] else 1)
    return sorted((p["kind"], p["package"]) for p in report["problems"])


KINDS = {
    "vcs": ("gitpkg",),
    "editable": ("editpkg",),
    "directory": ("dirpkg",),
    "mix": ("gitpkg", "editpkg", "dirpkg", "archpkg", "plain"),
}


@pytest.mark.e2e
@needs_git
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_sync_installs_direct_packages_and_verify_passes(
    world: World, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    names = KINDS[kind]
    lock = world.lock(*names)
    result = sync(lock, python=world.python)
    assert result.changed
    assert result.ok, result.report.render()
    assert sorted(c.name for c in result.plan.install) == sorted(names)
    direct = sorted(n for n in names if n in {"gitpkg", "editpkg", "dirpkg"})
    assert [u.name for u in result.plan.unhashed] == direct
    assert problems(world, lock, capsys) == []
    if "gitpkg" in names:
        assert world.value("gitpkg") == "one"  # the locked commit, not the branch's head
        assert world.direct_url("gitpkg")["vcs_info"]["commit_id"] == world.commits[0]
    if "editpkg" in names:
        assert world.direct_url("editpkg")["dir_info"] == {"editable": True}
    if "dirpkg" in names:
        assert world.value("dirpkg") == "dir"
        assert world.direct_url("dirpkg")["dir_info"] == {}
    again = sync(lock, python=world.python)
    assert (again.changed, again.plan.render()) == (
        False,
        "nothing to do: the environment matches the lock\n",
    )


@pytest.mark.e2e
@needs_git
def test_dry_run_says_what_installs_without_hashes(world: World) -> None:
    lock = world.lock("gitpkg", "editpkg", "dirpkg", "plain")
    result = sync(lock, python=world.python, dry_run=True)
    assert not result.changed
    text = result.plan.render()
    commit = world.commits[0]
    repo = world.repo.as_uri()
    editpkg = world.root / "work" / "editpkg"
    dirpkg = world.root / "work" / "dirpkg"
    assert "  gitpkg 1.0 (missing)\n" in text
    assert "  editpkg (missing)\n" in text
    assert "  plain 1.0 (missing)\n" in text
    assert (
        f"note: gitpkg installs without a hash check, pinned by commit: "
        f"git+{repo}@{commit}#subdirectory=py\n" in text
    )
    assert (
        f"note: editpkg installs without a hash check, from the directory {editpkg} (editable)\n"
        in text
    )
    assert f"note: dirpkg installs without a hash check, from the directory {dirpkg}\n" in text
    assert "plain installs" not in text
    assert sorted(p.kind for p in verify(lock, python=world.python).problems) == ["missing"] * 4


@pytest.mark.e2e
@needs_git
def test_other_commit_is_reported_and_repaired(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = world.lock("gitpkg")
    assert sync(lock, python=world.python).ok
    other = f"gitpkg @ git+{world.repo.as_uri()}@{world.commits[1]}#subdirectory=py"
    pip(world.python, "install", "--no-deps", "--force-reinstall", "--no-index", other)
    assert world.value("gitpkg") == "two"
    assert problems(world, lock, capsys) == [("direct-url", "gitpkg")]
    report = verify(lock, python=world.python)
    assert report.problems[0].actual == f"{world.repo.as_uri()}@{world.commits[1]}"
    result = sync(lock, python=world.python)
    assert [c.name for c in result.plan.reinstall] == ["gitpkg"]
    assert result.ok, result.report.render()
    assert world.value("gitpkg") == "one"


@pytest.mark.e2e
@needs_git
def test_editable_flag_and_path_changes_are_reported_and_repaired(
    world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lock = world.lock("editpkg", "dirpkg")
    assert sync(lock, python=world.python).ok
    editpkg = world.root / "work" / "editpkg"
    pip(world.python, "install", "--no-deps", "--force-reinstall", "--no-index", str(editpkg))
    copy = shutil.copytree(world.root / "work" / "dirpkg", tmp_path / "elsewhere" / "dirpkg")
    pip(world.python, "install", "--no-deps", "--force-reinstall", "--no-index", "-e", str(copy))
    assert problems(world, lock, capsys) == [("direct-url", "dirpkg"), ("direct-url", "editpkg")]
    result = sync(lock, python=world.python)
    assert result.ok, result.report.render()
    assert world.direct_url("editpkg")["dir_info"] == {"editable": True}
    assert world.direct_url("dirpkg")["dir_info"] == {}


@pytest.mark.e2e
@needs_git
def test_source_edits_need_no_sync(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    lock = world.lock("editpkg", "dirpkg")
    assert sync(lock, python=world.python).ok
    # An editable install runs the source as it is now.
    (world.root / "work" / "editpkg" / "editpkg" / "__init__.py").write_text("VALUE = 'new'\n")
    assert world.value("editpkg") == "new"
    # A non-editable directory is not rebuilt when its source changes: same path,
    # same flag, so it is in sync (as pip itself sees it); documented.
    (world.root / "work" / "dirpkg" / "dirpkg" / "__init__.py").write_text("VALUE = 'new'\n")
    assert problems(world, lock, capsys) == []
    assert not sync(lock, python=world.python).changed
    assert world.value("dirpkg") == "dir"


@pytest.mark.e2e
@needs_git
def test_unsafe_commit_stops_the_sync_before_anything_changes(world: World) -> None:
    good = world.lock("plain")
    assert sync(good, python=world.python).ok
    build_wheel(world.root / "extra", "intruder", "1.0")
    pip(
        world.python,
        "install",
        "--no-deps",
        "--no-index",
        "--find-links",
        str(world.root / "extra"),
        "intruder",
    )
    bad = world.lock(
        "plain",
        "gitpkg",
        gitpkg={"vcs": {"type": "git", "url": world.repo.as_uri(), "commit-id": "main"}},
    )
    with pytest.raises(LockFileError, match=r"\[packages\[1\]\.vcs\.commit-id\]: the commit-id"):
        sync(bad, python=world.python, dry_run=True)
    with pytest.raises(LockFileError, match="not a full git commit hash"):
        sync(bad, python=world.python)
    # Nothing was installed and nothing removed before the refusal.
    assert [(p.kind, p.package) for p in verify(bad, python=world.python).problems] == [
        ("missing", "gitpkg"),
        ("unexpected", "intruder"),
    ]


@pytest.mark.e2e
@needs_git
def test_failing_unhashed_step_is_reported_with_where_things_stand(world: World) -> None:
    # A full, well-formed commit the repository does not have.
    lock = world.lock(
        "plain",
        "gitpkg",
        gitpkg={"vcs": {"type": "git", "url": world.repo.as_uri(), "commit-id": "f" * 40}},
    )
    with pytest.raises(PipFailedError) as info:
        sync(lock, python=world.python)
    error = info.value
    assert "pip failed to install 1 locked vcs or directory package(s) (without hashes)" in str(
        error
    )
    assert "pip had no index to take build requirements from" in str(error)
    assert error.report is not None
    # The hash-checked step ran first: plain is installed, gitpkg is not.
    assert [(p.kind, p.package) for p in error.report.problems] == [("missing", "gitpkg")]
