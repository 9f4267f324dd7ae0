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
    for number in re.findall(r"\d+", tag):
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
