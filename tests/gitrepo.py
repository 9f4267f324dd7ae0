"""Local git repositories for tests, and a read-only dumb-HTTP server for them.

    head = make_repo(tmp_path / "src", {"pyproject.toml": "...", "pkg/__init__.py": ""})
    tag(tmp_path / "src", "v1.0", annotated=True)
    with serve_dumb_http(tmp_path / "src") as url:   # http://127.0.0.1:PORT/repo.git
        ...

Every git command here ignores the machine's and the user's git configuration and
names its own author, so the tests need no ``git config --global``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = [
    "add_submodule",
    "branch",
    "commit",
    "git_environment",
    "make_repo",
    "refused_url",
    "run_git",
    "serve_dumb_http",
    "silent_url",
    "tag",
]

_IDENTITY = (
    "-c", "user.name=reqlock tests", "-c", "user.email=tests@reqlock.invalid",
    "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false", "-c", "init.defaultBranch=main",
    "-c", "protocol.file.allow=always",
)  # fmt: skip


def git_environment(home: Path | None = None) -> dict[str, str]:
    """An environment in which git reads no system or global configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "SSH_"))}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, LC_ALL="C")
    env["GIT_TERMINAL_PROMPT"] = "0"
    if home is not None:
        env["HOME"] = str(home)
    return env


def run_git(path: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    """``git -C path args...`` with a fixed identity; its stripped stdout."""
    proc = subprocess.run(
        ["git", *_IDENTITY, "-C", str(path), *args],
        env=dict(env) if env is not None else git_environment(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {path}:\n{proc.stderr}")
    return proc.stdout.strip()


def make_repo(path: Path, files: Mapping[str, str], *, branch: str = "main") -> str:
    """A new repository at ``path`` whose first commit on ``branch`` holds ``files``;
    returns that commit's id."""
    path.mkdir(parents=True, exist_ok=True)
    run_git(path, "init", "--quiet")
    # symbolic-ref, not --initial-branch: that option needs git 2.28.
    run_git(path, "symbolic-ref", "HEAD", f"refs/heads/{branch}")
    return commit(path, files)


def commit(path: Path, files: Mapping[str, str], message: str = "change") -> str:
    """Write ``files`` (relative path to text) into the work tree, commit every
    change on the current branch, and return the new commit's id."""
    for name, text in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    run_git(path, "add", "--all")
    run_git(path, "commit", "--quiet", "--allow-empty", "-m", message)
    return run_git(path, "rev-parse", "HEAD")


def tag(path: Path, name: str, annotated: bool = False, *, ref: str = "HEAD") -> None:
    """Tag ``ref``: a lightweight tag, or an annotated one (a tag object)."""
    run_git(path, "tag", *(["-a", "-m", f"tag {name}"] if annotated else []), name, ref)


def branch(path: Path, name: str, *, switch: bool = False) -> None:
    """Create branch ``name`` at HEAD; with ``switch``, make it the current one."""
    run_git(path, "branch", name)
    if switch:
        run_git(path, "checkout", "--quiet", name)


def add_submodule(path: Path, url: str, where: str) -> str:
    """Add the repository at ``url`` as a submodule at ``where`` and commit it;
    returns the new commit's id."""
    run_git(path, "submodule", "--quiet", "add", url, where)
    return commit(path, {}, message=f"add submodule {where}")


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve_dumb_http(repo_path: Path) -> Iterator[str]:
    """Serve a bare clone of ``repo_path`` (as it is now: later commits to it do
    not show) read-only over git's dumb HTTP protocol on 127.0.0.1; yield its URL,
    ``http://127.0.0.1:PORT/repo.git``. The server ignores any credentials."""
    with tempfile.TemporaryDirectory(prefix="reqlock-dumb-http-") as root:
        bare = Path(root) / "repo.git"
        run_git(Path(root), "clone", "--quiet", "--bare", "--no-local", str(repo_path), str(bare))
        run_git(bare, "update-server-info")
        handler = functools.partial(_QuietHandler, directory=root)
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}/repo.git"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=30)


@contextlib.contextmanager
def refused_url() -> Iterator[str]:
    """An http URL on 127.0.0.1 whose port refuses connections: the port is bound
    (so nobody else takes it) but never listens."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/repo.git"


@contextlib.contextmanager
def silent_url() -> Iterator[str]:
    """An http URL on 127.0.0.1 that accepts connections and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/repo.git"
