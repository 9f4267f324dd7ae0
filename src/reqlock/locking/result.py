"""What a lock produces: the PEP 751 model, the resolutions behind it, and what
changed against the previous lock."""

from __future__ import annotations

__all__ = ["Change", "LockResult"]

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.version import Version

if TYPE_CHECKING:
    from packaging.pylock import Pylock

    from reqlock.locking.resolution import Resolution


@dataclass(frozen=True, kw_only=True, slots=True)
class Change:
    """How one package differs between the previous lock and the new one."""

    name: str
    old: tuple[str, ...]
    new: tuple[str, ...]

    def __str__(self) -> str:
        if not self.old:
            return f"+ {self.name} {', '.join(self.new)}"
        if not self.new:
            return f"- {self.name} {', '.join(self.old)}"
        return f"~ {self.name} {', '.join(self.old)} -> {', '.join(self.new)}"


@dataclass(frozen=True, kw_only=True, slots=True)
class LockResult:
    """A finished lock: the PEP 751 model, and the resolution behind it."""

    pylock: Pylock
    # A tuple, or (from the cache) a sequence that builds them when first read.
    resolutions: Sequence[Resolution]
    index_urls: tuple[str, ...]
    fingerprint: Mapping[str, str]
    # The rendered lock, kept so it is rendered once (None: render on demand).
    text: str | None = None

    @property
    def package_count(self) -> int:
        """How many package entries the lock has."""
        return len(self.pylock.packages)

    def to_toml(self) -> str:
        """The lock file's text (deterministic)."""
        if self.text is not None:
            return self.text
        from reqlock.locking.pylock import to_toml

        return to_toml(self.pylock)

    def write(self, path: str | os.PathLike[str]) -> bool:
        """Write the lock atomically to ``path``; an identical file is left alone.

        Returns True when the file was written.
        """
        # Not through locking.pylock: a lock from the memo needs none of its imports.
        from reqlock.errors import LockFileError
        from reqlock.files import write_atomic

        text = self.to_toml()
        try:
            if Path(path).read_text(encoding="utf-8") == text:
                return False
        except (OSError, UnicodeDecodeError):
            pass
        try:
            write_atomic(path, text.encode("utf-8"))
        except OSError as exc:
            raise LockFileError(f"cannot write: {exc.strerror or exc}", path=str(path)) from None
        return True

    def changes(self, previous: Pylock | None) -> list[Change]:
        """What changed against ``previous`` (added, removed, other versions)."""
        old = _versions_by_name(previous) if previous is not None else {}
        new = _versions_by_name(self.pylock)
        result = []
        for name in sorted(set(old) | set(new)):
            before, after = old.get(name, ()), new.get(name, ())
            if before != after:
                result.append(Change(name=name, old=before, new=after))
        return result


def _versions_by_name(lock: Pylock) -> dict[str, tuple[str, ...]]:
    found: dict[str, set[str]] = {}
    for package in lock.packages:
        found.setdefault(package.name, set()).add(str(package.version or "direct"))
    return {k: tuple(sorted(v, key=_version_key)) for k, v in found.items()}


def _version_key(text: str) -> tuple[int, Version | str]:
    try:
        return (0, Version(text))
    except ValueError:
        return (1, text)
