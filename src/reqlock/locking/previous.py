"""The lock file being replaced: read once as bytes, parsed only when needed.

Locking again with unchanged inputs is the common case (a pre-commit hook, a CI
step). The existing file is then, byte for byte, the remembered result, and the
digest of its bytes finds that result without parsing the file (TOML and the
PEP 751 model: about 17 ms for a 122-package lock, where the whole answer takes
about 100).
"""

from __future__ import annotations

__all__ = ["PreviousFile", "changes_from"]

import os
from typing import TYPE_CHECKING

from reqlock.errors import LockFileError

if TYPE_CHECKING:
    from packaging.pylock import Pylock

    from reqlock.locking.result import Change, LockResult


class PreviousFile:
    """The bytes of an existing lock file, and (on demand) the lock they hold.

    Pass one as ``previous`` to :func:`reqlock.lock`, which keeps its pins as it
    keeps a parsed lock's; see :meth:`read`.
    """

    __slots__ = ("_parsed", "data", "path")

    def __init__(self, path: str, data: bytes) -> None:
        self.path = path
        self.data = data
        self._parsed: Pylock | None = None

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> PreviousFile | None:
        """The file at ``path``, or None when there is none; a file that cannot be
        read is a :class:`~reqlock.errors.LockFileError`, not something to overwrite
        blindly."""
        from reqlock.lockfile import read_lock_bytes

        name = os.fspath(path)
        if not os.path.exists(name):
            return None
        try:
            return cls(name, read_lock_bytes(name))
        except LockFileError as exc:
            raise _cannot_keep(exc) from None

    def parsed(self) -> Pylock:
        """The lock in the file (parsed once, then kept)."""
        if self._parsed is None:
            from reqlock.lockfile import lock_from_bytes

            try:
                self._parsed = lock_from_bytes(self.data, path=self.path)
            except LockFileError as exc:
                raise _cannot_keep(exc) from None
        return self._parsed


def _cannot_keep(exc: LockFileError) -> LockFileError:
    return LockFileError(
        f"the existing lock cannot be read to keep its pins: {exc.message}",
        path=exc.path,
        key=exc.key,
        hint="fix or delete it, or pass --upgrade to lock from scratch",
    )


def changes_from(previous: PreviousFile | None, result: LockResult, written: bool) -> list[Change]:
    """What ``result`` changes against the file it replaced: nothing when the file
    was left alone (it held this very lock); everything when there was no file, or
    one that cannot be read (``--upgrade`` replaces it without keeping its pins)."""
    if not written:
        return []
    try:
        old = previous.parsed() if previous is not None else None
    except LockFileError:
        old = None
    return result.changes(old)
