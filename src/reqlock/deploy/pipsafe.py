"""Lock strings that reach pip: each one validated before it is written.

``sync`` hands pip a requirements file made from the lock, and ``export`` writes
one for people to hand pip. Every URL, index, file name, path and hash in it comes
from the lock. pip reads that file line by line, splits lines on whitespace into
options, and expands ``${VAR}`` from the environment, so a lock string with a
line break, a space, a control character or ``${`` could add a line
(``evil==6.6.6``), an option (``--trusted-host``, ``-r /etc/passwd``) or send an
environment variable to a server. :func:`read_lock` refuses such locks already;
this module refuses them again where the text is written, for locks that were
built in memory (a ``Pylock`` passed to ``sync`` or ``export``).

``vcs`` entries become ``name @ git+URL@COMMIT#subdirectory=SUB``: the URL must
not carry a query, a fragment or an ``@`` in its path (pip would read part of it
as the revision), the commit must be a full hash (pip installs exactly it, never
what a branch points to now), and a subdirectory must stay inside the checkout.

Every refusal is a :class:`~reqlock.errors.LockFileError` naming the lock key
(``packages[3].wheels[0].url``).
"""

from __future__ import annotations

__all__ = ["VCS_COMMIT_LENGTHS", "VCS_SCHEMES", "LockPlace", "user_index_url"]

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from reqlock.errors import LockFileError
from reqlock.urls import check_url, has_unsafe_characters, hash_problem, lock_url_problem

# pip substitutes ${NAME} in requirement files; a lock must never ask for that.
_ENV_REFERENCE = "${"
# Where a repository may be cloned from. Whatever the transport, the full commit
# hash decides what is installed.
VCS_SCHEMES = ("https", "http", "file", "ssh")
# The version control systems whose commits are hex hashes, and their lengths
# (git: SHA-1, or SHA-256 in a repository made with --object-format=sha256).
VCS_COMMIT_LENGTHS: Mapping[str, tuple[int, ...]] = {"git": (40, 64), "hg": (40,)}
_COMMIT_RE = re.compile(r"[0-9a-f]+")
# One part of a subdirectory: it ends up in a URL fragment and in a path, so only
# characters that mean nothing in either.
_SUBDIRECTORY_PART_RE = re.compile(r"[A-Za-z0-9._~+-]+")


@dataclass(frozen=True, slots=True)
class LockPlace:
    """A place in a lock (``path`` names the lock, ``key`` the table, e.g.
    ``packages[3]``) that validates the values read from it."""

    path: str
    key: str

    def at(self, suffix: str) -> LockPlace:
        """The place ``suffix`` (``.wheels[0]``) below this one."""
        return LockPlace(self.path, self.key + suffix)

    def fail(self, message: str) -> LockFileError:
        """The error for an unusable value here."""
        return LockFileError(
            f"{message}; refusing to hand it to pip",
            path=self.path,
            key=self.key,
            hint="the lock was edited or written by a broken tool; regenerate it",
        )

    def _common(self, value: str, what: str) -> None:
        if has_unsafe_characters(value):
            raise self.fail(f"the {what} contains whitespace or a control character")
        if _ENV_REFERENCE in value:
            raise self.fail(f"the {what} contains '${{', which pip expands from the environment")
        if value.startswith("-"):
            raise self.fail(f"the {what} starts with '-', which pip reads as an option")

    def url(self, value: str, *, schemes: tuple[str, ...] = ("https", "http", "file")) -> str:
        """``value``, a URL read here, when pip can be given it safely."""
        self._common(value, "URL")
        problem = lock_url_problem(value, schemes=schemes)
        if problem is not None:
            raise self.fail(problem)
        return value

    def index(self, value: str) -> str:
        """``value``, an index URL read here (``https`` or ``http`` only)."""
        return self.url(value, schemes=("https", "http"))

    def filename(self, value: str) -> str:
        """``value``, a file name read here, when it is one plain name."""
        self._common(value, "file name")
        if "/" in value or "\\" in value or value in {".", ".."}:
            raise self.fail(f"{value!r} is not a file name")
        return value

    def path_value(self, value: str) -> str:
        """``value``, a local path read here. Spaces are legal in a path (it is
        written for pip as a percent-encoded ``file:`` URL); control characters
        and line breaks never are."""
        if any(ord(char) < 32 or 127 <= ord(char) < 160 for char in value):
            raise self.fail("the path contains a control character")
        if "\u2028" in value or "\u2029" in value or "\x85" in value:
            raise self.fail("the path contains a line separator")
        return value

    def vcs_url(self, value: str) -> str:
        """``value``, a repository URL read here (``https``, ``http``, ``file`` or
        ``ssh``), when ``@COMMIT`` can be appended to it unambiguously."""
        self.url(value, schemes=VCS_SCHEMES)
        if "?" in value or "#" in value:
            raise self.fail("the repository URL has a query or a fragment")
        # pip splits the revision off at the last '@' of the path.
        if "@" in urlsplit(value).path:
            raise self.fail("the repository URL has '@' in its path, which pip reads as a revision")
        return value

    def commit_id(self, value: str, vcs: str) -> str:
        """``value``, the commit read here: a full lowercase hex hash for ``vcs``
        (a key of :data:`VCS_COMMIT_LENGTHS`), never a branch or a short hash."""
        lengths = VCS_COMMIT_LENGTHS[vcs]
        if not (_COMMIT_RE.fullmatch(value) and len(value) in lengths):
            digits = " or ".join(str(n) for n in lengths)
            shown = repr(value[:80]) + ("..." if len(value) > 80 else "")
            raise self.fail(
                f"the commit-id {shown} is not a full {vcs} commit hash "
                f"({digits} lowercase hex digits)"
            )
        return value

    def subdirectory(self, value: str) -> str:
        """``value``, a subdirectory read here: a relative ``/``-separated path of
        letters, digits and ``._~+-`` that does not leave its tree (no ``..``)."""
        parts = value.split("/")
        if any(part in {"", ".."} or not _SUBDIRECTORY_PART_RE.fullmatch(part) for part in parts):
            shown = repr(value[:80]) + ("..." if len(value) > 80 else "")
            raise self.fail(
                f"the subdirectory {shown} is not a relative path like 'sub/pkg' "
                "(no '..', no empty part, only letters, digits and ._~+-)"
            )
        return value

    def hash_options(self, hashes: Mapping[str, str], algorithms: tuple[str, ...]) -> list[str]:
        """``--hash=algorithm:value`` for each of ``algorithms`` in ``hashes``."""
        options = []
        for algorithm in algorithms:
            if algorithm not in hashes:
                continue
            value = hashes[algorithm]
            problem = hash_problem(algorithm, value) if isinstance(value, str) else "not text"
            if problem is not None:
                raise self.at(f".hashes.{algorithm}").fail(problem)
            options.append(f"--hash={algorithm}:{value}")
        return options


def user_index_url(url: str) -> str:
    """``url``, an index given by the user (``index_url=``), when pip can be given
    it: no whitespace or control character, an absolute http(s) or file URL.
    ``${VAR}`` is allowed here: the user means pip to expand it.

    Raises :class:`~reqlock.errors.ConfigError` naming ``--index-url``.
    """
    check_url(url, key="--index-url", schemes=("https", "http", "file"))
    return url
