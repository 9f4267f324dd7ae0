"""The public entry point for locking: ``reqlock.lock(...)``."""

from __future__ import annotations

__all__ = ["Change", "LockResult", "inputs_fingerprint", "lock", "stored_fingerprint"]

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from reqlock.index.client import HttpClient
from reqlock.index.auth import Credentials, IndexPolicy, check_index_url, split_credentials
from reqlock.index.cache import Cache, default_cache_dir
from reqlock.errors import ConfigError
from reqlock.index.index import DEFAULT_INDEX_URL, Index
from reqlock.progress import Reporter
from reqlock.locking.requirements import (
    RequirementSet,
    load_requirements,
    parse_requirement_strings,
)
from reqlock.targets import Target, current

if TYPE_CHECKING:
    import httpx
    from packaging.pylock import Pylock

    from reqlock.locking.resolution import Resolution

# The resolver and the lock writer (resolvelib, packaging.pylock) are imported only
# once the first index requests are on their way: their import time then overlaps
# network waits instead of delaying the first request.


@dataclass(frozen=True, kw_only=True, slots=True)
class Change:
    """How one package differs between the previous lock and the new one."""

    name: str
    old: tuple[str, ...]
    new: tuple[str, ...]

    def __str__(self) -> str:
        if not self.old:
            return f"+ {self.name} {', '.join(self.new)}"
        if not self.new:
            return f"- {self.name} {', '.join(self.old)}"
        return f"~ {self.name} {', '.join(self.old)} -> {', '.join(self.new)}"


@dataclass(frozen=True, kw_only=True, slots=True)
class LockResult:
    """A finished lock: the PEP 751 model, and the resolution behind it."""

    pylock: Pylock
    resolutions: tuple[Resolution, ...]
    index_urls: tuple[str, ...]
    fingerprint: Mapping[str, str]
    # The rendered lock, kept so it is rendered once (None: render on demand).
    text: str | None = None

    @property
    def package_count(self) -> int:
        """How many package entries the lock has."""
        return len(self.pylock.packages)

    def to_toml(self) -> str:
        """The lock file's text (deterministic)."""
        if self.text is not None:
            return self.text
        from reqlock.locking.pylock import to_toml

        return to_toml(self.pylock)

    def write(self, path: str | os.PathLike[str]) -> bool:
        """Write the lock atomically to ``path``; an identical file is left alone.

        Returns True when the file was written.
        """
        from reqlock.locking.pylock import write_text_atomic

        text = self.to_toml()
        try:
            if Path(path).read_text(encoding="utf-8") == text:
                return False
        except (OSError, UnicodeDecodeError):
            pass
        write_text_atomic(path, text)
        return True

    def changes(self, previous: Pylock | None) -> list[Change]:
        """What changed against ``previous`` (added, removed, other versions)."""
        old = _versions_by_name(previous) if previous is not None else {}
        new = _versions_by_name(self.pylock)
        result = []
        for name in sorted(set(old) | set(new)):
            before, after = old.get(name, ()), new.get(name, ())
            if before != after:
                result.append(Change(name=name, old=before, new=after))
        return result


def _versions_by_name(lock: Pylock) -> dict[str, tuple[str, ...]]:
    found: dict[str, set[str]] = {}
    for package in lock.packages:
        found.setdefault(package.name, set()).add(str(package.version or "direct"))
    return {k: tuple(sorted(v, key=_version_key)) for k, v in found.items()}


def _version_key(text: str) -> tuple[int, Version | str]:
    try:
        return (0, Version(text))
    except ValueError:
        return (1, text)


