"""packse resolver scenarios (``tests/data/packse``) as inputs for reqlock's tests.

A packse scenario describes a small package universe (versions, dependencies,
extras, wheel tags, sdists, yanked releases, ``requires-python``), the root's
requirements, resolver options and the expected outcome. :func:`load_scenario`
reads one file into a :class:`Scenario`, which gives every input of a lock:

- :meth:`Scenario.universe_toml` / :meth:`Scenario.build_universe`: the packages as a
  fake-index universe (the layout of ``fixtures/universe.toml``), built into files;
- :attr:`Scenario.requirements_text`: the root's requirements as a requirements file;
- :meth:`Scenario.target`: the platform to lock for;
- :attr:`Scenario.settings`: the resolver options as reqlock's;
- :attr:`Scenario.expected`: packse's expected outcome;
- :attr:`Scenario.unsupported`: what the scenario asks that reqlock cannot express.

The files are read with ``tomllib`` (packse itself needs Python >= 3.12). Where a
file says nothing, packse 0.3.59's own defaults apply: every package version
requires Python ``>=3.12`` and has a ``py3-none-any`` wheel and an sdist, and the
environment is Python 3.12. Unknown keys are errors, as they are for packse, so a
refreshed suite using a new feature cannot be half-read without anyone noticing.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from reqlock.settings import Options
from reqlock.targets import DEFAULT_MACOS, DEFAULT_MANYLINUX, Target, target_from_config
from tests.fakeindex.universe import Universe, build_universe

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

__all__ = [
    "DEFAULT_PYTHON",
    "DEFAULT_REQUIRES_PYTHON",
    "PACKSE_DIR",
    "SCENARIOS_DIR",
    "Expected",
    "LockSettings",
    "PackageVersion",
    "Scenario",
    "ScenarioError",
    "duplicate_names",
    "load_scenario",
    "load_scenarios",
    "target_for",
]

PACKSE_DIR = Path(__file__).resolve().parent / "data" / "packse"
SCENARIOS_DIR = PACKSE_DIR / "scenarios"
#: packse's default ``requires_python`` of every package version (and of the root).
DEFAULT_REQUIRES_PYTHON = ">=3.12"
#: packse's default ``environment.python``.
DEFAULT_PYTHON = "3.12"
#: What packse's index template writes as ``data-yanked`` for a yanked file.
YANKED_REASON = "Yanked for testing"
#: packse's index has no upload times; the universe needs one, any fixed one will do.
UPLOAD_TIME = "2024-01-01T00:00:00Z"
DEFAULT_PLATFORM = "linux-x86_64"

# The keys packse 0.3.59 accepts, per table (its structs forbid unknown fields).
_TOP_KEYS = {
    "name", "description", "packages", "root", "expected", "environment",
    "resolver_options", "template",
}  # fmt: skip
_VERSION_KEYS = {
    "requires_python", "requires", "extras", "sdist", "wheel", "yanked", "wheel_tags",
    "description",
}  # fmt: skip
_ROOT_KEYS = {"requires_python", "requires"}
_EXPECTED_KEYS = {"satisfiable", "packages", "explanation"}
_ENVIRONMENT_KEYS = {"python", "additional_python"}
_RESOLVER_KEYS = {
    "python", "prereleases", "no_build", "no_binary", "universal", "python_platform",
    "required_environments",
}  # fmt: skip


class ScenarioError(ValueError):
    """A scenario file this loader cannot read (a test-data problem, not reqlock's)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class PackageVersion:
    """One version of one package of a scenario, packse's defaults filled in."""

    version: str
    requires: tuple[str, ...] = ()
    extras: Mapping[str, tuple[str, ...]] | None = None
    requires_python: str | None = DEFAULT_REQUIRES_PYTHON
    sdist: bool = True
    wheel: bool = True
    wheel_tags: tuple[str, ...] = ()
    yanked: bool = False

    @property
    def wheels(self) -> tuple[str, ...]:
        """The wheel tags published: packse builds ``py3-none-any`` and renames copies
        to the requested tags, dropping the original unless it was requested."""
        if not self.wheel:
            return ()
        return self.wheel_tags or ("py3-none-any",)

    @property
    def provides_extras(self) -> tuple[str, ...]:
        # hatchling (packse's build backend) writes extra names normalized (PEP 685).
        return tuple(canonicalize_name(extra) for extra in self.extras or {})

    @property
    def requires_dist(self) -> tuple[str, ...]:
        """``Requires-Dist`` as the built metadata has it: extras become markers."""
        lines = list(self.requires)
        for extra, requirements in (self.extras or {}).items():
            lines += [_with_extra(text, canonicalize_name(extra)) for text in requirements]
        return tuple(lines)

    def release_table(self) -> dict[str, Any]:
        """This version as a release of the fake index's universe data."""
        table: dict[str, Any] = {
            "upload_time": UPLOAD_TIME,
            "requires_dist": list(self.requires_dist),
            "provides_extras": list(self.provides_extras),
            "wheels": list(self.wheels),
        }
        if self.requires_python is not None:
            table["requires_python"] = self.requires_python
        if self.sdist:
            # hatchling writes the dependencies into PKG-INFO, not marked dynamic.
            table["sdist"] = "static"
        if self.yanked:
            table["yanked"] = YANKED_REASON
        return table


def _with_extra(text: str, extra: str) -> str:
    """``text`` required only with ``extra``, its own marker kept."""
    requirement = Requirement(text)
    marker = f'extra == "{extra}"'
    if requirement.marker is not None:
        marker = f"({requirement.marker}) and {marker}"
    requirement.marker = None
    return f"{requirement}; {marker}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Expected:
    """packse's expected outcome. ``packages`` is None when the scenario does not say
    which versions (only that it resolves)."""

    satisfiable: bool
    packages: Mapping[str, str] | None
    explanation: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class LockSettings:
    """packse's resolver options as reqlock's.

    ``prereleases`` is ``--pre``; ``no_binary`` is ``--no-binary NAME``; ``no_build``
    (never build these from source, so wheels only) is ``--only-binary NAME``.
    """

    pre: bool = False
    no_binary: tuple[str, ...] = ()
    only_binary: tuple[str, ...] = ()

    def requirement_lines(self) -> list[str]:
        """The requirements-file option lines (reqlock reads the binary controls,
        like pip, from the requirements files)."""
        return [
            *(f"--no-binary {name}" for name in self.no_binary),
            *(f"--only-binary {name}" for name in self.only_binary),
        ]

    def options(self, **settings: Any) -> Options:
        """:class:`~reqlock.settings.Options` for this scenario plus ``settings``."""
        return Options(pre=True if self.pre else None, **settings)


@dataclass(frozen=True, kw_only=True, slots=True)
class Scenario:
    """One packse scenario (see the module docstring)."""

    name: str
    path: Path
    group: str  # the directory under scenarios/, e.g. "prereleases"
    description: str
    root_requires: tuple[str, ...]
    root_requires_python: str | None  # None: the file gives none
    packages: Mapping[str, Mapping[str, PackageVersion]]  # display name -> version -> ...
    python: str  # the Python version to resolve for
    environment_python: str  # the interpreter packse's harness installs with
    additional_python: tuple[str, ...]
    python_platform: str | None
    universal: bool
    required_environments: tuple[str, ...]
    settings: LockSettings
    expected: Expected

    @property
    def requirements_text(self) -> str:
        """The root as a requirements file. A requirements file cannot carry a
        ``requires-python``: the root's is kept as a comment (see :meth:`root_allows`)."""
        lines = [f"# packse scenario {self.name} ({self.group}/{self.path.name})"]
        if self.root_requires_python is not None:
            lines.append(f"# root requires-python: {self.root_requires_python}")
        lines += self.settings.requirement_lines()
        lines += self.root_requires
        return "\n".join(lines) + "\n"

    @property
    def unsupported(self) -> tuple[str, ...]:
        """What this scenario asks for that reqlock has no equivalent of."""
        found: list[str] = []
        if self.additional_python:
            found.append(
                "additional_python (other interpreters to build with; reqlock builds"
                " with none but its own and never picks one)"
            )
        if self.root_requires_python is not None and not self.universal:
            found.append("the root's requires-python (a requirements file has none)")
        return tuple(found)

    def root_allows(self, target: Target) -> bool:
        """Whether the root's ``requires-python`` admits ``target``'s Python."""
        if self.root_requires_python is None:
            return True
        from packaging.specifiers import SpecifierSet

        spec = SpecifierSet(self.root_requires_python)
        return spec.contains(target.environment["python_full_version"], prereleases=True)

    def target(self) -> Target:
        """The target to lock for: :attr:`python` on :attr:`python_platform`
        (default linux x86_64, as reqlock's ``linux-x86_64`` preset)."""
        return target_for(self.python, self.python_platform)

    def universe_data(self) -> dict[str, Any]:
        """The packages as the ``projects`` table of a fake-index universe."""
        projects: dict[str, Any] = {}
        for display, versions in self.packages.items():
            key = canonicalize_name(display)
            if key in projects:
                raise ScenarioError(f"{self.path}: two packages are named {key!r}")
            projects[key] = {
                "name": display,
                "purpose": f"packse scenario {self.name}",
                "releases": {v: pv.release_table() for v, pv in versions.items()},
            }
        return projects

    def universe_toml(self) -> str:
        """:meth:`universe_data` written as ``fixtures/universe.toml`` is."""
        return _universe_toml(self.universe_data())

    def build_universe(self, dest: Path) -> Universe:
        """Build the scenario's wheels and sdists into ``dest`` and describe them."""
        dest.mkdir(parents=True, exist_ok=True)
        toml_path = dest / "universe.toml"
        toml_path.write_text(self.universe_toml(), encoding="utf-8")
        return build_universe(toml_path, dest / "files")


def _toml_value(value: object) -> str:
    # JSON strings (ASCII, escaped) and arrays of them are valid TOML too.
    if isinstance(value, str | list | bool):
        return json.dumps(value)
    raise TypeError(f"no TOML for {value!r}")  # pragma: no cover - data is ours


def _universe_toml(projects: Mapping[str, Any]) -> str:
    # The table is written even when empty: a scenario may have no packages at all.
    lines = ["# Generated from a packse scenario by tests/packse.py.", "[projects]"]
    for key, project in projects.items():
        lines.append(f"\n[projects.{_toml_value(key)}]")
        lines += [f"{k} = {_toml_value(project[k])}" for k in ("name", "purpose")]
        for version, release in project["releases"].items():
            lines.append(f"[projects.{_toml_value(key)}.releases.{_toml_value(version)}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in release.items()]
    return "\n".join(lines) + "\n"


# -- targets ------------------------------------------------------------------------

_ARCH = r"(?P<arch>x86_64|aarch64|i686|armv7l|ppc64le|s390x)"
_LINUX_FORMS: tuple[tuple[re.Pattern[str], str], ...] = (
    # The legacy names as their PEP 600 equivalents: reqlock's target tables refuse
    # "manylinux2014_x86_64" (they read 2014 as an out-of-range version number).
    (re.compile(rf"{_ARCH}-manylinux2014"), "manylinux_2_17_{arch}"),
    (re.compile(rf"{_ARCH}-manylinux2010"), "manylinux_2_12_{arch}"),
    (re.compile(rf"{_ARCH}-manylinux1"), "manylinux_2_5_{arch}"),
    (re.compile(rf"{_ARCH}-manylinux_2_(?P<minor>\d+)"), "manylinux_2_{minor}_{arch}"),
    (
        re.compile(rf"{_ARCH}-unknown-linux-gnu"),
        f"manylinux_{DEFAULT_MANYLINUX[0]}_{DEFAULT_MANYLINUX[1]}_{{arch}}",
    ),
    (re.compile(rf"{_ARCH}-unknown-linux-musl"), "musllinux_1_2_{arch}"),
)
_OTHER_FORMS = {
    "x86_64-apple-darwin": f"macosx_{DEFAULT_MACOS[0]}_{DEFAULT_MACOS[1]}_x86_64",
    "aarch64-apple-darwin": f"macosx_{DEFAULT_MACOS[0]}_{DEFAULT_MACOS[1]}_arm64",
    "x86_64-pc-windows-msvc": "win_amd64",
    "windows": "win_amd64",
}


def _platform_tags(python_platform: str | None) -> list[str]:
    """The platform tags of a uv ``--python-platform`` value (the forms packse's
    scenarios use, and their kin); None is linux x86_64 as reqlock's preset."""
    value = python_platform or "x86_64-unknown-linux-gnu"
    if value == "linux":
        value = "x86_64-unknown-linux-gnu"
    for pattern, form in _LINUX_FORMS:
        match = pattern.fullmatch(value)
        if match is not None:
            # As uv's manylinux/musllinux platforms: the plain linux tag comes last.
            return [form.format(**match.groupdict()), f"linux_{match['arch']}"]
    if value in _OTHER_FORMS:
        return [_OTHER_FORMS[value]]
    raise ScenarioError(f"python_platform {python_platform!r} has no reqlock target here")


def target_for(python: str, python_platform: str | None = None) -> Target:
    """A CPython ``python`` (``X.Y`` or ``X.Y.Z``) target on ``python_platform``."""
    name = f"packse-{python_platform or DEFAULT_PLATFORM}-py{python}"
    table = {"python": python, "platforms": _platform_tags(python_platform)}
    return target_from_config(name, table, key=f"packse {name}")


# -- loading ------------------------------------------------------------------------


def _table(data: Mapping[str, Any], key: str, allowed: set[str], where: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ScenarioError(f"{where}: {key} is not a table")
    _check_keys(value, allowed, f"{where}: {key}")
    return value


def _check_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ScenarioError(f"{where}: unknown key(s) {', '.join(unknown)}")


def _strings(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ScenarioError(f"{where}: expected a list of strings, got {value!r}")
    return tuple(value)


def _requirements(value: object, where: str) -> tuple[str, ...]:
    texts = _strings(value, where)
    for text in texts:
        try:
            Requirement(text)
        except ValueError as error:  # fail here, naming the file, not in the resolver
            raise ScenarioError(f"{where}: {error}") from None
    return texts


def _package_version(version: str, raw: Mapping[str, Any], where: str) -> PackageVersion:
    _check_keys(raw, _VERSION_KEYS, where)
    Version(version)  # a scenario with an invalid version is a data error
    extras = {
        str(extra): _requirements(requirements, f"{where}: extras.{extra}")
        for extra, requirements in raw.get("extras", {}).items()
    }
    return PackageVersion(
        version=version,
        requires=_requirements(raw.get("requires", []), f"{where}: requires"),
        extras=extras,
        requires_python=raw.get("requires_python", DEFAULT_REQUIRES_PYTHON),
        sdist=bool(raw.get("sdist", True)),
        wheel=bool(raw.get("wheel", True)),
        wheel_tags=_strings(raw.get("wheel_tags", []), f"{where}: wheel_tags"),
        yanked=bool(raw.get("yanked", False)),
    )


def _packages(data: Mapping[str, Any], where: str) -> dict[str, dict[str, PackageVersion]]:
    packages: dict[str, dict[str, PackageVersion]] = {}
    for name, package in data.get("packages", {}).items():
        _check_keys(package, {"versions"}, f"{where}: packages.{name}")
        packages[name] = {
            version: _package_version(version, raw, f"{where}: {name} {version}")
            for version, raw in package.get("versions", {}).items()
        }
    return packages


def load_scenario(path: Path) -> Scenario:
    """Read one packse scenario file (TOML)."""
    with path.open("rb") as f:
        data = tomllib.load(f)
    where = str(path)
    _check_keys(data, _TOP_KEYS, where)
    if data.get("template", "package") != "package":
        raise ScenarioError(f"{where}: template {data['template']!r} is not packse's default")
    root = _table(data, "root", _ROOT_KEYS, where)
    expected = _table(data, "expected", _EXPECTED_KEYS, where)
    environment = _table(data, "environment", _ENVIRONMENT_KEYS, where)
    options = _table(data, "resolver_options", _RESOLVER_KEYS, where)
    if not isinstance(expected.get("satisfiable"), bool):
        raise ScenarioError(f"{where}: expected.satisfiable must be true or false")
    packages = expected.get("packages")
    environment_python = str(environment.get("python", DEFAULT_PYTHON))
    return Scenario(
        name=str(data["name"]),
        path=path,
        group=path.parent.name,
        description=str(data.get("description", "")),
        root_requires=_requirements(root.get("requires", []), f"{where}: root.requires"),
        root_requires_python=root.get("requires_python"),
        packages=_packages(data, where),
        python=str(options.get("python", environment_python)),
        environment_python=environment_python,
        additional_python=_strings(
            environment.get("additional_python", []), f"{where}: additional_python"
        ),
        python_platform=options.get("python_platform"),
        universal=bool(options.get("universal", False)),
        required_environments=_strings(
            options.get("required_environments", []), f"{where}: required_environments"
        ),
        settings=LockSettings(
            pre=bool(options.get("prereleases", False)),
            no_binary=_strings(options.get("no_binary", []), f"{where}: no_binary"),
            only_binary=_strings(options.get("no_build", []), f"{where}: no_build"),
        ),
        expected=Expected(
            satisfiable=expected["satisfiable"],
            packages=None
            if packages is None
            else {str(canonicalize_name(k)): str(v) for k, v in packages.items()},
            explanation=expected.get("explanation"),
        ),
    )


def load_scenarios(directory: Path = SCENARIOS_DIR) -> list[Scenario]:
    """Every ``*/*.toml`` scenario under ``directory``, sorted by path."""
    return [load_scenario(path) for path in sorted(directory.glob("*/*.toml"))]


def duplicate_names(scenarios: Sequence[Scenario]) -> list[str]:
    """The scenario names that occur more than once (test ids must be unique)."""
    seen: dict[str, int] = {}
    for scenario in scenarios:
        seen[scenario.name] = seen.get(scenario.name, 0) + 1
    return sorted(name for name, count in seen.items() if count > 1)
