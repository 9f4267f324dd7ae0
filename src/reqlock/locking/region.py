"""The environments a universal resolution covers, as one marker: a :class:`Region`.

A universal lock is resolved for every environment its ``requires-python`` (and, if
the user names them, its ``environments`` markers) allow. A region answers the three
questions the resolver asks of a concrete target:

* does a requirement's marker hold here? (here: *somewhere* in the region);
* which Python must a release support? (the lowest the region allows, as uv does:
  a release that drops the oldest Python of the region cannot be used there);
* can a wheel be installed here? (its tags, read as markers, meet the region).

A fork narrows the region by a marker; forks partition their parent region.
"""

from __future__ import annotations

__all__ = [
    "FALSE",
    "TRUE",
    "Region",
    "filename_tags",
    "for_extra",
    "python_marker",
    "wheel_marker",
]

import dataclasses
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from packaging._parser import Value, Variable
from packaging.markers import Marker
from packaging.specifiers import Specifier, SpecifierSet
from packaging.tags import parse_tag
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from reqlock.index.pages import DistFile
from reqlock.locking import markerranges as mr
from reqlock.locking import markers as markers_module
from reqlock.locking.markers import MarkerError, MarkerExpr
from reqlock.settings import Universal
from reqlock.targets import Target

TRUE = MarkerExpr.parse(None)
FALSE = TRUE.not_()


@dataclass(frozen=True, slots=True)
class Region:
    """A set of environments, as a marker that includes the Python range.

    ``requires_python`` is the lock's range (it simplifies the markers written to the
    lock); ``targets``, when given (``--universal --target …``), limit the wheels kept
    to those these targets can install, while the versions stay universal."""

    marker: MarkerExpr
    requires_python: SpecifierSet
    targets: tuple[Target, ...] = ()
    environments: tuple[Marker, ...] = ()  # the user's markers, written to the lock
    required: tuple[MarkerExpr, ...] = ()  # each needs a file of every package it uses
    floor: Version = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "floor", _python_floor(self.marker))

    @classmethod
    def universal(
        cls,
        requires_python: SpecifierSet,
        environments: Sequence[Marker] = (),
        targets: Sequence[Target] = (),
        required: Sequence[Marker] = (),
    ) -> Region:
        """Every environment ``requires_python`` allows, narrowed to ``environments``
        (any of them) when given; ``required`` markers are environments for which
        every package used there must have a wheel or an sdist."""
        marker = python_marker(requires_python)
        if environments:
            allowed = FALSE
            for env in environments:
                allowed = allowed.or_(MarkerExpr.parse(env))
            marker = marker.and_(allowed)
        needed = tuple(MarkerExpr.parse(m) for m in required)
        return cls(marker, requires_python, tuple(targets), tuple(environments), needed)

    @classmethod
    def covering(cls, universal: Universal) -> Region:
        """The region of a universal lock's settings."""
        return cls.universal(
            universal.requires_python,
            universal.environments,
            universal.wheel_targets,
            universal.required_environments,
        )

    @property
    def name(self) -> str:
        """The region in words, for messages: its marker, simplified."""
        shown = self.marker.restrict(self.requires_python)
        try:
            return "every environment" if shown.is_true() else str(shown)
        except MarkerError:  # a complement no marker can write (see locking.markers)
            return f"a part of the environments ({shown!r})"

    def narrow(self, marker: MarkerExpr) -> Region:
        """The part of this region where ``marker`` holds."""
        narrowed = self.marker.and_(marker)
        return dataclasses.replace(self, marker=narrowed)

    def is_empty(self) -> bool:
        return self.marker.is_false()

    def applies(self, marker: Marker | None, extra: str = "") -> bool:
        """Whether ``marker`` holds somewhere in the region when ``extra`` is requested."""
        if marker is None:
            return True
        return not for_extra(str(marker), extra).is_disjoint(self.marker)

    def python_ok(self, requires_python: SpecifierSet) -> bool:
        """Whether some Python of the region satisfies ``requires_python``."""
        return not python_marker(requires_python).is_disjoint(self.marker)

    def uncovered(self, files: Sequence[DistFile], demand: MarkerExpr) -> MarkerExpr | None:
        """The first required environment where ``demand`` (where the project is
        needed) holds and none of ``files`` can be installed; None when all are served."""
        if any(not f.is_wheel for f in files):
            return None  # an sdist builds anywhere
        for wanted in self.required:
            need = wanted.and_(self.marker).and_(demand)
            if need.is_false():
                continue
            if all(wheel_marker(filename_tags(f.filename)).is_disjoint(need) for f in files):
                return wanted
        return None

    def wheel_ok(self, filename: str) -> bool:
        """Whether some environment of the region can install this wheel."""
        return not wheel_marker(filename_tags(filename)).is_disjoint(self.marker)

    def shown(self, marker: MarkerExpr) -> MarkerExpr:
        """``marker`` simplified for the lock's Python range."""
        return marker.restrict(self.requires_python)


