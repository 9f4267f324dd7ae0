"""One settings value for a lock, and the one rule that decides where each comes from.

A setting can be given in four places. The first that gives it wins:

1. an argument (the command line, or :class:`Options` passed to ``reqlock.lock``);
2. the requirements files (``-i``, ``--extra-index-url``, ``--pre``);
3. ``[tool.reqlock]`` in ``pyproject.toml``;
4. a ``REQLOCK_*`` environment variable;

else the default. Two lists add up instead, because that is what users of pip
expect: extra index URLs from the arguments and from the requirements files (pip
reads both), and hosts allowed over plain http from the arguments and from
``REQLOCK_ALLOW_INSECURE_HOST``. Every value is checked here, once, and a wrong one
is a :class:`~reqlock.errors.ConfigError` naming the option, key or variable.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_INDEX_URL",
    "Options",
    "Settings",
    "Universal",
    "resolve_settings",
    "upgrade_constraints",
]

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

from packaging.markers import InvalidMarker, Marker
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name

from reqlock.errors import ConfigError
from reqlock.index.auth import (
    DEFAULT_INDEX_URL,
    Credentials,
    IndexPolicy,
    check_index_url,
    split_credentials,
)
from reqlock.targets import Target, current
from reqlock.urls import check_url

if TYPE_CHECKING:
    from reqlock.locking.requirements import RequirementSet

IndexStrategy = Literal["first-index", "unsafe-best-match"]
_T = TypeVar("_T")
_STRATEGIES: tuple[IndexStrategy, ...] = ("first-index", "unsafe-best-match")


@dataclass(frozen=True, kw_only=True, slots=True)
class Options:
    """What one place says about a lock; ``None`` means it says nothing.

    Build tools pass one to :func:`reqlock.lock`; the command line and
    ``[tool.reqlock]`` are read into one each.
    """

    index_url: str | None = None
    extra_index_urls: Sequence[str] | None = None
    index_strategy: str | None = None
    find_links: Sequence[str] | None = None
    """``--find-links``: http(s) URLs of flat pages of files, or local directories."""
    no_index: bool | None = None
    """``--no-index``: no package index; files come from ``find_links`` only."""
    lock_dir: str | os.PathLike[str] | None = None
    """The directory the lock is written to: local paths in it are relative to it
    (default: the working directory)."""
    """``first-index`` (a project comes from the first index that has it) or
    ``unsafe-best-match`` (mix every index's files: dependency-confusion risk)."""
    allow_insecure_hosts: Sequence[str] | None = None
    targets: Sequence[Target] | None = None
    pre: bool | None = None
    exclude_newer: datetime | None = None
    """Resolve as if the index stopped at this time (a naive time means UTC)."""
    no_build: bool | None = None
    cache_dir: str | os.PathLike[str] | None = None
    no_cache: bool | None = None
    offline: bool | None = None
    refresh: bool | None = None
    page_ttl: float | None = None
    """Seconds a cached index page counts as fresh."""
    http_timeout: float | None = None
    http_retries: int | None = None
    http_backoff: float | None = None
    """Seconds before the first retry of a transient fault (doubling each time)."""
    hedge_after: float | None = None
    """For an index that serves metadata files without advertising them: ask for
    the file, and after this many seconds without an answer race it by reading the
    wheel's own METADATA with range requests. Unset or negative (the default):
    an unadvertised metadata file is read from the wheel by range requests, as pip
    and uv do, and the file is asked for only when the server refuses ranges."""
    upgrade: bool | None = None
    """Re-resolve everything instead of keeping the previous lock's pins."""
    upgrade_packages: Sequence[str] | None = None
    """``NAME`` or ``NAME==VERSION``: let these move (to that version)."""
    universal: bool | None = None
    """Lock for every environment ``requires_python`` allows, not for ``targets``."""
    requires_python: str | None = None
    """The Python versions a universal lock covers (default: the running minor and later)."""
    universal_environments: Sequence[str] | None = None
    """Markers a universal lock is limited to (any of them)."""
    required_environments: Sequence[str] | None = None
    """Markers for which every locked package must have a wheel or an sdist."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Options:
        """The ``REQLOCK_*`` variables of ``environ``."""
        extra = environ.get("REQLOCK_EXTRA_INDEX_URL", "").split()
        hosts = environ.get("REQLOCK_ALLOW_INSECURE_HOST", "").split()
        retries = _number(environ, "REQLOCK_HTTP_RETRIES")
        return cls(
            index_url=environ.get("REQLOCK_INDEX_URL") or None,
            extra_index_urls=extra or None,
            allow_insecure_hosts=hosts or None,
            cache_dir=environ.get("REQLOCK_CACHE_DIR") or None,
            page_ttl=_number(environ, "REQLOCK_PAGE_TTL"),
            http_timeout=_number(environ, "REQLOCK_HTTP_TIMEOUT"),
            http_retries=None if retries is None else int(retries),
        )

    @classmethod
    def from_requirements(cls, reqs: RequirementSet) -> Options:
        """What requirements files say (``-i``, ``--extra-index-url``, ``--pre``)."""
        return cls(
            index_url=reqs.index_url,
            extra_index_urls=reqs.extra_index_urls or None,
            pre=True if reqs.pre else None,
            find_links=reqs.find_links or None,
            no_index=True if reqs.no_index else None,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    """Every setting of one lock, decided and checked (see the module docstring)."""

    index_urls: tuple[str, ...]
    """Without credentials: those are in ``credentials``, by origin."""
    credentials: Credentials = field(repr=False)
    policy: IndexPolicy
    index_strategy: IndexStrategy
    find_links: tuple[str, ...]
    """Flat pages and local directories searched before the indexes."""
    lock_dir: Path
    targets: tuple[Target, ...]
    pre: bool
    exclude_newer: datetime | None
    no_build: bool
    cache_dir: Path | None
    """None: neither read nor write a cache."""
    offline: bool
    refresh: bool
    page_ttl: float
    http_timeout: float
    http_retries: int
    http_backoff: float
    hedge_after: float | None
    upgrade: bool
    upgrade_packages: Mapping[NormalizedName, SpecifierSet | None]
    """Packages allowed to move; a specifier when a version was named."""
    universal: Universal | None = None
    """None: lock for ``targets``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Universal:
    """What a universal lock covers."""

    requires_python: SpecifierSet
    environments: tuple[Marker, ...] = ()
    required_environments: tuple[Marker, ...] = ()
    wheel_targets: tuple[Target, ...] = ()
    """Targets named with ``--universal``: only their wheels are kept."""


def resolve_settings(
    arguments: Options | None = None,
    *,
    requirements: RequirementSet | None = None,
    project: Options | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Decide every setting from the four places, in precedence order."""
    env = os.environ if environ is None else environ
    args = arguments or Options()
    layers = (
        args,
        Options.from_requirements(requirements) if requirements is not None else Options(),
        project or Options(),
        Options.from_environ(env),
    )

    def first(pick: Callable[[Options], _T | None]) -> _T | None:
        for layer in layers:
            value = pick(layer)
            if value is not None:
                return value
        return None

    from_files = requirements.extra_index_urls if requirements is not None else ()
    extras = [*(args.extra_index_urls or ()), *from_files]
    if not extras:
        extras = list(first(lambda o: o.extra_index_urls) or ())
    primary = first(lambda o: o.index_url) or DEFAULT_INDEX_URL
    given = list(dict.fromkeys([primary, *extras]))
    for i, url in enumerate(given):
        # Malformed URLs (bad ports, brackets, spaces) are refused before anything
        # splits or fetches them.
        check_url(url, key="--index-url" if i == 0 else "--extra-index-url")
    if first(lambda o: o.no_index):
        given = []
    links = _find_links(args, requirements, first(lambda o: o.find_links))
    remote = [link for link in links if "://" in link]
    public, credentials = split_credentials([*given, *remote], env)
    urls, public_remote = public[: len(given)], iter(public[len(given) :])
    links = [next(public_remote) if "://" in link else link for link in links]
    hosts = [*(args.allow_insecure_hosts or ()), *(layers[3].allow_insecure_hosts or ())]
    policy = IndexPolicy(insecure_hosts=frozenset(h.lower() for h in hosts))
    for i, url in enumerate(urls):
        check_index_url(url, policy, key="--index-url" if i == 0 else "--extra-index-url")
    for url in links:
        if "://" in url:
            check_index_url(url, policy, key="--find-links")
    targets = tuple(first(lambda o: o.targets) or ()) or (current(),)
    _check_targets(targets)
    cache_dir = None
    if not first(lambda o: o.no_cache):
        from reqlock.index.cache import default_cache_dir

        chosen = next((o.cache_dir for o in layers if o.cache_dir is not None), None)
        cache_dir = Path(chosen) if chosen else default_cache_dir(env)
    hedge = _float(first(lambda o: o.hedge_after), -1.0, "hedge_after", negative_ok=True)
    return Settings(
        index_urls=tuple(urls),
        credentials=credentials,
        policy=policy,
        index_strategy=_strategy(first(lambda o: o.index_strategy)),
        find_links=tuple(links),
        lock_dir=Path(os.path.abspath(next((o.lock_dir for o in layers if o.lock_dir), os.curdir))),
        targets=targets,
        pre=bool(first(lambda o: o.pre)),
        exclude_newer=_utc(first(lambda o: o.exclude_newer)),
        no_build=bool(first(lambda o: o.no_build)),
        cache_dir=cache_dir,
        offline=bool(first(lambda o: o.offline)),
        refresh=bool(first(lambda o: o.refresh)),
        page_ttl=_float(first(lambda o: o.page_ttl), 600.0, "--page-ttl"),
        http_timeout=_float(first(lambda o: o.http_timeout), 30.0, "REQLOCK_HTTP_TIMEOUT"),
        http_retries=int(_float(first(lambda o: o.http_retries), 3, "REQLOCK_HTTP_RETRIES")),
        http_backoff=_float(first(lambda o: o.http_backoff), 0.25, "http_backoff"),
        hedge_after=None if hedge < 0 else hedge,
        upgrade=bool(first(lambda o: o.upgrade)),
        upgrade_packages=parse_upgrades(args.upgrade_packages or ()),
        universal=_universal(first, targets if first(lambda o: o.targets) else ()),
    )


def _universal(
    first: Callable[[Callable[[Options], object]], object], targets: Sequence[Target]
) -> Universal | None:
    if not first(lambda o: o.universal):
        return None
    import sys

    given = first(lambda o: o.requires_python)
    text = given if isinstance(given, str) else ">={}.{}".format(*sys.version_info[:2])
    try:
        requires_python = SpecifierSet(text)
    except InvalidSpecifier:
        requires_python = None
    if requires_python is None or any(s.operator == "===" for s in requires_python):
        raise ConfigError(
            f"{text!r} is not a Python version range", key="requires-python", hint='e.g. ">=3.10"'
        )

    def markers(pick: Callable[[Options], object], key: str) -> tuple[Marker, ...]:
        found: list[Marker] = []
        for text in _strings(first(pick)):
            try:
                found.append(Marker(text))
            except InvalidMarker as exc:
                raise ConfigError(f"{text!r} is not a marker: {exc}", key=key) from None
        return tuple(found)

    return Universal(
        requires_python=requires_python,
        environments=markers(lambda o: o.universal_environments, "universal-environments"),
        required_environments=markers(lambda o: o.required_environments, "required-environments"),
        wheel_targets=tuple(targets),
    )


def _strings(value: object) -> list[str]:
    """``value`` as a list of strings (None: empty)."""
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


def _find_links(
    args: Options, requirements: RequirementSet | None, later: Sequence[str] | None
) -> list[str]:
    """The find-links locations, checked: like extra index URLs, those of the
    arguments and the requirements files add up (pip); else ``later`` layers'."""
    given = [*(args.find_links or ()), *(requirements.find_links if requirements else ())]
    links = list(dict.fromkeys(given or list(later or ())))
    for link in links:
        if "://" in link:
            check_url(link, key="--find-links")
    return links


def upgrade_constraints(settings: Settings) -> list[tuple[NormalizedName, SpecifierSet, str]]:
    """``--upgrade-package NAME==VERSION`` as constraints ``(name, specifier, source)``."""
    return [
        (name, spec, "--upgrade-package asks for")
        for name, spec in settings.upgrade_packages.items()
        if spec
    ]


def parse_upgrades(values: Sequence[str]) -> dict[NormalizedName, SpecifierSet | None]:
    """``--upgrade-package`` values: ``NAME`` or ``NAME==VERSION``."""
    from packaging.requirements import InvalidRequirement, Requirement

    result: dict[NormalizedName, SpecifierSet | None] = {}
    for value in values:
        try:
            req = Requirement(value)
        except InvalidRequirement:
            req = None
        specs = list(req.specifier) if req is not None else []
        if (
            req is None
            or req.extras
            or req.url
            or req.marker
            or len(specs) > 1
            or (specs and specs[0].operator != "==")
        ):
            raise ConfigError(
                f"{value!r} is not NAME or NAME==VERSION",
                key="--upgrade-package",
                hint="name one package, optionally with the exact version to move to",
            )
        result[canonicalize_name(req.name)] = req.specifier if specs else None
    return result


def _strategy(value: object) -> IndexStrategy:
    for known in _STRATEGIES:
        if value is None or value == known:
            return known if value is not None else "first-index"
    raise ConfigError(
        f"unknown index strategy {value!r}",
        key="--index-strategy",
        hint="use first-index (the default) or unsafe-best-match",
    )


def _utc(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    # A time without a zone means UTC, as on the command line.
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _float(value: object, default: float, key: str, *, negative_ok: bool = False) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ConfigError(f"{value!r} is not a number", key=key)
    if value < 0 and not negative_ok:
        raise ConfigError(f"{value!r} is not a non-negative number", key=key)
    return float(value)


def _number(env: Mapping[str, str], key: str) -> float | None:
    raw = env.get(key)
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value < 0 or not math.isfinite(value):
        raise ConfigError(f"{raw!r} is not a non-negative number", key=key)
    return value


def _check_targets(targets: Sequence[Target]) -> None:
    from reqlock.targets import environment_marker

    seen: dict[str, str] = {}
    for target in targets:
        marker = str(environment_marker(target))
        if marker in seen:
            raise ConfigError(
                f"targets {seen[marker]!r} and {target.name!r} have the same Python version, "
                "implementation, OS and CPU, so one lock cannot tell them apart",
                key="targets",
                hint="lock them into separate files",
            )
        seen[marker] = target.name
