"""Git for ``git+`` direct references: read the URL, resolve a revision to a
commit id, and check that commit out into a cache.

:func:`parse_vcs_url` is pure. :class:`Git` runs ``git`` (so the user's credential
helpers, ``insteadOf`` rules and ssh setup apply) but never lets it ask anything.
A URL reaches git in the environment (``GIT_CONFIG_*`` make it remote ``origin``),
not on the command line where process listings show credentials; every git
message shown goes through :func:`~reqlock.urls.redact_text`.
"""

from __future__ import annotations

__all__ = ["Git", "GitError", "VcsUrl", "parse_vcs_url", "vcs_url_text"]

import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from subprocess import DEVNULL, PIPE
from urllib.parse import unquote

from reqlock.errors import ReqlockError
from reqlock.urls import has_unsafe_characters, lock_url_problem, redact_text, redact_url

_TRANSPORTS = ("https", "http", "ssh", "git", "file")
_URL_RE = re.compile(
    r"(?P<scheme>[^:/?#]*)://(?P<authority>[^/?#]*)(?P<path>[^?#]*)"
    r"(?P<query>\?[^#]*)?(?:#(?P<fragment>.*))?", re.DOTALL,
)  # fmt: skip
_NAME_RE = re.compile(r"[A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9]", re.IGNORECASE | re.ASCII)
_HEX_RE = re.compile(r"[0-9a-fA-F]+")
_COMMIT_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
# What git check-ref-format refuses in a name (besides controls).
_BAD_REF_RE = re.compile(r"^-|[ ~^:?*\[\\]|\.\.|@\{|//|/\.|^\.|[/.]$|\.lock$|^@$")
# Variables that point git at some other repository (set when reqlock runs
# inside a git hook, say), and programs that could prompt.
_DROPPED_VARIABLES = (
    "SSH_ASKPASS", "SSH_ASKPASS_REQUIRE", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE",
    "GIT_PREFIX", "GIT_SHALLOW_FILE", "GIT_GRAFT_FILE", "GIT_REPLACE_REF_BASE",
)  # fmt: skip
# No command transport, no hooks (a global core.hooksPath or init template could
# otherwise run code on fetch or checkout), no fsmonitor daemon.
_OPTIONS = (
    "-c", "protocol.ext.allow=never", "-c", f"core.hooksPath={os.devnull}",
    "-c", "core.fsmonitor=false", "-c", "advice.detachedHead=false",
)  # fmt: skip
_VERBS = {"ls-remote": "cannot reach the repository", "fetch": "cannot fetch from the repository"}
_OTHER_HINT = "publish the project, or refer to an archive of it ('name @ https://.../x.tar.gz')"
_REACH_HINT = "check the URL and your access (ssh key, token); git runs without prompting"
_Fail = Callable[[str, "str | None"], "GitError"]  # fail(problem, hint) names the URL
_FETCH_ALL = ("origin", "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*")


class GitError(ReqlockError):
    """A git URL is malformed, or git could not resolve or fetch a revision.
    ``url`` is the repository URL without credentials (None when there is none);
    ``revision`` is the revision asked for, if any."""

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        revision: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.url = None if url is None else redact_url(url)
        self.revision = revision
        # Belt and braces: whatever the caller quoted, no user-info survives.
        super().__init__(redact_text(message), hint=None if hint is None else redact_text(hint))


class _Timeout(GitError):
    """git ran out of time: no fallback may hide that."""


@dataclass(frozen=True, kw_only=True, slots=True)
class VcsUrl:
    """The parts of a ``git+`` URL. ``repo_url`` is what git is given: no
    ``git+``, no ``@revision``, no fragment, credentials kept (never show it)."""

    vcs: str
    repo_url: str
    revision: str | None
    subdirectory: str | None
    egg: str | None


