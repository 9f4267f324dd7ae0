"""Targets defined by a table of ``[tool.reqlock.custom-targets]``: the Python
version, platform tags (and the older tags each implies) and marker variables.

:func:`reqlock.targets.target_from_config` is the public entry point.
"""

from __future__ import annotations

__all__ = ["target_from_table"]

import re
from collections.abc import Iterator, Mapping
from typing import Any

from packaging.tags import mac_platforms

from reqlock.errors import TargetError
from reqlock.targets import (
    _DARWIN,
    _LEGACY_MANYLINUX,
    _LINUX,
    _MARKER_VARIABLES,
    _VALID_FORMS,
    _WINDOWS,
    Target,
    _make_target,
    _manylinux,
    _musllinux,
    _parse_python,
)

_CONFIG_FORM = (
    'a target table looks like: python = "3.12", implementation = "cpython" (optional),'
    ' platforms = ["manylinux_2_28_x86_64", ...] (most preferred first),'
    ' environment = { sys_platform = "linux", platform_machine = "x86_64" } (optional);'
    f" or use a preset: {_VALID_FORMS}"
)
_PLATFORM_TAG = re.compile(r"[a-z0-9_.]+")
_MANYLINUX_TAG = re.compile(r"manylinux_(\d+)_(\d+)_(.+)")
_LEGACY_TAG = re.compile(r"(manylinux1|manylinux2010|manylinux2014)_(.+)")
_MUSLLINUX_TAG = re.compile(r"musllinux_(\d+)_(\d+)_(.+)")
_MACOS_TAG = re.compile(r"macosx_(\d+)_(\d+)_(.+)")
_LEGACY_MINOR = {legacy: minor for minor, legacy in _LEGACY_MANYLINUX.items()}


def target_from_table(name: str, table: Mapping[str, Any], *, key: str) -> Target:
    """See :func:`reqlock.targets.target_from_config`, which calls this."""
    if not isinstance(name, str) or not name.strip():
        raise TargetError("a target needs a non-empty name", key=key)
    if not isinstance(table, Mapping):
        raise TargetError(f"expected a table, got {_type(table)}", key=key, hint=_CONFIG_FORM)
    unknown = sorted(set(table) - {"python", "implementation", "platforms", "environment"})
    if unknown:
        raise TargetError(
            f"unknown key(s) {', '.join(map(repr, unknown))}", key=key, hint=_CONFIG_FORM
        )
    implementation = table.get("implementation", "cpython")
    if not isinstance(implementation, str) or implementation.lower() != "cpython":
        raise TargetError(
            f"unsupported implementation {implementation!r}",
            key=f"{key}.implementation",
            hint='only "cpython" is supported',
        )
    if "python" not in table:
        raise TargetError("missing key 'python'", key=key, hint=_CONFIG_FORM)
    python = table["python"]
    if not isinstance(python, str):
        raise TargetError(
            f"expected a string, got {_type(python)}",
            key=f"{key}.python",
            hint='quote the version: python = "3.12" (3.10 is not 3.1)',
        )
    major, minor, patch = _parse_python(python.strip(), key=f"{key}.python", what="python")
    full_version = f"{major}.{minor}.{0 if patch is None else patch}"
    platforms = _config_platforms(table.get("platforms"), key=f"{key}.platforms")
    environment = _config_environment(
        table.get("environment", {}), platforms, key=f"{key}.environment"
    )
    expected = {
        "python_version": f"{major}.{minor}",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
    }
    for variable, value in expected.items():
        if environment.get(variable, value) != value:
            raise TargetError(
                f"{variable} = {environment[variable]!r} contradicts python = {python!r}"
                " and implementation = 'cpython'",
                key=f"{key}.environment.{variable}",
                hint=f"remove it or set {value!r}",
            )
    for variable in ("python_full_version", "implementation_version"):
        given = environment.get(variable)
        if given is not None and not given.startswith(f"{major}.{minor}."):
            raise TargetError(
                f"{variable} = {given!r} is not a {major}.{minor} release",
                key=f"{key}.environment.{variable}",
                hint=f'e.g. "{full_version}"',
            )
    environment.setdefault("python_full_version", full_version)
    environment.setdefault("implementation_version", environment["python_full_version"])
    return _make_target(
        name=name,
        python=(major, minor),
        full_version=environment["python_full_version"],
        environment=environment,
        platforms=platforms,
    )


