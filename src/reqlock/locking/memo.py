"""Remembered resolutions: a warm re-lock with nothing changed skips the resolver.

A resolution is a pure function of its inputs (requirements, targets, indexes,
options, pins to keep) and of the index pages it read; metadata and files are named
by hashes inside those pages. So the result is stored in the cache under a key made
of the inputs, together with the digest of every page read. It is used again only
while every one of those pages is still in the cache, unchanged and fresh by the
same rules as a page read (``--page-ttl``, server max-age; any age with
``--offline``). Anything else resolves as usual and stores a new entry.
"""

from __future__ import annotations

__all__ = ["Memo", "Resolutions", "alias", "file_key", "load", "lock_key", "memo_key", "save"]

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, overload

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from reqlock import __version__
from reqlock.index.cache import Cache
from reqlock.index.metadata import DistMetadata
from reqlock.index.pages import DistFile
from reqlock.locking.resolution import Pin, Resolution
from reqlock.targets import Target

if TYPE_CHECKING:  # a region is only passed through (marker algebra: ~4 ms to import)
    from reqlock.locking.region import Region

_KIND = "resolutions"
# 2: locks carry RECORD digests ([packages.tool.reqlock.records]).
# 3: ... as a list in the order of the wheels.
# 4: the lock's parsed form too ("lock"), read without a TOML parser.
_FORMAT = 4
# How a TOML date-time of the lock (upload-time) is written in the JSON form.
_DATETIME = "$datetime"


@dataclass(frozen=True, kw_only=True, slots=True)
class Memo:
    """A remembered lock: its TOML text, resolutions and warnings.

    ``lock`` is the text's parsed form (what ``tomllib.loads`` gives), when it was
    stored: validating it takes a third of the time of parsing the text (6 against
    18 ms for 122 packages, a sixth of a warm lock)."""

    toml: str
    resolutions: Sequence[Resolution]
    warnings: tuple[str, ...]
    lock: dict[str, Any] | None = None


def memo_key(parts: Mapping[str, Any]) -> str:
    """The cache key for a lock with these inputs."""
    text = json.dumps(
        {"reqlock": __version__, "format": _FORMAT, **parts},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def lock_key(
    inputs: Mapping[str, str],
    no_build: bool,
    kept: Sequence[Mapping[NormalizedName, Version]],
    constraints: Sequence[Sequence[tuple[NormalizedName, SpecifierSet, str]]],
    layers: Sequence[tuple[str, Sequence[tuple[NormalizedName, Version, object]]]] | None,
) -> str:
    """The memo key of a lock: its inputs, and the pins it must keep or obey (for a
    universal lock, ``layers``: labelled pins with their markers)."""
    value: dict[str, Any] = {
        "inputs": inputs,
        "kept": [sorted((n, str(v)) for n, v in k.items()) for k in kept],
        "constraints": [sorted((n, str(sp), src) for n, sp, src in c) for c in constraints],
        "no_build": no_build,
    }
    if layers is not None:
        value["universal"] = [
            [label, sorted((n, str(v), repr(m)) for n, v, m in pins)] for label, pins in layers
        ]
    return memo_key(value)


def file_key(
    inputs: Mapping[str, str],
    no_build: bool,
    constraints: Sequence[Sequence[tuple[NormalizedName, SpecifierSet, str]]],
    previous_sha256: str,
) -> str:
    """The memo key of a lock replacing the file whose bytes have ``previous_sha256``:
    those bytes decide the pins to keep as :func:`lock_key`'s ``kept`` and
    ``layers`` would, so a lock stored under the digest of its own text is found
    again, without parsing that text, when it is the file being replaced."""
    return memo_key(
        {
            "inputs": inputs,
            "constraints": [sorted((n, str(sp), src) for n, sp, src in c) for c in constraints],
            "no_build": no_build,
            "previous_file": previous_sha256,
        }
    )


class Resolutions(Sequence[Resolution]):
    """A memo entry's resolutions, built when first read.

    The command line never reads them (the lock's text is the answer), and building
    them parses every pin's Requires-Dist again: about 1,000 strings, 13 ms, a
    tenth of a warm 122-package lock. The entry's bytes were checked against their
    digest when read (:meth:`Cache.get_blob <reqlock.index.cache.Cache.get_blob>`),
    so only a reqlock bug or a hand-edited cache can make building them fail; that
    is an error naming the entry, with ``--refresh`` as the way out.
    """

    __slots__ = ("_built", "_items", "_key")

    def __init__(self, items: list[tuple[Mapping[str, Any], Target | Region]], *, key: str) -> None:
        self._items = items
        self._key = key
        self._built: tuple[Resolution, ...] | None = None

    def _all(self) -> tuple[Resolution, ...]:
        if self._built is None:
            try:
                self._built = tuple(_resolution(item, target) for item, target in self._items)
            except (ValueError, KeyError, TypeError) as exc:  # InvalidRequirement is one
                from reqlock.errors import ReqlockError

                raise ReqlockError(
                    f"the remembered resolution {self._key[:12]}… in the cache is damaged "
                    f"({type(exc).__name__}: {exc})",
                    hint="lock again with --refresh, or clear the cache",
                ) from None
        return self._built

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> Resolution: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Resolution, ...]: ...
    def __getitem__(self, index: int | slice) -> Resolution | tuple[Resolution, ...]:
        return self._all()[index]

    def __iter__(self) -> Iterator[Resolution]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Resolutions):
            return self._all() == other._all()
        return isinstance(other, tuple) and self._all() == other

    def __hash__(self) -> int:
        return hash(self._all())

    def __repr__(self) -> str:
        return repr(self._all())