def parse_vcs_url(url: str) -> VcsUrl:
    """Split a ``git+<transport>://...[@rev][#subdirectory=...&egg=...]`` URL as pip
    does: the revision follows the last ``@`` of the path (an ``@`` of the
    user-info is not one). Raises :class:`GitError` (quoting no credentials)."""
    shown = redact_text(redact_url(url))

    def fail(problem: str, hint: str | None = None) -> GitError:
        return GitError(f"git URL {shown!r} {problem}", url=url, hint=hint)

    vcs, plus, rest = url.partition("+")
    if not plus or not re.fullmatch(r"[A-Za-z]+", vcs):
        raise fail("does not start with 'git+'", "write it like git+https://host/repo.git@v1.0")
    if vcs.lower() in ("hg", "svn", "bzr"):
        message = f"reqlock locks git repositories only; {vcs.lower()} is not supported"
        raise GitError(message, url=url, hint=_OTHER_HINT)
    if vcs.lower() != "git":
        raise fail(f"uses {vcs!r}, which is not a version control system reqlock knows")
    if has_unsafe_characters(url):
        raise fail("contains whitespace or a control character", "percent-encode it (%20)")
    match = _URL_RE.fullmatch(rest)
    if match is None:
        raise fail("has no '://'", "write ssh URLs as git+ssh://git@host/path/repo.git")
    scheme = match["scheme"].lower()
    if scheme not in _TRANSPORTS:
        raise fail(
            f"uses transport {match['scheme']!r}, which git cannot fetch from here",
            "use git+https://, git+ssh://, git+http://, git+git:// or git+file://",
        )
    head, at, tail = match["path"].rpartition("@")
    path, revision = (head, tail) if at else (tail, "")
    if at and not revision:
        raise fail("has an empty revision after '@'", "write a revision after '@' or remove '@'")
    if scheme == "file" and match["authority"].lower() not in ("", "localhost"):
        raise fail("names a host in a file: URL", "write file:///absolute/path/to/repo")
    if path.strip("/") == "":
        raise fail("names no repository path", "write it like git+https://host/repo.git")
    repo_url = f"{scheme}://{match['authority']}{path}{match['query'] or ''}"
    problem = lock_url_problem(repo_url, schemes=_TRANSPORTS)
    if problem is not None:
        raise fail(f"is not usable: {problem}")
    fragment = _fragment(match["fragment"] or "", fail)
    rev = unquote(revision) if at else None
    if rev is not None:
        bad = _revision_problem(rev)
        if bad is not None:
            raise fail(f"has revision {rev!r}, which {bad}", "name a branch, a tag or a commit id")
    raw_sub = fragment.get("subdirectory")
    subdirectory = None if raw_sub is None else _subdirectory(raw_sub, fail)
    egg = fragment.get("egg")
    if egg is not None and not _NAME_RE.fullmatch(egg):
        extras = "[" in egg and _NAME_RE.fullmatch(egg.partition("[")[0])
        why = "pip no longer accepts extras in egg=" if extras else "it is not a project name"
        raise fail(f"has #egg={egg!r}: {why}", "write 'name[extra] @ git+https://...'")
    return VcsUrl(vcs="git", repo_url=repo_url, revision=rev, subdirectory=subdirectory, egg=egg)


def _fragment(text: str, fail: _Fail) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, _, value in (part.partition("=") for part in text.split("&")):
        if key in ("subdirectory", "egg"):
            if key in values:
                raise fail(f"has #{key}= twice", f"keep one {key}=")
            # Raw, as pip reads them: pip does not percent-decode these two.
            values[key] = value
    return values


def _subdirectory(raw: str, fail: _Fail) -> str | None:
    hint = "write a path relative to the repository root, with '/' between parts"
    if not raw:
        raise fail("has an empty #subdirectory=", "remove it, or name a directory")
    if re.search(r"[\\#&]", raw) or raw.startswith("/") or re.match(r"[A-Za-z]:", raw):
        raise fail(f"has #subdirectory={raw!r}, which is not a plain relative path", hint)
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise fail(f"has #subdirectory={raw!r}, which leaves the repository with '..'", hint)
    return "/".join(parts) or None


def _revision_problem(rev: str) -> str | None:
    """Why git could never take ``rev`` as a revision (it would also reach git's
    command line, so nothing may look like an option), or None."""
    bad = has_unsafe_characters(rev) or _BAD_REF_RE.search(rev)
    return "git does not allow in a branch or tag name" if bad else None


def vcs_url_text(repo_url: str, commit: str, subdirectory: str | None = None) -> str:
    """The pip form ``git+<repo_url>@<commit>[#subdirectory=<sub>]`` (for installing)."""
    if not _COMMIT_RE.fullmatch(commit):
        raise GitError(f"{commit!r} is not a full commit id", url=repo_url, revision=commit)
    text = f"git+{repo_url}@{commit}"
    if subdirectory:
        # The same rules as parsing, so the text reads back as it was meant.
        checked = _subdirectory(subdirectory, lambda p, h: GitError(p, url=repo_url, hint=h))
        text += f"#subdirectory={checked}" if checked else ""
    return text


