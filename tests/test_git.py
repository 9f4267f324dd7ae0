"""Git support (``reqlock.index.git``): parsing ``git+`` URLs, resolving revisions
and checking commits out, over git+file and a dumb HTTP server on 127.0.0.1.

Hermetic: no network beyond 127.0.0.1, no global git configuration. A wrapper
script in front of git records every command (and its environment), so tests can
tell how often git ran and what it was given.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reqlock.errors import ReqlockError
from reqlock.index.git import Git, GitError, VcsUrl, parse_vcs_url, vcs_url_text
from tests.gitrepo import (
    add_submodule,
    branch,
    commit,
    git_environment,
    make_repo,
    refused_url,
    run_git,
    serve_dumb_http,
    silent_url,
    tag,
)

REAL_GIT = shutil.which("git")
pytestmark = pytest.mark.skipif(REAL_GIT is None, reason="git is not installed")

SECRET = "s3cret-T0ken"
HEX_BRANCH = "abcdef1234"
_FAST = settings(max_examples=300, deadline=None, derandomize=True)


# ---------------------------------------------------------------- parse_vcs_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "git+https://host.example/org/repo.git@v1.0#subdirectory=sub&egg=name",
            VcsUrl(
                vcs="git",
                repo_url="https://host.example/org/repo.git",
                revision="v1.0",
                subdirectory="sub",
                egg="name",
            ),
        ),
        (
            "git+ssh://git@host.example/org/repo.git",
            VcsUrl(
                vcs="git",
                repo_url="ssh://git@host.example/org/repo.git",
                revision=None,
                subdirectory=None,
                egg=None,
            ),
        ),
        (
            "git+ssh://git@host.example:2222/repo.git@" + "a" * 40,
            VcsUrl(
                vcs="git",
                repo_url="ssh://git@host.example:2222/repo.git",
                revision="a" * 40,
                subdirectory=None,
                egg=None,
            ),
        ),
        (
            "git+file:///abs/path/repo@branch",
            VcsUrl(
                vcs="git",
                repo_url="file:///abs/path/repo",
                revision="branch",
                subdirectory=None,
                egg=None,
            ),
        ),
        (
            "git+https://user:tok@host.example/r.git@main",
            VcsUrl(
                vcs="git",
                repo_url="https://user:tok@host.example/r.git",
                revision="main",
                subdirectory=None,
                egg=None,
            ),
        ),
    ],
)
def test_parse_examples(url: str, expected: VcsUrl) -> None:
    assert parse_vcs_url(url) == expected


@pytest.mark.parametrize(
    ("url", "repo_url", "revision"),
    [
        ("git+http://host.example/r.git", "http://host.example/r.git", None),
        ("git+git://host.example/r.git@v2", "git://host.example/r.git", "v2"),
        ("GIT+HTTPS://host.example/r.git", "https://host.example/r.git", None),
        ("git+file://localhost/srv/r.git", "file://localhost/srv/r.git", None),
        # The revision is after the LAST '@' of the path; '/' may be in it.
        ("git+https://host.example/r.git@feature/x", "https://host.example/r.git", "feature/x"),
        ("git+https://host.example/a@b/r.git@v1", "https://host.example/a@b/r.git", "v1"),
        ("git+https://host.example/r.git@feature%2Fy", "https://host.example/r.git", "feature/y"),
        # A password may hold '@' (percent-encoded or not): still user-info.
        ("git+https://u:p%40ss@host.example/r.git", "https://u:p%40ss@host.example/r.git", None),
        ("git+https://u:p@ss@host.example/r.git@x", "https://u:p@ss@host.example/r.git", "x"),
        ("git+https://host.example/r.git?q=1", "https://host.example/r.git?q=1", None),
        ("git+https://[::1]:8443/r.git@v1", "https://[::1]:8443/r.git", "v1"),
    ],
)
def test_parse_revision_and_user_info(url: str, repo_url: str, revision: str | None) -> None:
    parsed = parse_vcs_url(url)
    assert (parsed.repo_url, parsed.revision) == (repo_url, revision)


@pytest.mark.parametrize(
    ("fragment", "subdirectory"),
    [("sub", "sub"), ("a/b", "a/b"), ("a/./b/", "a/b"), ("./a//b", "a/b"), (".", None)],
)
def test_subdirectory_is_normalised(fragment: str, subdirectory: str | None) -> None:
    parsed = parse_vcs_url(f"git+https://host.example/r.git#subdirectory={fragment}")
    assert parsed.subdirectory == subdirectory


@pytest.mark.parametrize(
    "fragment", ["", "../x", "a/../../b", "..", "/abs", "a\\b", "C:/x", "c:x", "a#b"]
)
def test_subdirectory_outside_the_repository_is_refused(fragment: str) -> None:
    with pytest.raises(GitError, match="subdirectory"):
        parse_vcs_url(f"git+https://host.example/r.git#subdirectory={fragment}")


def test_fragment_keys() -> None:
    parsed = parse_vcs_url("git+https://host.example/r.git#egg=My.Pkg_2&other=1&subdirectory=s")
    assert (parsed.egg, parsed.subdirectory, parsed.revision) == ("My.Pkg_2", "s", None)
    with pytest.raises(GitError, match="egg= twice"):
        parse_vcs_url("git+https://host.example/r.git#egg=a&egg=b")


def test_egg_with_extras_is_refused_clearly() -> None:
    with pytest.raises(GitError, match="extras") as info:
        parse_vcs_url("git+https://host.example/r.git#egg=name[extra]")
    assert info.value.hint is not None
    assert "name[extra] @ git+" in info.value.hint


@pytest.mark.parametrize("egg", ["-bad", "a b", "na$me", "", "name-"])
def test_invalid_egg_is_refused(egg: str) -> None:
    with pytest.raises(GitError):
        parse_vcs_url(f"git+https://host.example/r.git#egg={egg}")


@pytest.mark.parametrize("vcs", ["hg", "svn", "bzr", "HG"])
def test_other_version_control_systems_are_refused(vcs: str) -> None:
    with pytest.raises(GitError) as info:
        parse_vcs_url(f"{vcs}+https://host.example/repo")
    assert info.value.message == (
        f"reqlock locks git repositories only; {vcs.lower()} is not supported"
    )
    assert info.value.hint
    assert isinstance(info.value, ReqlockError)


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("git+foo://host.example/r", "transport 'foo'"),
        ("git+https://host.example/r.git@", "empty revision"),
        ("git+git@host.example:org/repo.git", "no '://'"),
        ("https://host.example/r.git", "does not start with 'git+'"),
        ("git+https://host.example", "no repository path"),
        ("git+https://host.example/", "no repository path"),
        ("git+file://otherhost/srv/r", "names a host"),
        ("git+https://host.example:99999/r.git", "outside 1..65535"),
        ("git+https://host.example:x/r.git", "not a number"),
        ("git+https:///r.git", "no host"),
        ("git+https://host.example/r.git@-upload-pack=x", "revision"),
        ("git+https://host.example/r.git@a..b", "revision"),
        ("git+https://host.example/r.git@v1^{}", "revision"),
        ("git+https://host.example/r.git@x.lock", "revision"),
        ("git+https://host.example/r.git@%20x", "revision"),
        ("git+https://host.example/r .git", "whitespace"),
        ("git+https://host.example/r.git\n", "whitespace"),
        ("cvs+https://host.example/r", "not a version control system"),
    ],
)
def test_malformed_urls(url: str, match: str) -> None:
    with pytest.raises(GitError, match=re.escape(match)):
        parse_vcs_url(url)


@pytest.mark.parametrize(
    "url",
    [
        f"git+https://user:{SECRET}@host.example/r.git@",
        f"git+https://user:{SECRET}@host.example/r.git@v1#subdirectory=../x",
        f"git+https://{SECRET}@host.example:99999/r.git",
        f"git+foo://user:{SECRET}@host.example/r",
        f"hg+https://user:{SECRET}@host.example/r",
        f"git+https://user:{SECRET}@host.example/r.git#egg=a[b]",
        f"git+https://user:{SECRET}@host.example/r .git",
        f"git+https://user:{SECRET}@host.example",
    ],
)
def test_errors_never_show_credentials(url: str) -> None:
    with pytest.raises(GitError) as info:
        parse_vcs_url(url)
    error = info.value
    assert SECRET not in str(error)
    assert SECRET not in repr(error.args)
    assert error.url is None or SECRET not in error.url


@given(st.text(max_size=80))
@_FAST
def test_parse_raises_only_git_error(tail: str) -> None:
    try:
        parsed = parse_vcs_url("git+https://" + tail)
    except GitError:
        return
    assert parsed.repo_url.startswith("https://")


_USER = st.text(st.characters(exclude_characters="/?#@\\", codec="utf-8"))


@given(_USER, st.text(max_size=40))
@_FAST
def test_parse_errors_never_show_the_password(user: str, tail: str) -> None:
    url = f"git+https://{user}:{SECRET}@host.example/{tail}"
    try:
        parse_vcs_url(url)
    except GitError as exc:
        error = exc
    else:
        return
    assert SECRET not in str(error)
    assert error.url is None or SECRET not in error.url


def test_vcs_url_text_round_trip() -> None:
    sha = "0123456789abcdef" * 2 + "01234567"
    text = vcs_url_text("https://u:t@host.example/r.git", sha, "pkg/sub")
    assert text == f"git+https://u:t@host.example/r.git@{sha}#subdirectory=pkg/sub"
    parsed = parse_vcs_url(text)
    assert (parsed.repo_url, parsed.revision, parsed.subdirectory) == (
        "https://u:t@host.example/r.git",
        sha,
        "pkg/sub",
    )
    assert vcs_url_text("file:///x/r", sha) == f"git+file:///x/r@{sha}"
    with pytest.raises(GitError):
        vcs_url_text("https://host.example/r.git", "v1.0")
    with pytest.raises(GitError):
        vcs_url_text("https://host.example/r.git", sha, "../up")


# ---------------------------------------------------------------- repositories


@dataclass(frozen=True)
class Source:
    path: Path
    first: str  # tagged v1 (annotated) and v1-light
    middle: str  # no ref points at it
    main: str  # tip of main (HEAD)
    dev: str  # tip of dev; branch HEX_BRANCH points here too
    tag_object: str  # the id of the tag object v1


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Source:
    path = tmp_path_factory.mktemp("git") / "src"
    first = make_repo(path, {"README": "one\n", "pkg/__init__.py": "VERSION = 1\n"})
    tag(path, "v1", annotated=True)
    tag(path, "v1-light")
    middle = commit(path, {"MIDDLE": "middle\n"})
    main = commit(path, {"pkg/__init__.py": "VERSION = 2\n", "sub/setup.py": "# sub\n"})
    branch(path, "dev", switch=True)
    dev = commit(path, {"DEV": "dev\n"})
    run_git(path, "branch", HEX_BRANCH, dev)
    run_git(path, "checkout", "--quiet", "main")
    return Source(path, first, middle, main, dev, run_git(path, "rev-parse", "v1"))


@pytest.fixture(scope="module", params=["file", "http"])
def remote(request: pytest.FixtureRequest, source: Source) -> Iterator[str]:
    """The source repository as git+file and over dumb HTTP."""
    if request.param == "file":
        yield source.path.as_uri()
    else:
        with serve_dumb_http(source.path) as url:
            yield url


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return git_environment(home)


@pytest.fixture
def git(tmp_path: Path, env: dict[str, str]) -> Git:
    return Git(tmp_path / "cache", environ=env, timeout=120)


@dataclass
class Wrapper:
    """A ``git`` in front of the real one that logs each command line."""

    path: Path
    log: Path
    env_log: Path

    def commands(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def environment(self) -> dict[str, str]:
        pairs = (line.partition("=") for line in self.env_log.read_text().splitlines())
        return {key: value for key, _, value in pairs}


def make_wrapper(directory: Path, body: str = "") -> Wrapper:
    if os.name != "posix":
        pytest.skip("the git wrapper is a POSIX shell script")
    directory.mkdir(parents=True, exist_ok=True)
    wrapper = Wrapper(directory / "git", directory / "log", directory / "env")
    wrapper.path.write_text(
        "#!/bin/sh\n"
        f"printf '%s\\n' \"$*\" >> '{wrapper.log}'\n"
        f"env > '{wrapper.env_log}'\n"
        f"{body}\n"
        f"exec '{REAL_GIT}' \"$@\"\n"
    )
    wrapper.path.chmod(wrapper.path.stat().st_mode | stat.S_IEXEC)
    return wrapper


@pytest.fixture
def wrapper(tmp_path: Path) -> Wrapper:
    return make_wrapper(tmp_path / "wrapper")


def leftovers(cache: Path) -> list[Path]:
    return [p for p in cache.rglob(".tmp-*") if p.parent.parent.name == "checkouts"]


# ---------------------------------------------------------------- resolve


def test_resolve_refs(git: Git, remote: str, source: Source) -> None:
    assert git.resolve(remote, None) == source.main
    assert git.resolve(remote, "HEAD") == source.main
    assert git.resolve(remote, "main") == source.main
    assert git.resolve(remote, "dev") == source.dev
    assert git.resolve(remote, "v1-light") == source.first
    # An annotated tag names the commit it points at, not the tag object.
    assert git.resolve(remote, "v1") == source.first
    assert git.resolve(remote, "refs/tags/v1") == source.first
    assert git.resolve(remote, "refs/heads/dev") == source.dev


def test_resolve_full_and_short_ids(git: Git, remote: str, source: Source) -> None:
    assert git.resolve(remote, source.first) == source.first
    assert git.resolve(remote, source.middle) == source.middle
    assert git.resolve(remote, source.middle.upper()) == source.middle
    assert git.resolve(remote, source.main) == source.main
    assert git.resolve(remote, source.middle[:10]) == source.middle
    assert git.resolve(remote, source.first[:10]) == source.first
    assert git.resolve(remote, source.dev[:7]) == source.dev


def test_a_ref_wins_over_a_hex_reading(git: Git, remote: str, source: Source) -> None:
    assert not source.first.startswith(HEX_BRANCH)
    assert git.resolve(remote, HEX_BRANCH) == source.dev


@pytest.mark.parametrize("revision", ["nope", "0" * 40, "deadbee0", "dead", "refs/heads/nope"])
def test_unknown_revision(git: Git, remote: str, source: Source, revision: str) -> None:
    commits = (source.first, source.middle, source.main, source.dev)
    assert not any(c.startswith("deadbee0") for c in commits)
    with pytest.raises(GitError, match="unknown revision") as info:
        git.resolve(remote, revision)
    error = info.value
    assert error.revision == revision
    assert error.url == remote
    assert remote in error.message
    assert error.hint is not None
    assert "heads: " in error.hint
    assert "main" in error.hint
    assert "v1-light" in error.hint
    assert leftovers(git._cache_dir) == []


def test_resolve_does_not_clone_when_ls_remote_answers(
    tmp_path: Path, env: dict[str, str], remote: str, source: Source, wrapper: Wrapper
) -> None:
    git = Git(tmp_path / "cache", environ=env, git=str(wrapper.path))
    for revision in (None, "main", "dev", "v1", source.main, source.dev[:8]):
        git.resolve(remote, revision)
    commands = wrapper.commands()
    assert sum(" ls-remote " in f" {c} " for c in commands) == 1
    assert not any(" fetch " in c for c in commands)
    assert not (tmp_path / "cache" / "checkouts").exists()


def test_a_full_id_is_checked_by_fetching_it(
    tmp_path: Path, env: dict[str, str], remote: str, source: Source, wrapper: Wrapper
) -> None:
    git = Git(tmp_path / "cache", environ=env, git=str(wrapper.path))
    assert git.resolve(remote, source.middle) == source.middle
    assert any(" fetch " in c for c in wrapper.commands())
    # ...which filled the cache: the checkout runs no git.
    before = len(wrapper.commands())
    assert (git.checkout(remote, source.middle) / "MIDDLE").is_file()
    assert len(wrapper.commands()) == before


def test_a_short_id_found_once_is_not_fetched_again(
    tmp_path: Path, env: dict[str, str], remote: str, source: Source, wrapper: Wrapper
) -> None:
    cache = tmp_path / "cache"
    first = Git(cache, environ=env, git=str(wrapper.path))
    assert first.resolve(remote, source.middle[:9]) == source.middle
    fetches = sum(" fetch " in c for c in wrapper.commands())
    assert fetches == 1
    again = Git(cache, environ=env, git=str(wrapper.path))
    assert again.resolve(remote, source.middle[:9]) == source.middle
    assert sum(" fetch " in c for c in wrapper.commands()) == fetches


def test_a_tag_object_id_is_not_a_commit(git: Git, remote: str, source: Source) -> None:
    with pytest.raises(GitError, match="not a commit"):
        git.resolve(remote, source.tag_object)


def test_unreachable_path(git: Git, tmp_path: Path) -> None:
    url = (tmp_path / "no-such-repo").as_uri()
    with pytest.raises(GitError, match="cannot reach the repository") as info:
        git.resolve(url, None)
    assert info.value.hint == (
        "check the URL and your access (ssh key, token); git runs without prompting"
    )
    assert "no-such-repo" in info.value.message


def test_unreachable_port_never_shows_credentials(git: Git) -> None:
    with refused_url() as url:
        secret_url = url.replace("http://", f"http://user:{SECRET}@")
        with pytest.raises(GitError, match="cannot reach the repository") as info:
            git.resolve(secret_url, None)
    assert url in info.value.message
    assert SECRET not in str(info.value)
    assert info.value.url == url


def test_an_empty_repository_has_no_default_branch(git: Git, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    run_git(empty, "init", "--quiet")
    with pytest.raises(GitError, match="no default branch"):
        git.resolve(empty.as_uri(), None)


def test_credentials_travel_outside_the_command_line(
    tmp_path: Path, env: dict[str, str], source: Source, wrapper: Wrapper
) -> None:
    git = Git(tmp_path / "cache", environ=env, git=str(wrapper.path))
    with serve_dumb_http(source.path) as url:
        secret_url = url.replace("http://", f"http://user:{SECRET}@")
        assert git.resolve(secret_url, "dev") == source.dev
        assert (git.checkout(secret_url, source.first) / "README").is_file()
    assert wrapper.commands()
    assert not any(SECRET in c for c in wrapper.commands())
    # The cache is keyed by the redacted URL and holds no credentials.
    for path in (tmp_path / "cache").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes()


def test_old_git_gets_the_url_on_its_command_line(
    tmp_path: Path, env: dict[str, str], source: Source
) -> None:
    # git before 2.31 does not read GIT_CONFIG_COUNT: the URL then goes in -c.
    fake = 'case "$1" in version) echo "git version 2.30.2"; exit 0;; esac'
    wrapper = make_wrapper(tmp_path / "old", fake)
    git = Git(tmp_path / "cache", environ=env, git=str(wrapper.path))
    assert git.resolve(source.path.as_uri(), "dev") == source.dev
    assert any(f"remote.origin.url={source.path.as_uri()}" in c for c in wrapper.commands())


def test_git_runs_without_prompts_and_without_foreign_repositories(
    tmp_path: Path, env: dict[str, str], source: Source, wrapper: Wrapper
) -> None:
    env = dict(env, GIT_DIR=str(tmp_path / "elsewhere"), SSH_ASKPASS="/bin/ask")
    git = Git(tmp_path / "cache", environ=env, git=str(wrapper.path))
    assert git.resolve(source.path.as_uri(), None) == source.main
    seen = wrapper.environment()
    assert seen["GIT_TERMINAL_PROMPT"] == "0"
    assert seen["GIT_ASKPASS"] == ""
    assert seen["GIT_CONFIG_NOSYSTEM"] == "1"
    assert seen["LC_ALL"] == "C"
    assert seen["GIT_SSH_COMMAND"] == "ssh -oBatchMode=yes"
    assert "GIT_DIR" not in seen
    assert "SSH_ASKPASS" not in seen
    ls_remote = next(c for c in wrapper.commands() if "ls-remote" in c)
    assert "protocol.ext.allow=never" in ls_remote
    assert "protocol.file.allow=always" in ls_remote


def test_the_users_ssh_command_is_kept(
    tmp_path: Path, env: dict[str, str], source: Source, wrapper: Wrapper
) -> None:
    env = dict(env, GIT_SSH_COMMAND="my-ssh -i key")
    Git(tmp_path / "cache", environ=env, git=str(wrapper.path)).resolve(source.path.as_uri(), None)
    assert wrapper.environment()["GIT_SSH_COMMAND"] == "my-ssh -i key"


def test_a_cache_inside_another_repository(
    tmp_path: Path, env: dict[str, str], source: Source
) -> None:
    # The user's project (with its own origin) around the cache must not matter.
    other = tmp_path / "other"
    make_repo(other, {"OTHER": "x\n"})
    project = tmp_path / "project"
    make_repo(project, {"setup.py": "\n"})
    run_git(project, "remote", "add", "origin", other.as_uri())
    git = Git(project / ".cache" / "git", environ=env)
    assert git.resolve(source.path.as_uri(), None) == source.main
    checkout = git.checkout(source.path.as_uri(), source.dev)
    assert (checkout / "DEV").is_file()
    assert not (checkout / "OTHER").exists()


def test_git_not_installed(tmp_path: Path, env: dict[str, str], source: Source) -> None:
    git = Git(tmp_path / "cache", environ=env, git=str(tmp_path / "nowhere" / "git"))
    with pytest.raises(GitError, match="git is not installed") as info:
        git.resolve(source.path.as_uri(), None)
    assert info.value.hint is not None
    assert "install git" in info.value.hint
    with pytest.raises(GitError, match="git is not installed"):
        git.checkout(source.path.as_uri(), source.first)


def test_a_server_that_never_answers_times_out(tmp_path: Path, env: dict[str, str]) -> None:
    git = Git(tmp_path / "cache", environ=env, timeout=2)
    with silent_url() as url, pytest.raises(GitError, match="did not answer within 2 s") as info:
        git.resolve(url, None)
    assert url in info.value.message


# ---------------------------------------------------------------- checkout


def test_checkout_content(git: Git, remote: str, source: Source) -> None:
    first = git.checkout(remote, source.first)
    assert (first / "pkg" / "__init__.py").read_text() == "VERSION = 1\n"
    assert not (first / "sub").exists()
    main = git.checkout(remote, source.main)
    assert (main / "pkg" / "__init__.py").read_text() == "VERSION = 2\n"
    # The subdirectory is the caller's business: the checkout is the whole tree.
    assert (main / "sub" / "setup.py").is_file()
    assert run_git(main, "rev-parse", "HEAD") == source.main
    assert first != main
    assert first.parent == main.parent
    assert leftovers(git._cache_dir) == []


def test_checkout_is_cached(
    tmp_path: Path, env: dict[str, str], remote: str, source: Source, wrapper: Wrapper
) -> None:
    cache = tmp_path / "cache"
    path = Git(cache, environ=env, git=str(wrapper.path)).checkout(remote, source.dev)
    count = len(wrapper.commands())
    assert count > 0
    git = Git(cache, environ=env, git=str(wrapper.path))
    assert git.checkout(remote, source.dev) == path
    assert git.checkout(remote, source.dev) == path
    assert len(wrapper.commands()) == count


def test_checkout_of_a_missing_commit(git: Git, remote: str) -> None:
    with pytest.raises(GitError, match="unknown revision"):
        git.checkout(remote, "1" * 40)
    assert not (git._cache_dir / "checkouts").exists() or not any(
        p.name == "1" * 40 for p in (git._cache_dir / "checkouts").rglob("*")
    )
    assert leftovers(git._cache_dir) == []


@pytest.mark.parametrize("commit", ["../../etc", "A" * 40, "abc", "", "a" * 41])
def test_checkout_wants_a_full_commit_id(git: Git, commit: str) -> None:
    with pytest.raises(GitError, match="not a full commit id"):
        git.checkout("file:///nowhere", commit)


def test_a_failed_checkout_leaves_nothing_behind(
    tmp_path: Path, env: dict[str, str], source: Source
) -> None:
    broken = make_wrapper(tmp_path / "broken", 'case "$*" in *" checkout --quiet"*) exit 1;; esac')
    cache = tmp_path / "cache"
    url = source.path.as_uri()
    with pytest.raises(GitError, match="git checkout failed"):
        Git(cache, environ=env, git=str(broken.path)).checkout(url, source.first)
    assert leftovers(cache) == []
    assert not any(p.name == source.first for p in cache.rglob("*"))
    # A stale workspace of an interrupted run is never taken for a checkout.
    parent = next((cache / "checkouts").iterdir())
    (parent / f".tmp-{source.first}").mkdir()
    path = Git(cache, environ=env).checkout(url, source.first)
    assert (path / "README").is_file()
    assert path.name == source.first


def test_concurrent_checkouts_agree(git: Git, remote: str, source: Source) -> None:
    with ThreadPoolExecutor(max_workers=6) as pool:
        paths = list(pool.map(lambda _: git.checkout(remote, source.main), range(12)))
    assert len(set(paths)) == 1
    assert (paths[0] / "sub" / "setup.py").is_file()
    assert leftovers(git._cache_dir) == []


def test_concurrent_instances_share_a_cache(
    tmp_path: Path, env: dict[str, str], remote: str, source: Source
) -> None:
    # Separate instances have separate locks, as separate processes would: the
    # rename decides, and every caller gets a complete checkout.
    cache = tmp_path / "cache"
    with ThreadPoolExecutor(max_workers=4) as pool:
        paths = list(
            pool.map(lambda _: Git(cache, environ=env).checkout(remote, source.dev), range(4))
        )
    assert len(set(paths)) == 1
    assert (paths[0] / "DEV").is_file()
    assert leftovers(cache) == []


def test_shallow_off_fetches_history(
    git: Git, tmp_path: Path, env: dict[str, str], source: Source
) -> None:
    deep = Git(tmp_path / "deep", environ=env, shallow=False)
    path = deep.checkout(source.path.as_uri(), source.main)
    assert run_git(path, "rev-parse", "HEAD~1") == source.middle
    shallow = git.checkout(source.path.as_uri(), source.main)
    assert (shallow / ".git" / "shallow").is_file()


def test_submodules_are_checked_out(git: Git, tmp_path: Path) -> None:
    library = tmp_path / "library"
    make_repo(library, {"lib.py": "X = 1\n"})
    outer = tmp_path / "outer"
    make_repo(outer, {"setup.py": "\n"})
    # One absolute and one relative submodule URL (relative to the parent's).
    add_submodule(outer, library.as_uri(), "vendor/absolute")
    head = add_submodule(outer, "../library", "vendor/relative")
    url = outer.as_uri()
    assert git.resolve(url, None) == head
    path = git.checkout(url, head)
    assert (path / "vendor" / "absolute" / "lib.py").read_text() == "X = 1\n"
    assert (path / "vendor" / "relative" / "lib.py").read_text() == "X = 1\n"


def test_a_remote_parent_may_not_use_local_submodules(git: Git, tmp_path: Path) -> None:
    library = tmp_path / "library"
    make_repo(library, {"lib.py": "X = 1\n"})
    outer = tmp_path / "outer"
    make_repo(outer, {"setup.py": "\n"})
    head = add_submodule(outer, library.as_uri(), "vendor/lib")
    with serve_dumb_http(outer) as url, pytest.raises(GitError, match="submodule"):
        git.checkout(url, head)
    assert leftovers(git._cache_dir) == []


def test_sha256_repository(git: Git, tmp_path: Path) -> None:
    path = tmp_path / "sha256"
    path.mkdir()
    try:
        run_git(path, "init", "--quiet", "--object-format=sha256")
    except AssertionError:
        pytest.skip("this git cannot make sha256 repositories")
    first = commit(path, {"a": "1\n"})
    head = commit(path, {"b": "2\n"})
    assert len(head) == 64
    url = path.as_uri()
    assert git.resolve(url, None) == head
    assert git.resolve(url, first[:12]) == first
    assert git.resolve(url, first) == first
    assert (git.checkout(url, head) / "b").read_text() == "2\n"
