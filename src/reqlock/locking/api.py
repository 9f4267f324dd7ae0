"""The public entry point for locking: ``reqlock.lock(...)``.

The work is in steps, each its own function: gather the inputs and decide the
settings (:func:`prepare`), work out what each target must keep and obey
(:func:`_kept`, :func:`_constraints`), answer from a remembered resolution when
every page behind it is unchanged (:mod:`reqlock.locking.remember`), else resolve
each target and build the lock.
"""

from __future__ import annotations

__all__ = ["Prepared", "inputs_fingerprint", "lock", "prepare", "stored_fingerprint"]

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version

from reqlock.index.cache import Cache
from reqlock.locking.previous import PreviousFile
from reqlock.locking.remember import by_file, by_key, file_key, keeps_all, memo_key, remember
from reqlock.locking.requirements import RequirementSet, gather
from reqlock.locking.result import LockResult
from reqlock.progress import Reporter
from reqlock.settings import Options, Settings, resolve_settings, upgrade_constraints
from reqlock.targets import Target

if TYPE_CHECKING:
    import httpx
    from packaging.pylock import Pylock

    from reqlock.index.index import Index
    from reqlock.index.sources import DirectDist
    from reqlock.locking.region import Region
    from reqlock.locking.resolution import Resolution
    from reqlock.locking.universal import Kept

# The resolver and the lock writer (resolvelib, packaging.pylock) are imported only
# once the first index requests are on their way: their import time then overlaps
# network waits instead of delaying the first request. The index side itself
# (connections, pages, files) is imported only when a lock is not remembered.

Constraint = tuple[NormalizedName, SpecifierSet, str]


@dataclass(frozen=True, kw_only=True, slots=True)
class Prepared:
    """A lock's inputs, read and decided, before any network work."""

    requirements: RequirementSet
    settings: Settings
    fingerprint: Mapping[str, str]


def prepare(
    requirements_files: Sequence[str | os.PathLike[str]] = (),
    *,
    requirements: Sequence[str] = (),
    options: Options | None = None,
    project: Options | None = None,
    pinned_by: Sequence[tuple[str, Pylock]] = (),
    environ: Mapping[str, str] | None = None,
) -> Prepared:
    """Read the requirements, decide the settings and fingerprint the inputs."""
    from reqlock.locking.fingerprint import fingerprint

    env = os.environ if environ is None else environ
    reqs = gather(requirements_files, requirements, env)
    local: dict[str, str] = {}
    if _has_direct(reqs):
        from reqlock.locking.directs import local_digests  # only for direct references

        local = local_digests(reqs)
    settings = resolve_settings(options, requirements=reqs, project=project, environ=env)
    prints = fingerprint(
        reqs,
        index_urls=settings.index_urls,
        targets=_lock_targets(settings),
        pre=settings.pre,
        exclude_newer=settings.exclude_newer,
        layers=[_stored_digest(other) for _, other in pinned_by],
        index_strategy=settings.index_strategy,
        find_links=settings.find_links,
        local_sources=local,
        universal=settings.universal,
    )
    return Prepared(requirements=reqs, settings=settings, fingerprint=prints)


