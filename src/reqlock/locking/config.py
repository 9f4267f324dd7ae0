"""``[tool.reqlock]`` in ``pyproject.toml``: deployment environments, targets, indexes.

Example::

    [tool.reqlock]
    targets = ["linux-x86_64-py3.12", "macos-arm64-py3.12", "arm-box"]
    index-url = "https://pypi.org/simple/"      # optional
    extra-index-urls = []                       # optional
    find-links = ["wheels/"]                    # optional: directories or flat pages
    no-index = false                            # optional: find-links only
    pre = false                                 # optional
    universal = false                           # optional: lock for every environment
    requires-python = ">=3.10"                  # optional: what universal covers
    universal-environments = []                 # optional: markers it is limited to
    required-environments = []                  # optional: markers needing files

    [tool.reqlock.environments]                 # locked in this order
    prod = ["requirements.txt"]
    dev = { requirements = ["requirements-dev.txt"], universal = true }

    [tool.reqlock.custom-targets.arm-box]       # a target that is not a preset
    python = "3.12"
    platforms = ["manylinux_2_31_aarch64"]

Each environment becomes ``pylock.<env>.toml`` next to ``pyproject.toml``; an
environment is resolved with the pins of the ones before it as constraints.
Every error names the key it is about.
"""

from __future__ import annotations

__all__ = ["Environment", "ProjectConfig", "load_config", "parse_config"]

import dataclasses
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reqlock.errors import ConfigError
from reqlock.settings import Options
from reqlock.targets import Target, current, parse_target, target_from_config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

_ENV_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_KNOWN_KEYS = {
    "targets", "environments", "custom-targets", "index-url", "extra-index-urls", "pre",
    "find-links", "no-index", "universal", "requires-python", "universal-environments",
    "required-environments",
}  # fmt: skip
_ENV_KEYS = {"requirements", "universal"}


@dataclass(frozen=True, kw_only=True, slots=True)
class Environment:
    """One deployment environment: its name, requirement files and lock file."""

    name: str
    requirements: tuple[Path, ...]
    lock_path: Path
    universal: bool | None = None
    """``universal`` of its table form; None: as the project says."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ProjectConfig:
    """The validated ``[tool.reqlock]`` table of one project."""

    root: Path
    targets: tuple[Target, ...]
    environments: tuple[Environment, ...]
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    pre: bool = False
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    universal: bool = False
    requires_python: str | None = None
    """``requires-python`` here, else ``[project] requires-python``."""
    universal_environments: tuple[str, ...] = ()
    required_environments: tuple[str, ...] = ()

    @property
    def options(self) -> Options:
        """What the table says about a lock, as one layer of the settings."""
        return Options(
            index_url=self.index_url,
            extra_index_urls=self.extra_index_urls or None,
            pre=True if self.pre else None,
            targets=self.targets or None,
            find_links=self.find_links or None,
            no_index=True if self.no_index else None,
            universal=True if self.universal else None,
            requires_python=self.requires_python,
            universal_environments=self.universal_environments or None,
            required_environments=self.required_environments or None,
        )

    def options_for(self, env: Environment) -> Options:
        """:attr:`options` with what ``env``'s own table says."""
        if env.universal is None:
            return self.options
        return dataclasses.replace(self.options, universal=env.universal)

    def environment(self, name: str) -> Environment:
        """The environment called ``name``; ConfigError listing the others if none."""
        for env in self.environments:
            if env.name == name:
                return env
        known = ", ".join(e.name for e in self.environments) or "none"
        raise ConfigError(
            f"no environment named {name!r} (defined: {known})",
            key="--env",
            hint="add it under [tool.reqlock.environments] in pyproject.toml",
        )

    def up_to(self, name: str) -> tuple[Environment, ...]:
        """The environments to lock for ``name``: it and every one before it."""
        wanted = self.environment(name)
        index = self.environments.index(wanted)
        return self.environments[: index + 1]


def load_config(pyproject: Path) -> ProjectConfig | None:
    """Read ``[tool.reqlock]`` from ``pyproject``; None when the file or table is absent."""
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", key=str(pyproject)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", key=str(pyproject)) from None
    tool = data.get("tool")
    table = tool.get("reqlock") if isinstance(tool, Mapping) else None
    if table is None:
        return None
    project = data.get("project")
    python = project.get("requires-python") if isinstance(project, Mapping) else None
    if python is not None and not isinstance(python, str):
        raise ConfigError("must be a string", key="project.requires-python")
    return parse_config(table, root=pyproject.parent, requires_python=python)


