"""Read a PEP 751 lock file into a validated ``packaging.pylock.Pylock``.

Every way a lock can be unusable (unreadable file, not UTF-8, not TOML, not a valid
PEP 751 document, a lock-version this reqlock does not know) becomes one
:class:`~reqlock.errors.LockFileError` naming the file and, where there is one, the
key (``packages[3].wheels[0]``) or the TOML line and column. Nothing here touches
the network; verify depends on that.
"""

from __future__ import annotations

__all__ = [
    "KNOWN_MINOR",
    "SUPPORTED_LOCK_MAJOR",
    "lock_from_bytes",
    "lock_from_dict",
    "parse_lock",
    "read_lock",
    "read_lock_bytes",
]

import dataclasses
import os
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

from packaging.pylock import Pylock, PylockUnsupportedVersionError, PylockValidationError
from packaging.version import Version

from reqlock.errors import LockFileError
from reqlock.files import NotARegularFile, TooLarge, read_regular
from reqlock.lockcheck import check_strings, format_warnings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

SUPPORTED_LOCK_MAJOR = 1
"""The ``lock-version`` major this reqlock reads (PEP 751: 1.0)."""

_AT_LINE_RE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_AT_END_RE = re.compile(r"\s*\(at end of document\)\s*$")


Warn = Callable[[str], None]
# Far above any real lock (the 693-package airflow lock is ~2 MiB).
_MAX_LOCK_BYTES = 64 * 1024 * 1024
KNOWN_MINOR = 0
"""The newest ``lock-version`` minor this reqlock knows (PEP 751: 1.0)."""


def read_lock(path: str | os.PathLike[str], *, warn: Warn | None = None) -> Pylock:
    """Read and validate the lock file at ``path``.

    Raises :class:`~reqlock.errors.LockFileError` when the file cannot be read or is
    not a lock this reqlock understands (including any string that is unsafe to
    hand to pip). What is merely unknown (a newer minor ``lock-version``, unknown
    keys) goes to ``warn`` as one sentence each.
    """
    name = os.fspath(path)
    return lock_from_bytes(read_lock_bytes(name), path=name, warn=warn)


def read_lock_bytes(path: str | os.PathLike[str]) -> bytes:
    """The bytes of the lock file at ``path`` (at most 64 MiB, a regular file);
    :class:`~reqlock.errors.LockFileError` when it cannot be read."""
    name = os.fspath(path)
    try:
        return read_regular(name, limit=_MAX_LOCK_BYTES)
    except FileNotFoundError:
        raise LockFileError("no such file", path=name) from None
    except (IsADirectoryError, NotARegularFile):
        what = "a directory" if os.path.isdir(name) else "not a regular file (a FIFO or device)"
        raise LockFileError(f"is {what}, not a lock file", path=name) from None
    except TooLarge:
        raise LockFileError(
            f"is larger than {_MAX_LOCK_BYTES // (1024 * 1024)} MiB: not a lock", path=name
        ) from None
    except OSError as exc:
        raise LockFileError(f"cannot read: {exc.strerror or exc}", path=name) from None


def lock_from_bytes(data: bytes, *, path: str, warn: Warn | None = None) -> Pylock:
    """Parse and validate the bytes of a lock file (UTF-8 TOML); ``path`` names it."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise LockFileError(f"not UTF-8 text (bad byte at line {line})", path=path) from None
    return parse_lock(text, path=path, warn=warn)


def parse_lock(text: str, *, path: str, warn: Warn | None = None) -> Pylock:
    """Parse and validate lock file ``text``; ``path`` is only used in messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LockFileError(f"not valid TOML: {_toml_message(exc, text)}", path=path) from None
    except ValueError as exc:  # e.g. an integer literal too long to convert
        raise LockFileError(f"not valid TOML: {exc}", path=path) from None
    except RecursionError:
        raise LockFileError("not valid TOML: nested too deeply", path=path) from None
    return lock_from_dict(data, path=path, warn=warn)


def lock_from_dict(data: Mapping[str, Any], *, path: str, warn: Warn | None = None) -> Pylock:
    """Validate an already parsed TOML document as a PEP 751 lock."""
    version = _check_lock_version(data, path)
    for message in format_warnings(data, known_minor=KNOWN_MINOR):
        if warn is not None:
            warn(f"{path}: {message}")
    if version > Version(f"1.{KNOWN_MINOR}"):
        # packaging would log its own warning; ours went through ``warn`` already.
        data = {**data, "lock-version": f"1.{KNOWN_MINOR}"}
    try:
        lock = Pylock.from_dict(data)
    except PylockUnsupportedVersionError as exc:  # pragma: no cover - checked above
        raise LockFileError(exc.message, path=path, key="lock-version") from None
    except PylockValidationError as exc:
        raise LockFileError(
            f"not a valid PEP 751 lock: {_one_line(exc.message)}", path=path, key=exc.context
        ) from None
    except (ValueError, TypeError, AttributeError, RecursionError) as exc:
        # packaging validates what it knows; anything it trips over is still a bad lock.
        raise LockFileError(f"not a valid PEP 751 lock: {_one_line(str(exc))}", path=path) from None
    check_strings(lock, path=path)
    if lock.lock_version != version:
        lock = dataclasses.replace(lock, lock_version=version)
    return lock


def _one_line(message: str) -> str:
    """packaging's parse errors draw a caret under the bad text on extra lines; keep
    the reason and the text on one line."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if len(lines) >= 2 and set(lines[-1]) <= {"^", "~", " "}:
        return f"{lines[0]} (in {lines[1]!r})"
    return " ".join(lines)


def _check_lock_version(data: Mapping[str, Any], path: str) -> Version:
    # The major version is checked before anything else: a lock-version 2 file may
    # legitimately have a shape that version 1 validation would misreport.
    raw = data.get("lock-version")
    if raw is None:
        raise LockFileError("missing required key", path=path, key="lock-version")
    if not isinstance(raw, str):
        raise LockFileError(
            f'must be a string such as "1.0", not {type(raw).__name__}',
            path=path,
            key="lock-version",
        )
    try:
        version = Version(raw)
    except ValueError:  # InvalidVersion, or an integer too long to convert
        raise LockFileError(f"{raw!r} is not a version", path=path, key="lock-version") from None
    if version.major != SUPPORTED_LOCK_MAJOR:
        raise LockFileError(
            f"lock-version {raw} is not supported (this reqlock reads {SUPPORTED_LOCK_MAJOR}.x)",
            path=path,
            key="lock-version",
            hint="upgrade reqlock, or regenerate the lock with a tool that writes lock-version 1.0",
        )
    return version


def _toml_message(exc: tomllib.TOMLDecodeError, text: str) -> str:
    # Python >= 3.14 and tomli >= 2.1 give the parts as attributes; older versions
    # only have them inside the message: "Invalid value (at line 3, column 5)".
    message = getattr(exc, "msg", None)
    line = getattr(exc, "lineno", None)
    column = getattr(exc, "colno", None)
    if not isinstance(message, str):
        message = str(exc.args[0]) if exc.args else str(exc)
        match = _AT_LINE_RE.search(message)
        if match:
            message = message[: match.start()]
            line, column = int(match.group(1)), int(match.group(2))
        elif _AT_END_RE.search(message):
            message = _AT_END_RE.sub("", message)
            line, column = text.count("\n") + 1, len(text.rsplit("\n", 1)[-1]) + 1
    if isinstance(line, int) and isinstance(column, int):
        return f"{message} (line {line}, column {column})"
    return message