def load(
    cache: Cache, key: str, *, targets: Sequence[Target | Region], ttl: float, offline: bool
) -> Memo | None:
    """The remembered lock for ``key`` if every page behind it is still valid.

    A universal lock passes its region: every fork's resolution comes back with it
    (the lock's text, not the resolutions, carries the forks' markers)."""
    raw = cache.get_blob(_KIND, key)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        if data.get("format") != _FORMAT:
            return None
        pages: Mapping[str, str] = data["pages"]
        for url, digest in pages.items():
            if cache.page_digest(url, None if offline else ttl) != digest:
                return None
        by_name: dict[str, Target | Region] = {t.name: t for t in targets}
        whole = None if isinstance(targets[0], Target) else targets[0]
        items = data["resolutions"]
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            return None
        resolutions = Resolutions(
            [(item, whole or by_name[item["target"]]) for item in items], key=key
        )
        lock = data.get("lock")
        return Memo(
            toml=str(data["toml"]),
            resolutions=resolutions,
            warnings=tuple(str(w) for w in data.get("warnings", ())),
            lock=_from_json(lock) if isinstance(lock, str) else None,
        )
    except (ValueError, KeyError, TypeError):
        # An entry we cannot read is only a missed shortcut.
        return None


def save(
    cache: Cache,
    keys: Sequence[str],
    *,
    pages: Mapping[str, str],
    toml: str,
    resolutions: Sequence[Resolution],
    warnings: Sequence[str],
    lock: Mapping[str, Any] | None = None,
) -> None:
    """Remember a finished lock under each of ``keys``; ``lock`` is the parsed form
    of ``toml`` (left out when it does not survive JSON unchanged)."""
    data: dict[str, Any] = {
        "format": _FORMAT,
        "pages": dict(pages),
        "toml": toml,
        "warnings": list(warnings),
        "resolutions": [_dump_resolution(r) for r in resolutions],
    }
    stored = _to_json(lock) if lock is not None else None
    if stored is not None:
        data["lock"] = stored
    blob = json.dumps(data, sort_keys=True).encode()
    for key in keys:
        cache.put_blob(_KIND, key, blob)


def alias(cache: Cache, key: str, other: str) -> None:
    """Remember what ``key`` holds under ``other`` too (nothing if it holds nothing)."""
    raw = cache.get_blob(_KIND, key)
    if raw is not None:
        cache.put_blob(_KIND, other, raw)


def _to_json(lock: Mapping[str, Any]) -> str | None:
    """``lock`` as JSON text, date-times tagged; None unless it reads back equal
    (a value JSON cannot hold, or a table that looks like a tagged date-time)."""

    def tag(value: object) -> object:
        if isinstance(value, datetime):
            return {_DATETIME: value.isoformat()}
        raise TypeError(f"{type(value).__name__} is not kept in the JSON form")

    try:
        text = json.dumps(lock, default=tag, separators=(",", ":"))
        back = _from_json(text)
    except (TypeError, ValueError, RecursionError):
        return None
    return text if back == lock else None


def _from_json(text: str) -> dict[str, Any] | None:
    def untag(table: dict[str, Any]) -> Any:
        if len(table) == 1 and _DATETIME in table:
            return datetime.fromisoformat(table[_DATETIME])
        return table

    data = json.loads(text, object_hook=untag)
    return data if isinstance(data, dict) else None


def _dump_resolution(resolution: Resolution) -> dict[str, Any]:
    return {
        "target": resolution.target.name,
        "roots": list(resolution.roots),
        "pins": [
            {
                "name": pin.name,
                "version": str(pin.version),
                "index": pin.index,
                "dependencies": list(pin.dependencies),
                "files": [_dump_file(f) for f in pin.files],
                "metadata": {
                    "requires_dist": [str(r) for r in pin.metadata.requires_dist],
                    "requires_python": (
                        str(pin.metadata.requires_python)
                        if pin.metadata.requires_python is not None
                        else None
                    ),
                    "provides_extras": sorted(pin.metadata.provides_extras),
                },
            }
            for pin in resolution.pins.values()
        ],
    }


def _dump_file(dist: DistFile) -> dict[str, Any]:
    return {
        "filename": dist.filename,
        # Never store credentials; a remembered lock downloads nothing.
        "url": dist.public_url,
        "hashes": dict(dist.hashes),
        "requires_python": dist.requires_python,
        "yanked": dist.yanked,
        "yanked_reason": dist.yanked_reason,
        "size": dist.size,
        "upload_time": dist.upload_time,
        "index": dist.index,
    }


def _resolution(item: Mapping[str, Any], target: Target | Region) -> Resolution:
    pins: dict[NormalizedName, Pin] = {}
    for entry in item["pins"]:
        name = canonicalize_name(entry["name"])
        meta = entry["metadata"]
        version = Version(entry["version"])
        pins[name] = Pin(
            name=name,
            version=version,
            index=str(entry["index"]),
            dependencies=tuple(canonicalize_name(d) for d in entry["dependencies"]),
            files=tuple(DistFile(**f) for f in entry["files"]),
            metadata=DistMetadata(
                name=name,
                version=version,
                requires_dist=tuple(Requirement(r) for r in meta["requires_dist"]),
                requires_python=(
                    SpecifierSet(meta["requires_python"])
                    if meta["requires_python"] is not None
                    else None
                ),
                provides_extras=frozenset(canonicalize_name(e) for e in meta["provides_extras"]),
            ),
        )
    return Resolution(
        target=target,
        pins=pins,
        roots=tuple(canonicalize_name(r) for r in item["roots"]),
    )
