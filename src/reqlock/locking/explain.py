"""Explaining a failed resolution: resolvelib's causes turned into sentences and data.

Each cause is a requirement and the release that has it (None: the user's own
line). The explanation says who wants what, with the chain that brought the
release in (``conflict.in:1 botocore==1.29.0 requires urllib3<1.27,>=1.25.4``),
names extras (``a[extra-b]``), and names the rule or option that removed
versions (``--only-binary``, ``--exclude-newer``, yanked, the target's Python, an
earlier environment's pin). The same facts are given to callers as
:class:`~reqlock.errors.ConflictCause` values on the error.
"""

from __future__ import annotations

__all__ = ["PYTHON", "available_summary", "explain"]

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from packaging.specifiers import SpecifierSet

from reqlock.errors import ConflictCause, NoVersionsError, ResolutionError
from reqlock.locking.candidates import PYTHON, Candidate, Req
from reqlock.locking.chains import Provenance, Step, render
from reqlock.locking.rules import FileRules
from reqlock.locking.source import PackageSource


def explain(
    causes: Collection[Any],
    *,
    source: PackageSource,
    rules: FileRules,
    constraints: Mapping[str, Sequence[Req]],
    provenance: Provenance | None = None,
    unproven: bool = False,
) -> ResolutionError:
    """Turn resolvelib's causes (``RequirementInformation`` of :class:`Req` and
    :class:`Candidate`) into an error that explains them.

    One project with no acceptable version gives a :class:`NoVersionsError` that also
    says what the index has and why the rest is unusable; anything else is a conflict
    between projects. ``unproven``: the exhaustive re-check ran out of rounds, so
    the conflict is the one the first search found."""
    provenance = provenance or Provenance()
    target_name = rules.target.name
    data: list[ConflictCause] = []
    names: list[str] = []
    skipped: list[str] = []
    groups: dict[tuple[str, str, str], list[tuple[tuple[Step, ...], Candidate]]] = {}
    # Lines in the order of the causes; a group's line is written once it is full.
    entries: list[str | tuple[str, str, str]] = []
    for info in causes:
        req: Req = info.requirement
        parent: Candidate | None = info.parent
        if req.unusable:
            entries.append(f"  - {_plain_source(req, parent)} is skipped: {req.unusable}")
            if parent is not None and parent.name not in skipped:
                skipped.append(parent.name)
            continue
        wanted = f"Python {req.specifier}" if req.name == PYTHON else req.describe()
        steps = provenance.chain(parent) if parent is not None else ()
        package = "python" if req.name == PYTHON else req.name
        chain = tuple(step.text for step in steps)
        data.append(ConflictCause(package, wanted, _plain_source(req, parent), chain))
        if req.name not in names:
            names.append(req.name)
        if parent is None:
            entries.append(f"  - {req.source} requires {wanted}{_python_note(wanted, rules)}")
            continue
        # Releases of one project that require the same thing through the same
        # line are one sentence: boto3's 166 botocore releases all cap urllib3.
        key = (parent.identifier, wanted, steps[0].text if steps else "")
        if key not in groups:
            groups[key] = []
            entries.append(key)
        groups[key].append((steps, parent))
    lines = [e if isinstance(e, str) else _group_line(e, groups[e], rules) for e in entries]
    for name in names:
        for c in constraints.get(name, ()):
            lines.append(f"  - {c.source} {c.describe()}")
            data.append(ConflictCause(name, c.describe(), c.source))
    note = (
        "\n  (reqlock stopped a complete search for another answer after its round "
        "limit: this is the conflict its first search found)"
        if unproven
        else ""
    )
    pkgs = [n for n in names if n != PYTHON]
    if skipped and not names:
        return NoVersionsError(
            f"no release of {', '.join(skipped)} has usable metadata for {target_name}:\n"
            + "\n".join(lines),
            hint="require a version whose metadata is valid, or ask its maintainers to "
            "fix the release",
            causes=data,
        )
    if len(causes) == 1 or (len(pkgs) == 1 and all(i.requirement.name == pkgs[0] for i in causes)):
        return _no_versions(pkgs[0] if pkgs else PYTHON, causes, lines, data, source, rules, note)
    return ResolutionError(
        f"the requirements conflict for {target_name} "
        f"(on {', '.join(pkgs) or 'Python'}):\n" + "\n".join(lines) + note,
        hint="relax one of these requirements, or add a constraint that picks a version "
        "all of them accept",
        causes=data,
    )


