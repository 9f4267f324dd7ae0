"""Locking direct references against the in-process fake index: local project
directories (static and built metadata, editable, extras), local and remote
archives, find-links directories and --no-index, and their errors."""

from __future__ import annotations

import hashlib
import os
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from reqlock import lock
from reqlock.errors import ReqlockError, RequirementsError
from reqlock.locking.api import LockResult, inputs_fingerprint
from reqlock.targets import parse_target
from tests.fakeindex.build import build_sdist, build_wheel
from tests.gitrepo import commit, make_repo, tag
from tests.lockapi import with_options

INDEX = "http://fakeindex/simple/"
ENVIRON = {"REQLOCK_ALLOW_INSECURE_HOST": "fakeindex", "NETRC": os.devnull}
LINUX = parse_target("linux-x86_64-py3.12")


def write_project(
    root: Path,
    name: str = "myapp",
    *,
    deps: tuple[str, ...] = ("leaf-a<2",),
    extras: dict[str, list[str]] | None = None,
    dynamic: tuple[str, ...] = (),
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    lines = ["[project]", f'name = "{name}"', 'version = "0.3"']
    lines.append("dependencies = [" + ", ".join(f'"{d}"' for d in deps) + "]")
    if dynamic:
        lines.append("dynamic = [" + ", ".join(f'"{d}"' for d in dynamic) + "]")
    if extras:
        lines.append("[project.optional-dependencies]")
        for extra, items in extras.items():
            lines.append(f"{extra} = [" + ", ".join(f'"{i}"' for i in items) + "]")
    (root / "pyproject.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.fixture
def run(wsgi_transport: httpx.WSGITransport, tmp_path: Path) -> Any:
    def go(text: str, **kwargs: Any) -> LockResult:
        req = tmp_path / "requirements.txt"
        req.write_text(text, encoding="utf-8")
        kwargs.setdefault("targets", [LINUX])
        kwargs.setdefault("index_url", INDEX)
        kwargs.setdefault("lock_dir", tmp_path)
        return lock(
            [req],
            **with_options(transport=wsgi_transport, environ=ENVIRON, no_cache=True, **kwargs),
        )

    return go


def _package(result: LockResult, name: str) -> Any:
    return next(p for p in result.pylock.packages if p.name == name)


def test_editable_directory_with_extras(run: Any, tmp_path: Path) -> None:
    write_project(tmp_path / "app", extras={"dev": ["leaf-b>=2"]})
    result = run("-e ./app[dev]\n")
    app = _package(result, "myapp")
    assert app.directory is not None
    assert app.directory.path == "app"
    assert app.directory.editable is True
    assert app.version is None  # PEP 751: a source tree's version is not locked
    assert app.index is None
    names = {p.name: str(p.version) for p in result.pylock.packages if p.version}
    assert names == {"leaf-a": "1.1", "leaf-b": "3.0"}
    assert {d["name"] for d in app.dependencies} == {"leaf-a", "leaf-b"}
    assert "editable = true" in result.text


def test_unnamed_directory_is_named_from_its_metadata(run: Any, tmp_path: Path) -> None:
    write_project(tmp_path / "sub" / "pkg", name="Sub_Pkg", deps=())
    result = run("./sub/pkg\nleaf-b<2\n")
    sub = _package(result, "sub-pkg")
    assert sub.directory is not None
    assert sub.directory.path == "sub/pkg"
    assert sub.directory.editable is None


def test_paths_are_relative_to_the_lock_directory(run: Any, tmp_path: Path) -> None:
    write_project(tmp_path / "app", deps=())
    result = run("./app\n", lock_dir=tmp_path / "locks" / "deep")
    assert _package(result, "myapp").directory.path == "../../app"


def test_version_requirement_and_direct_reference_agree(run: Any, tmp_path: Path) -> None:
    write_project(tmp_path / "app", deps=())
    assert _package(run("./app\nmyapp>=0.2\n"), "myapp").directory is not None
    with pytest.raises(ReqlockError, match="myapp"):
        run("./app\nmyapp>=1\n")


def test_local_wheel_archive(run: Any, tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "dist", "wheely", "1.2", requires_dist=["leaf-a==1.0"])
    result = run("dist/" + wheel.name + "\n")
    pkg = _package(result, "wheely")
    assert pkg.archive is not None
    assert pkg.archive.path == f"dist/{wheel.name}"
    assert pkg.archive.hashes == {"sha256": hashlib.sha256(wheel.read_bytes()).hexdigest()}
    assert pkg.archive.size == wheel.stat().st_size
    assert str(pkg.version) == "1.2"
    assert str(_package(result, "leaf-a").version) == "1.0"


def test_archive_hash_is_checked(run: Any, tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "dist", "wheely", "1.2")
    with pytest.raises(RequirementsError) as err:
        run(f"wheely @ file://{wheel} --hash=sha256:{'0' * 64}\n")
    assert err.value.line == 1
    assert "does not match the sha256" in err.value.message


def test_remote_archive_from_a_url(run: Any) -> None:
    url = "http://fakeindex/files/leaf_a-1.0-py3-none-any.whl"
    result = run(f"leaf-a @ {url}\n")
    pkg = _package(result, "leaf-a")
    assert pkg.archive is not None
    assert pkg.archive.url == url
    assert pkg.archive.hashes["sha256"]


def test_remote_archive_fragment_hash_mismatch(run: Any) -> None:
    url = "http://fakeindex/files/leaf_a-1.0-py3-none-any.whl#sha256=" + "1" * 64
    with pytest.raises(ReqlockError, match="sha256"):
        run(f"leaf-a @ {url}\n")


def test_sdist_archive_with_dynamic_metadata_is_built(run: Any, tmp_path: Path) -> None:
    sdist = build_sdist(
        tmp_path / "dist", "dyn-pkg", "2.0", requires_dist=["leaf-b<2"], static=False
    )
    result = run(f"./dist/{sdist.name}\n")
    assert _package(result, "dyn-pkg").archive is not None
    assert str(_package(result, "leaf-b").version) == "1.0"


def test_dynamic_directory_is_built_and_no_build_refuses(run: Any, tmp_path: Path) -> None:
    sdist = build_sdist(
        tmp_path / "dist", "dyn-dir", "2.0", requires_dist=["leaf-b<2"], static=False
    )
    with tarfile.open(sdist) as tf:
        tf.extractall(tmp_path / "src", filter="data")
    tree = next((tmp_path / "src").iterdir())
    (tree / "PKG-INFO").unlink()  # a source checkout has none
    result = run(f"-e {tree}\n")
    assert _package(result, "dyn-dir").directory is not None
    assert str(_package(result, "leaf-b").version) == "1.0"
    with pytest.raises(ReqlockError, match="--no-build"):
        run(f"-e {tree}\n", no_build=True)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("./missing\n", "does not exist"),
        ("./empty\n", "no pyproject.toml or setup.py"),
        ("other @ file://{tmp}/app\n", "the requirement names other"),
    ],
)
def test_errors_name_the_line(run: Any, tmp_path: Path, line: str, message: str) -> None:
    (tmp_path / "empty").mkdir()
    write_project(tmp_path / "app", deps=())
    with pytest.raises(RequirementsError) as err:
        run("leaf-a\n" + line.format(tmp=tmp_path))
    assert err.value.line == 2
    assert message in err.value.message