def filename_tags(filename: str) -> str:
    """The compressed tag triple of a wheel's file name."""
    return "-".join(filename[:-4].split("-")[-3:])


@functools.lru_cache(maxsize=1024)
def python_marker(requires_python: SpecifierSet) -> MarkerExpr:
    """The environments whose Python ``requires_python`` admits.

    ``>=X.Y`` and ``<X.Y`` become ``python_version`` bounds, which also hold (or not)
    for X.Y's own pre-releases: otherwise every split at a Python release would leave
    a sliver of pre-release interpreters resolved on their own."""
    if not str(requires_python):
        return TRUE
    return MarkerExpr.parse(" and ".join(_python_clause(s) for s in requires_python))


def _python_clause(spec: Specifier) -> str:
    try:
        version = Version(spec.version)
    except InvalidVersion:
        version = None
    whole = (
        version is not None
        and version.release[2:] in ((), (0,))
        and not (version.is_prerelease or version.is_postrelease or version.local)
    )
    if whole and version is not None and spec.operator in (">=", "<"):
        return f'python_version {spec.operator} "{version.major}.{version.minor}"'
    return f'python_full_version {spec.operator} "{spec.version}"'


def _python_floor(marker: MarkerExpr) -> Version:
    """The lowest final Python release (X.Y.Z) the region allows; 3.0 when it sets
    no lower bound. Pre-releases of Python are left aside: a release's Requires-Python
    is checked against the floor, and ``>=3.10`` does not admit 3.10.0a1."""
    node = marker._node  # the diagram's root: python_full_version is tested first
    if node.var is None or node.var.name != mr.PYTHON:
        return Version("3.0")
    allowed = mr.EMPTY
    for domain, child in node.edges:
        if child is not markers_module.FALSE and isinstance(domain, mr.VersionSet):
            allowed = allowed.or_(domain)
    for lower, upper in allowed.intervals():
        final = Version("3.0") if lower is None else _final_from(lower)
        if upper is None or not upper.passed(final):
            return final
    return Version("3.0")


def _final_from(cut: mr.Cut) -> Version:
    """The first final release at or above ``cut``."""
    version = cut.version
    if version is not None and not (version.is_postrelease or version.local):
        return Version(version.base_version)  # 3.10, or 3.10.0 for 3.10.0rc1
    release = list(cut.release if version is None else version.release)
    release += [0] * (3 - len(release))
    # Above every 3.9.0.* (or after a post-release): the next micro; above every
    # 3.9.*: the next minor.
    if version is None and len(cut.release) == 2:
        return Version(f"{release[0]}.{release[1] + 1}.0")
    return Version(".".join(map(str, [*release[:-1], release[-1] + 1])))


@functools.lru_cache(maxsize=8192)
def for_extra(marker: str, extra: str) -> MarkerExpr:
    """``marker`` with ``extra`` decided: the requirement's condition when the release is
    requested with ``extra`` ("": without extras). ``extra`` leaves the expression."""
    wanted = canonicalize_name(extra) if extra else ""
    return _tree(Marker(marker)._markers, wanted)


def _tree(tree: Sequence[object], extra: str) -> MarkerExpr:
    result, group = FALSE, TRUE
    for item in tree:
        if item == "or":
            result, group = result.or_(group), TRUE
        elif isinstance(item, list):
            group = group.and_(_tree(item, extra))
        elif isinstance(item, tuple):
            group = group.and_(_atom(item, extra))
    return result.or_(group)


def _atom(item: tuple[object, object, object], extra: str) -> MarkerExpr:
    lhs, op, rhs = item
    assert isinstance(lhs, Variable | Value)
    assert isinstance(rhs, Variable | Value)
    names = {side.value for side in (lhs, rhs) if isinstance(side, Variable)}
    text = f"{lhs.serialize()} {op} {rhs.serialize()}"
    if "extra" in names:
        # packaging compares extras normalised; the one requested decides the atom.
        return TRUE if Marker(text).evaluate({"extra": extra}) else FALSE
    return MarkerExpr.parse(text)


