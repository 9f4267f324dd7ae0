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

Every refusal is a :class:`~reqlock.errors.LockFileError` naming the lock key
(``packages[3].wheels[0].url``).
"""

from __future__ import annotations

__all__ = ["LockPlace", "user_index_url"]

from collections.abc import Mapping
from dataclasses import dataclass

from reqlock.errors import LockFileError
from reqlock.urls import check_url, has_unsafe_characters, hash_problem, lock_url_problem

# pip substitutes ${NAME} in requirement files; a lock must never ask for that.
_ENV_REFERENCE = "${"


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