def test_two_sources_for_one_project(run: Any, tmp_path: Path) -> None:
    write_project(tmp_path / "a", deps=())
    write_project(tmp_path / "b", deps=())
    with pytest.raises(RequirementsError, match="two direct references"):
        run("./a\n./b\n")


def test_find_links_directory_and_no_index(run: Any, tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    build_wheel(wheels, "flat-one", "1.0", requires_dist=["flat-two>=2"])
    build_wheel(wheels, "flat-two", "2.0")
    build_wheel(wheels, "flat-two", "2.5")
    result = run("--no-index\n--find-links ./wheels\nflat-one\n")
    two = _package(result, "flat-two")
    assert str(two.version) == "2.5"
    assert two.index is None
    assert [w.path for w in two.wheels] == ["wheels/flat_two-2.5-py3-none-any.whl"]
    assert (
        two.wheels[0].hashes["sha256"]
        == hashlib.sha256((wheels / "flat_two-2.5-py3-none-any.whl").read_bytes()).hexdigest()
    )


def test_find_links_come_before_the_index(run: Any, tmp_path: Path) -> None:
    build_wheel(tmp_path / "wheels", "leaf-a", "9.0")
    result = run("-f wheels\nleaf-a\nleaf-b<2\n")
    assert str(_package(result, "leaf-a").version) == "9.0"
    assert _package(result, "leaf-b").index == INDEX


def test_no_index_without_find_links_finds_nothing(run: Any) -> None:
    with pytest.raises(ReqlockError, match="leaf-a"):
        run("--no-index\nleaf-a\n")


def test_local_project_changes_make_the_lock_stale(tmp_path: Path) -> None:
    write_project(tmp_path / "app", deps=("leaf-a",))
    req = tmp_path / "requirements.txt"
    req.write_text("-e ./app\n", encoding="utf-8")
    before = inputs_fingerprint([req], environ=ENVIRON)
    assert inputs_fingerprint([req], environ=ENVIRON) == before
    write_project(tmp_path / "app", deps=("leaf-a", "leaf-b"))
    after = inputs_fingerprint([req], environ=ENVIRON)
    assert after["local"] != before["local"]
    assert after["requirements"] == before["requirements"]


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str, str]:
    """A git repository with a project in ``sub/``: commit 1 (tag v1) needs
    leaf-a<2, commit 2 (branch main) needs leaf-a>=2."""
    import shutil

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = tmp_path / "repo"
    write_project(root / "sub", name="gitpkg", deps=("leaf-a<2",))
    first = make_repo(root, {})
    tag(root, "v1")
    write_project(root / "sub", name="gitpkg", deps=("leaf-a>=2",))
    return root, first, commit(root, {}, "two")


