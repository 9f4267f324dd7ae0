"""The public entry point for locking: ``reqlock.lock(...)``."""

from __future__ import annotations

__all__ = ["LockResult", "lock"]

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName
from packaging.version import Version

from reqlock._http import HttpClient
from reqlock.cache import Cache, default_cache_dir
from reqlock.index import DEFAULT_INDEX_URL, Index
from reqlock.progress import Reporter
from reqlock.requirements import (
    RequirementSet,
    load_requirements,
    parse_requirement_strings,
)
from reqlock.targets import Target, current

if TYPE_CHECKING:
    import httpx
    from packaging.pylock import Pylock

    from reqlock.resolve import Resolution

# The resolver and the lock writer (resolvelib, packaging.pylock) are imported only
# once the first index requests are on their way: their import time then overlaps
# network waits instead of delaying the first request.


@dataclass(frozen=True, kw_only=True, slots=True)
class LockResult:
    """A finished lock: the PEP 751 model, and the resolution behind it."""

    pylock: Pylock
    resolutions: tuple[Resolution, ...]
    index_urls: tuple[str, ...]

    @property
    def package_count(self) -> int:
        """How many package entries the lock has."""
        return len(self.pylock.packages)

    def to_toml(self) -> str:
        """The lock file's text (deterministic)."""
        from reqlock.lockfile import to_toml

        return to_toml(self.pylock)

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the lock atomically to ``path`` and return the path."""
        from reqlock.lockfile import write_text_atomic

        write_text_atomic(path, self.to_toml())
        return Path(path)


def lock(
    requirements_files: Sequence[str | os.PathLike[str]] = (),
    *,
    requirements: Sequence[str] = (),
    index_url: str | None = None,
    extra_index_urls: Sequence[str] = (),
    targets: Sequence[Target] | None = None,
    pre: bool | None = None,
    exclude_newer: datetime | None = None,
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
    configuration is never read. Nothing is printed; progress and warnings go to
    ``reporter``. Raises a :class:`~reqlock.errors.ReqlockError` subclass when the
    job cannot be done.
    """
    env = os.environ if environ is None else environ
    reporter = reporter or Reporter()
    reqs = _gather(requirements_files, requirements, env)
    urls = _index_urls(index_url, extra_index_urls, reqs, env)
    targets = list(targets) if targets else [current()]
    cache = None if no_cache else Cache(Path(cache_dir) if cache_dir else default_cache_dir(env))
    with Index(
        urls,
        http=HttpClient(transport=transport),
        cache=cache,
        ttl=page_ttl,
        offline=offline,
        refresh=refresh,
        allow_build=not no_build,
        reporter=reporter,
    ) as index:
        for line in reqs.requirements:
            index.prefetch_project(line.name)
        from reqlock.lockfile import build_pylock
        from reqlock.resolve import ResolveOptions, resolve

        options = ResolveOptions(
            pre=reqs.pre if pre is None else pre,
            only_binary=reqs.only_binary,
            no_binary=reqs.no_binary,
            exclude_newer=exclude_newer,
        )
        resolutions: list[Resolution] = []
        preferred: dict[NormalizedName, Version] = {}
        for target in targets:
            target_options = ResolveOptions(
                pre=options.pre,
                only_binary=options.only_binary,
                no_binary=options.no_binary,
                exclude_newer=options.exclude_newer,
                preferred=dict(preferred),
            )
            resolution = resolve(
                reqs, index=index, target=target, options=target_options, reporter=reporter
            )
            resolutions.append(resolution)
            # Later targets prefer earlier pins so versions agree where they can.
            for name, pin in resolution.pins.items():
                preferred.setdefault(name, pin.version)
        pylock = build_pylock(
            resolutions, sha256_of=lambda dist, package: index.sha256(dist, package=package)
        )
    return LockResult(pylock=pylock, resolutions=tuple(resolutions), index_urls=tuple(urls))


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
    primary = (
        index_url
        or reqs.index_url
        or env.get("REQLOCK_INDEX_URL")
        or DEFAULT_INDEX_URL
    )
    extras = [*extra_index_urls, *reqs.extra_index_urls]
    if not extra_index_urls and not reqs.extra_index_urls:
        extras += env.get("REQLOCK_EXTRA_INDEX_URL", "").split()
    urls: list[str] = []
    for url in (primary, *extras):
        if url and url not in urls:
            urls.append(url)
    return urls
