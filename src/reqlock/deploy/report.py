"""The result of a verify: :class:`Problem`, :class:`Report`, :class:`VerifyError`.

Kept apart from the comparison so that sync, the command line and callers can
read, render and serialise a report without loading the selection code. The JSON
form (:meth:`Report.to_dict`) is documented in ``docs/verify.md``; its
``version`` is :data:`REPORT_SCHEMA_VERSION`.
"""

from __future__ import annotations

__all__ = [
    "IDENTITY_KEYS",
    "PROBLEM_KINDS",
    "REPORT_SCHEMA_VERSION",
    "NotChecked",
    "Problem",
    "ProblemKind",
    "Report",
    "VerifyError",
    "count",
]

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, get_args

from packaging.utils import NormalizedName

from reqlock.errors import ReqlockError

ProblemKind: TypeAlias = Literal[
    "requires-python",
    "no-locked-file",
    "missing",
    "unexpected",
    "version-mismatch",
    "direct-url",
    "file-not-in-lock",
    "record-mismatch",
    "file-modified",
    "file-missing",
    "unowned-file",
    "pth-import",
    "broken-install",
]

PROBLEM_KINDS: tuple[ProblemKind, ...] = get_args(ProblemKind)
"""Every problem kind, in the order reports list them."""

REPORT_SCHEMA_VERSION = 2
"""``version`` field of :meth:`Report.to_dict`; raised when the schema changes.

2: ``not_checked`` added, ``problems`` may have the kinds ``record-mismatch``,
``unowned-file`` and ``pth-import``, ``allow_unowned`` added.
"""

IDENTITY_KEYS = (
    "python_version",
    "python_full_version",
    "implementation_name",
    "sys_platform",
    "platform_machine",
)
"""The marker variables that say which interpreter this is, in messages."""


