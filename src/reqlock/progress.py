"""Progress and warnings from the core, rendered (or not) by the caller.

The library never prints. It calls a :class:`Reporter`; the command line renders
progress on a terminal (or as periodic lines in a log), a build tool can log or
ignore it.
"""

from __future__ import annotations

__all__ = ["Reporter"]


class Reporter:
    """Receives events while reqlock works. Every method may be called from any
    thread, and some (``pinned``, ``rejected``) thousands of times a second while
    a resolution backtracks: implementations must be cheap and thread-safe. The
    default implementation records warnings and ignores the rest."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def resolving_target(self, target: str) -> None:
        """The resolution for ``target`` (e.g. ``linux-x86_64-py3.12``) begins; the
        previous target's resolution, if any, is over."""

    def fetched_page(self, name: str) -> None:
        """An index page for project ``name`` arrived (network or cache)."""

    def fetched_metadata(self, name: str, version: str) -> None:
        """Metadata of ``name`` ``version`` is known."""

    def pinned(self, name: str, version: str) -> None:
        """The resolver tries ``name`` ``version``."""

    def rejected(self, name: str, version: str, on: str, reason: str) -> None:
        """The resolver rejected ``name`` ``version`` because of a conflict on
        project ``on``; ``reason`` says why in one short line, e.g. ``"litellm
        1.60.0 requires openai<2; apache-airflow-providers-openai 1.5.0 requires
        openai>=2"``."""

    def building(self, name: str, version: str) -> None:
        """pip is building metadata of an sdist (slow)."""

    def warning(self, message: str) -> None:
        """Something the user should know; the lock is still correct."""
        self.warnings.append(message)