def _python_note(wanted: str, rules: FileRules) -> str:
    """For a requirement on Python: what the target has."""
    if not wanted.startswith("Python "):
        return ""
    if rules.region is not None:
        return f", but {rules.has_python()}"
    return f", but the target {rules.target.name} has Python {rules.python_version}"


def _group_line(
    key: tuple[str, str, str],
    members: list[tuple[tuple[Step, ...], Candidate]],
    rules: FileRules,
) -> str:
    """One line for releases of one project that require the same thing."""
    identifier, wanted, _ = key
    steps, parent = members[0]
    note = _python_note(wanted, rules)
    if len(members) == 1:
        who = render(steps) if steps else f"{parent.identifier} {parent.version}"
        return f"  - {who} requires {wanted}{note}"
    versions = sorted(member.version for _, member in members)
    span = (
        ", ".join(str(v) for v in versions)
        if len(versions) <= 3
        else f"{versions[0]} to {versions[-1]} ({len(versions)} releases)"
    )
    if not steps:
        who = f"{identifier} {span}"
    else:
        middles = {tuple(step.text for step in chain[1:-1]) for chain, _ in members}
        middle = list(middles.pop()) if len(middles) == 1 else ["…"]
        head = steps[0].text
        if len(steps) == 2:  # the user's line names this project itself
            who = f"{head} ({span})"
        else:
            # The user's line with the version it chose, then the releases between.
            head, rest = (render(steps[:2]), middle[1:]) if middle != ["…"] else (head, middle)
            who = " → ".join([head, *rest, f"{identifier} {span}"])
    return f"  - {who} require {wanted}{note}"


def _plain_source(req: Req, parent: Candidate | None) -> str:
    return req.source if parent is None else f"{parent.identifier} {parent.version}"


def _no_versions(  # noqa: PLR0917 - one call site, the parts of one message
    name: str,
    causes: Collection[Any],
    lines: list[str],
    data: list[ConflictCause],
    source: PackageSource,
    rules: FileRules,
    note: str,
) -> NoVersionsError:
    """The error for one project with no version that every requirement accepts."""
    target_name = rules.target.name
    spec = SpecifierSet()
    for info in causes:
        if info.requirement.name == name:
            spec &= info.requirement.specifier
    body = "\n".join(lines)
    if name == PYTHON:
        return NoVersionsError(
            f"no version of Python satisfies all requirements for {target_name}:\n{body}",
            hint="lock for a target with a Python these releases support, or require "
            "releases that support the target's Python",
            causes=data,
        )
    page = source.project(name)
    if not rules.versions(page):
        return NoVersionsError(
            f"no project named {name} on {page.index} (check the spelling):\n{body}",
            hint=f"correct the name, or add the index that has {name} with "
            "--extra-index-url (or --find-links)",
            causes=data,
        )
    available = available_summary(source, rules, name, spec)
    several = sum(1 for info in causes if info.requirement.name == name) > 1
    return NoVersionsError(
        f"no version of {name} satisfies all requirements for {target_name}:\n{body}"
        + (f"\n  available: {available}" if available else "")
        + note,
        hint="relax one of these requirements"
        if several
        else f"require a version of {name} that the index has for {target_name}",
        causes=data,
    )


def available_summary(
    source: PackageSource, rules: FileRules, name: str, spec: SpecifierSet
) -> str:
    """What the index has for ``name``, and why the versions ``spec`` allows were
    not usable for this target (naming the option or rule responsible)."""
    page = source.project(name)
    versions = rules.versions(page)
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