def count(n: int, word: str) -> str:
    """``1 package``, ``2 packages``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


@dataclass(frozen=True, kw_only=True, slots=True)
class Problem:
    """One difference between the lock and the environment.

    ``kind`` is one of :data:`PROBLEM_KINDS`; ``package`` the canonical name (or
    ``None`` for the lock as a whole and for files no distribution owns);
    ``path`` the file concerned (file problems, unexpected and broken installs);
    ``expected``/``actual`` short values such as versions, file names or hashes;
    ``detail`` a sentence for people.
    """

    kind: ProblemKind
    package: NormalizedName | None
    detail: str
    expected: str | None = None
    actual: str | None = None
    path: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        """The JSON form (every key always present)."""
        return {
            "kind": self.kind,
            "package": self.package,
            "detail": self.detail,
            "expected": self.expected,
            "actual": self.actual,
            "path": self.path,
        }

    def describe(self) -> str:
        """One line: ``package: detail`` (``path: detail`` for an unowned file)."""
        who = self.package or (self.path if self.kind in _PATH_KINDS else None)
        return f"{who}: {self.detail}" if who else self.detail


# Kinds whose problems belong to no package: the path says what they are about.
_PATH_KINDS = frozenset({"unowned-file", "pth-import"})


@dataclass(frozen=True, kw_only=True, slots=True)
class NotChecked:
    """A check verify could not run for some packages, and why.

    ``check`` is a stable identifier (``"record-digest"``), ``reason`` a sentence,
    ``packages`` the canonical names concerned, sorted.
    """

    check: str
    reason: str
    packages: tuple[NormalizedName, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"check": self.check, "reason": self.reason, "packages": list(self.packages)}

    def describe(self) -> str:
        """One line for the text report."""
        names = ", ".join(self.packages)
        return f"{self.reason} ({names})" if names else self.reason


def problem_key(problem: Problem) -> tuple[int, str, str, str]:
    """Sort key: kind (in :data:`PROBLEM_KINDS` order), package, path, detail."""
    return (
        PROBLEM_KINDS.index(problem.kind),
        problem.package or "",
        problem.path or "",
        problem.detail,
    )


class VerifyError(ReqlockError):
    """An environment does not match its lock; ``report`` has every problem."""

    def __init__(self, report: Report) -> None:
        self.report = report
        lines = [f"  - {p.kind}: {p.describe()}" for p in report.problems]
        super().__init__(
            f"{report.python} does not match {report.lock or 'the lock'} "
            f"({count(len(report.problems), 'problem')}):\n" + "\n".join(lines),
            hint="run `reqlock sync` to make the environment equal to the lock",
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Report:
    """The outcome of a verify.

    ``ok`` is true when there is no problem. ``not_checked`` lists the checks that
    could not run for some packages (the lock has no RECORD digests, say): ``ok``
    does not depend on it, but it says how much ``ok`` proves. :meth:`to_json`
    gives a stable, documented JSON form (see ``docs/verify.md``); :meth:`render`
    readable text.
    """

    lock: str | None
    python: str
    environment: Mapping[str, str] = field(hash=False)
    problems: tuple[Problem, ...]
    expected: Mapping[NormalizedName, str | None] = field(hash=False)
    installed: Mapping[NormalizedName, str] = field(hash=False)
    checked_files: bool
    allow_extra: tuple[NormalizedName, ...] = ()
    allow_unowned: tuple[str, ...] = ()
    not_checked: tuple[NotChecked, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the environment matches the lock exactly."""
        return not self.problems

    def raise_for_problems(self) -> None:
        """Raise :class:`VerifyError` listing every problem, if there is any."""
        if self.problems:
            raise VerifyError(self)

    def by_kind(self) -> dict[ProblemKind, list[Problem]]:
        """Problems grouped by kind, in :data:`PROBLEM_KINDS` order."""
        groups: dict[ProblemKind, list[Problem]] = {}
        for problem in self.problems:
            groups.setdefault(problem.kind, []).append(problem)
        return {kind: groups[kind] for kind in PROBLEM_KINDS if kind in groups}

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form; the schema is documented in ``docs/verify.md``."""
        return {
            "version": REPORT_SCHEMA_VERSION,
            "ok": self.ok,
            "lock": self.lock,
            "python": self.python,
            "interpreter": {
                key: self.environment[key] for key in IDENTITY_KEYS if key in self.environment
            },
            "checked_files": self.checked_files,
            "allow_extra": sorted(self.allow_extra),
            "allow_unowned": sorted(self.allow_unowned),
            "not_checked": [item.to_dict() for item in self.not_checked],
            "counts": {
                "expected": len(self.expected),
                "installed": len(self.installed),
                "problems": len(self.problems),
            },
            "problems": [p.to_dict() for p in sorted(self.problems, key=problem_key)],
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text: sorted keys, two-space indent, newline."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def render(self) -> str:
        """Readable text, problems grouped by kind, then what was not checked."""
        lock = self.lock or "the lock"
        if self.ok:
            files = "" if self.checked_files else " (files not checked)"
            lines = [
                f"{self.python} matches {lock}: "
                f"{count(len(self.expected), 'package')} as locked{files}"
            ]
        else:
            lines = [f"{self.python} does not match {lock}: {count(len(self.problems), 'problem')}"]
            for kind, problems in self.by_kind().items():
                lines.append("")
                lines.append(f"{kind} ({len(problems)}):")
                lines.extend(_render_group(kind, problems))
        if self.not_checked:
            if not self.ok:
                lines.append("")
            lines.extend(f"not checked: {item.describe()}" for item in self.not_checked)
        return "\n".join(lines) + "\n"


_FILES_SHOWN = 5


def _render_group(kind: ProblemKind, problems: list[Problem]) -> list[str]:
    if kind not in ("file-modified", "file-missing"):
        return [f"  {p.describe()}" for p in problems]
    # A deleted package directory would print hundreds of lines: show a few per package.
    by_package: dict[str, list[Problem]] = {}
    for problem in problems:
        by_package.setdefault(problem.package or "", []).append(problem)
    lines = []
    for package, found in by_package.items():
        for problem in found[:_FILES_SHOWN]:
            lines.append(f"  {package}: {problem.path} ({problem.detail})")
        if len(found) > _FILES_SHOWN:
            lines.append(f"  {package}: ... and {len(found) - _FILES_SHOWN} more files")
    return lines