def _config_platforms(value: object, *, key: str) -> tuple[str, ...]:
    if value is None:
        raise TargetError("missing list of platform tags", key=key, hint=_CONFIG_FORM)
    if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
        raise TargetError(
            f"expected a non-empty list of platform tags, got {_type(value)}",
            key=key,
            hint='e.g. platforms = ["manylinux_2_28_x86_64"]',
        )
    seen: dict[str, None] = {}
    for item in value:
        if not isinstance(item, str) or not _PLATFORM_TAG.fullmatch(item):
            raise TargetError(
                f"{item!r} is not a platform tag",
                key=key,
                hint="platform tags are lower case, e.g. manylinux_2_28_x86_64,"
                " musllinux_1_2_aarch64, macosx_11_0_arm64, win_amd64",
            )
        if item == "any":
            raise TargetError(
                "'any' is implied; list only the platform tags", key=key, hint=_CONFIG_FORM
            )
        for tag in _implied_platforms(item, key=key):
            seen.setdefault(tag, None)
    return tuple(seen)


def _implied_platforms(tag: str, *, key: str) -> Iterator[str]:
    # A legacy name's number (manylinux2014) is a name, not an OS version.
    legacy = _LEGACY_TAG.fullmatch(tag)
    for number in re.findall(r"\d+", legacy[2] if legacy else tag):
        # Every older tag is implied, so an absurd version (a typo such as
        # manylinux_2_99999999) would expand to millions of tags.
        if len(number) > 2:
            raise TargetError(
                f"{tag!r}: version number {number[:12]}... is out of range",
                key=key,
                hint="platform tags name real OS versions, e.g. manylinux_2_28_x86_64",
            )
    yield tag
    if match := _LEGACY_TAG.fullmatch(tag):
        yield from _manylinux(match[2], (2, _LEGACY_MINOR[match[1]]))
    elif match := _MANYLINUX_TAG.fullmatch(tag):
        if int(match[1]) != 2:
            raise TargetError(
                f"{tag!r}: only glibc 2 manylinux tags are known",
                key=key,
                hint="use manylinux_2_Y_ARCH",
            )
        yield from _manylinux(match[3], (2, int(match[2])))
    elif match := _MUSLLINUX_TAG.fullmatch(tag):
        yield from _musllinux(match[3], (int(match[1]), int(match[2])))
    elif match := _MACOS_TAG.fullmatch(tag):
        yield from mac_platforms((int(match[1]), int(match[2])), match[3])


def _derived_environment(platforms: tuple[str, ...]) -> dict[str, str]:
    """OS variables and machine implied by the first platform tags that tell them."""
    env: dict[str, str] = {}
    for tag in platforms:
        family, machine = _platform_facts(tag)
        if family is None:
            continue
        if "sys_platform" not in env:
            env.update(family)
        elif env["sys_platform"] != family["sys_platform"]:
            continue
        if machine is not None:
            env.setdefault("platform_machine", machine)
        if "platform_machine" in env:
            break
    return env


def _platform_facts(tag: str) -> tuple[dict[str, str] | None, str | None]:
    for pattern in (_LEGACY_TAG, _MANYLINUX_TAG, _MUSLLINUX_TAG):
        if match := pattern.fullmatch(tag):
            return _LINUX, match.groups()[-1]
    if tag.startswith("linux_"):
        return _LINUX, tag.removeprefix("linux_")
    if match := _MACOS_TAG.fullmatch(tag):
        return _DARWIN, match[3] if match[3] in ("arm64", "x86_64") else None
    if tag.startswith("win"):
        return _WINDOWS, {"win_amd64": "AMD64", "win_arm64": "ARM64"}.get(tag)
    return None, None


def _config_environment(value: object, platforms: tuple[str, ...], *, key: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise TargetError(
            f"expected a table of marker variables, got {_type(value)}",
            key=key,
            hint='e.g. environment = { sys_platform = "linux" }',
        )
    given: dict[str, str] = {}
    for variable, setting in value.items():
        if variable not in _MARKER_VARIABLES:
            raise TargetError(
                f"{variable!r} is not a marker variable",
                key=key,
                hint="marker variables are " + ", ".join(_MARKER_VARIABLES),
            )
        if not isinstance(setting, str):
            raise TargetError(f"expected a string, got {_type(setting)}", key=f"{key}.{variable}")
        given[variable] = setting
    derived = _derived_environment(platforms)
    if derived and given.get("sys_platform", derived["sys_platform"]) != derived["sys_platform"]:
        raise TargetError(
            f"sys_platform = {given['sys_platform']!r} contradicts the platform tags,"
            f" which are for {derived['sys_platform']!r}",
            key=f"{key}.sys_platform",
            hint="fix the tags or remove sys_platform",
        )
    environment = {**derived, **given}
    missing = [
        v
        for v in ("sys_platform", "platform_system", "os_name", "platform_machine")
        if v not in environment
    ]
    if missing:
        raise TargetError(
            f"cannot derive {', '.join(missing)} from the platform tags",
            key=key,
            hint=f"give {', '.join(missing)} in environment = {{ ... }}",
        )
    return environment


def _type(value: object) -> str:
    return type(value).__name__
