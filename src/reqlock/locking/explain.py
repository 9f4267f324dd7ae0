"""Explaining a failed resolution: resolvelib's causes turned into sentences.

The resolver's requirement and candidate values are read through small protocols
(:class:`Wanted`, :class:`Wanter`), so this module does not depend on the
resolver's module and the resolver can import it.
"""

from __future__ import annotations

__all__ = ["PYTHON", "Cause", "Wanted", "Wanter", "available_summary", "explain"]

from collections.abc import Collection, Mapping, Sequence
from typing import Protocol

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from reqlock.errors import NoVersionsError, ResolutionError
from reqlock.locking.rules import FileRules
from reqlock.locking.source import PackageSource

PYTHON = "<python>"
"""The name under which the resolver tracks the requirements on Python itself."""


class Wanted(Protocol):
    """A requirement as the explanation reads it."""

    @property
    def name(self) -> str:
        """Canonical project name, or :data:`PYTHON`."""
        ...

    @property
    def specifier(self) -> SpecifierSet:
        """The versions it allows."""
        ...

    @property
    def source(self) -> str:
        """Where it comes from (``requirements.txt:3``), for people."""
        ...

    def describe(self) -> str:
        """The requirement in words, e.g. ``foo[bar]>=1.0``."""
        ...


class Wanter(Protocol):
    """A release that requires something."""

    @property
    def name(self) -> str:
        """Its project's name."""
        ...

    @property
    def version(self) -> Version:
        """Its version."""
        ...


class Cause(Protocol):
    """One of resolvelib's causes: a requirement and who has it (None: the user)."""

    @property
    def requirement(self) -> Wanted:
        """What is required."""
        ...

    @property
    def parent(self) -> Wanter | None:
        """Which release requires it; None for a root requirement."""
        ...


def explain(
    causes: Collection[Cause],
    *,
    source: PackageSource,
    rules: FileRules,
    constraints: Mapping[str, Sequence[Wanted]],
) -> ResolutionError:
    """Turn resolvelib's causes into sentences: who wants what.

    One project with no acceptable version gives a :class:`NoVersionsError` that
    also lists what the index has; anything else is a conflict between projects."""
    target_name = rules.target.name
    lines: list[str] = []
    names: list[str] = []
    skipped: list[str] = []
    for info in causes:
        req = info.requirement
        parent = info.parent
        who = req.source if parent is None else f"{parent.name} {parent.version}"
        unusable = getattr(req, "unusable", None)
        if unusable:
            lines.append(f"  - {who} is skipped: {unusable}")
            if parent is not None and parent.name not in skipped:
                skipped.append(parent.name)
            continue
        if req.name == PYTHON:
            lines.append(
                f"  - {who} requires Python {req.specifier}, but the target "
                f"{target_name} has Python {rules.python_version}"
            )
        else:
            lines.append(f"  - {who} requires {req.describe()}")
        if req.name not in names:
            names.append(req.name)
    for name in names:
        for c in constraints.get(name, ()):
            lines.append(f"  - {c.source} {c.describe()}")
    pkgs = [n for n in names if n != PYTHON]
    if skipped and not names:
        return NoVersionsError(
            f"no release of {', '.join(skipped)} has usable metadata for {target_name}:\n"
            + "\n".join(lines),
            hint="require a version whose metadata is valid, or ask its maintainers to "
            "fix the release",
        )
    if len(causes) == 1 or (len(pkgs) == 1 and all(i.requirement.name == pkgs[0] for i in causes)):
        name = pkgs[0] if pkgs else PYTHON
        spec = SpecifierSet()
        for info in causes:
            if info.requirement.name == name:
                spec &= info.requirement.specifier
        available = available_summary(source, rules, name, spec) if name != PYTHON else ""
        return NoVersionsError(
            f"no version of {name} satisfies all requirements for {target_name}:\n"
            + "\n".join(lines)
            + (f"\n  available: {available}" if available else ""),
            hint="relax one of these requirements",
        )
    return ResolutionError(
        f"the requirements conflict for {target_name} "
        f"(on {', '.join(pkgs) or 'Python'}):\n" + "\n".join(lines),
        hint="relax one of these requirements, or add a constraint that picks a version "
        "all of them accept",
    )


def available_summary(
    source: PackageSource, rules: FileRules, name: str, spec: SpecifierSet
) -> str:
    """What the index has for ``name``, and why the versions ``spec`` allows were
    not usable for this target."""
    page = source.project(name)
    versions = rules.versions(page)
    if not versions:
        return f"none: {page.index} has no project named {name} (check the spelling)"
    usable = [v for v in versions if rules.usable_files(page, v, pinned=False)]
    parts: list[str] = []
    for version in versions:
        # At most five reasons: enough to see the pattern, short enough to read.
        if not spec.contains(version, prereleases=True) or len(parts) >= 5:
            continue
        reason = rules.why_unusable(page, version, source)
        if reason:
            parts.append(f"{version} ({reason})")
    shown = ", ".join(str(v) for v in usable[:8]) or "none"
    more = f" and {len(usable) - 8} older" if len(usable) > 8 else ""
    text = f"{shown}{more}"
    if parts:
        text += "; not usable: " + ", ".join(parts)
    return text
