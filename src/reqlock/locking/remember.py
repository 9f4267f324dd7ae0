"""Remembered locks: a lock's earlier result found in the cache, and stored there.

:func:`reqlock.lock` asks here before any network work. A result is stored under
the key of its inputs and kept pins, under the key it would have when the next
lock keeps all of its pins (it is then the previous lock), and under the digest
of its own text (the next lock replaces the very file written from it; see
:mod:`reqlock.locking.previous`). The memo itself (format, validity of the pages
behind it) is :mod:`reqlock.locking.memo`.
"""

from __future__ import annotations

__all__ = [
    "alias",
    "by_file",
    "by_key",
    "file_key",
    "keeps_all",
    "memo_key",
    "remember",
    "remembered",
]

import hashlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from reqlock.locking.result import LockResult
from reqlock.progress import Reporter

if TYPE_CHECKING:
    from packaging.specifiers import SpecifierSet
    from packaging.utils import NormalizedName
    from packaging.version import Version

    from reqlock.index.cache import Cache
    from reqlock.locking.api import Prepared
    from reqlock.locking.previous import PreviousFile
    from reqlock.locking.region import Region
    from reqlock.locking.universal import Kept
    from reqlock.settings import Settings
    from reqlock.targets import Target

    Constraint = tuple[NormalizedName, SpecifierSet, str]


def memo_key(
    prepared: Prepared,
    kept: Sequence[Mapping[NormalizedName, Version]],
    constraints: Sequence[Sequence[Constraint]],
    layers: Sequence[tuple[str, Kept]] | None,
) -> str:
    """The key of a lock with these inputs that keeps ``kept`` (and ``layers``)."""
    from reqlock.locking import memo

    return memo.lock_key(
        prepared.fingerprint, prepared.settings.no_build, kept, constraints, layers
    )


def file_key(prepared: Prepared, constraints: Sequence[Sequence[Constraint]], text: bytes) -> str:
    """The key of a lock with these inputs replacing a file of bytes ``text``."""
    from reqlock.locking import memo

    digest = hashlib.sha256(text).hexdigest()
    return memo.file_key(prepared.fingerprint, prepared.settings.no_build, constraints, digest)


def keeps_all(settings: Settings) -> bool:
    """Whether every pin of the previous lock is kept (nothing is upgraded)."""
    return not settings.upgrade and not settings.upgrade_packages


def by_file(
    prepared: Prepared,
    cache: Cache | None,
    file: PreviousFile,
    constraints: Sequence[Sequence[Constraint]],
    *,
    reporter: Reporter,
    targets: Sequence[Target | Region],
) -> tuple[LockResult | None, str | None]:
    """The remembered result the bytes of the file being replaced find, and the key
    they have (None without a cache, with ``--refresh``, or when pins may move: the
    bytes then say nothing about the result)."""
    if cache is None or prepared.settings.refresh or not keeps_all(prepared.settings):
        return None, None
    key = file_key(prepared, constraints, file.data)
    return remembered(prepared, cache, key, reporter, targets), key


def by_key(
    prepared: Prepared,
    cache: Cache | None,
    key: str,
    file_and_key: tuple[PreviousFile | None, str | None],
    *,
    reporter: Reporter,
    targets: Sequence[Target | Region],
) -> LockResult | None:
    """The remembered result for ``key``; when it is what the file being replaced
    holds (remembered before its text had a key), that file's key is added."""
    if cache is None or prepared.settings.refresh:
        return None
    found = remembered(prepared, cache, key, reporter, targets)
    file, fast_key = file_and_key
    same = found is not None and file is not None and file.data == found.to_toml().encode()
    if same and fast_key is not None:
        alias(cache, key, fast_key)  # next time its bytes find it
    return found


def alias(cache: Cache, key: str, other: str) -> None:
    """Remember the result stored under ``key`` under ``other`` too."""
    from reqlock.locking import memo

    memo.alias(cache, key, other)


def remembered(
    prepared: Prepared,
    cache: Cache,
    key: str,
    reporter: Reporter,
    targets: Sequence[Target | Region],
) -> LockResult | None:
    """The remembered result for ``key`` while every page behind it is unchanged."""
    from reqlock.locking import memo

    settings = prepared.settings
    found = memo.load(cache, key, targets=targets, ttl=settings.page_ttl, offline=settings.offline)
    if found is None:
        return None
    from reqlock.lockfile import lock_from_dict, parse_lock

    for warning in found.warnings:
        reporter.warning(warning)
    pylock = (
        lock_from_dict(found.lock, path="<cache>")
        if found.lock is not None
        else parse_lock(found.toml, path="<cache>")
    )
    return LockResult(
        pylock=pylock,
        resolutions=found.resolutions,
        index_urls=settings.index_urls,
        fingerprint=prepared.fingerprint,
        text=found.toml,
    )


def remember(
    cache: Cache,
    keys: Sequence[str],
    result: LockResult,
    pages: Mapping[str, str],
    warnings: Sequence[str],
) -> None:
    """Store ``result`` under each of ``keys``, with the pages it was read from."""
    from reqlock.locking import memo
    from reqlock.locking.pylock import lock_to_dict

    memo.save(
        cache,
        keys,
        pages=pages,
        toml=result.to_toml(),
        resolutions=result.resolutions,
        warnings=warnings,
        lock=lock_to_dict(result.pylock),
    )
