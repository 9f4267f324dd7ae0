"""Platform targets: the marker environment and wheel tags a lock is made for.

A :class:`Target` is a value: a name, the PEP 508 marker environment of the platform
and the wheel tags it accepts, most preferred first. Targets come from three places:

* :func:`parse_target` reads a preset spec such as ``linux-x86_64-py3.12`` (one of
  :data:`PRESETS` and a CPython version) or ``current``;
* :func:`target_from_config` reads an explicit target table from ``[tool.reqlock]``;
* :func:`current` describes the running interpreter (the only function here that looks
  at it).

The presets use the same defaults as ``uv pip compile --python-platform TRIPLE
--python-version X.Y`` (uv 0.13), so that both tools accept the same wheels:

* ``linux-x86_64`` (``x86_64-unknown-linux-gnu``): ``manylinux_2_28`` down to
  ``manylinux_2_5`` with the ``manylinux2014/2010/1`` aliases, then ``linux_x86_64``;
* ``linux-aarch64`` (``aarch64-unknown-linux-gnu``): ``manylinux_2_28`` down to
  ``manylinux_2_17`` and ``manylinux2014``, then ``linux_aarch64``;
* ``musllinux-x86_64`` (``x86_64-unknown-linux-musl``): ``musllinux_1_2`` to ``_1_0``,
  then ``linux_x86_64``;
* ``macos-arm64`` / ``macos-x86_64`` (``aarch64-`` / ``x86_64-apple-darwin``): macOS
  13.0 and older, as ``packaging.tags.mac_platforms`` (so pip) lists them;
* ``windows-amd64`` (``x86_64-pc-windows-msvc``): ``win_amd64``.

``docs/targets.md`` explains each choice and the few places where we differ from uv.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_MACOS",
    "DEFAULT_MANYLINUX",
    "DEFAULT_MUSLLINUX",
    "MIN_PYTHON",
    "PRESETS",
    "Target",
    "current",
    "environment_marker",
    "parse_target",
    "target_from_config",
]

import difflib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from packaging.markers import Marker, default_environment
from packaging.tags import Tag, compatible_tags, cpython_tags, mac_platforms, sys_tags

from reqlock.errors import TargetError

#: Newest glibc a ``linux-*`` preset accepts (uv >= 0.8 default for ``*-unknown-linux-gnu``).
DEFAULT_MANYLINUX: tuple[int, int] = (2, 28)
#: Newest musl a ``musllinux-*`` preset accepts (uv default for ``*-unknown-linux-musl``).
DEFAULT_MUSLLINUX: tuple[int, int] = (1, 2)
#: macOS version a ``macos-*`` preset runs on (uv 0.13 default for ``*-apple-darwin``).
DEFAULT_MACOS: tuple[int, int] = (13, 0)
#: Oldest CPython a target may name.
MIN_PYTHON: tuple[int, int] = (3, 7)

# Oldest glibc that manylinux defines per architecture (PEP 513/599/600).
_MANYLINUX_OLDEST_MINOR = {"x86_64": 5, "i686": 5}
_MANYLINUX_DEFAULT_OLDEST_MINOR = 17
_LEGACY_MANYLINUX = {5: "manylinux1", 12: "manylinux2010", 17: "manylinux2014"}

_MARKER_VARIABLES = (
    "implementation_name",
    "implementation_version",
    "os_name",
    "platform_machine",
    "platform_python_implementation",
    "platform_release",
    "platform_system",
    "platform_version",
    "python_full_version",
    "python_version",
    "sys_platform",
)
# The variables an environment marker of a lock names; see environment_marker().
_MARKER_KEYS = ("python_version", "implementation_name", "sys_platform", "platform_machine")


@dataclass(frozen=True, kw_only=True, slots=True)
class Target:
    """One platform a lock must be valid for.

    ``environment`` holds the PEP 508 marker variables (treat it as read-only); ``tags``
    the wheel tags the platform accepts, most preferred first (as
    ``packaging.tags.sys_tags()``). Targets hash by name and compare by value, so they
    can key a dict.
    """

    name: str
    environment: Mapping[str, str] = field(hash=False, compare=True)
    tags: tuple[Tag, ...] = field(hash=False, compare=True, repr=False)

    def tag_priority(self) -> dict[Tag, int]:
        """Map each accepted tag to its rank (0 = most preferred)."""
        return {tag: i for i, tag in enumerate(self.tags)}

    def describe(self) -> str:
        """One line for people: name, interpreter, platform and best tag."""
        env = self.environment
        best = str(self.tags[0]) if self.tags else "no tags"
        return (
            f"{self.name}: {env.get('platform_python_implementation', '?')} "
            f"{env.get('python_full_version', '?')} on {env.get('sys_platform', '?')} "
            f"{env.get('platform_machine', '?')} ({len(self.tags)} tags, best {best})"
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class _Platform:
    environment: Mapping[str, str]  # os_name, sys_platform, platform_system/_machine
    platform_tags: tuple[str, ...]


_LINUX = {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"}
_DARWIN = {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix"}
_WINDOWS = {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt"}


def _manylinux(arch: str, newest: tuple[int, int]) -> Iterator[str]:
    major, minor = newest
    oldest = _MANYLINUX_OLDEST_MINOR.get(arch, _MANYLINUX_DEFAULT_OLDEST_MINOR)
    for m in range(minor, oldest - 1, -1):
        yield f"manylinux_{major}_{m}_{arch}"
        if m in _LEGACY_MANYLINUX:
            yield f"{_LEGACY_MANYLINUX[m]}_{arch}"


def _musllinux(arch: str, newest: tuple[int, int]) -> Iterator[str]:
    major, minor = newest
    for m in range(minor, -1, -1):
        yield f"musllinux_{major}_{m}_{arch}"


_PLATFORMS: dict[str, _Platform] = {
    "linux-x86_64": _Platform(
        environment={**_LINUX, "platform_machine": "x86_64"},
        platform_tags=(*_manylinux("x86_64", DEFAULT_MANYLINUX), "linux_x86_64"),
    ),
    "linux-aarch64": _Platform(
        environment={**_LINUX, "platform_machine": "aarch64"},
        platform_tags=(*_manylinux("aarch64", DEFAULT_MANYLINUX), "linux_aarch64"),
    ),
    "musllinux-x86_64": _Platform(
        environment={**_LINUX, "platform_machine": "x86_64"},
        platform_tags=(*_musllinux("x86_64", DEFAULT_MUSLLINUX), "linux_x86_64"),
    ),
    "macos-arm64": _Platform(
        environment={**_DARWIN, "platform_machine": "arm64"},
        platform_tags=tuple(mac_platforms(DEFAULT_MACOS, "arm64")),
    ),
    "macos-x86_64": _Platform(
        environment={**_DARWIN, "platform_machine": "x86_64"},
        platform_tags=tuple(mac_platforms(DEFAULT_MACOS, "x86_64")),
    ),
    "windows-amd64": _Platform(
        environment={**_WINDOWS, "platform_machine": "AMD64"}, platform_tags=("win_amd64",)
    ),
}

#: The preset platform names; a preset target is ``NAME-pyX.Y``.
PRESETS: tuple[str, ...] = tuple(_PLATFORMS)

_VALID_FORMS = (
    "valid targets are 'current' or PLATFORM-pyX.Y, with PLATFORM one of "
    + ", ".join(PRESETS)
    + f" and X.Y a CPython version {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer"
    " (e.g. linux-x86_64-py3.12); any other platform can be defined as an explicit"
    " target table in [tool.reqlock] (see docs/targets.md)"
)
_SPEC = re.compile(r"(?P<platform>.+?)-py(?P<version>[^-]*)")
_PYTHON = re.compile(r"(?P<major>\d{1,3})\.(?P<minor>\d{1,3})(?:\.(?P<patch>\d{1,3}))?")


def current() -> Target:
    """The running interpreter as a target."""
    return Target(
        name="current",
        environment={k: str(v) for k, v in default_environment().items()},
        tags=tuple(sys_tags()),
    )


def parse_target(spec: str, *, key: str = "--target") -> Target:
    """The target named by ``spec``: ``current`` or a preset ``PLATFORM-pyX.Y``.

    ``PLATFORM`` is one of :data:`PRESETS`; ``X.Y`` a CPython version, at least
    :data:`MIN_PYTHON`. Case and surrounding blanks are ignored; the target's name is
    the canonical spec (``linux-x86_64-py3.12``). Raises :class:`TargetError` (about
    ``key``) listing the valid forms.

    Every marker variable is set: ``python_full_version`` and ``implementation_version``
    are ``X.Y.0`` (as uv's ``--python-version X.Y``), ``platform_machine`` is what the
    platform reports (``x86_64``, ``aarch64``, ``arm64``, ``AMD64``), and
    ``platform_release``/``platform_version`` are ``""`` since a cross target cannot
    know them, so markers on them are evaluated against the empty string.
    """
    text = spec.strip().lower()
    if text == "current":
        return current()
    match = _SPEC.fullmatch(text)
    if match is None:
        for platform_name in PRESETS:
            if text.startswith(platform_name):
                raise TargetError(
                    f"target {spec!r} names no Python version",
                    key=key,
                    hint=f"write e.g. {platform_name}-py3.12; {_VALID_FORMS}",
                )
        raise TargetError(f"unknown target {spec!r}", key=key, hint=_suggest(text))
    platform_name = match["platform"]
    platform = _PLATFORMS.get(platform_name)
    if platform is None:
        raise TargetError(
            f"unknown platform {platform_name!r} in target {spec!r}",
            key=key,
            hint=_suggest(platform_name),
        )
    major, minor, patch = _parse_python(match["version"], key=key, what=f"target {spec!r}")
    if patch is not None:
        raise TargetError(
            f"target {spec!r} names a patch release; presets take X.Y only",
            key=key,
            hint=f"write {platform_name}-py{major}.{minor}; {_VALID_FORMS}",
        )
    return _make_target(
        name=f"{platform_name}-py{major}.{minor}",
        python=(major, minor),
        full_version=f"{major}.{minor}.0",
        environment=platform.environment,
        platforms=platform.platform_tags,
    )


def target_from_config(name: str, table: Mapping[str, Any], *, key: str) -> Target:
    """The target ``name`` defined by an explicit table of ``[tool.reqlock]``.

    Keys: ``python`` (required, a string ``"X.Y"`` or ``"X.Y.Z"``), ``implementation``
    (``"cpython"``, the default and the only one supported), ``platforms`` (required,
    platform tags, most preferred first) and ``environment`` (marker variables).

    Each platform tag also brings the older tags it implies, as pip's ``--platform``
    and uv's ``--python-platform`` do: ``manylinux_2_31_x86_64`` accepts every
    manylinux down to ``manylinux_2_5`` (``_2_17`` on other architectures) and the
    legacy aliases, ``musllinux_1_2_*`` accepts ``musllinux_1_1``/``_1_0``, and
    ``macosx_14_0_arm64`` the older macOS versions and ``universal2``.

    Missing marker variables are derived from the Python version (``X.Y.0`` when no
    patch is given) and from the first platform tag that tells the OS and machine
    (``manylinux``/``musllinux``/``linux``, ``macosx``, ``win_amd64``/``win_arm64``);
    ``platform_release`` and ``platform_version`` default to ``""``. For other
    platforms, give ``sys_platform``, ``platform_system``, ``os_name`` and
    ``platform_machine`` in ``environment``. Errors name ``key`` and its sub-key.
    """
    from reqlock.custom_targets import target_from_table

    return target_from_table(name, table, key=key)


def environment_marker(target: Target) -> Marker:
    """The marker a lock's ``environments`` lists for ``target``.

    It names ``python_version``, ``implementation_name``, ``sys_platform`` and
    ``platform_machine`` (not the patch release), e.g. ``python_version == "3.12" and
    implementation_name == "cpython" and sys_platform == "linux" and platform_machine
    == "x86_64"``. No marker variable tells glibc from musl, so ``linux-x86_64-pyX.Y``
    and ``musllinux-x86_64-pyX.Y`` share one marker; their wheel tags differ.
    """
    clauses = []
    for variable in _MARKER_KEYS:
        value = target.environment.get(variable)
        if value is None:
            raise TargetError(f"the environment has no {variable}", key=target.name)
        if '"' in value:
            raise TargetError(
                f"{variable} {value!r} cannot be written in a marker", key=target.name
            )
        clauses.append(f'{variable} == "{value}"')
    return Marker(" and ".join(clauses))


def _make_target(
    *,
    name: str,
    python: tuple[int, int],
    full_version: str,
    environment: Mapping[str, str],
    platforms: Iterable[str],
) -> Target:
    major, minor = python
    env = {
        "implementation_name": "cpython",
        "implementation_version": full_version,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_version": "",
        "python_full_version": full_version,
        "python_version": f"{major}.{minor}",
        **environment,
    }
    interpreter = f"cp{major}{minor}"
    # CPython <= 3.7 carries pymalloc's "m" in its ABI tag, as uv assumes too.
    abi = f"{interpreter}m" if python <= (3, 7) else interpreter
    platform_list = list(platforms)
    tags = (
        *cpython_tags(python, [abi], platform_list),
        *compatible_tags(python, interpreter, platform_list),
    )
    return Target(name=name, environment={k: env[k] for k in sorted(env)}, tags=tags)


def _parse_python(text: str, *, key: str, what: str) -> tuple[int, int, int | None]:
    match = _PYTHON.fullmatch(text)
    if match is None:
        raise TargetError(
            f"{what}: malformed Python version {text!r}",
            key=key,
            hint=f"write X.Y, e.g. 3.12; {_VALID_FORMS}",
        )
    major, minor = int(match["major"]), int(match["minor"])
    if major != 3 or (major, minor) < MIN_PYTHON or minor > 99:
        raise TargetError(
            f"{what}: Python {major}.{minor} is not supported",
            key=key,
            hint=f"reqlock locks for CPython {MIN_PYTHON[0]}.{MIN_PYTHON[1]} and newer 3.x;"
            f" {_VALID_FORMS}",
        )
    patch = match["patch"]
    return major, minor, None if patch is None else int(patch)


def _suggest(platform_name: str) -> str:
    close = difflib.get_close_matches(platform_name, PRESETS, n=1, cutoff=0.6)
    prefix = f"did you mean {close[0]}? " if close else ""
    return prefix + _VALID_FORMS
