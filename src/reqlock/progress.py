"""Progress and warnings from the core, rendered (or not) by the caller.

The library never prints. It calls a :class:`Reporter`; the command line renders
progress on a terminal, a build tool can log or ignore it.
"""

from __future__ import annotations

__all__ = ["Reporter"]


class Reporter:
    """Receives events while reqlock works. Every method may be called from any
    thread; the default implementation records warnings and ignores the rest."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def fetched_page(self, name: str) -> None:
        """An index page for project ``name`` arrived (network or cache)."""

    def fetched_metadata(self, name: str, version: str) -> None:
        """Metadata of ``name`` ``version`` is known."""

    def pinned(self, name: str, version: str) -> None:
        """The resolver tries ``name`` ``version``."""

    def building(self, name: str, version: str) -> None:
        """pip is building metadata of an sdist (slow)."""

    def warning(self, message: str) -> None:
        """Something the user should know; the lock is still correct."""
        self.warnings.append(message)