@dataclass(frozen=True, slots=True)
class _Refs:
    """What ``git ls-remote`` listed: ref name (``X^{}`` for a peeled tag) to id."""

    ids: Mapping[str, str]

    def commits(self) -> set[str]:
        """The ids that are commits as far as the listing tells (not tag objects)."""
        return {self.ids.get(n + "^{}", oid) for n, oid in self.ids.items() if "^" not in n}

    def lookup(self, revision: str | None) -> str | None:
        """The commit a ref name means, preferring a branch to a tag as pip does."""
        if revision is None or revision == "HEAD":
            return self.ids.get("HEAD")
        full = [revision] if revision.startswith("refs/") else []
        for name in full or [f"refs/heads/{revision}", f"refs/tags/{revision}"]:
            if name in self.ids:
                return self.ids.get(name + "^{}", self.ids[name])
        return None

    def names(self, kind: str) -> str:
        """A few names of ``kind`` (heads, tags) for a hint, or ''."""
        prefix = f"refs/{kind}/"
        found = [
            n[len(prefix) :] for n in sorted(self.ids) if n.startswith(prefix) and "^" not in n
        ]
        more = ", ..." if len(found) > 5 else ""
        return f"; {kind}: {', '.join(found[:5])}{more}" if found else ""


class Git:
    """Resolve revisions and check out commits of git repositories, with a cache.

    Checkouts live under ``cache_dir/checkouts/<hash of the redacted URL>/<commit>``,
    complete once they exist (each is built aside and renamed into place), so threads
    and processes can share the cache. Treat them as read-only: build from a copy.
    ``timeout`` bounds each git command; ``shallow`` fetches no history if it can.
    """

    def __init__(
        self,
        cache_dir: Path,
        *,
        timeout: float = 300.0,
        environ: Mapping[str, str] | None = None,
        git: str = "git",
        shallow: bool = True,
    ) -> None:
        self._cache_dir = Path(cache_dir)
        self._timeout = timeout
        self._git = git
        self._shallow = shallow
        self._env = _environment(os.environ if environ is None else environ)
        self._env_config: bool | None = None
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._listings: dict[str, _Refs] = {}

    def resolve(self, repo_url: str, revision: str | None) -> str:
        """The full commit id ``revision`` (default: the remote HEAD) names.

        A ref name wins over a hex reading of the same text, as in pip. A full
        commit id is checked by fetching it (which fills the checkout cache) unless
        a ref points at it; an abbreviated one needs the history.
        """
        refs = self._refs(repo_url)
        found = refs.lookup(revision)
        if found is not None:
            return found
        if revision is None or revision == "HEAD":
            raise self._unknown(repo_url, "HEAD", refs, "the repository has no default branch")
        if not _HEX_RE.fullmatch(revision) or len(revision) < 7:
            raise self._unknown(repo_url, revision, refs)
        wanted = revision.lower()
        size = max((len(oid) for oid in refs.ids.values()), default=40)
        if len(wanted) > size:
            raise self._unknown(repo_url, revision, refs, f"its ids have {size} hex digits")
        if len(wanted) < size:
            return self._expand(repo_url, wanted, refs)
        if wanted not in refs.commits():
            self.checkout(repo_url, wanted)
        return wanted

    def checkout(self, repo_url: str, commit: str) -> Path:
        """A directory holding the working tree (and ``.git``) of ``commit``,
        submodules included. Runs no git at all when the cache has it."""
        if not _COMMIT_RE.fullmatch(commit):
            raise GitError(f"{commit!r} is not a full commit id", url=repo_url, revision=commit)
        final = self._checkouts(repo_url) / commit
        if not final.is_dir():
            with self._lock(str(final)):
                if not final.is_dir():
                    with self._workspace(repo_url, sha256=len(commit) == 64) as work:
                        self._fetch_commit(work, repo_url, commit)
                        self._finish(work, repo_url, commit)
        return final

    def _refs(self, repo_url: str) -> _Refs:
        """``git ls-remote``, once per URL and instance."""
        with self._lock("ls-remote\0" + repo_url):
            if repo_url not in self._listings:
                self._cache_dir.mkdir(parents=True, exist_ok=True)
                out = self._run(["ls-remote", "origin"], repo_url, self._cache_dir, remote=True)
                lines = (line.partition("\t") for line in out.splitlines())
                ids = {n: oid.lower() for oid, _, n in lines if n and _HEX_RE.fullmatch(oid)}
                self._listings[repo_url] = _Refs(ids)
            return self._listings[repo_url]

    def _expand(self, repo_url: str, short: str, refs: _Refs) -> str:
        """The commit an abbreviated id names: the one listed or cached commit that
        starts so, else found in the whole history (then kept as its checkout)."""
        known = {oid for oid in refs.commits() if oid.startswith(short)}
        parent = self._checkouts(repo_url)
        cached = os.listdir(parent) if not known and parent.is_dir() else []
        known |= {n for n in cached if n.startswith(short) and _COMMIT_RE.fullmatch(n)}
        if len(known) == 1:
            return known.pop()
        sha256 = any(len(oid) == 64 for oid in refs.ids.values())
        with self._workspace(repo_url, sha256=sha256) as work:
            self._run(["fetch", *_FETCH_ALL], repo_url, work, remote=True)
            verify = ["rev-parse", "--verify", f"{short}^{{commit}}"]
            try:
                commit = self._run(verify, repo_url, work).strip()
            except GitError as exc:
                ambiguous = "ambiguous" in exc.message
                why = "it is ambiguous" if ambiguous else "no commit id starts with it"
                raise self._unknown(repo_url, short, refs, why) from None
            with self._lock(str(parent / commit)):
                if not (parent / commit).is_dir():
                    self._finish(work, repo_url, commit)
        return commit

    def _fetch_commit(self, work: Path, repo_url: str, commit: str) -> None:
        depth = ["--depth", "1"] if self._shallow else []
        if self._try(["fetch", "--no-tags", *depth, "origin", commit], repo_url, work, remote=True):
            return
        # Refused: a dumb HTTP server (no shallow), or a server that serves only
        # advertised refs. The whole history then shows whether the commit exists.
        self._run(["fetch", *_FETCH_ALL], repo_url, work, remote=True)
        if not self._try(["cat-file", "-e", f"{commit}^{{commit}}"], repo_url, work):
            raise self._unknown(repo_url, commit, self._refs(repo_url), "no such commit")

    def _finish(self, work: Path, repo_url: str, commit: str) -> None:
        """Check ``commit`` out with its submodules, verify HEAD, and rename the
        workspace into place: the last step, so nothing half done is ever found."""
        # remote: a git-lfs smudge filter asks git for origin's URL.
        self._run(["checkout", "--quiet", "--detach", commit], repo_url, work, remote=True)
        if (work / ".gitmodules").is_file():
            # Relative submodule URLs resolve against remote.origin.url, which
            # only this step sees; file:// submodules only under a file:// parent.
            self._run(["submodule", "init"], repo_url, work, remote=True)
            update = ["submodule", "update", "--init", "--recursive", "--quiet"]
            if not self._try([*update, "--depth", "1"], repo_url, work):
                self._run(update, repo_url, work)
        head = self._run(["rev-parse", "--verify", "HEAD"], repo_url, work).strip()
        if head != commit:
            raise self._unknown(repo_url, commit, self._refs(repo_url), "not a commit id")
        final = self._checkouts(repo_url) / commit
        try:
            os.rename(work, final)
        except OSError as exc:
            # Another process finished the same checkout first: theirs is as good.
            if not final.is_dir():
                raise GitError(f"cannot store the checkout in {final}: {exc.strerror}") from None

    def _checkouts(self, repo_url: str) -> Path:
        key = hashlib.sha256(redact_url(repo_url).encode("utf-8", "surrogatepass")).hexdigest()
        return self._cache_dir / "checkouts" / key[:20]

    @contextlib.contextmanager
    def _workspace(self, repo_url: str, *, sha256: bool) -> Iterator[Path]:
        """An empty repository next to where the checkouts of ``repo_url`` go (so
        the final rename stays on one file system), removed unless renamed away."""
        parent = self._checkouts(repo_url)
        parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".tmp-", dir=parent))
        try:
            # --template= copies no hooks or config from the user's init template.
            sha = ["--object-format=sha256"] if sha256 else []
            self._run(["init", "--quiet", "--template=", *sha, str(work)], repo_url, work)
            yield work
        finally:
            # A leftover (read-only packs on Windows) is harmless: '.tmp-*' is no commit.
            shutil.rmtree(work, ignore_errors=True)

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _run(self, args: list[str], url: str, cwd: Path, *, remote: bool = False) -> str:
        """Run one git command in ``cwd``; its stdout, or a :class:`GitError`.
        With ``remote``, ``origin`` means ``url``. Submodules may use file:// only
        under a file:// parent (a remote repository must not read local ones)."""
        # No repository above cwd: the cache may sit inside the user's project,
        # whose own origin and config must not be picked up.
        env = dict(self._env, GIT_CEILING_DIRECTORIES=str(cwd.resolve().parent))
        options = list(_OPTIONS)
        if args[0] != "submodule" or url.lower().startswith("file:"):
            options += ["-c", "protocol.file.allow=always"]
        if remote and self._config_in_environment():
            count = env.get("GIT_CONFIG_COUNT", "")
            index = int(count) if count.isdigit() else 0
            env[f"GIT_CONFIG_KEY_{index}"] = "remote.origin.url"
            env[f"GIT_CONFIG_VALUE_{index}"] = url
            env["GIT_CONFIG_COUNT"] = str(index + 1)
        elif remote:
            options += ["-c", f"remote.origin.url={url}"]
        if args[0] == "fetch":
            args = ["fetch", "--quiet", "--no-recurse-submodules", *args[1:]]
        code, out, err = self._spawn([self._git, *options, *args], env, cwd, url)
        if code == 0:
            return out
        verb = _VERBS.get(args[0], f"git {args[0]} failed for")
        hint = _REACH_HINT if remote or args[0] == "submodule" else None
        raise GitError(f"{verb} {redact_url(url)}: {_detail(err, code)}", url=url, hint=hint)

    def _try(self, args: list[str], url: str, cwd: Path, *, remote: bool = False) -> bool:
        """Whether the command succeeded; running out of time still raises."""
        try:
            self._run(args, url, cwd, remote=remote)
        except _Timeout:
            raise
        except GitError:
            return False
        return True

    def _config_in_environment(self) -> bool:
        """Whether this git reads ``GIT_CONFIG_COUNT`` (2.31 and later)."""
        if self._env_config is None:
            _, out, _ = self._spawn([self._git, "version"], self._env, None, None)
            match = re.search(r"(\d+)\.(\d+)", out)
            self._env_config = match is None or (int(match[1]), int(match[2])) >= (2, 31)
        return self._env_config

    def _spawn(
        self, argv: list[str], env: dict[str, str], cwd: Path | None, repo_url: str | None
    ) -> tuple[int, str, str]:
        try:
            # A session of its own: on timeout the whole group goes (helpers such
            # as git-remote-https or ssh hold the pipes), and ssh has no terminal.
            proc = subprocess.Popen(
                argv, stdin=DEVNULL, stdout=PIPE, stderr=PIPE, env=env, cwd=cwd,
                start_new_session=os.name == "posix",
            )  # fmt: skip
        except FileNotFoundError:
            raise GitError(
                f"git is not installed (no {self._git!r} command): it is needed for git+ URLs",
                url=repo_url,
                hint="install git and put it on PATH",
            ) from None
        except OSError as exc:
            raise GitError(f"cannot run {self._git!r}: {exc.strerror}", url=repo_url) from None
        try:
            out, err = proc.communicate(timeout=self._timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            place = f" for {redact_url(repo_url)}" if repo_url else ""
            raise _Timeout(
                f"git did not answer within {self._timeout:g} s{place}",
                url=repo_url,
                hint="check that the server is reachable, or try again later",
            ) from None
        return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    def _unknown(self, url: str, revision: str, refs: _Refs, why: str = "") -> GitError:
        hint = "name a branch, a tag or a commit of the repository"
        hint += refs.names("heads") + refs.names("tags")
        place = f"{redact_url(url)} ({why})" if why else redact_url(url)
        message = f"unknown revision {revision!r} in {place}"
        return GitError(message, url=url, revision=revision, hint=hint)


def _environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` made safe for git: nothing prompts, nothing points at another
    repository, no system config, messages in English."""
    env = {key: value for key, value in environ.items() if key not in _DROPPED_VARIABLES}
    # An empty GIT_ASKPASS also masks core.askPass; then comes the terminal
    # prompt, which is off: git fails at once instead of asking for a password.
    env.update(GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="", GCM_INTERACTIVE="never")
    env.update(GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")
    if "GIT_SSH_COMMAND" not in env and "GIT_SSH" not in env:
        env["GIT_SSH_COMMAND"] = "ssh -oBatchMode=yes"
    return env


def _detail(stderr: str, code: int) -> str:
    """What git said, briefly: the lines up to its first ``fatal:``, last two
    (ssh and servers explain themselves just before it), credentials masked."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    end = next((i + 1 for i, line in enumerate(lines) if line.startswith("fatal:")), len(lines))
    picked = [line if len(line) <= 300 else line[:300] + "..." for line in lines[:end][-2:]]
    return redact_text("; ".join(picked)) if picked else f"git exited with status {code}"


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if sys.platform != "win32":
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.kill()
    # Not communicate(): whatever left the group (an ssh master) may keep the pipes.
    proc.wait()
    for pipe in filter(None, (proc.stdout, proc.stderr)):
        pipe.close()