def parse_config(table: Any, *, root: Path, requires_python: str | None = None) -> ProjectConfig:
    """Validate a ``[tool.reqlock]`` table (paths are relative to ``root``;
    ``requires_python`` is ``[project] requires-python``, the default of its own)."""
    prefix = "tool.reqlock"
    if not isinstance(table, Mapping):
        raise ConfigError("must be a table", key=prefix)
    unknown = sorted(set(table) - _KNOWN_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown key {unknown[0]!r}",
            key=f"{prefix}.{unknown[0]}",
            hint="known keys: " + ", ".join(sorted(_KNOWN_KEYS)),
        )
    custom = table.get("custom-targets", {})
    if not isinstance(custom, Mapping):
        raise ConfigError("must be a table of target tables", key=f"{prefix}.custom-targets")
    targets = _targets(table.get("targets", ["current"]), custom, prefix)
    environments = _environments(table.get("environments", {}), root, prefix)
    index_url = table.get("index-url")
    if index_url is not None and not isinstance(index_url, str):
        raise ConfigError("must be a string (a URL)", key=f"{prefix}.index-url")
    extra = table.get("extra-index-urls", [])
    if not isinstance(extra, list) or not all(isinstance(u, str) for u in extra):
        raise ConfigError("must be a list of URLs", key=f"{prefix}.extra-index-urls")
    pre = table.get("pre", False)
    if not isinstance(pre, bool):
        raise ConfigError("must be true or false", key=f"{prefix}.pre")
    no_index = table.get("no-index", False)
    if not isinstance(no_index, bool):
        raise ConfigError("must be true or false", key=f"{prefix}.no-index")
    universal = table.get("universal", False)
    if not isinstance(universal, bool):
        raise ConfigError("must be true or false", key=f"{prefix}.universal")
    python = table.get("requires-python", requires_python)
    if python is not None and not isinstance(python, str):
        raise ConfigError("must be a string", key=f"{prefix}.requires-python")
    return ProjectConfig(
        root=root,
        targets=targets,
        environments=environments,
        index_url=index_url,
        extra_index_urls=tuple(extra),
        pre=pre,
        find_links=_find_links(table.get("find-links", []), root, prefix),
        no_index=no_index,
        universal=universal,
        requires_python=python,
        universal_environments=_strings(table, "universal-environments", prefix),
        required_environments=_strings(table, "required-environments", prefix),
    )


def _strings(table: Mapping[str, Any], key: str, prefix: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError("must be a list of markers (strings)", key=f"{prefix}.{key}")
    return tuple(value)


def _find_links(value: Any, root: Path, prefix: str) -> tuple[str, ...]:
    """Flat-page URLs as given; directories made absolute from the project root."""
    from reqlock.errors import ReqlockError
    from reqlock.locking.reqdirect import find_links_location

    key = f"{prefix}.find-links"
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError("must be a list of directories or URLs", key=key)

    def fail(message: str, hint: str | None) -> ReqlockError:
        return ConfigError(message, key=key, hint=hint)

    return tuple(find_links_location(v, base_dir=str(root), fail=fail) for v in value)


def _targets(value: Any, custom: Mapping[str, Any], prefix: str) -> tuple[Target, ...]:
    key = f"{prefix}.targets"
    if not isinstance(value, list) or not value:
        raise ConfigError(
            "must be a non-empty list of targets",
            key=key,
            hint='e.g. targets = ["linux-x86_64-py3.12", "macos-arm64-py3.12"]',
        )
    targets: list[Target] = []
    for i, spec in enumerate(value):
        if not isinstance(spec, str):
            raise ConfigError("must be a string", key=f"{key}[{i}]")
        if spec in custom:
            target = target_from_config(spec, custom[spec], key=f"{prefix}.custom-targets.{spec}")
        elif spec == "current":
            target = current()
        else:
            target = parse_target(spec, key=f"{key}[{i}]")
        if any(t.name == target.name for t in targets):
            raise ConfigError(f"target {spec!r} is listed twice", key=f"{key}[{i}]")
        targets.append(target)
    return tuple(targets)


def _environments(value: Any, root: Path, prefix: str) -> tuple[Environment, ...]:
    key = f"{prefix}.environments"
    if not isinstance(value, Mapping):
        raise ConfigError(
            "must be a table: name = [requirement files]",
            key=key,
            hint='e.g. prod = ["requirements.txt"]',
        )
    envs: list[Environment] = []
    for name, files in value.items():
        if not _ENV_NAME.fullmatch(name):
            raise ConfigError(
                f"{name!r} is not a usable environment name",
                key=f"{key}.{name}",
                hint="use letters, digits, '-' and '_' (it becomes pylock.<name>.toml)",
            )
        universal, listed = None, files
        if isinstance(files, Mapping):
            table = files
            unknown = sorted(set(table) - _ENV_KEYS)
            universal = table.get("universal")
            if unknown or not isinstance(universal, bool | None):
                raise ConfigError(
                    f"unknown key {unknown[0]!r}"
                    if unknown
                    else "universal: must be true or false",
                    key=f"{key}.{name}",
                    hint="an environment table has requirements = [...] and universal = true|false",
                )
            listed = table.get("requirements")
        paths = [listed] if isinstance(listed, str) else listed
        if not isinstance(paths, list) or not paths or not all(isinstance(f, str) for f in paths):
            raise ConfigError(
                "must be a non-empty list of requirement file paths", key=f"{key}.{name}"
            )
        envs.append(
            Environment(
                name=name,
                requirements=tuple(root / f for f in paths),
                lock_path=root / f"pylock.{name}.toml",
                universal=universal,
            )
        )
    return tuple(envs)
