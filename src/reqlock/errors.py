"""The one exception hierarchy of reqlock.

Every error a user can meet is a :class:`ReqlockError`. Each subclass carries the
place it is about (file and line, package, URL, lock key) as structured fields, and
its message names that place and says what to do next. The command line prints
``str(error)`` and exits 2; library callers can read the fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ConfigError",
    "ConflictCause",
    "DirectReferenceError",
    "IndexFetchError",
    "InventoryError",
    "LockFileError",
    "MetadataError",
    "MetadataReason",
    "NoVersionsError",
    "ReqlockError",
    "RequirementsError",
    "ResolutionError",
    "SyncError",
    "TargetError",
]


class ReqlockError(Exception):
    """Base class of every error reqlock raises on purpose.

    ``hint`` is an optional sentence saying what the user can do about it.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class RequirementsError(ReqlockError):
    """A requirements file (or an in-memory requirement string) is malformed or
    uses something reqlock does not support."""

    def __init__(
        self,
        message: str,
        *,
        file: str,
        line: int | None = None,
        text: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.text = text
        place = f"{file}:{line}" if line is not None else file
        full = f"{place}: {message}"
        if text is not None:
            full += f" (in {text.strip()!r})"
        super().__init__(full, hint=hint)


class ConfigError(ReqlockError):
    """A value in ``[tool.reqlock]``, an option or a ``REQLOCK_*`` variable is wrong."""

    def __init__(self, message: str, *, key: str, hint: str | None = None) -> None:
        self.key = key
        super().__init__(f"{key}: {message}", hint=hint)


class TargetError(ConfigError):
    """An unknown or malformed platform target."""


class IndexFetchError(ReqlockError):
    """The package index could not be reached or gave an answer reqlock cannot use.

    ``url`` never carries credentials.
    """

    def __init__(
        self, message: str, *, url: str, package: str | None = None, hint: str | None = None
    ) -> None:
        self.url = url
        self.package = package
        super().__init__(message, hint=hint)


MetadataReason = Literal["invalid", "unavailable", "build-refused", "build-failed", "offline"]


class MetadataError(ReqlockError):
    """The metadata of a distribution could not be obtained or is invalid.

    ``reason`` is what code branches on: ``invalid`` (the metadata is malformed),
    ``unavailable`` (no way to read it), ``build-refused`` (only a build would tell,
    and ``--no-build`` forbids it), ``build-failed``, ``offline`` (not in the cache).
    """

    def __init__(
        self,
        message: str,
        *,
        package: str,
        version: str | None = None,
        reason: MetadataReason = "invalid",
        hint: str | None = None,
    ) -> None:
        self.package = package
        self.version = version
        self.reason: MetadataReason = reason
        super().__init__(message, hint=hint)


class DirectReferenceError(ReqlockError):
    """A direct reference (an archive, a git repository, a local directory) cannot
    be used: missing, unreachable, not a project, or not what the line says.

    ``source`` names it without credentials (a redacted URL or a path).
    """

    def __init__(self, message: str, *, source: str, hint: str | None = None) -> None:
        self.source = source
        super().__init__(message, hint=hint)


@dataclass(frozen=True, slots=True)
class ConflictCause:
    """One requirement in a failed resolution, as data.

    ``package`` is the project it is on (``"python"`` for a Requires-Python);
    ``requirement`` the requirement as written (``urllib3<1.27,>=1.25.4``);
    ``source`` who has it: a requirements line (``conflict.in:2``), a release
    (``botocore 1.29.0``), or a constraint; ``chain`` how that release came in, from
    the user's line to it (``("conflict.in:1 botocore==1.29.0",)``; empty for a
    line of the user's own)."""

    package: str
    requirement: str
    source: str
    chain: tuple[str, ...] = ()


class ResolutionError(ReqlockError):
    """No set of versions satisfies the requirements; the message explains why and
    ``causes`` lists the requirements involved, as data."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        causes: Sequence[ConflictCause] = (),
    ) -> None:
        super().__init__(message, hint=hint)
        self.causes: tuple[ConflictCause, ...] = tuple(causes)


class NoVersionsError(ResolutionError):
    """A requirement matches no installable version at all."""


class LockFileError(ReqlockError):
    """A lock file cannot be read, is not valid PEP 751, or cannot be written."""

    def __init__(
        self, message: str, *, path: str, key: str | None = None, hint: str | None = None
    ) -> None:
        self.path = path
        self.key = key
        place = f"{path} [{key}]" if key else path
        super().__init__(f"{place}: {message}", hint=hint)


class InventoryError(ReqlockError):
    """The target interpreter could not be inspected."""


class SyncError(ReqlockError):
    """Making an environment equal to its lock failed part way."""
