"""Core metadata read statically from a source tree's ``pyproject.toml``.

PEP 621 ``[project]`` is metadata without a build when it declares ``name`` and
``version`` and leaves ``dependencies``, ``optional-dependencies`` and
``requires-python`` out of ``dynamic`` (a field neither given nor dynamic is
empty). Anything else needs the project's build backend, run through pip. Pure:
the text of the file in, values out.
"""

from __future__ import annotations

__all__ = ["static_metadata"]

import sys
from collections.abc import Mapping
from typing import Any

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidName, NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from reqlock.errors import DirectReferenceError
from reqlock.index.metadata import DistMetadata

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

_NEEDED = frozenset({"version", "dependencies", "optional-dependencies", "requires-python"})


def static_metadata(text: str, *, where: str) -> DistMetadata | None:
    """The metadata ``[project]`` of ``pyproject.toml`` declares, or None when a
    field the resolver needs is dynamic (or there is no ``[project]`` table).

    ``where`` names the file in errors. A malformed table is an error, not a
    reason to build: the backend would refuse it too.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _bad(where, f"is not valid TOML: {exc}") from None
    project = data.get("project")
    if project is None:
        return None
    if not isinstance(project, Mapping):
        raise _bad(where, "[project] is not a table")
    dynamic = project.get("dynamic", [])
    if not isinstance(dynamic, list) or not all(isinstance(d, str) for d in dynamic):
        raise _bad(where, "project.dynamic is not a list of strings")
    if _NEEDED & set(dynamic) or "version" not in project:
        return None
    name = _name(project.get("name"), where)
    version = _version(project["version"], where)
    requires = [
        _requirement(r, where, "dependencies") for r in _strings(project, "dependencies", where)
    ]
    extras = project.get("optional-dependencies", {})
    if not isinstance(extras, Mapping):
        raise _bad(where, "project.optional-dependencies is not a table")
    provided = set()
    for extra, items in sorted(extras.items()):
        try:
            extra_name = canonicalize_name(extra, validate=True)
        except InvalidName:
            raise _bad(where, f"optional-dependencies key {extra!r} is not a valid extra") from None
        provided.add(extra_name)
        if not isinstance(items, list):
            raise _bad(where, f"optional-dependencies.{extra} is not a list")
        for item in items:
            requires.append(
                _with_extra(_requirement(item, where, f"optional-dependencies.{extra}"), extra_name)
            )
    return DistMetadata(
        name=name,
        version=version,
        requires_dist=tuple(requires),
        requires_python=_python(project.get("requires-python"), where),
        provides_extras=frozenset(provided),
    )


def _bad(where: str, what: str) -> DirectReferenceError:
    return DirectReferenceError(
        f"{where} {what}", source=where, hint="fix pyproject.toml (PEP 621 [project] table)"
    )


def _name(value: Any, where: str) -> NormalizedName:
    if not isinstance(value, str):
        raise _bad(where, "has no project.name")
    try:
        return canonicalize_name(value, validate=True)
    except InvalidName:
        raise _bad(where, f"project.name {value!r} is not a valid name") from None


def _version(value: Any, where: str) -> Version:
    if not isinstance(value, str):
        raise _bad(where, f"project.version {value!r} is not a string")
    try:
        return Version(value)
    except InvalidVersion:
        raise _bad(where, f"project.version {value!r} is not PEP 440") from None


def _strings(project: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = project.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(where, f"project.{key} is not a list of strings")
    return value


def _requirement(text: Any, where: str, key: str) -> Requirement:
    if not isinstance(text, str):
        raise _bad(where, f"project.{key} holds {text!r}, not a string")
    try:
        return Requirement(text)
    except InvalidRequirement as exc:
        raise _bad(where, f"project.{key}: {text!r}: {exc}") from None


def _with_extra(requirement: Requirement, extra: str) -> Requirement:
    marker = f'extra == "{extra}"'
    if requirement.marker is not None:
        marker = f"({requirement.marker}) and {marker}"
    requirement.marker = Marker(marker)
    return requirement


def _python(value: Any, where: str) -> SpecifierSet | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(where, "project.requires-python is not a string")
    try:
        return SpecifierSet(value)
    except InvalidSpecifier:
        raise _bad(where, f"project.requires-python {value!r} is not a specifier") from None
