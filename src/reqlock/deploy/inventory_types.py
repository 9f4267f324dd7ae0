"""The values an inventory is made of (re-exported by :mod:`reqlock.deploy.inventory`)."""

from __future__ import annotations

__all__ = [
    "FileIssue",
    "InstalledDist",
    "Inventory",
    "InventoryProblem",
    "RecordEntry",
    "UnownedFile",
]

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from packaging.tags import Tag
    from packaging.utils import NormalizedName


@dataclass(frozen=True, kw_only=True, slots=True)
class InstalledDist:
    """One installed distribution, as found on the interpreter's ``sys.path``.

    ``version`` is the raw string from METADATA (or the directory name when
    METADATA is missing), so that an invalid version can be reported rather than
    crash. ``wheel_tags`` is ``None`` when there is no WHEEL file (legacy and
    ``egg-info`` installs). ``record`` is the path of RECORD, or ``None``.
    ``record_digest`` is :func:`reqlock.deploy.record.installed_record_digest` of
    the RECORD rows, to compare with the digest of the wheel's RECORD in the lock;
    ``None`` without a RECORD, or when it cannot be read or is not CSV with three
    fields a row.
    """

    name: NormalizedName
    raw_name: str
    version: str
    path: str
    location: str
    format: Literal["dist-info", "egg-info"]
    wheel_tags: frozenset[Tag] | None = None
    wheel_generator: str | None = None
    installer: str | None = None
    direct_url: Mapping[str, Any] | None = field(default=None, hash=False)
    record: str | None = None
    record_digest: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class InventoryProblem:
    """Something wrong with an installed distribution (or, with ``package=None``,
    with the path as a whole: an unreadable ``.pth`` file, a site directory that
    cannot be listed, the limit of the unowned-file walk reached)."""

    package: NormalizedName | None
    path: str
    detail: str


@dataclass(frozen=True, kw_only=True, slots=True)
class FileIssue:
    """An installed file that does not match its RECORD row, or a bad RECORD.

    ``dist`` is the ``.dist-info`` directory the RECORD belongs to; ``path`` the
    file as RECORD names it (the RECORD itself for ``kind="record"``).
    """

    kind: Literal["modified", "missing", "record"]
    package: NormalizedName
    dist: str
    path: str
    detail: str
    expected: str | None = None
    actual: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class UnownedFile:
    """A file in a site-packages directory that no installed distribution's RECORD
    lists (see :mod:`reqlock.deploy.inventory_unowned` for what is left out).

    ``path`` is relative to ``site``, with ``/`` separators (a stable key for
    ``--allow-unowned`` globs); ``site`` is the site-packages directory. ``kind``:
    ``pth`` for a ``.pth`` file directly in ``site`` (``site`` reads it at every
    start), ``importable`` for a module, bytecode, extension or symlinked package,
    ``other`` for anything else.
    """

    path: str
    site: str
    kind: Literal["pth", "importable", "other"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Inventory:
    """Everything installed for one interpreter, plus what it is.

    ``dists`` keeps ``sys.path`` order, duplicates included; :meth:`get` returns the
    copy Python imports (the first). ``environment`` holds the PEP 508 marker
    variables, ``tags`` the supported wheel tags, most preferred first.
    ``file_issues`` is ``None`` unless files were checked. ``unowned`` lists the
    files of the site-packages directories no RECORD owns, sorted by site and
    path. ``pth_imports`` are the ``import`` lines of the ``.pth`` files ``site``
    reads (code that runs at every interpreter start; never run by the
    inventory), as ``"<.pth file>: <line>"`` in the order ``site`` runs them.
    """

    python: str
    prefix: str
    environment: Mapping[str, str] = field(hash=False)
    tags: tuple[Tag, ...] = field(hash=False)
    dists: tuple[InstalledDist, ...]
    problems: tuple[InventoryProblem, ...] = ()
    path: tuple[str, ...] = ()
    file_issues: tuple[FileIssue, ...] | None = None
    unowned: tuple[UnownedFile, ...] = ()
    pth_imports: tuple[str, ...] = ()

    def get(self, name: str) -> InstalledDist | None:
        """The distribution called ``name`` that Python would import, if any."""
        from packaging.utils import canonicalize_name

        wanted = canonicalize_name(name)
        for dist in self.dists:
            if dist.name == wanted:
                return dist
        return None

    def by_name(self) -> dict[NormalizedName, InstalledDist]:
        """First (imported) copy of each installed distribution, by canonical name."""
        result: dict[NormalizedName, InstalledDist] = {}
        for dist in self.dists:
            result.setdefault(dist.name, dist)
        return result


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordEntry:
    """One row of a RECORD file; ``digest`` is the raw hash bytes (or ``None``)."""

    path: str
    algorithm: str | None
    digest: bytes | None
    size: int | None