def test_git_reference_is_locked_at_its_commit(run: Any, repo: tuple[Path, str, str]) -> None:
    root, first, second = repo
    url = f"git+file://{root}"
    result = run(f"gitpkg @ {url}@v1#subdirectory=sub\n")
    pkg = _package(result, "gitpkg")
    assert pkg.vcs is not None
    assert (pkg.vcs.type, pkg.vcs.commit_id, pkg.vcs.requested_revision) == ("git", first, "v1")
    assert pkg.vcs.subdirectory == "sub"
    assert pkg.vcs.url == f"file://{root}"
    assert str(_package(result, "leaf-a").version) == "1.1"
    head = run(f"{url}#egg=gitpkg&subdirectory=sub\n")
    assert _package(head, "gitpkg").vcs.commit_id == second
    assert str(_package(head, "leaf-a").version) == "2.0"


def test_relock_keeps_the_locked_commit(run: Any, repo: tuple[Path, str, str]) -> None:
    root, _first, second = repo
    line = f"gitpkg @ git+file://{root}@main#subdirectory=sub\n"
    locked = run(line)
    assert _package(locked, "gitpkg").vcs.commit_id == second
    newest = commit(root, {}, "three")
    again = run(line, previous=locked.pylock)
    assert _package(again, "gitpkg").vcs.commit_id == second
    moved = run(line, previous=locked.pylock, upgrade_packages=["gitpkg"])
    assert _package(moved, "gitpkg").vcs.commit_id == newest


def test_git_errors_name_the_line(run: Any, repo: tuple[Path, str, str], tmp_path: Path) -> None:
    root, _, _ = repo
    with pytest.raises(RequirementsError) as err:
        run(f"leaf-b\ngitpkg @ git+file://{root}@no-such-tag#subdirectory=sub\n")
    assert err.value.line == 2
    assert "no-such-tag" in err.value.message
    with pytest.raises(RequirementsError) as err:
        run(f"gitpkg @ git+file://{tmp_path}/nowhere\n")
    assert err.value.line == 1
    with pytest.raises(RequirementsError, match="git repositories only"):
        run("pkg @ hg+https://example.com/repo\n")


def test_find_links_flat_page_on_localhost(
    wsgi_transport: httpx.WSGITransport, tmp_path: Path
) -> None:
    import functools
    import http.server
    import threading

    wheels = tmp_path / "site"
    one = build_wheel(wheels, "flat-one", "1.0")
    build_wheel(wheels, "flat-one", "1.5")
    digest = hashlib.sha256(one.read_bytes()).hexdigest()
    (wheels / "index.html").write_text(
        f'<a href="{one.name}#sha256={digest}">{one.name}</a>\n'
        '<a href="flat_one-1.5-py3-none-any.whl">flat_one-1.5-py3-none-any.whl</a>\n'
        '<a href="file:///etc/passwd-1.0.tar.gz">x</a>\n'
    )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(wheels))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        page = f"http://127.0.0.1:{server.server_address[1]}/index.html"
        req = tmp_path / "requirements.txt"
        req.write_text(f"--no-index\n-f {page}\nflat-one<1.5\n", encoding="utf-8")
        result = lock([req], **with_options(no_cache=True, lock_dir=tmp_path, environ=ENVIRON))
        pkg = _package(result, "flat-one")
        assert str(pkg.version) == "1.0"
        assert pkg.wheels[0].url.endswith(one.name)
        assert pkg.wheels[0].hashes == {"sha256": digest}
        newest = lock(
            [],
            **with_options(
                requirements=["flat-one"], find_links=[page], no_index=True, no_cache=True
            ),
        )
        wheel = _package(newest, "flat-one").wheels[0]  # no hash on the page: computed
        assert (
            wheel.hashes["sha256"]
            == hashlib.sha256((wheels / "flat_one-1.5-py3-none-any.whl").read_bytes()).hexdigest()
        )
    finally:
        server.shutdown()
        server.server_close()