def lock(
    requirements_files: Sequence[str | os.PathLike[str]] = (),
    *,
    requirements: Sequence[str] = (),
    options: Options | None = None,
    project: Options | None = None,
    previous: Pylock | PreviousFile | None = None,
    pinned_by: Sequence[tuple[str, Pylock]] = (),
    reporter: Reporter | None = None,
    environ: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> LockResult:
    """Resolve requirements files and/or requirement strings into a PEP 751 lock.

    ``options`` holds what the caller decides (indexes, targets, cache, network,
    resolution); ``project`` what ``[tool.reqlock]`` says. Where neither says, the
    requirements files, then ``REQLOCK_*`` variables of ``environ`` (default
    ``os.environ``), then the defaults decide: see :mod:`reqlock.settings`. pip's
    own configuration is never read.

    Each target (default: the running interpreter) gets its own resolution, merged
    into one lock; later targets prefer earlier targets' pins. With ``previous``
    (the lock being replaced) its pins are kept wherever the inputs still allow
    them, unless ``options.upgrade`` or ``options.upgrade_packages`` say otherwise.
    ``previous`` may be a :class:`reqlock.PreviousFile` (the file's
    bytes): when those bytes are the remembered result for these inputs, the file
    is never parsed.
    ``pinned_by`` holds ``(label, lock)`` of earlier deployment environments whose
    pins constrain this one (``label`` names it in errors, e.g. ``"the prod lock
    (pylock.prod.toml)"``).

    Credentials for private indexes (URL user info, ``REQLOCK_INDEX_USERNAME`` /
    ``REQLOCK_INDEX_PASSWORD``, netrc) appear in no output. ``transport`` replaces
    the network (tests, proxies); the index policy applies to it all the same.

    Nothing is printed; progress and warnings go to ``reporter``. Raises a
    :class:`~reqlock.errors.ReqlockError` subclass when the job cannot be done.
    """
    reporter = reporter or Reporter()
    prepared = prepare(
        requirements_files,
        requirements=requirements,
        options=options,
        project=project,
        pinned_by=pinned_by,
        environ=environ,
    )
    settings = prepared.settings
    cache = Cache(settings.cache_dir) if settings.cache_dir is not None else None
    constraints = _constraints(settings, pinned_by)
    # A remembered resolution is valid while its index pages are; local projects,
    # repositories and find-links locations have no such pages, so locks that use
    # them are always worked out again.
    memo_ok = cache is not None and not _has_direct(prepared.requirements)
    memo_ok = memo_ok and not settings.find_links
    memo = cache if memo_ok else None
    targets = _targets_of(settings)
    file = previous if isinstance(previous, PreviousFile) else None
    old = None if isinstance(previous, PreviousFile) else previous
    fast_key = None
    if file is not None:
        found, fast_key = by_file(
            prepared, memo, file, constraints, reporter=reporter, targets=targets
        )
        if found is not None:
            return found
        # Upgrading keeps nothing of it, so an unreadable file is no obstacle then.
        old = None if settings.upgrade else file.parsed()
    kept = _kept(settings, old)
    layers = _universal_plan(settings, old, pinned_by)
    key = memo_key(prepared, kept, constraints, layers)
    found = by_key(prepared, memo, key, (file, fast_key), reporter=reporter, targets=targets)
    if found is not None:
        return found
    warned = len(reporter.warnings)
    with _open_index(settings, cache, reporter, transport) as index:
        for line in prepared.requirements.requirements:
            if line.direct is None:
                index.prefetch_project(line.name)
        prepared, direct = _load_direct(prepared, index, old)
        resolutions = _resolve(prepared, index, (kept, constraints, layers), reporter, direct)
        result = _build_lock(prepared, index, resolutions)
        if memo_ok and cache is not None and not index.records_incomplete():
            keys = [key, *_own_keys(prepared, result, constraints, pinned_by)]
            remember(cache, keys, result, index.pages_read(), reporter.warnings[warned:])
    return result


def _own_keys(
    prepared: Prepared,
    result: LockResult,
    constraints: Sequence[Sequence[Constraint]],
    pinned_by: Sequence[tuple[str, Pylock]],
) -> list[str]:
    """The keys ``result`` is also found under. Re-locking with this very lock as
    the previous one keeps all of its pins, which is this result: the key of those
    pins, and the digest of its text, for when that is the file replaced."""
    settings = prepared.settings
    if not keeps_all(settings):
        return []
    own = [_selected(result.pylock, t) for t in settings.targets]
    own_layers = _universal_plan(settings, result.pylock, pinned_by)
    return [
        memo_key(prepared, own, constraints, own_layers),
        file_key(prepared, constraints, result.to_toml().encode()),
    ]


def _build_lock(prepared: Prepared, index: Index, resolutions: list[Resolution]) -> LockResult:
    """The lock of ``resolutions``, with every locked wheel's RECORD digest."""
    from reqlock.locking.pylock import build_pylock, to_toml

    _prefetch_records(index, resolutions)
    settings = prepared.settings
    pylock = build_pylock(
        resolutions,
        lock_dir=settings.lock_dir,
        sha256_of=lambda dist, package: index.sha256(dist, package=package),
        record_of=lambda dist, package: index.record_digest(dist, package=package),
        tool={
            "reqlock": {
                "targets": [t.name for t in _lock_targets(settings)],
                **({"universal": True} if settings.universal else {}),
                "inputs": prepared.fingerprint,
            }
        },
    )
    return LockResult(
        pylock=pylock,
        resolutions=tuple(resolutions),
        index_urls=settings.index_urls,
        fingerprint=prepared.fingerprint,
        text=to_toml(pylock),
    )


def inputs_fingerprint(
    requirements_files: Sequence[str | os.PathLike[str]] = (),
    *,
    requirements: Sequence[str] = (),
    options: Options | None = None,
    project: Options | None = None,
    pinned_by: Sequence[tuple[str, Pylock]] = (),
    environ: Mapping[str, str] | None = None,
) -> Mapping[str, str]:
    """The fingerprint :func:`lock` would store, computed without any network."""
    return prepare(
        requirements_files,
        requirements=requirements,
        options=options,
        project=project,
        pinned_by=pinned_by,
        environ=environ,
    ).fingerprint


def stored_fingerprint(lock: Pylock) -> Mapping[str, str] | None:
    """The fingerprint a reqlock lock carries (None for other writers' locks)."""
    tool = lock.tool or {}
    ours = tool.get("reqlock") if isinstance(tool, Mapping) else None
    inputs = ours.get("inputs") if isinstance(ours, Mapping) else None
    return inputs if isinstance(inputs, Mapping) else None


def _kept(settings: Settings, previous: Pylock | None) -> list[dict[NormalizedName, Version]]:
    """For each target, the previous lock's pins to keep (less those allowed to move)."""
    if settings.upgrade or previous is None:
        return [{} for _ in settings.targets]
    upgrades = settings.upgrade_packages
    return [
        {n: v for n, v in _selected(previous, target).items() if n not in upgrades}
        for target in settings.targets
    ]


def _constraints(
    settings: Settings, pinned_by: Sequence[tuple[str, Pylock]]
) -> list[list[Constraint]]:
    """For each target, the constraints to obey: earlier environments' pins and the
    upgrade targets (the previous lock plays no part)."""
    return [
        [
            (name, SpecifierSet(f"=={version}"), f"{label} pins")
            for label, other in pinned_by
            for name, version in _selected(other, target).items()
        ]
        + upgrade_constraints(settings)
        for target in settings.targets
    ]


def _lock_targets(settings: Settings) -> Sequence[Target]:
    """The targets the lock names: a universal lock's are those whose wheels it keeps."""
    return settings.universal.wheel_targets if settings.universal else settings.targets


def _targets_of(settings: Settings) -> Sequence[Target | Region]:
    """What the lock is for: its targets, or a universal lock's region."""
    if not settings.universal:
        return settings.targets
    from reqlock.locking.region import Region  # marker algebra only when universal

    return [Region.covering(settings.universal)]


def _universal_plan(
    settings: Settings, previous: Pylock | None, pinned_by: Sequence[tuple[str, Pylock]]
) -> list[tuple[str, Kept]] | None:
    if settings.universal is None:
        return None
    from reqlock.locking.universal import plan

    return plan(settings, previous, pinned_by)


def _open_index(
    settings: Settings,
    cache: Cache | None,
    reporter: Reporter,
    transport: httpx.BaseTransport | None,
) -> Index:
    from reqlock.index.auth import with_userinfo
    from reqlock.index.client import HttpClient
    from reqlock.index.index import Index

    return Index(
        settings.index_urls,
        credentials=settings.credentials,
        http=HttpClient(
            transport=transport,
            credentials=settings.credentials,
            policy=settings.policy,
            timeout=settings.http_timeout,
            retries=settings.http_retries,
            backoff=settings.http_backoff,
        ),
        build_index_urls=[with_userinfo(u, settings.credentials) for u in settings.index_urls],
        mix_indexes=settings.index_strategy == "unsafe-best-match",
        cache=cache,
        ttl=settings.page_ttl,
        offline=settings.offline,
        refresh=settings.refresh,
        allow_build=not settings.no_build,
        reporter=reporter,
        hedge_after=settings.hedge_after,
        policy=settings.policy,
        find_links=settings.find_links,
        no_index=not settings.index_urls,
    )


def _prefetch_records(index: Index, resolutions: Sequence[Resolution]) -> None:
    """Start reading the RECORD of every locked wheel (for deep verify), in parallel
    on the index's pool, while the lock is assembled."""
    for resolution in resolutions:
        for pin in resolution.pins.values():
            for dist in pin.files if pin.direct is None else ():
                index.prefetch_record(dist, pin.name)


def _resolve_targets(
    prepared: Prepared,
    index: Index,
    kept: Sequence[Mapping[NormalizedName, Version]],
    constraints: Sequence[Sequence[Constraint]],
    reporter: Reporter,
    *,
    direct: Mapping[NormalizedName, DirectDist],
) -> list[Resolution]:
    from reqlock.locking.resolve import ResolveOptions, resolve

    settings, reqs = prepared.settings, prepared.requirements
    resolutions: list[Resolution] = []
    earlier: dict[NormalizedName, Version] = {}
    for target, keep, target_constraints in zip(settings.targets, kept, constraints, strict=True):
        preferred = dict(keep)
        # Later targets prefer earlier pins so versions agree where they can.
        for name, version in earlier.items():
            preferred.setdefault(name, version)
        options = ResolveOptions.of(settings, reqs, preferred)
        resolution = resolve(
            reqs,
            index=index,
            target=target,
            options=options,
            reporter=reporter,
            extra_constraints=target_constraints,
            direct=direct,
        )
        resolutions.append(resolution)
        for name, pin in resolution.pins.items():
            earlier.setdefault(name, pin.version)
    return resolutions


def _resolve(
    prepared: Prepared,
    index: Index,
    plan: tuple[
        Sequence[Mapping[NormalizedName, Version]],
        Sequence[Sequence[Constraint]],
        Sequence[tuple[str, Kept]] | None,
    ],
    reporter: Reporter,
    direct: Mapping[NormalizedName, DirectDist],
) -> list[Resolution]:
    """The resolutions of the lock: one per target, or (``plan``'s layers given) one
    per fork of a universal lock."""
    kept, constraints, layers = plan
    if layers is None:
        return _resolve_targets(prepared, index, kept, constraints, reporter, direct=direct)
    from reqlock.locking.universal import resolve_settings_universal

    return resolve_settings_universal(
        prepared.settings, prepared.requirements, index, layers, reporter, direct=direct
    )


def _has_direct(reqs: RequirementSet) -> bool:
    return bool(reqs.unnamed) or any(line.direct is not None for line in reqs.requirements)


def _load_direct(
    prepared: Prepared, index: Index, previous: Pylock | None
) -> tuple[Prepared, Mapping[NormalizedName, DirectDist]]:
    """Load the direct references (named from their metadata where the lines gave
    no name); re-locking keeps the previous lock's commits unless upgrading."""
    if not _has_direct(prepared.requirements):
        return prepared, {}
    import tempfile

    from reqlock.index.sources import DirectSources
    from reqlock.locking.directs import kept_commits, load_directs

    settings = prepared.settings
    keep = (
        {}
        if settings.upgrade or previous is None
        else kept_commits(previous, settings.upgrade_packages)
    )
    with tempfile.TemporaryDirectory(prefix="reqlock-git-") as scratch:
        where = settings.cache_dir / "git" if settings.cache_dir is not None else Path(scratch)
        sources = DirectSources(index, git_dir=where, keep_commits=keep)
        reqs, direct = load_directs(prepared.requirements, sources)
    return dataclasses.replace(prepared, requirements=reqs), direct


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