def lock(
    requirements_files: Sequence[str | os.PathLike[str]] = (),
    *,
    requirements: Sequence[str] = (),
    index_url: str | None = None,
    extra_index_urls: Sequence[str] = (),
    targets: Sequence[Target] | None = None,
    pre: bool | None = None,
    exclude_newer: datetime | None = None,
    previous: Pylock | None = None,
    upgrade: bool = False,
    upgrade_packages: Sequence[str] = (),
    pinned_by: Sequence[tuple[str, Pylock]] = (),
    allow_insecure_hosts: Sequence[str] = (),
    index_strategy: str = "first-index",
    cache_dir: str | os.PathLike[str] | None = None,
    no_cache: bool = False,
    offline: bool = False,
    refresh: bool = False,
    page_ttl: float = 600.0,
    no_build: bool = False,
    reporter: Reporter | None = None,
    environ: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> LockResult:
    """Resolve requirements files and/or requirement strings into a PEP 751 lock.

    Index URLs come from ``index_url`` / ``extra_index_urls``, else from the
    requirements files (``-i``, ``--extra-index-url``), else from
    ``REQLOCK_INDEX_URL`` / ``REQLOCK_EXTRA_INDEX_URL``, else PyPI; pip's own
    configuration is never read.

    ``targets`` (default: the running interpreter) get one resolution each, merged
    into one lock; later targets prefer earlier targets' pins. With ``previous``
    (the lock being replaced) its pins are kept wherever the inputs still allow
    them, unless ``upgrade`` (everything) or ``upgrade_packages`` (``NAME`` or
    ``NAME==VERSION``) say otherwise. ``pinned_by`` holds ``(label, lock)`` of
    earlier deployment environments whose pins constrain this one (``label`` names
    it in errors, e.g. ``"the prod lock (pylock.prod.toml)"``).

    Credentials for private indexes come from the URLs' user info,
    ``REQLOCK_INDEX_USERNAME``/``REQLOCK_INDEX_PASSWORD`` or netrc, and appear in no
    output. Plain-http indexes are refused unless their host is loopback or listed in
    ``allow_insecure_hosts`` (or ``REQLOCK_ALLOW_INSECURE_HOST``). A project is taken
    from the first index that has it; ``index_strategy="unsafe-best-match"`` mixes
    the files of every index instead (dependency-confusion risk: opt in knowingly).

    Nothing is printed; progress and warnings go to ``reporter``. Raises a
    :class:`~reqlock.errors.ReqlockError` subclass when the job cannot be done.
    """
    env = os.environ if environ is None else environ
    reporter = reporter or Reporter()
    if exclude_newer is not None and exclude_newer.tzinfo is None:
        # A time without a zone means UTC, as on the command line.
        exclude_newer = exclude_newer.replace(tzinfo=timezone.utc)
    if index_strategy not in ("first-index", "unsafe-best-match"):
        raise ConfigError(
            f"unknown index strategy {index_strategy!r}",
            key="--index-strategy",
            hint="use first-index (the default) or unsafe-best-match",
        )
    reqs = _gather(requirements_files, requirements, env)
    given_urls = _index_urls(index_url, extra_index_urls, reqs, env)
    urls, credentials = split_credentials(given_urls, env)
    policy = IndexPolicy(
        allow_all=transport is not None,
        insecure_hosts=frozenset(
            h.lower()
            for h in (*allow_insecure_hosts, *env.get("REQLOCK_ALLOW_INSECURE_HOST", "").split())
        ),
    )
    for i, url in enumerate(urls):
        check_index_url(url, policy, key="--index-url" if i == 0 else "--extra-index-url")
    targets = list(targets) if targets else [current()]
    _check_targets(targets)
    upgrades = _parse_upgrades(upgrade_packages)
    pre_value = reqs.pre if pre is None else pre
    cache = None if no_cache else Cache(Path(cache_dir) if cache_dir else default_cache_dir(env))
    from reqlock.locking.fingerprint import fingerprint

    prints = fingerprint(
        reqs,
        index_urls=urls,
        targets=targets,
        pre=pre_value,
        exclude_newer=exclude_newer,
        layers=[_stored_digest(other) for _, other in pinned_by],
        index_strategy=index_strategy,
    )
    # What each target must keep (previous pins) and obey (earlier environments).
    kept: list[dict[NormalizedName, Version]] = []
    constraints: list[list[tuple[NormalizedName, SpecifierSet, str]]] = []
    for target in targets:
        previous_pins = {} if upgrade or previous is None else _selected(previous, target)
        kept.append({n: v for n, v in previous_pins.items() if n not in upgrades})
        constraints.append(
            [
                (name, SpecifierSet(f"=={version}"), f"{label} pins")
                for label, other in pinned_by
                for name, version in _selected(other, target).items()
            ]
            + [
                (name, spec, "--upgrade-package asks for")
                for name, spec in upgrades.items()
                if spec
            ]
        )
    from reqlock.locking import memo as _memo

    key = _memo.memo_key(
        {
            "inputs": prints,
            "kept": [sorted((n, str(v)) for n, v in k.items()) for k in kept],
            "constraints": [sorted((n, str(sp), src) for n, sp, src in c) for c in constraints],
            "no_build": no_build,
        }
    )
    if cache is not None and not refresh:
        memo = _memo.load(cache, key, targets=targets, ttl=page_ttl, offline=offline)
        if memo is not None:
            from reqlock.lockfile import parse_lock

            for warning in memo.warnings:
                reporter.warning(warning)
            return LockResult(
                pylock=parse_lock(memo.toml, path="<cache>"),
                resolutions=memo.resolutions,
                index_urls=tuple(urls),
                fingerprint=prints,
                text=memo.toml,
            )
    warned = len(reporter.warnings)
    with Index(
        urls,
        http=HttpClient(
            transport=transport,
            credentials=credentials,
            policy=policy,
            timeout=_number(env, "REQLOCK_HTTP_TIMEOUT", 30.0),
            retries=int(_number(env, "REQLOCK_HTTP_RETRIES", 3)),
        ),
        build_index_urls=[_with_userinfo(u, credentials) for u in urls],
        mix_indexes=index_strategy == "unsafe-best-match",
        cache=cache,
        ttl=page_ttl,
        offline=offline,
        refresh=refresh,
        allow_build=not no_build,
        reporter=reporter,
    ) as index:
        for line in reqs.requirements:
            index.prefetch_project(line.name)
        from reqlock.locking.pylock import build_pylock, to_toml
        from reqlock.locking.resolve import ResolveOptions, resolve

        resolutions: list[Resolution] = []
        earlier: dict[NormalizedName, Version] = {}
        for target, keep, target_constraints in zip(targets, kept, constraints, strict=True):
            preferred = dict(keep)
            # Later targets prefer earlier pins so versions agree where they can.
            for name, version in earlier.items():
                preferred.setdefault(name, version)
            options = ResolveOptions(
                pre=pre_value,
                only_binary=reqs.only_binary,
                no_binary=reqs.no_binary,
                exclude_newer=exclude_newer,
                preferred=preferred,
            )
            resolution = resolve(
                reqs,
                index=index,
                target=target,
                options=options,
                reporter=reporter,
                extra_constraints=target_constraints,
            )
            resolutions.append(resolution)
            for name, pin in resolution.pins.items():
                earlier.setdefault(name, pin.version)
        pylock = build_pylock(
            resolutions,
            sha256_of=lambda dist, package: index.sha256(dist, package=package),
            tool={"reqlock": {"targets": [t.name for t in targets], "inputs": prints}},
        )
        text = to_toml(pylock)
        if cache is not None:
            keys = [key]
            if not upgrade and not upgrades:
                # Re-locking with this very lock as the previous one keeps all of its
                # pins, which is this result: remember it under that key too.
                keys.append(
                    _memo.memo_key(
                        {
                            "inputs": prints,
                            "kept": [
                                sorted((n, str(v)) for n, v in _selected(pylock, t).items())
                                for t in targets
                            ],
                            "constraints": [
                                sorted((n, str(sp), src) for n, sp, src in c) for c in constraints
                            ],
                            "no_build": no_build,
                        }
                    )
                )
            _memo.save(
                cache,
                keys,
                pages=index.pages_read(),
                toml=text,
                resolutions=resolutions,
                warnings=reporter.warnings[warned:],
            )
    return LockResult(
        pylock=pylock,
        resolutions=tuple(resolutions),
        index_urls=tuple(urls),
        fingerprint=prints,
        text=text,
    )


def inputs_fingerprint(
    requirements_files: Sequence[str | os.PathLike[str]] = (),
    *,
    requirements: Sequence[str] = (),
    index_url: str | None = None,
    extra_index_urls: Sequence[str] = (),
    targets: Sequence[Target] | None = None,
    pre: bool | None = None,
    exclude_newer: datetime | None = None,
    pinned_by: Sequence[tuple[str, Pylock]] = (),
    index_strategy: str = "first-index",
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The fingerprint :func:`lock` would store, computed without any network."""
    from reqlock.locking.fingerprint import fingerprint

    env = os.environ if environ is None else environ
    reqs = _gather(requirements_files, requirements, env)
    urls, _ = split_credentials(_index_urls(index_url, extra_index_urls, reqs, env), env)
    return fingerprint(
        reqs,
        index_urls=urls,
        targets=list(targets) if targets else [current()],
        pre=reqs.pre if pre is None else pre,
        exclude_newer=exclude_newer,
        layers=[_stored_digest(other) for _, other in pinned_by],
        index_strategy=index_strategy,
    )


def stored_fingerprint(lock: Pylock) -> Mapping[str, str] | None:
    """The fingerprint a reqlock lock carries (None for other writers' locks)."""
    tool = lock.tool or {}
    ours = tool.get("reqlock") if isinstance(tool, Mapping) else None
    inputs = ours.get("inputs") if isinstance(ours, Mapping) else None
    return inputs if isinstance(inputs, Mapping) else None


def _stored_digest(lock: Pylock) -> str:
    """What of an earlier environment's lock a later one depends on: its pins
    (name, version and marker of every package), not merely its inputs, so that an
    earlier lock re-resolved with --upgrade makes the later ones stale."""
    return ";".join(sorted(f"{p.name}=={p.version}@{p.marker}" for p in lock.packages))


def _selected(lock: Pylock, target: Target) -> dict[NormalizedName, Version]:
    """The pins ``lock`` gives ``target`` (empty when it does not cover it)."""
    from packaging.pylock import PylockSelectError

    try:
        return {
            package.name: package.version
            for package, _ in lock.select(
                environment=dict(target.environment),  # type: ignore[arg-type]
                tags=list(target.tags),
            )
            if package.version is not None
        }
    except PylockSelectError:
        return {}


def _parse_upgrades(values: Sequence[str]) -> dict[NormalizedName, SpecifierSet | None]:
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


def _number(env: Mapping[str, str], key: str, default: float) -> float:
    raw = env.get(key)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value < 0:
        raise ConfigError(f"{raw!r} is not a non-negative number", key=key)
    return value


def _with_userinfo(url: str, credentials: Credentials) -> str:
    creds = credentials.for_url(url)
    if creds is None:
        return url
    from urllib.parse import quote, urlsplit

    parts = urlsplit(url)
    userinfo = quote(creds[0], safe="") + (":" + quote(creds[1], safe="") if creds[1] else "")
    return parts._replace(netloc=f"{userinfo}@{parts.netloc}").geturl()


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


def _gather(
    files: Sequence[str | os.PathLike[str]], strings: Sequence[str], env: Mapping[str, str]
) -> RequirementSet:
    reqs: RequirementSet | None = None
    if files:
        reqs = load_requirements(files, environ=env)
    if strings:
        extra = parse_requirement_strings(list(strings))
        reqs = extra if reqs is None else reqs.merge(extra)
    if reqs is None:
        reqs = parse_requirement_strings([])
    return reqs


def _index_urls(
    index_url: str | None,
    extra_index_urls: Sequence[str],
    reqs: RequirementSet,
    env: Mapping[str, str],
) -> list[str]:
    primary = index_url or reqs.index_url or env.get("REQLOCK_INDEX_URL") or DEFAULT_INDEX_URL
    extras = [*extra_index_urls, *reqs.extra_index_urls]
    if not extra_index_urls and not reqs.extra_index_urls:
        extras += env.get("REQLOCK_EXTRA_INDEX_URL", "").split()
    urls: list[str] = []
    for url in (primary, *extras):
        if url and url not in urls:
            urls.append(url)
    return urls