# -- wheel tags as markers -----------------------------------------------------------

_LINUX = re.compile(r"(?:many|musl)?linux(?:_\d+_\d+|1|2010|2014)?_(.+)")
_KNOWN_PLATFORMS = ("linux", "darwin", "win32", "cygwin", "ios", "android", "emscripten")
# platform.machine() reports the kernel's machine: a 32-bit interpreter on a 64-bit
# system reports the 64-bit name, so a wheel for the narrower machine stays usable there.
_LINUX_MACHINES: dict[str, tuple[str, ...]] = {
    "i686": ("i686", "i386", "x86_64"),
    "armv7l": ("armv7l", "armv8l", "aarch64"),
    "armv6l": ("armv6l", "armv7l", "armv8l", "aarch64"),
}
_MAC_MACHINES: dict[str, tuple[str, ...]] = {
    "x86_64": ("x86_64",),
    "arm64": ("arm64",),
    "universal2": ("x86_64", "arm64"),
}
_WINDOWS: dict[str, tuple[str, ...]] = {
    "win_amd64": ("AMD64", "x86_64", "amd64"),
    "win_arm64": ("ARM64", "arm64", "aarch64"),
}


def _one_of(variable: str, values: Sequence[str]) -> str:
    return "(" + " or ".join(f'{variable} == "{v}"' for v in values) + ")"


def _platform_marker(platform: str) -> str | None:
    """The marker of environments a platform tag can serve (None: all of them)."""
    if platform == "any":
        return None
    if platform in ("win32", *_WINDOWS):
        machines = _WINDOWS.get(platform)
        win = 'sys_platform == "win32"'
        return f"{win} and {_one_of('platform_machine', machines)}" if machines else win
    linux = _LINUX.match(platform)
    if linux is not None:
        arch = linux.group(1)
        machines = _LINUX_MACHINES.get(arch, (arch,))
        return f'sys_platform == "linux" and {_one_of("platform_machine", machines)}'
    if platform.startswith("macosx_"):
        machines = _MAC_MACHINES.get(platform.split("_", 3)[-1])
        mac = 'sys_platform == "darwin"'
        return f"{mac} and {_one_of('platform_machine', machines)}" if machines else mac
    for name in ("ios", "android"):
        if platform.startswith(name + "_"):
            return f'sys_platform == "{name}"'
    if platform.startswith(("emscripten_", "pyodide_", "pyemscripten_")):
        return 'sys_platform == "emscripten"'
    # FreeBSD, Solaris, AIX…: sys_platform carries a release ("freebsd14"), which no
    # marker can match by prefix; any platform but the known ones may use the wheel.
    return " and ".join(f'sys_platform != "{p}"' for p in _KNOWN_PLATFORMS)


def _python_marker_of(interpreter: str, abi: str) -> str | None:
    """The marker of the interpreters a wheel's python and ABI tags serve."""
    kind, digits = interpreter[:2], interpreter[2:]
    if not digits.isdigit():
        return None
    version = f"{digits[0]}.{digits[1:]}" if len(digits) > 1 else None
    if kind == "py":
        # pyXY: XY and every later release of that major (packaging's compatible tags).
        return f'python_version >= "{version}"' if version else f'python_version >= "{digits}"'
    impl = {"cp": "cpython", "pp": "pypy", "gp": "graalpy", "ip": "ironpython"}.get(kind)
    if impl is None or version is None:
        return None
    # abi3 serves XY and later; any other ABI (none included) that interpreter only.
    which = ">=" if abi == "abi3" else "=="
    return f'implementation_name == "{impl}" and python_version {which} "{version}"'


@functools.lru_cache(maxsize=4096)
def wheel_marker(tag_text: str) -> MarkerExpr:
    """The environments a wheel with these (compressed) tags can be installed in."""
    try:
        tags = parse_tag(tag_text)
    except ValueError:
        return FALSE
    result = FALSE
    for tag in tags:
        parts = [_python_marker_of(tag.interpreter, tag.abi), _platform_marker(tag.platform)]
        text = " and ".join(f"({p})" for p in parts if p is not None)
        result = result.or_(MarkerExpr.parse(text or None))
    return result
